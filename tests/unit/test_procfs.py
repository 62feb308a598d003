import pytest

from conftest import host_access
from kata_numa.errors import InputError
from kata_numa.procfs import (
    ProcessMatch,
    find_sandbox_qemu,
    parse_threads,
    read_cmdline,
    read_threads,
    select_sandbox_qemu,
)

ID_GPU = "5f2e9c0d7a6b4c1e8f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e"


def test_finds_the_qemu_of_a_sandbox_not_its_shim_or_virtiofsd():
    access = host_access()
    assert find_sandbox_qemu(access, ID_GPU).pid == 4100
    assert access.stats.reads == 1


def test_a_truncated_id_matches_nothing():
    with pytest.raises(InputError, match="no QEMU process names sandbox 5f2e9c0d"):
        find_sandbox_qemu(host_access(), ID_GPU[:8])


def test_two_qemus_for_one_id_is_an_error_listing_both():
    argv = ("/usr/bin/qemu-system-x86_64", "-name", "sandbox-abc")
    with pytest.raises(InputError, match=r"2 QEMU processes: 1 .*, 2 "):
        select_sandbox_qemu([ProcessMatch(1, argv), ProcessMatch(2, argv)], "abc")


@pytest.mark.parametrize("bad", ["", "../x", "a b", "a;b"])
def test_a_malformed_sandbox_id_is_refused(bad):
    with pytest.raises(InputError, match="is not a sandbox id"):
        select_sandbox_qemu([], bad)


def test_an_id_appearing_only_in_a_path_of_the_qemu_argv_is_found():
    argv = ("/opt/kata/bin/qemu-system-x86_64", "-pidfile", "/run/vc/vm/abc123/pid")
    assert select_sandbox_qemu([ProcessMatch(9, argv)], "abc123").pid == 9


def test_reads_all_threads_in_one_operation():
    access = host_access()
    process = read_threads(access, 4100)
    assert access.stats.reads == 1
    assert len(process.threads) == 69
    assert process.main.name == "qemu-system-x86"
    assert next(t for t in process.threads if t.name == "CPU 0/KVM").cpus == frozenset(range(32)) | set(range(64, 96))


def test_a_thread_that_exited_mid_read_is_skipped_with_a_note():
    process = read_threads(host_access(), 9100)
    assert "CPU 3/KVM" not in {t.name for t in process.threads}
    assert process.notes == ("thread 9113: status incomplete (exited while being read?), skipped",)


def test_a_process_without_threads_is_a_clear_error():
    with pytest.raises(InputError, match="process 424242: no threads readable"):
        read_threads(host_access(), 424242)


def test_cmdline_of_a_fixture_process():
    assert read_cmdline(host_access(), 8100)[:3] == [
        "/opt/kata/bin/qemu-system-x86_64",
        "-name",
        "sandbox-9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9",
    ]


def test_unparsable_affinity_is_a_note_not_a_crash():
    files = {"/proc/5/task/5/status": "Name:\tq\nCpus_allowed_list:\tgarbage\n"}
    process = parse_threads(5, files)
    assert process.threads == ()
    assert "thread 5" in process.notes[0]


def test_a_prefix_of_an_id_in_a_path_is_not_a_match():
    argv = ("/opt/kata/bin/qemu-system-x86_64", "-pidfile", "/run/vc/vm/abc123/pid")
    with pytest.raises(InputError, match="no QEMU process"):
        select_sandbox_qemu([ProcessMatch(9, argv)], "abc12")


def test_status_field_finds_whole_lines_only():
    from kata_numa.procfs import status_field

    text = "Name:\tCPU 1/KVM\nCpus_allowed:\t3\nCpus_allowed_list:\t0-1\nMems_allowed_list:\t0\n"
    assert status_field(text, "Name") == "CPU 1/KVM"
    assert status_field(text, "Cpus_allowed_list") == "0-1"
    assert status_field(text, "Cpus_allowed") == "3"
    assert status_field(text, "allowed_list") is None
    assert status_field("Name:\tx", "Name") == "x"
    assert status_field("", "Name") is None
