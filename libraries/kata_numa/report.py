"""Small escaped HTML tables for the Robot Framework log."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from .cpuset import format_cpulist
from .verdict import Verdict


def html_table(headers: Sequence[object], rows: Iterable[Sequence[object]], caption: str = "") -> str:
    """An HTML table with every header, cell and the caption escaped."""
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(_cell(c))}</td>" for c in row) + "</tr>" for row in rows)
    title = f"<caption>{escape(caption)}</caption>" if caption else ""
    return f'<table class="kata-numa" border="1">{title}<tr>{head}</tr>{body}</table>'


def verdict_table(verdict: Verdict, caption: str = "") -> str:
    """The evidence rows of a verdict as a table, captioned with its message."""
    return html_table(verdict.headers, verdict.rows, caption or verdict.message)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, (set, frozenset)):
        return format_cpulist(value) or "-"
    return str(value)
