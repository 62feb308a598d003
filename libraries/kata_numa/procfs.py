"""Processes and threads from procfs: the sandbox's QEMU and its threads' affinities.

One ``read_files`` call per probe, however many threads: never a fork per
thread as ``taskset -pc`` loops do.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .cpuset import parse_cpulist
from .errors import InputError
from .hostaccess import HostAccess
from .qemu import argv_from_cmdline, parse_qemu_argv

_PROC_CMDLINE = re.compile(r"^/proc/(\d+)/cmdline$")
_TASK_STATUS = re.compile(r"^/proc/(\d+)/task/(\d+)/status$")
_ID_SEPARATORS = re.compile(r"[/,=:\s]")


@dataclass(frozen=True)
class ThreadInfo:
    """One thread: its id, its name and the CPUs it may run on."""

    tid: int
    name: str
    cpus: frozenset[int]


@dataclass(frozen=True)
class ProcessThreads:
    """The threads of one process as read in one pass, with what could not be read."""

    pid: int
    threads: tuple[ThreadInfo, ...]
    notes: tuple[str, ...] = ()

    @property
    def main(self) -> ThreadInfo | None:
        """The main thread (tid == pid), when it was read."""
        return next((t for t in self.threads if t.tid == self.pid), None)


@dataclass(frozen=True)
class ProcessMatch:
    """A process found by command line."""

    pid: int
    argv: tuple[str, ...]


def parse_status(text: str) -> dict[str, str]:
    """Splits ``/proc/<pid>/status`` into field -> value (tabs and spaces trimmed)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, colon, value = line.partition(":")
        if colon:
            fields[key.strip()] = value.strip()
    return fields


def status_field(text: str, key: str) -> str | None:
    """The value of the ``key:`` line of a status text, or None when that line is absent.

    Looks up the one line that starts with ``key:`` instead of splitting all
    fifty-odd lines: the probe reads hundreds of these per poll.
    """
    prefix = key + ":"
    start = 0 if text.startswith(prefix) else text.find("\n" + prefix) + 1
    if start == 0 and not text.startswith(prefix):
        return None
    end = text.find("\n", start)
    return text[start + len(prefix) : end if end >= 0 else len(text)].strip()


def parse_threads(pid: int, files: Mapping[str, str]) -> ProcessThreads:
    """Builds the thread list from node path -> text of ``/proc/<pid>/task/*/status``.

    A thread whose status is incomplete (it exited while being read) is left
    out with a note, never an error.
    """
    threads: list[ThreadInfo] = []
    notes: list[str] = []
    for path, text in files.items():
        match = _TASK_STATUS.match(path)
        if not match or int(match.group(1)) != pid:
            continue
        tid = int(match.group(2))
        name, allowed = status_field(text, "Name"), status_field(text, "Cpus_allowed_list")
        if name is None or allowed is None:
            notes.append(f"thread {tid}: status incomplete (exited while being read?), skipped")
            continue
        try:
            cpus = parse_cpulist(allowed, what=f"{path} Cpus_allowed_list")
        except InputError as error:
            notes.append(f"thread {tid}: {error}, skipped")
            continue
        threads.append(ThreadInfo(tid, unescape_name(name), cpus))
    threads.sort(key=lambda t: t.tid)
    return ProcessThreads(pid, tuple(threads), tuple(notes))


def unescape_name(name: str) -> str:
    r"""Undoes the kernel's escaping of ``\\n`` and ``\\\\`` in the status ``Name:`` field."""
    return name.replace("\\n", "\n").replace("\\\\", "\\")


def read_threads(access: HostAccess, pid: int) -> ProcessThreads:
    """Reads every thread's name and affinity of process ``pid`` in one host round trip."""
    if pid <= 0:
        raise InputError(f"pid {pid} is not a process id")
    files = access.read_files([f"/proc/{pid}/task/*/status"])
    result = parse_threads(pid, files)
    if not result.threads:
        raise InputError(f"process {pid}: no threads readable under /proc/{pid}/task (has it exited?)")
    return result


def read_cmdline(access: HostAccess, pid: int) -> list[str]:
    """The argv of process ``pid``."""
    files = access.read_files([f"/proc/{pid}/cmdline"])
    if f"/proc/{pid}/cmdline" not in files:
        raise InputError(f"process {pid}: /proc/{pid}/cmdline cannot be read (has it exited?)")
    return argv_from_cmdline(files[f"/proc/{pid}/cmdline"])


def command_lines(files: Mapping[str, str]) -> list[ProcessMatch]:
    """Every process with a non-empty command line, from ``/proc/*/cmdline`` texts."""
    found = []
    for path, text in files.items():
        match = _PROC_CMDLINE.match(path)
        if match and text.strip("\x00"):
            found.append(ProcessMatch(int(match.group(1)), tuple(argv_from_cmdline(text))))
    return sorted(found, key=lambda p: p.pid)


def is_qemu_binary(argv0: str) -> bool:
    """True when argv[0] names a QEMU system emulator."""
    return posixpath.basename(argv0).startswith("qemu")


def refers_to_sandbox(process: ProcessMatch, sandbox_id: str) -> bool:
    """True when the argv names the sandbox: ``-name sandbox-<id>`` or ``<id>`` as a whole token.

    A token is a piece of an argument between ``/ , = :`` or whitespace, so a
    sandbox id never matches a longer id that merely starts with it.
    """
    try:
        if parse_qemu_argv(process.argv).sandbox_id == sandbox_id:
            return True
    except InputError:
        pass
    return any(sandbox_id in _ID_SEPARATORS.split(arg) for arg in process.argv)


def select_sandbox_qemu(processes: Sequence[ProcessMatch], sandbox_id: str) -> ProcessMatch:
    """The one QEMU process of the sandbox; none or several is an InputError listing them."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", sandbox_id or ""):
        raise InputError(f"sandbox id {sandbox_id!r} is not a sandbox id")
    matches = [p for p in processes if is_qemu_binary(p.argv[0]) and refers_to_sandbox(p, sandbox_id)]
    if not matches:
        raise InputError(f"no QEMU process names sandbox {sandbox_id} (looked at {len(processes)} processes)")
    if len(matches) > 1:
        listed = ", ".join(f"{p.pid} ({posixpath.basename(p.argv[0])})" for p in matches)
        raise InputError(f"sandbox {sandbox_id} matches {len(matches)} QEMU processes: {listed}")
    return matches[0]


def find_sandbox_qemu(access: HostAccess, sandbox_id: str) -> ProcessMatch:
    """Finds the sandbox's QEMU process in one host round trip."""
    return select_sandbox_qemu(command_lines(access.read_files(["/proc/[0-9]*/cmdline"])), sandbox_id)
