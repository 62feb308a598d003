"""Host access over a real OpenSSH server on 127.0.0.1, compared with local host access."""

from __future__ import annotations

import os

import pytest

from helpers import sshd as sshd_helper
from kata_numa.errors import HostAccessError
from kata_numa.hostaccess import LocalHostAccess
from kata_numa.placement import analyse_pinning
from kata_numa.procfs import read_threads
from kata_numa.sysfs import read_host_topology
from ssh_host_access import SshHostAccess

pytestmark = pytest.mark.integration

REASON = sshd_helper.available()


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "sys/devices/system/node/node0").mkdir(parents=True)
    (tmp_path / "sys/devices/system/node/online").write_text("0\n")
    (tmp_path / "a").write_bytes(b"x\0y\0")
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "usr/bin").mkdir(parents=True)
    tool = tmp_path / "usr/bin/crictl"
    tool.write_text('#!/bin/sh\necho "tree tool $*"\n')
    tool.chmod(0o755)
    return tmp_path


def connect(server, root="/", **options) -> SshHostAccess:
    return SshHostAccess(
        "127.0.0.1", port=server.port, user=server.user, key_file=str(server.key), root=str(root), **options
    )


def test_reads_many_files_in_one_command_like_local_access(server, tree):
    ssh, local = connect(server, tree), LocalHostAccess(str(tree))
    patterns = ["/sys/devices/system/node/online", "/a", "/empty", "/missing*"]
    before = ssh.stats.commands
    assert (
        ssh.read_files(patterns)
        == local.read_files(patterns)
        == {"/sys/devices/system/node/online": "0\n", "/a": "x\0y\0", "/empty": ""}
    )
    assert ssh.stats.commands == before
    assert ssh.stats.reads == 1
    ssh.close()


def test_runs_argv_quoted_with_the_trees_tools_first(server, tree):
    ssh = connect(server, tree)
    result = ssh.run(["crictl", "pods", "--label", "io.kubernetes.pod.name=a b; rm -rf /", "-q"])
    assert result.ok
    assert result.stdout == "tree tool pods --label io.kubernetes.pod.name=a b; rm -rf / -q\n"
    assert ssh.run(["false"]).returncode == 1
    ssh.close()


def test_writes_atomically_with_mode_and_restores_exact_bytes(server, tree):
    ssh = connect(server, tree)
    ssh.write_file("/etc/kata/config.d/50-x.toml", b"a = 1\r\n\0", mode=0o640, temp_dir="/etc/kata")
    target = tree / "etc/kata/config.d/50-x.toml"
    assert target.read_bytes() == b"a = 1\r\n\0"
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in (tree / "etc/kata").iterdir()) == ["config.d"]
    assert ssh.read_bytes("/etc/kata/config.d/50-x.toml") == b"a = 1\r\n\0"
    info = ssh.stat("/etc/kata/config.d/50-x.toml")
    assert (info.kind, info.mode, info.size) == ("file", 0o640, 8)
    assert ssh.stat("/etc/kata/config.d").kind == "dir"
    assert ssh.stat("/etc/kata/nothing") is None
    ssh.remove("/etc/kata/config.d/50-x.toml")
    assert not target.exists()
    assert ssh.remove_empty_dir("/etc/kata/config.d")
    assert ssh.create_exclusive("/lock", b"run=1\n")
    assert not ssh.create_exclusive("/lock", b"run=2\n")
    assert (tree / "lock").read_bytes() == b"run=1\n"
    ssh.close()


def test_a_dropped_connection_is_reopened_once(server, tree):
    ssh = connect(server, tree)
    ssh.drop_connection()
    assert ssh.read_files(["/a"]) == {"/a": "x\0y\0"}
    ssh.drop_connection()
    assert ssh.run(["true"]).ok
    ssh.close()


def test_a_node_that_stays_away_fails_with_a_clear_message(tmp_path):
    if REASON:
        pytest.skip(REASON)
    own = sshd_helper.start_sshd(tmp_path / "sshd")
    ssh = connect(own, tmp_path)
    own.stop()
    ssh.drop_connection()
    with pytest.raises(HostAccessError, match=r"failed twice \(the connection was re-opened once\)"):
        ssh.run(["true"])


def test_known_hosts_checking(server, tmp_path):
    connect(server, known_hosts=str(server.known_hosts)).close()
    other = tmp_path / "known_hosts"
    other.write_text(
        f"[127.0.0.1]:{server.port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOdOdv1U1ydVbg8X0HJ8ngv8UJzxTUGVfE4YMEqzKQ4Q\n"
    )
    with pytest.raises(HostAccessError, match="is not in"):
        connect(server, known_hosts=str(other))


def test_bad_settings_name_the_setting(server):
    with pytest.raises(Exception, match="NODE_SSH_KEY /no/key: no such file"):
        SshHostAccess("127.0.0.1", port=server.port, key_file="/no/key")
    with pytest.raises(HostAccessError, match="cannot log in"):
        SshHostAccess("127.0.0.1", port=server.port, user="nobody-here", key_file=str(server.key))


def test_the_pinning_probe_is_one_command_per_poll_over_ssh(server):
    from helpers.thread_farm import start_farm, stop_farm

    farm = start_farm(["--vcpus", "64", "--named", "--pin", "single"])
    try:
        ssh = connect(server)
        topology = read_host_topology(ssh)
        before = ssh.stats.round_trips
        remote = analyse_pinning(read_threads(ssh, farm.pid), topology)
        assert ssh.stats.round_trips - before == 1
        local = analyse_pinning(read_threads(LocalHostAccess("/"), farm.pid), topology)
        assert remote.per_node == local.per_node == {0: 64}
        assert remote.pinned_cpus == local.pinned_cpus
        ssh.close()
    finally:
        stop_farm(farm)


def test_secret_free_logs_of_the_connection(server):
    # the key's contents are never needed in a command line
    ssh = connect(server)
    assert all(server.key.read_text().split()[2] not in entry for entry in ssh.stats.log)
    ssh.close()
    assert os.path.exists(server.key)
