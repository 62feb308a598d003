"""A process that looks like a QEMU to the placement probe: many threads, named and pinned on demand.

Run as ``python thread_farm.py --vcpus 8 --named --pin single`` (see ``--help``);
it prints ``ready <pid>`` once every thread has its name and affinity, then
waits until its standard input closes. ``start_farm`` does that from a test.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

PR_SET_NAME = 15
_libc = ctypes.CDLL(None, use_errno=True)


def set_thread_name(name: str) -> None:
    """Names the calling thread (what ``/proc/<pid>/task/<tid>/status`` shows as Name)."""
    _libc.prctl(PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)


def parse_masks(text: str) -> list[set[int]]:
    """``0-1;2-3`` -> [{0, 1}, {2, 3}]."""
    masks = []
    for part in text.split(";"):
        cpus: set[int] = set()
        for item in part.split(","):
            low, _, high = item.partition("-")
            cpus.update(range(int(low), int(high or low) + 1))
        masks.append(cpus)
    return masks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vcpus", type=int, default=4)
    parser.add_argument("--named", action="store_true", help="name vCPU threads 'CPU <n>/KVM'")
    parser.add_argument("--pin", choices=("single", "mask"), default="single")
    parser.add_argument("--cpus", default="", help="single: CPUs to pin to in turn; mask: ';'-separated masks")
    parser.add_argument("--extra-pinned", type=int, default=0, help="non-vCPU threads pinned to one CPU")
    parser.add_argument("--service", type=int, default=2, help="non-vCPU threads with the process mask")
    parser.add_argument("rest", nargs="*", help="ignored: lets the argv carry -name sandbox-<id>")
    args = parser.parse_args()

    online = sorted(os.sched_getaffinity(0))
    single = [int(c) for c in args.cpus.split(",")] if args.pin == "single" and args.cpus else online
    masks = parse_masks(args.cpus) if args.pin == "mask" and args.cpus else [set(online)]
    ready = threading.Barrier(args.vcpus + args.extra_pinned + args.service + 1)
    stop = threading.Event()

    def worker(name: str | None, cpus: set[int] | None) -> None:
        if name:
            set_thread_name(name)
        if cpus is not None:
            os.sched_setaffinity(0, cpus)
        ready.wait()
        stop.wait()

    plans: list[tuple[str | None, set[int] | None]] = []
    for vcpu in range(args.vcpus):
        cpus = {single[vcpu % len(single)]} if args.pin == "single" else masks[vcpu % len(masks)]
        plans.append((f"CPU {vcpu}/KVM" if args.named else None, cpus))
    plans += [("kvm-pit/helper" if args.named else None, {online[0]}) for _ in range(args.extra_pinned)]
    plans += [("IO iothread" if args.named else None, None) for _ in range(args.service)]
    threads = [threading.Thread(target=worker, args=plan, daemon=True) for plan in plans]
    for thread in threads:
        thread.start()
    ready.wait()
    print(f"ready {os.getpid()}", flush=True)
    sys.stdin.read()
    stop.set()


def start_farm(argv: Sequence[str], *, argv0: str = "qemu-system-thread-farm") -> subprocess.Popen:
    """Starts the farm with ``argv0`` as its argv[0] and waits until it is ready.

    ``argv0`` must not name a program on PATH: Python looks its own home up
    from argv[0], and a real QEMU there would mislead it.
    """
    process = subprocess.Popen(
        [argv0, str(Path(__file__).resolve()), *argv],
        executable=sys.executable,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    if not line.startswith("ready"):
        process.kill()
        raise RuntimeError(f"thread farm did not start: {line!r}")
    return process


def stop_farm(process: subprocess.Popen) -> None:
    """Closes the farm's standard input and waits for it to exit."""
    process.stdin.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


if __name__ == "__main__":
    main()
