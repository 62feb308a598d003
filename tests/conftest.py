"""Shared paths and host-access helpers for the tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from kata_numa.hostaccess import LocalHostAccess

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
HOSTS = FIXTURES / "hosts"
PROC = FIXTURES / "procs" / "node" / "proc"
TOPOLOGIES = FIXTURES / "topologies"
CMDLINES = FIXTURES / "cmdlines"
GUEST = FIXTURES / "guest"


def host_access(host: str = "two-socket-gpu", *, with_proc: bool = True) -> LocalHostAccess:
    """Host access that serves a fixture host's sysfs and, optionally, the fixture node's procfs."""
    mounts = {"/sys": str(HOSTS / host / "sys")}
    if with_proc:
        mounts["/proc"] = str(PROC)
    return LocalHostAccess("/", mounts=mounts)


@pytest.fixture
def two_socket() -> LocalHostAccess:
    """The default two-socket GPU host with the fixture node's processes."""
    return host_access("two-socket-gpu")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A throwaway OpenSSH server on 127.0.0.1 (tests/helpers/sshd.py), shared by a test module."""
    from helpers import sshd as sshd_helper

    reason = sshd_helper.available()
    if reason:
        pytest.skip(reason)
    running = sshd_helper.start_sshd(tmp_path_factory.mktemp("sshd"))
    yield running
    running.stop()
