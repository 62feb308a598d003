#!/usr/bin/env python3
"""Stands in for Kata's genpolicy in tests: checks its arguments and writes a policy annotation.

Accepts ``-u -y MANIFEST -p RULES -j SETTINGS``; refuses to run unless the
settings directory holds a JSON-patch drop-in allowing ReadStreamRequest,
then adds ``io.katacontainers.config.agent.policy`` to the manifest.
"""

import base64
import json
import sys
from pathlib import Path

import yaml


def main(argv: list[str]) -> int:
    rest = argv[1:] if argv[:1] == ["-u"] else argv
    args = dict(zip(rest[::2], rest[1::2], strict=False))
    manifest, settings = Path(args["-y"]), Path(args["-j"])
    patches = [json.loads(p.read_text()) for p in sorted((settings / "genpolicy-settings.d").glob("*.json"))]
    allowed = any(
        op.get("path") == "/request_defaults/ReadStreamRequest" and op.get("value") is True
        for patch in patches
        for op in patch
    )
    if not allowed:
        print("no settings drop-in allows ReadStreamRequest", file=sys.stderr)
        return 1
    document = yaml.safe_load(manifest.read_text())
    policy = base64.b64encode(b"default ReadStreamRequest := true\n").decode()
    document.setdefault("metadata", {}).setdefault("annotations", {})["io.katacontainers.config.agent.policy"] = policy
    manifest.write_text(yaml.safe_dump(document))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
