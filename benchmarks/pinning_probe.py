"""Times the vCPU pinning probe against the original's approach on a real 256-thread process.

Three ways to count the pinned vCPU threads of one process per NUMA node:
the in-process probe (one read of every thread's status), the CLI (a Python
start plus the same read), and a restatement of numa-pinning-check.sh (a
``taskset -pc`` fork per thread, then ``sort | uniq -c``). Prints the median
of several runs of each and the ratios; exits 1 when a goal is missed
(in-process at least 30x faster than the shell original, CLI at least 4x).

Run: ``make benchmark`` (or ``PYTHONPATH=libraries:tests python benchmarks/pinning_probe.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT / "libraries"), str(ROOT / "tests"), str(ROOT / "benchmarks")]

import timing  # noqa: E402
from helpers.thread_farm import start_farm, stop_farm  # noqa: E402
from kata_numa.hostaccess import LocalHostAccess  # noqa: E402
from kata_numa.placement import analyse_pinning  # noqa: E402
from kata_numa.procfs import read_threads  # noqa: E402
from kata_numa.sysfs import read_host_topology  # noqa: E402

THREADS = 256
RUNS = 7
GOAL_IN_PROCESS = 30.0
GOAL_CLI = 4.0


def median_seconds(action, runs: int = RUNS) -> float:
    return timing.median_seconds(action, runs)


def main() -> int:
    cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    farm = start_farm(["--vcpus", str(THREADS), "--named", "--pin", "single", "--cpus", cpus])
    env = dict(os.environ, PYTHONPATH=str(ROOT / "libraries"))
    try:
        pid = farm.pid

        def in_process() -> None:
            access = LocalHostAccess("/")
            summary = analyse_pinning(read_threads(access, pid), read_host_topology(access))
            assert len(summary.vcpus) == THREADS

        def cli() -> None:
            subprocess.run(
                [sys.executable, "-m", "kata_numa", "pinning", str(pid)], env=env, check=True, capture_output=True
            )

        def shell() -> None:
            subprocess.run([str(HERE / "numa-pinning-check-restated.sh"), str(pid)], check=True, capture_output=True)

        shell_out = subprocess.run(
            [str(HERE / "numa-pinning-check-restated.sh"), str(pid)], capture_output=True, text=True, check=True
        ).stdout
        cli_out = subprocess.run(
            [sys.executable, "-m", "kata_numa", "pinning", str(pid)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        t_in, t_cli, t_shell = median_seconds(in_process), median_seconds(cli), median_seconds(shell, runs=3)
    finally:
        stop_farm(farm)
    print(f"process with {THREADS} vCPU threads pinned to single CPUs ({cpus}), median of runs")
    print(f"  shell original (taskset per thread): {t_shell * 1000:9.1f} ms")
    print(f"  CLI (python -m kata_numa pinning):   {t_cli * 1000:9.1f} ms   {t_shell / t_cli:6.1f}x faster")
    print(f"  in-process probe:                    {t_in * 1000:9.1f} ms   {t_shell / t_in:6.1f}x faster")
    print("shell original says:\n" + shell_out.rstrip())
    print("CLI says:\n" + cli_out.rstrip())
    missed = []
    if t_shell / t_in < GOAL_IN_PROCESS:
        missed.append(f"in-process {t_shell / t_in:.1f}x < {GOAL_IN_PROCESS}x")
    if t_shell / t_cli < GOAL_CLI:
        missed.append(f"CLI {t_shell / t_cli:.1f}x < {GOAL_CLI}x")
    print("goals met" if not missed else "goals MISSED: " + "; ".join(missed))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
