"""Cpulists: the ``0-3,8,10-11`` notation of sysfs, taskset and QEMU.

One implementation for CPU ids, NUMA node ids and ``host-nodes`` values.
"""

from __future__ import annotations

from collections.abc import Iterable

from .errors import InputError


def parse_cpulist(text: str, *, what: str = "cpulist") -> frozenset[int]:
    """Parses ``0-3,8,10-11`` (whitespace, a trailing newline and NUL bytes allowed).

    An empty string is the empty set. ``what`` names the input in errors.
    """
    cleaned = text.strip().strip("\x00").strip()
    if not cleaned:
        return frozenset()
    ids: set[int] = set()
    for part in cleaned.split(","):
        item = part.strip()
        if not item:
            raise InputError(f"{what}: empty element in {text.strip()!r}")
        first, dash, last = item.partition("-")
        low = _non_negative_int(first, what, text)
        high = _non_negative_int(last, what, text) if dash else low
        if high < low:
            raise InputError(f"{what}: range {item!r} runs backwards in {text.strip()!r}")
        ids.update(range(low, high + 1))
    return frozenset(ids)


def format_cpulist(ids: Iterable[int]) -> str:
    """Formats ids as the shortest cpulist: ``{0, 1, 2, 3, 8}`` -> ``0-3,8``."""
    ordered = sorted(set(ids))
    parts: list[str] = []
    start = prev = None
    for value in ordered:
        if start is None:
            start = prev = value
        elif value == prev + 1:
            prev = value
        else:
            parts.append(_range_text(start, prev))
            start = prev = value
    if start is not None:
        parts.append(_range_text(start, prev))
    return ",".join(parts)


def _range_text(start: int, end: int) -> str:
    return str(start) if start == end else f"{start}-{end}"


def _non_negative_int(token: str, what: str, text: str) -> int:
    value = token.strip()
    if not (value.isascii() and value.isdigit()):
        raise InputError(f"{what}: {value!r} is not a non-negative integer in {text.strip()!r}")
    return int(value)
