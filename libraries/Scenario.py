"""Robot Framework library: the life of one scenario: its skips, deferred skips and STRICT mode."""

from __future__ import annotations

import time

from robot.api import logger
from robot.api.deco import keyword, library
from robot.libraries.BuiltIn import BuiltIn

from kata_numa import __version__
from kata_numa.host_checks import FAIL, SKIP, Check
from keyword_support import log_table, skip_or_fail, strict_mode


@library(scope="GLOBAL", version=__version__, doc_format="ROBOT")
class Scenario:
    """Skips with reasons, checks that skip while the rest of a scenario still runs, and ``STRICT``.

    = Skips =

    A scenario that cannot run here (single-NUMA host, no GPU, unsupported
    hypervisor) skips at once with `Skip Scenario`. A scenario whose main
    subject cannot be checked here (a GPU without NUMA affinity) runs the
    rest and is then skipped: `Defer Skip`, applied by `Finish Scenario`. A
    single check that cannot hold under the node's configuration (under the
    ``static`` CPU manager policy, or with the policy unknown) is skipped on
    its own with a warning, and the scenario passes on the other checks.
    With ``STRICT`` set to true every one of these is a failure instead.
    """

    def __init__(self) -> None:
        self.deferred: list[str] = []
        self.skipped_checks: list[str] = []
        self.started = 0.0

    @keyword("Begin Scenario")
    def begin_scenario(self) -> None:
        """Forgets the previous scenario's deferred skips and notes the start time."""
        self.deferred = []
        self.skipped_checks = []
        self.started = time.time()

    @keyword("Get Scenario Start Time")
    def get_scenario_start_time(self) -> float:
        """Seconds since the epoch when `Begin Scenario` ran."""
        return self.started

    @keyword("Skip Scenario")
    def skip_scenario(self, reason: str) -> None:
        """Skips the scenario with ``reason`` (fails under ``STRICT``)."""
        skip_or_fail(reason)

    @keyword("Defer Skip")
    def defer_skip(self, reason: str) -> None:
        """Marks the scenario to be skipped with ``reason`` once it has run to the end."""
        logger.warn(f"scenario will be skipped: {reason}")
        self.deferred.append(reason)

    def skip_check(self, reason: str) -> None:
        """Notes one check that cannot hold under the node's configuration (a warning; a failure under STRICT)."""
        logger.warn(f"check skipped: {reason}")
        self.skipped_checks.append(reason)

    def record_checks(self, checks: list[Check], caption: str) -> None:
        """Logs check results as a table, defers the skips and fails with every failure."""
        log_table(("check", "result", "evidence"), [(c.name, c.status.upper(), c.message) for c in checks], caption)
        for check in checks:
            if check.status == SKIP:
                self.skip_check(f"{check.name}: {check.message}")
        failed = [c for c in checks if c.status == FAIL]
        if failed:
            raise AssertionError("; ".join(f"{c.name}: {c.message}" for c in failed))

    @keyword("Log Settings Table")
    def log_settings_table(self, caption: str = "preflight", **settings: object) -> None:
        """Logs ``name=value`` settings as one table."""
        log_table(("setting", "value"), list(settings.items()), caption)

    @keyword("Finish Scenario")
    def finish_scenario(self) -> None:
        """In test teardown: a passed scenario with deferred skips becomes skipped (failed under ``STRICT``)."""
        status = BuiltIn().get_variable_value("${TEST STATUS}", "PASS")
        deferred, self.deferred = self.deferred, []
        skipped, self.skipped_checks = self.skipped_checks, []
        if status != "PASS":
            return
        if strict_mode() and (deferred or skipped):
            raise AssertionError(f"STRICT: skipped: {' | '.join(deferred + skipped)}")
        if deferred:
            BuiltIn().skip(" | ".join(deferred))
