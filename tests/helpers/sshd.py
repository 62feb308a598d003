"""A throwaway OpenSSH server on 127.0.0.1 for tests: its own host key, user key and config in a temp dir."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


@dataclass
class Sshd:
    """A running sshd: where to reach it and with which key."""

    port: int
    key: Path
    known_hosts: Path
    process: subprocess.Popen
    user: str

    def suite_variables(self, key: Path | None = None) -> dict[str, str]:
        """The suite settings that reach the node through this server (``key`` instead of the server's own)."""
        return {
            "HOST_ACCESS": "ssh",
            "NODE_SSH_HOST": "127.0.0.1",
            "NODE_SSH_PORT": str(self.port),
            "NODE_SSH_USER": self.user,
            "NODE_SSH_KEY": str(key or self.key),
        }

    def stop(self) -> None:
        """Stops the server (connections it serves are cut)."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def available() -> str | None:
    """None when sshd and ssh-keygen are there, else why not."""
    if not os.path.exists(SSHD):
        return f"no OpenSSH server at {SSHD}"
    if not shutil.which("ssh-keygen"):
        return "no ssh-keygen"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_sshd(directory: Path) -> Sshd:
    """Starts sshd on a free loopback port accepting one fresh key for the current user."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    host_key, user_key = directory / "host_key", directory / "user_key"
    for key in (host_key, user_key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    authorized = directory / "authorized_keys"
    shutil.copyfile(user_key.with_suffix(".pub"), authorized)
    os.chmod(authorized, 0o600)
    port = _free_port()
    config = directory / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nPidFile {directory / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {authorized}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
        "Subsystem sftp internal-sftp\nLogLevel ERROR\nMaxStartups 50\n"
    )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege separation directory
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited: {process.stderr.read()}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    else:
        process.kill()
        raise RuntimeError("sshd did not listen within 10 s")
    public = host_key.with_suffix(".pub").read_text().split()
    known_hosts = directory / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {public[0]} {public[1]}\n")
    import getpass

    return Sshd(port, user_key, known_hosts, process, getpass.getuser())
