"""Memory truth: maps + numa_maps joined, backends matched to mappings, the kernel's view checked."""

from __future__ import annotations

import json

import pytest

from conftest import FIXTURES
from kata_numa.cli import main
from kata_numa.errors import InputError
from kata_numa.hostaccess import LocalHostAccess
from kata_numa.memory import (
    check_memory_bound_in_kernel,
    check_pages_on_bound_nodes,
    match_backends,
    parse_process_memory,
    read_process_memory,
)
from kata_numa.qemu import parse_qemu_argv

CAPTURE = FIXTURES / "memory"
GiB = 1 << 30


def captured(name: str = "four-backends"):
    """A real paused QEMU's cmdline, maps and numa_maps (4 backends of 256 MiB, see the cmdline)."""
    argv = (CAPTURE / f"{name}.cmdline").read_text().splitlines()
    memory = parse_process_memory(
        4242, (CAPTURE / f"{name}.maps").read_text(), (CAPTURE / f"{name}.numa_maps").read_text()
    )
    return parse_qemu_argv(argv), memory


def test_real_capture_parses_whole():
    _, memory = captured()
    assert memory.unparsed == ()
    assert len(memory.mappings) > 300


def test_backends_match_in_creation_order_highest_address_first():
    cmdline, memory = captured()
    placements = match_backends(cmdline, memory)
    assert [p.backend.id for p in placements] == ["m0", "m1", "m2", "m3"]
    starts = [p.mapping.start for p in placements]
    assert starts == sorted(starts, reverse=True)
    seen = {p.backend.id: (p.mapping.kernel_policy, p.mapping.pages) for p in placements}
    assert seen == {
        "m0": ("bind:0", {0: 65536}),
        "m1": ("prefer:0", {0: 65536}),  # policy=preferred, as QEMU declared it
        "m2": ("bind:0", {}),  # share=on without prealloc: nothing resident yet
        "m3": ("bind:0", {0: 65536}),
    }
    assert placements[2].mapping.path == "/dev/zero (deleted)"


def test_a_preferred_backend_is_not_bound():
    cmdline, memory = captured()
    verdict = check_memory_bound_in_kernel(match_backends(cmdline, memory))
    assert not verdict.ok
    assert verdict.message == (
        "m1 is not bound: the command line declares host-nodes=0,policy=preferred and the kernel applies "
        "prefer:0, not bind"
    )


def test_pages_check_notes_a_backend_without_resident_pages():
    cmdline, memory = captured()
    verdict = check_pages_on_bound_nodes(match_backends(cmdline, memory))
    assert verdict.ok
    assert "no resident pages yet in m2 (not preallocated)" in verdict.message


def kata_argv(*backends: str) -> list[str]:
    argv = ["/opt/kata/bin/qemu-system-x86_64", "-name", "sandbox-x"]
    for index, backend in enumerate(backends):
        argv += ["-object", f"memory-backend-ram,id=numa-mem{index},{backend},share=on"]
    return argv


def memory_of(*lines: tuple[int, int, str, str]) -> tuple[str, str]:
    maps = "\n".join(f"{s:x}-{s + size:x} rw-s 00000000 00:01 12 /dev/zero (deleted)" for s, size, _, _ in lines)
    numa = "\n".join(
        f"{s:x} {policy} file=/dev/zero\\040(deleted) {pages} kernelpagesize_kB=4" for s, _, policy, pages in lines
    )
    return maps, numa


def test_memory_not_bound_fails_both_checks_saying_declaration_and_kernel_disagree():
    cmdline = parse_qemu_argv(kata_argv("size=1G,host-nodes=1,policy=bind"))
    maps, numa = memory_of((0x7F0000000000, GiB, "default", "N0=100 N1=100"))
    placements = match_backends(cmdline, parse_process_memory(1, maps, numa))
    bound = check_memory_bound_in_kernel(placements)
    pages = check_pages_on_bound_nodes(placements)
    assert not bound.ok and not pages.ok
    assert bound.message.startswith("declaration and kernel disagree: numa-mem0 declares host-nodes=1,policy=bind")
    assert "kernel applies default (N0=100 N1=100)" in bound.message
    assert "holds 100 of its 200 resident pages on other nodes (N0=100)" in pages.message


