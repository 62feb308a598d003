"""Runs the scenario suites against a simulated node and reads back each scenario's outcome."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from robot.api import ExecutionResult

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Outcome:
    """A test's status and message."""

    name: str
    status: str
    message: str


@dataclass(frozen=True)
class RunResult:
    """Outcomes by scenario number, the other tests, and the suite's own errors."""

    scenarios: dict[int, Outcome]
    others: list[Outcome]
    suite_message: str
    returncode: int
    output: str


def run_suites(tmp: Path, *, log: bool = False, **variables: str) -> RunResult:
    """``robot`` on suites/ with TARGET=sim and the given variables; quick polling for the simulated node."""
    settings = {"TARGET": "sim", "PLACEMENT_RETRY_INTERVAL": "0.1s", "PLACEMENT_RETRIES": "15", **variables}
    argv = [
        sys.executable,
        "-m",
        "robot",
        "--pythonpath",
        str(REPO / "libraries"),
        "--outputdir",
        str(tmp),
        "--log",
        "log.html" if log else "NONE",
        "--report",
        "NONE",
        "--console",
        "verbose" if log else "none",
        "--loglevel",
        "DEBUG:INFO" if log else "INFO",
    ]
    for name, value in settings.items():
        argv += ["-v", f"{name}:{value}"]
    env = {k: v for k, v in os.environ.items() if k != "ROBOT_OPTIONS"}
    done = subprocess.run(
        [*argv, str(REPO / "suites")], capture_output=True, text=True, env=env, cwd=REPO, check=False, timeout=600
    )
    result = ExecutionResult(str(tmp / "output.xml"))
    scenarios, others = {}, []
    for test in result.suite.all_tests:
        outcome = Outcome(test.name, test.status, test.message)
        numbers = [int(tag.split("-", 1)[1]) for tag in test.tags if tag.startswith("scenario-")]
        if numbers:
            scenarios[numbers[0]] = outcome
        else:
            others.append(outcome)
    suite_message = result.suite.message or ""
    return RunResult(scenarios, others, suite_message, done.returncode, done.stdout + done.stderr)
