"""Verdicts: the outcome of one check, with the evidence a log shows as a table."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Verdict:
    """Whether a check passed, why, and the rows that show it."""

    ok: bool
    message: str
    headers: tuple[str, ...] = ()
    rows: tuple[tuple[object, ...], ...] = field(default_factory=tuple)
    notes: tuple[str, ...] = ()
