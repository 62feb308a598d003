"""Timing shared by the benchmarks: the median of repeated runs of an action."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_seconds(action: Callable[[], object], runs: int) -> float:
    """Runs ``action`` ``runs`` times and returns the median wall-clock time in seconds."""
    timings = []
    for _ in range(runs):
        begin = time.perf_counter()
        action()
        timings.append(time.perf_counter() - begin)
    return statistics.median(timings)
