"""Environment overrides: each setting of defaults.yaml can also come from the environment.

Loaded before defaults.yaml (`-V variables/environment.py -V variables/defaults.yaml`),
so the environment beats the YAML defaults and `-v NAME:value` beats both.
The names are those the original test took from the environment.
"""

import os
from pathlib import Path

import yaml

_DEFAULTS = yaml.safe_load((Path(__file__).with_name("defaults.yaml")).read_text(encoding="utf-8"))


def get_variables() -> dict:
    """Every setting whose name is set in the environment, as a string (lists split on commas)."""
    found = {}
    for name, default in _DEFAULTS.items():
        if name in os.environ:
            value = os.environ[name]
            found[name] = [v.strip() for v in value.split(",") if v.strip()] if isinstance(default, list) else value
    return found
