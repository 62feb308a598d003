"""Writes processes into a host tree the way procfs shows them: cmdline, comm, status, task/<tid>/."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..cpuset import format_cpulist


@dataclass(frozen=True)
class SimThread:
    """One thread: id, name (comm, at most 15 characters shown) and allowed CPUs."""

    tid: int
    name: str
    cpus: frozenset[int]


def status_text(thread: SimThread, tgid: int, threads: int = 1) -> str:
    """``/proc/<pid>/task/<tid>/status`` as the kernel writes it (the fields that matter, in kernel order)."""
    mask = sum(1 << cpu for cpu in thread.cpus)
    words = max(4, (max(thread.cpus, default=0) // 32) + 1)
    hex_words = ",".join(f"{(mask >> (32 * i)) & 0xFFFFFFFF:08x}" for i in reversed(range(words)))
    return (
        f"Name:\t{thread.name[:15]}\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t{tgid}\nNgid:\t0\n"
        f"Pid:\t{thread.tid}\nPPid:\t1\nTracerPid:\t0\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n"
        f"Threads:\t{threads}\nCpus_allowed:\t{hex_words}\nCpus_allowed_list:\t{format_cpulist(thread.cpus)}\n"
        "Mems_allowed:\t00000000,00000003\nMems_allowed_list:\t0-1\n"
        "voluntary_ctxt_switches:\t1183\nnonvoluntary_ctxt_switches:\t7\n"
    )


def write_atomic(path: Path, data: bytes) -> None:
    """Replaces ``path`` by rename, so a concurrent reader sees the old or the new text, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_bytes(data)
    os.replace(temp, path)


def write_process(proc: Path, pid: int, argv: Sequence[str], threads: Sequence[SimThread]) -> None:
    """Writes ``/proc/<pid>`` with its cmdline and every thread (the first is the main thread)."""
    directory = proc / str(pid)
    main = threads[0]
    write_atomic(directory / "cmdline", ("\0".join(argv) + "\0").encode())
    write_atomic(directory / "comm", (main.name[:15] + "\n").encode())
    write_atomic(directory / "status", status_text(main, pid, len(threads)).encode())
    update_threads(proc, pid, threads)


def update_threads(proc: Path, pid: int, threads: Iterable[SimThread]) -> None:
    """Rewrites the comm and status of each thread (a new affinity, a new name)."""
    threads = list(threads)
    for thread in threads:
        task = proc / str(pid) / "task" / str(thread.tid)
        write_atomic(task / "comm", (thread.name[:15] + "\n").encode())
        write_atomic(task / "status", status_text(thread, pid, len(threads)).encode())


def remove_process(proc: Path, pid: int) -> None:
    """Removes ``/proc/<pid>`` (the process exited)."""
    shutil.rmtree(proc / str(pid), ignore_errors=True)
