import os
import subprocess

import pytest

from kata_numa.errors import HostAccessError, InputError
from kata_numa.hostaccess import (
    LocalHostAccess,
    parse_shell_reader_output,
    read_files_with_shell,
    shell_reader_argv,
)


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "sys/devices/system/node/node0").mkdir(parents=True)
    (tmp_path / "sys/devices/system/node/online").write_text("0\n")
    (tmp_path / "sys/devices/system/node/node0/cpulist").write_text("0-3\n")
    (tmp_path / "proc/42").mkdir(parents=True)
    (tmp_path / "proc/42/cmdline").write_bytes(b"qemu\0-name\0sandbox-x\0")
    return tmp_path


def test_root_prefix_serves_node_paths_from_a_tree(tree):
    access = LocalHostAccess(str(tree))
    files = access.read_files(["/sys/devices/system/node/online", "/sys/devices/system/node/node*/cpulist"])
    assert files == {"/sys/devices/system/node/online": "0\n", "/sys/devices/system/node/node0/cpulist": "0-3\n"}


def test_read_files_counts_one_operation_for_many_patterns(tree):
    access = LocalHostAccess(str(tree))
    access.read_files(["/sys/devices/system/node/*", "/sys/devices/system/node/node*/cpulist", "/proc/*/cmdline"])
    assert access.stats.reads == 1


def test_mounts_map_top_level_directories(tree, tmp_path_factory):
    other = tmp_path_factory.mktemp("otherproc")
    (other / "7").mkdir()
    (other / "7/cmdline").write_bytes(b"x\0")
    access = LocalHostAccess(str(tree), mounts={"/proc": str(other)})
    assert access.read_files(["/proc/*/cmdline"]) == {"/proc/7/cmdline": "x\0"}
    assert "/sys/devices/system/node/online" in access.read_files(["/sys/devices/system/node/online"])


def test_missing_files_are_left_out_and_read_text_names_them(tree):
    access = LocalHostAccess(str(tree))
    assert access.read_files(["/nope/*", "/sys/devices/system/node/node9/cpulist"]) == {}
    with pytest.raises(HostAccessError, match="/etc/none"):
        access.read_text("/etc/none")


@pytest.mark.parametrize("path", ["relative/path", "/sys/../etc/passwd"])
def test_refuses_relative_and_parent_paths(tree, path):
    with pytest.raises(InputError, match="node path"):
        LocalHostAccess(str(tree)).read_files([path])


def test_atomic_write_creates_parents_sets_mode_and_leaves_no_temp(tree):
    access = LocalHostAccess(str(tree))
    access.write_file("/etc/kata/config.d/50-x.toml", b"a = 1\n", mode=0o600, temp_dir="/etc/kata")
    target = tree / "etc/kata/config.d/50-x.toml"
    assert target.read_bytes() == b"a = 1\n"
    assert oct(target.stat().st_mode & 0o777) == oct(0o600)
    assert sorted(p.name for p in (tree / "etc/kata").iterdir()) == ["config.d"]
    assert access.stat("/etc/kata/config.d/50-x.toml").kind == "file"
    assert access.read_bytes("/etc/kata/config.d/50-x.toml") == b"a = 1\n"


def test_stat_reports_kinds_and_absence(tree):
    access = LocalHostAccess(str(tree))
    os.symlink("/etc/passwd", tree / "link.toml")
    assert access.stat("/link.toml").kind == "symlink"
    assert access.stat("/proc").kind == "dir"
    assert access.stat("/missing") is None


def test_remove_deletes_one_file_and_ignores_absence(tree):
    access = LocalHostAccess(str(tree))
    access.remove("/proc/42/cmdline")
    assert not (tree / "proc/42/cmdline").exists()
    access.remove("/proc/42/cmdline")


def test_run_puts_the_tree_usr_bin_first_on_path(tree):
    (tree / "usr/bin").mkdir(parents=True)
    tool = tree / "usr/bin/crictl"
    tool.write_text('#!/bin/sh\necho from-tree "$@"\n')
    tool.chmod(0o755)
    result = LocalHostAccess(str(tree)).run(["crictl", "pods", "-q"])
    assert result.ok
    assert result.stdout == "from-tree pods -q\n"


def test_run_reports_a_missing_command_clearly(tree):
    with pytest.raises(HostAccessError, match="no-such-tool-xyz: command not found"):
        LocalHostAccess(str(tree)).run(["no-such-tool-xyz"])


def test_run_checked_names_the_failing_command(tree):
    with pytest.raises(HostAccessError, match="false failed"):
        LocalHostAccess(str(tree)).run_checked(["false"])


def test_shell_reader_reads_files_with_nul_bytes_blank_lines_and_no_final_newline(tree):
    (tree / "a").write_bytes(b"x\0y\0")
    (tree / "b").write_bytes(b"line\n\n")
    (tree / "c").write_bytes(b"")
    (tree / "d").write_bytes(b"no newline")

    def run(argv):
        done = subprocess.run(argv, capture_output=True, check=False)
        return type("R", (), {"stdout": done.stdout.decode()})

    found = read_files_with_shell(run, [f"{tree}/[abcd]", f"{tree}/missing*"], lambda p: p[len(str(tree)) :])
    assert found == {"/a": "x\0y\0", "/b": "line\n\n", "/c": "", "/d": "no newline"}


def test_shell_reader_patterns_are_arguments_not_code(tree):
    argv = shell_reader_argv(["/x; rm -rf /"], "M")
    assert argv[-1] == "/x; rm -rf /"
    assert "rm -rf" not in argv[2]


def test_shell_reader_output_leaves_out_failed_reads():
    output = "M F /ok\nhello\n\nM OK\nM F /gone\n\nM ERR\n"
    assert parse_shell_reader_output(output, "M") == {"/ok": "hello\n"}
