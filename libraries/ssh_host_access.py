"""Host access over SSH (SSHLibrary), for a runner that is not on the node.

Every command is an argv quoted for the remote shell (``shlex.join``), never
a string pasted together from external data; ``sudo -n`` is added when the
remote user is not root. ``read_files`` gathers any number of files in ONE
remote command (the core's framed shell reader). Writes go to a temp file by
SFTP, then one command moves it into place atomically. A dropped connection
is re-opened once and the operation retried; a second failure is a clear
error naming the node.
"""

from __future__ import annotations

import base64
import os
import posixpath
import shlex
import tempfile
from collections.abc import Callable, Sequence

import paramiko
from SSHLibrary import SSHLibrary

from kata_numa.errors import HostAccessError, InputError
from kata_numa.hostaccess import (
    DEFAULT_TIMEOUT,
    CommandResult,
    FileInfo,
    HostAccess,
    check_node_path,
    read_files_with_shell,
)

_KINDS = {"regular file": "file", "regular empty file": "file", "directory": "dir", "symbolic link": "symlink"}


class SshHostAccess(HostAccess):
    """A node reached over SSH, optionally under a root prefix (the simulated node's tree)."""

    def __init__(
        self,
        host: str,
        *,
        port: int = 22,
        user: str = "root",
        key_file: str = "",
        root: str = "/",
        known_hosts: str = "",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__()
        if not host:
            raise InputError("NODE_SSH_HOST is empty: name the node to reach over SSH")
        if key_file and not os.path.isfile(key_file):
            raise InputError(f"NODE_SSH_KEY {key_file}: no such file")
        self.host, self.port, self.user, self.key_file = host, int(port), user, key_file
        self.root = "/" if root in ("", "/") else check_node_path(root)
        self.known_hosts = known_hosts
        self.timeout = timeout
        self.description = f"{user}@{host}:{self.port}" + ("" if self.root == "/" else f" under {self.root}")
        self._library: SSHLibrary | None = None
        self.sudo = False
        self._connect()
        self.sudo = self._remote_uid() != 0

    # -- connection ---------------------------------------------------------------

    def _connect(self) -> None:
        library = SSHLibrary(timeout=f"{self.timeout} seconds", loglevel="NONE")
        try:
            library.open_connection(self.host, port=self.port)
            if self.key_file:
                library.login_with_public_key(self.user, self.key_file)
            else:
                library.login(self.user, allow_agent=True, look_for_keys=True)
        except Exception as error:  # noqa: BLE001 - SSHLibrary and paramiko raise many kinds
            library.close_all_connections()
            raise HostAccessError(f"cannot log in to {self.description}: {error}") from None
        self._library = library
        if self.known_hosts:
            self._check_host_key()

    def _check_host_key(self) -> None:
        transport = self._library.current.client.get_transport()
        offered = transport.get_remote_server_key()
        known = paramiko.HostKeys(self.known_hosts)
        name = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        expected = known.lookup(name) or {}
        if expected.get(offered.get_name()) != offered:
            self.close()
            raise HostAccessError(f"host key of {name} ({offered.get_name()}) is not in {self.known_hosts}")

    def close(self) -> None:
        """Closes the connection."""
        if self._library is not None:
            self._library.close_all_connections()
            self._library = None

    def drop_connection(self) -> None:
        """Breaks the transport under the connection (tests use it to exercise the reconnect)."""
        self._library.current.client.get_transport().close()

    def _with_reconnect(self, what: str, action: Callable[[], object]) -> object:
        try:
            return action()
        except Exception as first:  # noqa: BLE001 - a dropped connection shows up as many exception types
            self.close()
            try:
                self._connect()
                return action()
            except Exception as second:  # noqa: BLE001
                raise HostAccessError(
                    f"{what} on {self.description} failed twice (the connection was re-opened once): "
                    f"{first or type(first).__name__}; then {second or type(second).__name__}"
                ) from None

    def _execute(self, command: str, timeout: float | None = None) -> tuple[str, str, int]:
        """Runs one remote command on the connection's channel and returns its exact output.

        SSHLibrary opens and logs in; the command runs on its paramiko client
        directly, which returns the output byte for byte (``Execute Command``
        strips trailing newlines and polls slowly).
        """
        self.stats.commands += 1
        limit = timeout or self.timeout

        def run() -> tuple[str, str, int]:
            if self._library is None:
                raise HostAccessError("not connected")
            client = self._library.current.client
            _, stdout, stderr = client.exec_command(command, timeout=limit)
            out, err = stdout.read(), stderr.read()
            return (out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), stdout.channel.recv_exit_status())

        return self._with_reconnect("a command", run)

    def _remote_uid(self) -> int:
        stdout, _, rc = self._execute("id -u")
        return int(stdout.strip()) if rc == 0 and stdout.strip().isdigit() else -1

    # -- commands ---------------------------------------------------------------------

    def remote_path(self, path: str) -> str:
        """Where node path ``path`` lives on the remote machine (under the root prefix)."""
        node_path = check_node_path(path)
        return node_path if self.root == "/" else self.root + node_path

    def node_path(self, remote: str) -> str:
        """Inverse of ``remote_path``."""
        return remote if self.root == "/" else remote[len(self.root) :] or "/"

    def _command(self, argv: Sequence[str]) -> str:
        full = list(argv)
        if self.root != "/":  # the tree's own tools come first on PATH
            full = ["sh", "-c", 'PATH="$0/usr/bin:$PATH"; exec "$@"', self.root, *full]
        if self.sudo:
            full = ["sudo", "-n", "--", *full]
        return shlex.join(full)

    def run(self, argv: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT) -> CommandResult:
        if not argv:
            raise InputError("run: the command is empty")
        self.stats.log.append(" ".join(argv))
        stdout, stderr, rc = self._execute(self._command(argv), timeout)
        return CommandResult(tuple(argv), rc, stdout, stderr)

    def _checked(self, argv: Sequence[str], what: str) -> str:
        stdout, stderr, rc = self._execute(self._command(argv))
        if rc != 0:
            raise HostAccessError(f"{what} on {self.description}: {stderr.strip() or f'exit status {rc}'}")
        return stdout

    # -- files --------------------------------------------------------------------------

    def read_files(self, patterns: Sequence[str]) -> dict[str, str]:
        self.stats.reads += 1
        self.stats.log.append("read " + " ".join(patterns))
        remote = [self.remote_path(p) for p in patterns]
        commands_before = self.stats.commands

        def run(argv: Sequence[str]) -> CommandResult:
            stdout, stderr, rc = self._execute(self._command(argv))
            return CommandResult(tuple(argv), rc, stdout, stderr)

        found = read_files_with_shell(run, remote, self.node_path)
        self.stats.commands = commands_before  # counted as the one read, not as a command too
        return found

    def read_bytes(self, path: str) -> bytes:
        self.stats.reads += 1
        encoded = self._checked(["base64", "--", self.remote_path(path)], f"cannot read {path}")
        return base64.b64decode("".join(encoded.split()))

    def stat(self, path: str) -> FileInfo | None:
        script = 'if [ -e "$1" ] || [ -L "$1" ]; then stat -c "%a %s %F" -- "$1"; else echo absent; fi'
        stdout = self._checked(["sh", "-c", script, "sh", self.remote_path(path)], f"cannot stat {path}")
        fields = stdout.strip().split(" ", 2)
        if fields == ["absent"]:
            return None
        if len(fields) != 3:
            raise HostAccessError(f"cannot stat {path} on {self.description}: unexpected answer {stdout.strip()!r}")
        mode, size, kind = fields
        return FileInfo(path, _KINDS.get(kind, "other"), int(mode, 8), int(size))

    def write_file(self, path: str, data: bytes, *, mode: int = 0o644, temp_dir: str | None = None) -> None:
        self.stats.writes += 1
        target = self.remote_path(path)
        temp_parent = self.remote_path(temp_dir) if temp_dir else posixpath.dirname(target)
        upload = f"/tmp/.kata-numa-upload-{os.urandom(6).hex()}"  # noqa: S108 - random name, uploaded 0600
        temp = posixpath.join(temp_parent, f".{posixpath.basename(target)}.{os.urandom(6).hex()}.tmp")
        with tempfile.NamedTemporaryFile(prefix="kata-numa-") as local:
            local.write(data)
            local.flush()
            self._with_reconnect("an upload", lambda: self._library.put_file(local.name, upload, mode="0600"))
        script = (
            'mkdir -p -- "$(dirname -- "$4")" "$2" && cp -- "$1" "$3" && chmod "$5" -- "$3" '
            '&& mv -f -- "$3" "$4"; rc=$?; rm -f -- "$1" "$3"; exit $rc'
        )
        argv = ["sh", "-c", script, "sh", upload, temp_parent, temp, target, format(mode, "o")]
        _, stderr, rc = self._execute(shlex.join((["sudo", "-n", "--"] if self.sudo else []) + argv))
        if rc != 0:
            raise HostAccessError(f"cannot write {path} on {self.description}: {stderr.strip() or rc}")

    def remove(self, path: str) -> None:
        self.stats.writes += 1
        self._checked(["rm", "-f", "--", self.remote_path(path)], f"cannot remove {path}")

    def remove_empty_dir(self, path: str) -> bool:
        _, _, rc = self._execute(self._command(["rmdir", "--", self.remote_path(path)]))
        return rc == 0

    def create_exclusive(self, path: str, data: bytes) -> bool:
        self.stats.writes += 1
        script = 'set -C; mkdir -p -- "$(dirname -- "$1")" && printf %s "$2" | base64 -d > "$1"'
        argv = ["sh", "-c", script, "sh", self.remote_path(path), base64.b64encode(data).decode()]
        _, _, rc = self._execute(shlex.join((["sudo", "-n", "--"] if self.sudo else []) + argv))
        return rc == 0
