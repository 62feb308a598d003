"""The real-guest lane's pure parts: kit, initramfs format, argv rewriting, console reading, MemTotal band."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ROOT
from helpers.guest import (
    BEGIN_MARKER,
    END_MARKER,
    GuestKit,
    GuestKitUnavailable,
    bootable_argv,
    console_tail,
    kernel_package_of,
    kernel_panic_line,
    newc_archive,
    probe_output_of,
)
from kata_numa.guest import memtotal_band_kb
from kata_numa.qemu import parse_qemu_argv
from kata_numa.sim.kata_rules import RuntimeSettings, SandboxRequest, layout_sandbox, qemu_argv, reported_mem_kb
from kata_numa.sim.topology import load_topology

KIT = GuestKit(Path("/cache/vmlinuz-6.1.0-57-cloud-amd64"), Path("/cache/busybox"), "linux-image-6.1.0-57-cloud-amd64")


def test_kernel_package_comes_from_the_metapackage_depends():
    stanza = "Package: linux-image-cloud-amd64\nDepends: linux-image-6.1.0-57-cloud-amd64 (= 6.1.192-3)\n"
    assert kernel_package_of(stanza) == "linux-image-6.1.0-57-cloud-amd64"
    with pytest.raises(GuestKitUnavailable, match="names no linux-image-"):
        kernel_package_of("Package: linux-image-cloud-amd64\nDepends: initramfs-tools\n")


def read_newc(archive: bytes) -> dict[str, tuple[int, bytes]]:
    """A reader written from the format: 110-byte header, name, data, each padded to 4 bytes."""
    entries, offset = {}, 0
    while True:
        header = archive[offset : offset + 110]
        assert header[:6] == b"070701"
        fields = [int(header[6 + 8 * i : 14 + 8 * i], 16) for i in range(13)]
        mode, size, name_size = fields[1], fields[6], fields[11]
        name = archive[offset + 110 : offset + 110 + name_size - 1].decode()
        offset += 110 + name_size
        offset += -offset % 4
        data = archive[offset : offset + size]
        offset += size + (-size % 4)
        if name == "TRAILER!!!":
            assert offset == len(archive)
            return entries
        entries[name] = (mode, data)


def test_newc_archive_holds_the_entries_with_modes_and_padding():
    archive = newc_archive([("bin", 0o040755, b""), ("init", 0o100755, b"#!/bin/sh\n"), ("odd", 0o100644, b"x" * 5)])
    assert len(archive) % 4 == 0
    assert read_newc(archive) == {
        "bin": (0o040755, b""),
        "init": (0o100755, b"#!/bin/sh\n"),
        "odd": (0o100644, b"xxxxx"),
    }


def kata_argv(topology: str, cpu_milli: int) -> list[str]:
    host = load_topology(ROOT / "variables" / "topologies" / f"{topology}.yaml")
    layout = layout_sandbox(host, RuntimeSettings(enable_numa=True), SandboxRequest(cpu_milli, 2048, host.gpus()))
    return qemu_argv(layout, "abc", host, host_node_override=0)


def test_bootable_argv_swaps_only_what_a_test_machine_lacks():
    original = kata_argv("two-socket-gpu", 70000)
    argv = bootable_argv(original, KIT, Path("/w/initrd"), Path("/w/console"), Path("/w/pid"))
    before, after = parse_qemu_argv(original), parse_qemu_argv(argv)
    assert after.memory_backends == before.memory_backends
    assert after.numa_nodes == before.numa_nodes
    assert after.dists == before.dists
    assert after.smp == before.smp
    assert after.pxbs == before.pxbs
    assert after.root_ports == before.root_ports
    assert after.vfio == ()
    stand_ins = [d for d in after.devices if d.driver == "virtio-rng-pci"]
    assert [d.bus for d in stand_ins] == [v.bus for v in before.vfio] + ["pcie.0"]
    assert argv[argv.index("-machine") + 1] == "type=q35,accel=tcg"
    assert argv[argv.index("-cpu") + 1] == "max"
    assert argv[argv.index("-kernel") + 1] == str(KIT.kernel)
    assert argv[argv.index("-initrd") + 1] == "/w/initrd"
    assert argv[argv.index("-serial") + 1] == "file:/w/console"
    assert argv[argv.index("-pidfile") + 1] == "/w/pid"
    append = argv[argv.index("-append") + 1].split()
    kata_append = original[original.index("-append") + 1].split()
    assert "console=ttyS0" in append
    assert [w for w in append if w.startswith("nr_cpus=")] == [w for w in kata_append if w.startswith("nr_cpus=")]
    assert not [w for w in append if w == "quiet" or w.startswith(("console=hvc", "systemd."))]
    assert "-nographic" not in argv


def test_probe_output_is_what_lies_between_the_markers():
    console = f"[ 1.0] booting\r\n{BEGIN_MARKER}\r\nnuma_online: 0-1\r\nnode0_cpus: 2\r\n{END_MARKER}\r\n[ 2.0] reboot"
    assert probe_output_of(console) == "numa_online: 0-1\nnode0_cpus: 2\n"
    assert probe_output_of(f"{BEGIN_MARKER}\nnuma_online: 0\n") is None
    assert probe_output_of(f"echo '{END_MARKER}'\n") is None  # the marker must be a whole line


def test_kernel_panic_line_is_parsed_not_searched():
    console = "[    4.1] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000300\n"
    assert kernel_panic_line(console) == "Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000300"
    assert kernel_panic_line("numa-probe: Kernel panic - not syncing: quoted by a program\n") is None
    assert kernel_panic_line("[ 1.0] all fine\n") is None


def test_console_tail_keeps_the_last_forty_lines():
    console = "\n".join(f"line {i}" for i in range(100))
    tail = console_tail(console).splitlines()
    assert tail == [f"line {i}" for i in range(60, 100)]


def test_memtotal_band_of_a_backend():
    assert memtotal_band_kb(2048 << 20) == (2097152 - 32768 - 131072, 2097152)
    assert memtotal_band_kb(64 << 20) == (0, 65536)


@pytest.mark.parametrize("mib", [256, 512, 1024, 2048, 3072, 16384, 65536, 1 << 20])
@pytest.mark.parametrize("node", [0, 1, 3])
def test_simulated_memtotal_stays_in_the_band_at_every_size(mib, node):
    low, high = memtotal_band_kb(mib << 20)
    assert low <= reported_mem_kb(node, mib) <= high


def test_simulated_memtotal_reproduces_the_measured_capture():
    assert (reported_mem_kb(0, 2048), reported_mem_kb(1, 2048)) == (1964604, 2061900)
