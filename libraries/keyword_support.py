"""Helpers shared by the keyword libraries: evidence tables, verdicts, the node's host access.

Not a keyword library itself. Keeps the libraries thin: they call the core,
log what it found with these helpers, and fail with the core's message.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from robot.api import logger
from robot.libraries.BuiltIn import BuiltIn

from kata_numa.cpuset import parse_cpulist
from kata_numa.errors import KataNumaError
from kata_numa.hostaccess import HostAccess
from kata_numa.report import html_table, verdict_table
from kata_numa.verdict import Verdict


class CpuList(frozenset):
    """A set of CPU or node ids written as a cpulist (``0-3,8``) or a single number."""


def to_cpulist(value: str | int) -> CpuList:
    """Robot Framework converter: ``0-3,8`` or ``5`` -> CpuList."""
    if isinstance(value, int):
        return CpuList({value})
    return CpuList(parse_cpulist(str(value), what="argument"))


CONVERTERS = {CpuList: to_cpulist}


def log_table(headers: Sequence[object], rows: Iterable[Sequence[object]], caption: str = "") -> None:
    """Logs an escaped HTML table at INFO."""
    logger.info(html_table(headers, rows, caption), html=True)


def log_debug(title: str, text: str) -> None:
    """Logs raw evidence (argv, sysfs, TOML) at DEBUG."""
    logger.debug(f"{title}:\n{text}")


def require(verdict: Verdict, caption: str = "", prefix: str = "") -> None:
    """Logs the verdict's evidence, then fails with its message (after ``prefix``) unless it passed."""
    logger.info(verdict_table(verdict, caption), html=True)
    for note in verdict.notes:
        logger.info(note)
    if not verdict.ok:
        raise AssertionError(f"{prefix}: {verdict.message}" if prefix else verdict.message)


def core_call(function, *args, **kwargs):
    """Calls the core; its input errors become test failures with the same one-line message."""
    try:
        return function(*args, **kwargs)
    except KataNumaError as error:
        raise AssertionError(str(error)) from None


def node_access() -> HostAccess:
    """The host access chosen with the NodeAccess library."""
    return BuiltIn().get_library_instance("NodeAccess").access


def strict_mode() -> bool:
    """True when ``${STRICT}`` is set: every skip becomes a failure (CI on hardware of a known shape)."""
    value = BuiltIn().get_variable_value("${STRICT}", False)
    return str(value).strip().lower() in ("true", "yes", "1", "on")


def skip_or_fail(reason: str) -> None:
    """Skips the test with ``reason``, or fails with it under ``STRICT``."""
    if strict_mode():
        raise AssertionError(f"STRICT: would skip: {reason}")
    BuiltIn().skip(reason)


def backoff(first: float = 0.05, longest: float = 1.0):
    """Waits between polls: 0.05 s, doubling up to ``longest`` (a fast target answers fast, a real one is spared)."""
    delay = first
    while True:
        yield delay
        delay = min(delay * 2, longest)
