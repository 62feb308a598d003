"""Robot Framework library: chooses how the suite reaches the node's files and commands."""

from __future__ import annotations

from robot.api import logger
from robot.api.deco import keyword, library

from kata_numa import __version__
from kata_numa.errors import KataNumaError
from kata_numa.hostaccess import HostAccess, LocalHostAccess
from keyword_support import core_call, log_table


@library(scope="GLOBAL", version=__version__, doc_format="ROBOT")
class NodeAccess:
    """Holds the host access every other library of the suite uses.

    = Host access =

    Host access reads the node's ``/proc``, ``/sys`` and runtime files and runs
    its commands. A root prefix serves every node path from a directory tree,
    which is how fixture trees and the simulated node are reached; the real
    node uses the root ``/``.
    """

    def __init__(self) -> None:
        self._access: HostAccess | None = None

    @property
    def access(self) -> HostAccess:
        """The chosen host access; fails clearly when none was chosen."""
        if self._access is None:
            raise AssertionError("no host access chosen: call `Use Local Host Access` in the suite setup")
        return self._access

    @keyword("Use Local Host Access")
    def use_local_host_access(self, root: str = "/", proc: str = "", sys: str = "", sudo: bool = False) -> None:
        """Reaches the node from this machine, under the directory ``root`` (``/`` for the real node).

        ``proc`` and ``sys`` optionally serve ``/proc`` and ``/sys`` from other
        directories. With ``sudo`` and a non-root user, commands run as ``sudo -n``.
        """
        mounts = {k: v for k, v in (("/proc", proc), ("/sys", sys)) if v}
        self._access = LocalHostAccess(root, mounts=mounts, sudo=sudo)
        log_table(("host access", "root", "mounts", "sudo"), [("local", root, mounts or "-", sudo)])

    @keyword("Use SSH Host Access")
    def use_ssh_host_access(
        self, host: str, port: int = 22, user: str = "root", key: str = "", *, root: str = "/", known_hosts: str = ""
    ) -> None:
        """Reaches the node over SSH: ``key`` is a private key file (empty: the SSH agent and default keys).

        ``known_hosts``, when given, must hold the node's host key. ``root``
        serves node paths from a directory on the remote machine (the
        simulated node's tree). Commands run with ``sudo -n`` when ``user`` is
        not root.
        """
        from ssh_host_access import SshHostAccess

        self.close()
        self._access = core_call(
            SshHostAccess, host, port=port, user=user, key_file=key, root=root, known_hosts=known_hosts
        )
        log_table(
            ("host access", "node", "as", "root", "sudo"), [("ssh", f"{host}:{port}", user, root, self._access.sudo)]
        )

    @keyword("Close Host Access")
    def close(self) -> None:
        """Closes an SSH connection (nothing to do for local access)."""
        closer = getattr(self._access, "close", None)
        if closer is not None:
            closer()

    @keyword("Host Access Should Work")
    def host_access_should_work(self) -> None:
        """Fails at once, naming the command, when the node cannot be read or ``sudo -n`` is refused."""
        access = self.access
        result = core_call(access.run, ["cat", "/proc/self/status"])
        if not result.ok:
            tried = ("sudo -n -- " if getattr(access, "sudo", False) else "") + "cat /proc/self/status"
            raise AssertionError(
                f"host access to {access.description} does not work: `{tried}` failed: "
                f"{result.stderr.strip() or result.returncode} (passwordless sudo is needed "
                "when not root)"
            )
        if not core_call(access.read_files, ["/sys/devices/system/node/online"]):
            raise AssertionError(f"cannot read /sys/devices/system/node/online through {access.description}")

    @keyword("Log Host Round Trips")
    def log_host_round_trips(self, caption: str = "host round trips") -> None:
        """Logs how many commands, reads and writes the host access has made so far, then starts counting anew."""
        stats = self.access.stats
        log_table(
            ("commands", "reads", "writes", "round trips"),
            [(stats.commands, stats.reads, stats.writes, stats.round_trips)],
            caption,
        )
        stats.commands = stats.reads = stats.writes = 0
        stats.log.clear()

    @keyword("Get Host Access Description")
    def get_host_access_description(self) -> str:
        """Returns how the node is reached and as whom, e.g. ``local host as root``."""
        import getpass

        sudo = " with sudo -n" if getattr(self.access, "sudo", False) else ""
        if isinstance(self.access, LocalHostAccess):
            return f"local: {self.access.description} as {getpass.getuser()}{sudo}"
        return f"ssh: {self.access.description}{sudo}"

    @keyword("Log Runtime Journal Since")
    def log_runtime_journal_since(self, start: float) -> None:
        """Logs the runtime's journal (identifier ``kata``) since ``start`` (seconds since the epoch)."""
        argv = ["journalctl", "-t", "kata", "--no-pager", "-o", "short-iso", "--since", f"@{int(start)}"]
        try:
            result = self.access.run(argv)
        except KataNumaError as error:
            logger.info(f"no runtime journal: {error}")
            return
        text = result.stdout.strip() if result.ok else result.stderr.strip()
        logger.info(f"journalctl -t kata since the scenario started:\n{text or '(empty)'}")

    @keyword("Host Round Trips Should Be At Most")
    def host_round_trips_should_be_at_most(self, limit: int) -> None:
        """Fails when the host access has taken more than ``limit`` operations so far (each a round trip)."""
        stats = self.access.stats
        log_table(
            ("operation", "count"), [("commands", stats.commands), ("reads", stats.reads), ("writes", stats.writes)]
        )
        if stats.round_trips > limit:
            raise AssertionError(f"expected at most {limit} host round trips, took {stats.round_trips}")