def test_bound_to_other_nodes_is_caught():
    cmdline = parse_qemu_argv(kata_argv("size=1G,host-nodes=1,policy=bind"))
    maps, numa = memory_of((0x7F0000000000, GiB, "bind:0-1", "N1=5"))
    verdict = check_memory_bound_in_kernel(match_backends(cmdline, parse_process_memory(1, maps, numa)))
    assert not verdict.ok and "kernel applies bind:0-1" in verdict.message


def test_a_backend_without_a_mapping_names_the_candidates():
    cmdline = parse_qemu_argv(kata_argv("size=2G,host-nodes=0,policy=bind"))
    maps, numa = memory_of((0x7F0000000000, GiB, "bind:0", "N0=1"))
    (placement,) = match_backends(cmdline, parse_process_memory(7, maps, numa))
    assert placement.mapping is None
    assert (
        placement.problem == "memory backend numa-mem0 (2048 MiB): 0 mapping(s) of this size and kind in QEMU 7: none"
    )
    assert not check_memory_bound_in_kernel([placement]).ok
    assert not check_pages_on_bound_nodes([placement]).ok


def test_a_backend_with_two_candidate_mappings_is_ambiguous():
    cmdline = parse_qemu_argv(kata_argv("size=1G,host-nodes=0,policy=bind"))
    maps, numa = memory_of((0x7F0000000000, GiB, "bind:0", "N0=1"), (0x7E0000000000, GiB, "default", ""))
    (placement,) = match_backends(cmdline, parse_process_memory(7, maps, numa))
    assert placement.mapping is None
    assert (
        "numa-mem0 (1024 MiB): 2 candidate mappings in QEMU 7 for 1 backend(s), cannot tell which" in placement.problem
    )
    assert "7f0000000000-7f0040000000 (1024 MiB, /dev/zero (deleted), bind:0)" in placement.problem
    assert "7e0000000000-7e0040000000 (1024 MiB, /dev/zero (deleted), default)" in placement.problem


def test_lines_not_understood_are_kept_and_shown():
    maps = "7f0000000000-7f0040000000 rw-p 00000000 00:00 0\nthis is not a maps line"
    numa = "7f0000000000 bind:1 anon=3 N1=3 kernelpagesize_kB=4\n7f1 mystery-policy:0 N0=1\n7f2 default"
    memory = parse_process_memory(1, maps, numa)
    assert [m.kernel_policy for m in memory.mappings] == ["bind:1"]
    assert memory.unparsed == (
        "maps: this is not a maps line",
        "numa_maps: 7f1 mystery-policy:0 N0=1",
        "numa_maps: 7f2 default (no mapping starts at 7f2 in maps)",
    )


@pytest.mark.parametrize(
    ("text", "policy", "nodes"),
    [
        ("weighted interleave:0-1", "weighted interleave", {0, 1}),
        ("prefer (many):2,3", "prefer (many)", {2, 3}),
        ("bind=static:1", "bind", {1}),
        ("local", "local", set()),
    ],
)
def test_policies_the_kernel_prints(text, policy, nodes):
    memory = parse_process_memory(1, "1000-2000 rw-p 00000000 00:00 0", f"1000 {text} anon=1 N0=1")
    (mapping,) = memory.mappings
    assert (mapping.policy, mapping.policy_nodes) == (policy, nodes)


def test_huge_page_file_backend_matched_by_path_and_page_size():
    argv = [
        "qemu",
        "-object",
        "memory-backend-file,id=mem0,size=1G,mem-path=/dev/hugepages,host-nodes=1,policy=bind,share=on",
        "-object",
        "memory-backend-ram,id=mem1,size=1G,host-nodes=0,policy=bind",
    ]
    maps = (
        "7f0000000000-7f0040000000 rw-s 00000000 00:2f 7 /dev/hugepages/qemu_back_mem.mem0.Xa1 (deleted)\n"
        "7e0000000000-7e0040000000 rw-p 00000000 00:00 0"
    )
    numa = (
        "7f0000000000 bind:1 file=/dev/hugepages/qemu_back_mem.mem0.Xa1\\040(deleted) huge dirty=512 N1=512 "
        "kernelpagesize_kB=2048\n7e0000000000 bind:0 anon=10 N0=10 kernelpagesize_kB=4"
    )
    placements = match_backends(parse_qemu_argv(argv), parse_process_memory(1, maps, numa))
    assert [(p.backend.id, p.mapping.huge, p.mapping.page_size_kb) for p in placements] == [
        ("mem0", True, 2048),
        ("mem1", False, 4),
    ]
    assert check_memory_bound_in_kernel(placements).ok
    assert check_pages_on_bound_nodes(placements).ok


