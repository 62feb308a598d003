"""Entry point of ``python -m kata_numa``."""

import sys

from .cli import main

sys.exit(main())
