"""Host access: the only way the suite touches a node's files and commands.

The interface is small and transport-neutral so that a local runner, an SSH
connection and the simulated node's directory tree all look alike:

* ``run(argv)`` runs one command given as an argv list (never a shell string);
* ``read_files(patterns)`` expands glob patterns and returns node path -> text
  for every readable match, in ONE operation (one round trip on a remote node);
* ``read_bytes``, ``stat``, ``write_file`` (atomic), ``remove`` and
  ``remove_empty_dir`` serve the drop-in code, which must leave the node as
  it found it, byte for byte.

Paths are always node paths (``/sys/devices/system/node/online``). A root
prefix maps them into a directory tree, so fixtures and the simulated node are
served by the same code as a real node; ``mounts`` maps single top-level
directories (``/proc``, ``/sys``) to their own trees.
"""

from __future__ import annotations

import contextlib
import glob
import os
import posixpath
import shutil
import stat as stat_module
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .errors import HostAccessError, InputError

DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class CommandResult:
    """What a command printed and how it ended."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        """True when the command exited with status 0."""
        return self.returncode == 0


@dataclass(frozen=True)
class FileInfo:
    """What ``lstat`` says of a node path: its kind and permission bits."""

    path: str
    kind: str  # "file", "dir", "symlink" or "other"
    mode: int  # permission bits only, e.g. 0o644
    size: int


@dataclass
class AccessStats:
    """Operations performed, so a log can show how many round trips a check took."""

    commands: int = 0
    reads: int = 0
    writes: int = 0
    log: list[str] = field(default_factory=list)

    @property
    def round_trips(self) -> int:
        """Operations that would each cost one round trip on a remote node."""
        return self.commands + self.reads + self.writes


class HostAccess(ABC):
    """Files and commands of one node."""

    description: str = "host"

    def __init__(self) -> None:
        self.stats = AccessStats()

    @abstractmethod
    def run(self, argv: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT) -> CommandResult:
        """Runs ``argv`` on the node and returns its result (a non-zero exit is not an error)."""

    @abstractmethod
    def read_files(self, patterns: Sequence[str]) -> dict[str, str]:
        """Returns node path -> text for every readable file matching the glob patterns.

        Files that vanish or cannot be read while being read are left out: a
        thread that exits mid-read is simply not there.
        """

    @abstractmethod
    def read_bytes(self, path: str) -> bytes:
        """Returns the exact bytes of one file."""

    @abstractmethod
    def stat(self, path: str) -> FileInfo | None:
        """Returns what ``lstat`` says of ``path``, or None when it does not exist."""

    @abstractmethod
    def write_file(self, path: str, data: bytes, *, mode: int = 0o644, temp_dir: str | None = None) -> None:
        """Writes ``data`` to ``path`` atomically: a temp file in ``temp_dir``, then a rename.

        Missing parent directories are created. ``temp_dir`` defaults to the
        target's directory and must be on the same filesystem.
        """

    @abstractmethod
    def remove(self, path: str) -> None:
        """Removes one file (not a directory)."""

    @abstractmethod
    def create_exclusive(self, path: str, data: bytes) -> bool:
        """Creates ``path`` with ``data`` only if it does not exist yet; returns whether it did (a lock)."""

    @abstractmethod
    def remove_empty_dir(self, path: str) -> bool:
        """Removes a directory only if it is empty; returns whether it was removed."""

    def read_text(self, path: str) -> str:
        """Returns the text of one file; a missing file is a HostAccessError naming it."""
        found = self.read_files([glob.escape(path)])
        if path not in found:
            raise HostAccessError(f"cannot read {path} on {self.description}")
        return found[path]

    def run_checked(self, argv: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT) -> CommandResult:
        """Runs ``argv`` and fails with its stderr when it exits non-zero."""
        result = self.run(argv, timeout=timeout)
        if not result.ok:
            detail = result.stderr.strip().splitlines()[-1:] or [f"exit status {result.returncode}"]
            raise HostAccessError(f"{' '.join(argv)} failed on {self.description}: {detail[0]}")
        return result


def check_node_path(path: str) -> str:
    """Returns ``path`` normalised; refuses relative paths and ``..`` components."""
    if not path.startswith("/"):
        raise InputError(f"node path {path!r} must be absolute")
    if ".." in path.split("/"):
        raise InputError(f"node path {path!r} must not contain '..'")
    return posixpath.normpath(path)


class LocalHostAccess(HostAccess):
    """Files and commands of the machine the suite runs on, optionally under a root prefix.

    ``root`` maps node paths into a directory tree (``/`` for the real host).
    ``mounts`` maps top-level directories such as ``/proc`` to other trees.
    With ``sudo=True`` and a non-root user, commands run as ``sudo -n`` and
    privileged file operations go through commands too.
    """

    def __init__(
        self,
        root: str = "/",
        *,
        mounts: Mapping[str, str] | None = None,
        sudo: bool = False,
    ) -> None:
        super().__init__()
        self.root = os.path.abspath(root)
        self.mounts = {check_node_path(k): os.path.abspath(v) for k, v in (mounts or {}).items()}
        self.sudo = sudo and os.geteuid() != 0
        self.description = "local host" if self.root == "/" else f"tree {self.root}"

    # -- path mapping -------------------------------------------------------

    def local_path(self, path: str) -> str:
        """Returns where node path ``path`` lives on this machine."""
        node_path = check_node_path(path)
        for prefix in sorted(self.mounts, key=len, reverse=True):
            if node_path == prefix or node_path.startswith(prefix + "/"):
                return self.mounts[prefix] + node_path[len(prefix) :]
        if self.root == "/":
            return node_path
        return self.root + node_path

    def node_path(self, local: str) -> str:
        """Inverse of ``local_path`` for a path that ``local_path`` produced."""
        for prefix, target in sorted(self.mounts.items(), key=lambda item: len(item[1]), reverse=True):
            if local == target or local.startswith(target + "/"):
                return prefix + local[len(target) :]
        if self.root == "/":
            return local
        return local[len(self.root) :] or "/"

    # -- commands -----------------------------------------------------------

    def command_env(self) -> dict[str, str]:
        """The environment of commands: a tree's ``usr/bin`` comes first on PATH."""
        env = dict(os.environ)
        if self.root != "/":
            env["PATH"] = os.path.join(self.root, "usr/bin") + os.pathsep + env.get("PATH", "/usr/bin:/bin")
        return env

    def run(self, argv: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT) -> CommandResult:
        if not argv:
            raise InputError("run: the command is empty")
        full = (["sudo", "-n", "--"] if self.sudo else []) + list(argv)
        env = self.command_env()
        if self.root != "/" and not self.sudo:
            resolved = shutil.which(full[0], path=env["PATH"])
            if resolved:
                full[0] = resolved
        self.stats.commands += 1
        self.stats.log.append(" ".join(argv))
        try:
            done = subprocess.run(
                full,
                capture_output=True,
                timeout=timeout,
                env=env,
                check=False,
            )
        except FileNotFoundError as error:
            raise HostAccessError(f"{full[0]}: command not found on {self.description}") from error
        except subprocess.TimeoutExpired as error:
            raise HostAccessError(f"{' '.join(argv)} timed out after {timeout:g} s on {self.description}") from error
        return CommandResult(
            tuple(argv),
            done.returncode,
            done.stdout.decode("utf-8", "replace"),
            done.stderr.decode("utf-8", "replace"),
        )

    # -- files ----------------------------------------------------------------

    def read_files(self, patterns: Sequence[str]) -> dict[str, str]:
        self.stats.reads += 1
        self.stats.log.append("read " + " ".join(patterns))
        if self.sudo:
            return read_files_with_shell(self.run, [self.local_path(p) for p in patterns], self.node_path)
        found: dict[str, str] = {}
        for pattern in patterns:
            for local in sorted(glob.glob(self.local_path(pattern))):
                try:
                    with open(local, "rb") as handle:
                        data = handle.read()
                except OSError:
                    continue  # vanished or unreadable while being read
                found[self.node_path(local)] = data.decode("utf-8", "replace")
        return found

    def read_bytes(self, path: str) -> bytes:
        self.stats.reads += 1
        local = self.local_path(path)
        if self.sudo:
            result = subprocess.run(["sudo", "-n", "cat", "--", local], capture_output=True, check=False)
            if result.returncode != 0:
                raise HostAccessError(f"cannot read {path} on {self.description}: {result.stderr.decode().strip()}")
            return result.stdout
        try:
            with open(local, "rb") as handle:
                return handle.read()
        except OSError as error:
            raise HostAccessError(f"cannot read {path} on {self.description}: {error.strerror}") from error

    def stat(self, path: str) -> FileInfo | None:
        local = self.local_path(path)
        try:
            info = os.lstat(local)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise HostAccessError(f"cannot stat {path} on {self.description}: {error.strerror}") from error
        if stat_module.S_ISREG(info.st_mode):
            kind = "file"
        elif stat_module.S_ISDIR(info.st_mode):
            kind = "dir"
        elif stat_module.S_ISLNK(info.st_mode):
            kind = "symlink"
        else:
            kind = "other"
        return FileInfo(path, kind, stat_module.S_IMODE(info.st_mode), info.st_size)

    def write_file(self, path: str, data: bytes, *, mode: int = 0o644, temp_dir: str | None = None) -> None:
        self.stats.writes += 1
        target = self.local_path(path)
        temp_parent = self.local_path(temp_dir) if temp_dir else os.path.dirname(target)
        temp = os.path.join(temp_parent, f".{os.path.basename(target)}.{os.urandom(6).hex()}.tmp")
        if self.sudo:
            self._sudo_write(path, target, temp, data, mode)
            return
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.makedirs(temp_parent, exist_ok=True)
            with open(temp, "xb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp, mode)
            os.replace(temp, target)
        except OSError as error:
            _discard(temp)
            raise HostAccessError(f"cannot write {path} on {self.description}: {error.strerror}") from error

    def _sudo_write(self, path: str, target: str, temp: str, data: bytes, mode: int) -> None:
        steps = (
            (["sudo", "-n", "mkdir", "-p", "--", os.path.dirname(target), os.path.dirname(temp)], None),
            (["sudo", "-n", "tee", "--", temp], data),
            (["sudo", "-n", "chmod", format(mode, "o"), "--", temp], None),
            (["sudo", "-n", "mv", "-f", "--", temp, target], None),
        )
        for argv, stdin in steps:
            done = subprocess.run(argv, input=stdin, capture_output=True, check=False)
            if done.returncode != 0:
                subprocess.run(["sudo", "-n", "rm", "-f", "--", temp], capture_output=True, check=False)
                raise HostAccessError(f"cannot write {path} on {self.description}: {done.stderr.decode().strip()}")

    def remove(self, path: str) -> None:
        self.stats.writes += 1
        local = self.local_path(path)
        if self.sudo:
            self.run_checked(["rm", "-f", "--", local])
            return
        try:
            os.unlink(local)
        except FileNotFoundError:
            return
        except OSError as error:
            raise HostAccessError(f"cannot remove {path} on {self.description}: {error.strerror}") from error

    def create_exclusive(self, path: str, data: bytes) -> bool:
        self.stats.writes += 1
        local = self.local_path(path)
        if self.sudo:
            argv = ["sudo", "-n", "sh", "-c", 'set -C; cat > "$1"', "sh", local]
            return subprocess.run(argv, input=data, capture_output=True, check=False).returncode == 0
        try:
            os.makedirs(os.path.dirname(local), exist_ok=True)
            descriptor = os.open(local, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        except OSError as error:
            raise HostAccessError(f"cannot create {path} on {self.description}: {error.strerror}") from error
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        return True

    def remove_empty_dir(self, path: str) -> bool:
        local = self.local_path(path)
        if self.sudo:
            return self.run(["rmdir", "--", local]).ok
        try:
            os.rmdir(local)
        except OSError:
            return False
        return True


def _discard(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


# A POSIX sh reader that expands each pattern and prints every readable match
# framed by a random marker; shared by every transport that has only commands
# (sudo, SSH). Patterns arrive as positional arguments, never inside the script.
SHELL_READER = r"""
m=$1; shift
for p in "$@"; do
  for f in $p; do
    [ -f "$f" ] || continue
    printf '%s F %s\n' "$m" "$f"
    if cat -- "$f" 2>/dev/null; then printf '\n%s OK\n' "$m"; else printf '\n%s ERR\n' "$m"; fi
  done
done
"""


def shell_reader_argv(local_patterns: Sequence[str], marker: str) -> list[str]:
    """The argv that runs ``SHELL_READER`` over ``local_patterns``."""
    return ["sh", "-c", "IFS=''; " + SHELL_READER, "sh", marker, *local_patterns]


def parse_shell_reader_output(output: str, marker: str) -> dict[str, str]:
    """Splits the framed output of ``SHELL_READER`` into path -> text (failed reads left out)."""
    found: dict[str, str] = {}
    tokens = ("\n" + output).split(f"\n{marker} ")[1:]
    for header, status in zip(tokens[0::2], tokens[1::2], strict=False):
        if not header.startswith("F ") or status.strip() != "OK":
            continue
        path, _, text = header[2:].partition("\n")
        found[path] = text
    return found


def read_files_with_shell(run, local_patterns: Sequence[str], to_node_path) -> dict[str, str]:
    """Reads files through one ``sh`` command run by ``run`` (for sudo and remote transports)."""
    marker = "@@kata-numa-" + os.urandom(8).hex()
    result = run(shell_reader_argv(local_patterns, marker))
    return {to_node_path(path): text for path, text in parse_shell_reader_output(result.stdout, marker).items()}