def proc_tree(tmp_path, pid: int = 4242):
    directory = tmp_path / "proc" / str(pid)
    directory.mkdir(parents=True)
    argv = (CAPTURE / "four-backends.cmdline").read_text().splitlines()
    (directory / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (directory / "maps").write_text((CAPTURE / "four-backends.maps").read_text())
    (directory / "numa_maps").write_text((CAPTURE / "four-backends.numa_maps").read_text())
    return tmp_path / "proc"


def test_cli_memory_prints_each_backend_and_the_verdicts(tmp_path, capsys):
    assert main(["memory", "4242", "--proc-root", str(proc_tree(tmp_path))]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("m0: declared host-nodes=0,policy=bind; kernel bind:0; pages N0=65536; mapping ")
    assert lines[4].startswith("FAIL: m1 is not bound")
    assert lines[5].startswith("ok: every resident page is on its backend's declared host nodes")


def test_cli_memory_json(tmp_path, capsys):
    assert main(["memory", "4242", "--proc-root", str(proc_tree(tmp_path)), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [b["mapping"]["kernel_policy"] for b in data["backends"]] == ["bind", "prefer", "bind", "bind"]
    assert data["backends"][0]["mapping"]["pages_per_node"] == {"0": 65536}
    assert data["unparsed"] == []


def test_cli_memory_of_a_missing_process_is_one_line(tmp_path, capsys):
    (tmp_path / "proc").mkdir()
    assert main(["memory", "99", "--proc-root", str(tmp_path / "proc")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kata_numa memory: ") and len(err.splitlines()) == 1


def test_reader_names_the_files_it_cannot_read(tmp_path):
    (tmp_path / "proc" / "5").mkdir(parents=True)
    (tmp_path / "proc" / "5" / "maps").write_text("")
    access = LocalHostAccess("/", mounts={"/proc": str(tmp_path / "proc")})
    with pytest.raises(InputError, match=r"cannot read /proc/5/numa_maps: is process 5 gone"):
        read_process_memory(access, 5)


def test_memfd_backends_are_told_apart_by_huge_page_size():
    argv = [
        "qemu",
        "-object",
        "memory-backend-memfd,id=small,size=1G,host-nodes=0,policy=bind",
        "-object",
        "memory-backend-memfd,id=huge,size=1G,hugetlb=on,hugetlbsize=1G,host-nodes=1,policy=bind",
    ]
    maps = (
        "7f0000000000-7f0040000000 rw-s 00000000 00:01 5 /memfd:small (deleted)\n"
        "7e0000000000-7e0040000000 rw-s 00000000 00:0f 6 /memfd:huge (deleted)"
    )
    numa = (
        "7f0000000000 bind:0 file=/memfd:small\\040(deleted) dirty=2 N0=2 kernelpagesize_kB=4\n"
        "7e0000000000 bind:1 file=/memfd:huge\\040(deleted) huge dirty=1 N1=1 kernelpagesize_kB=1048576"
    )
    placements = match_backends(parse_qemu_argv(argv), parse_process_memory(1, maps, numa))
    assert [(p.backend.id, p.mapping.kernel_policy) for p in placements] == [("small", "bind:0"), ("huge", "bind:1")]
    wrong_size = [a.replace("hugetlbsize=1G", "hugetlbsize=2M") for a in argv]
    placements = match_backends(parse_qemu_argv(wrong_size), parse_process_memory(1, maps, numa))
    assert placements[1].mapping is None
    assert "memory backend huge (1024 MiB): 0 mapping(s) of this size and kind" in placements[1].problem
