"""The real-guest lane: Kata-style command lines from the simulated node's rules, booted on a real kernel.

Each shape is laid out by ``kata_rules.layout_sandbox`` and turned into a
QEMU argv by ``kata_rules.qemu_argv`` (the code the simulated node runs),
with every backend bound to host node 0 since the test machine has one.
The Debian cloud kernel boots it under TCG with busybox and the suite's
probe; the probe's output is parsed by the guest-report parser and checked
against the command line, then against the simulated node's guest report.

The kit is fetched with apt-get into a cache outside the repository. Where it
cannot be fetched the lane skips with the reason, unless
``KATA_NUMA_REQUIRE_REAL_GUEST=1`` (set by CI), where it fails.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import ROOT
from helpers.guest import (
    CONSOLE_TAIL_LINES,
    QEMU,
    STAND_IN_CLASS,
    STAND_IN_VENDOR_DEVICE,
    GuestBootFailed,
    GuestKit,
    GuestKitUnavailable,
    boot_guest,
    bootable_argv,
    build_initramfs,
    fetch_guest_kit,
)
from kata_numa.guest import GuestReport, memtotal_band_kb, parse_guest_report
from kata_numa.qemu import QemuCommandLine, parse_qemu_argv
from kata_numa.sim.kata_rules import (
    RuntimeSettings,
    SandboxLayout,
    SandboxRequest,
    guest_report,
    layout_sandbox,
    qemu_argv,
)
from kata_numa.sim.topology import topology_from_dict
from kata_numa.sysfs import HostTopology

pytestmark = pytest.mark.realguest

PROBE = ROOT / "resources" / "probe" / "numa-probe.sh"
BOOT_TIMEOUT = 40.0  # seconds per boot; a healthy boot takes about 5 s here


@dataclass(frozen=True)
class Shape:
    """A host, the runtime's settings and a pod: what the rules turn into one sandbox."""

    name: str
    host: dict
    request: tuple[int, int]  # (CPU millis, MiB)
    settings: RuntimeSettings = field(default_factory=lambda: RuntimeSettings(enable_numa=True))

    def topology(self) -> HostTopology:
        """The host topology of the shape."""
        return topology_from_dict(self.host, where=self.name)

    def layout(self) -> SandboxLayout:
        """The sandbox the Kata rules lay out for the pod."""
        topology = self.topology()
        return layout_sandbox(topology, self.settings, SandboxRequest(*self.request, topology.gpus()))


def _host(cpus: list[str], distances: list[list[int]], gpu_node: int | None = None) -> dict:
    nodes = [{"id": i, "cpus": c, "mem_kb": 16 << 20} for i, c in enumerate(cpus)]
    pci = [] if gpu_node is None else [{"bdf": "0000:81:00.0", "class": "0x030200", "numa_node": gpu_node}]
    return {"nodes": nodes, "distances": distances, "pci": pci}


SHAPES = [
    # 4 vCPUs outgrow the GPU's node: two guest nodes of 2, the GPU behind a pxb-pcie on node 1.
    Shape("two-nodes-gpu-on-node1", _host(["0-1", "2-3"], [[10, 21], [21, 10]], gpu_node=1), (3000, 2048)),
    # 2 vCPUs fit the GPU's node 0: right-sized to one guest node, the GPU behind pxb-numa0.
    Shape("right-sized-gpu-on-node0", _host(["0-3", "4-7"], [[10, 21], [21, 10]], gpu_node=0), (1000, 1024)),
    # 4 vCPUs over host nodes of 6 and 2 CPUs: a 3 + 1 split, memory split the same way.
    Shape("uneven-three-plus-one", _host(["0-5", "6-7"], [[10, 32], [32, 10]]), (3000, 1024)),
    # Three nodes with three different distances: the matrix must arrive whole.
    Shape(
        "three-nodes-distances",
        _host(["0", "1", "2"], [[10, 16, 32], [16, 10, 22], [32, 22, 10]], gpu_node=2),
        (2000, 1024),
        RuntimeSettings(enable_numa=True, default_memory=1024),
    ),
]


@dataclass(frozen=True)
class Booted:
    """One shape booted: the layout, the argv QEMU ran (parsed), the real and the simulated reports."""

    shape: Shape
    layout: SandboxLayout
    cmdline: QemuCommandLine
    real: GuestReport
    simulated: GuestReport
    seconds: float


def _require(reason: str) -> None:
    if os.environ.get("KATA_NUMA_REQUIRE_REAL_GUEST") == "1":
        pytest.fail(f"the real-guest lane must run here: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def kit() -> GuestKit:
    """The Debian kernel and busybox, fetched once into the cache."""
    if QEMU is None:
        _require("qemu-system-x86_64 is not installed")
    try:
        return fetch_guest_kit()
    except GuestKitUnavailable as error:
        _require(f"the guest kernel cannot be fetched: {error}")
        raise


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, kit):
    """A directory holding the initramfs; each boot writes its console and pid file here."""
    directory = tmp_path_factory.mktemp("realguest")
    (directory / "initrd").write_bytes(build_initramfs(kit, PROBE))
    return directory


@pytest.fixture(scope="session")
def shared(tmp_path_factory) -> Path:
    """A directory all workers of this run share: each shape boots once, in whichever worker asks first."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    base = tmp_path_factory.getbasetemp()
    directory = (base.parent / f"realguest-{run}") if run else (base / "realguest-shared")
    directory.mkdir(exist_ok=True)
    return directory


@pytest.fixture(params=SHAPES, ids=lambda s: s.name)
def booted(request, kit, workdir, shared) -> Booted:
    """The shape booted (by the first test of any worker that needs it) and what its guest printed, parsed."""
    shape: Shape = request.param
    topology, layout = shape.topology(), shape.layout()
    kata_argv = qemu_argv(layout, shape.name, topology, host_node_override=0)
    console = workdir / f"{shape.name}.console"
    argv = bootable_argv(kata_argv, kit, workdir / "initrd", console, workdir / f"{shape.name}.pid")
    result = shared / f"{shape.name}.json"
    with open(shared / f"{shape.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not result.exists():
            try:
                boot = boot_guest(argv, console, timeout=BOOT_TIMEOUT)
                outcome = {"output": boot.probe_output, "seconds": boot.seconds}
            except GuestBootFailed as error:
                outcome = {"failure": str(error)}
            result.write_text(json.dumps(outcome))
    outcome = json.loads(result.read_text())
    if "failure" in outcome:
        pytest.fail(f"{shape.name}: {outcome['failure']}")
    print(f"{shape.name}: booted in {outcome['seconds']:.1f} s; the guest printed:\n{outcome['output']}")
    simulated = parse_guest_report(guest_report(layout, topology))
    real = parse_guest_report(outcome["output"])
    return Booted(shape, layout, parse_qemu_argv(argv), real, simulated, outcome["seconds"])


def test_shapes_are_the_ones_the_lane_promises():
    layouts = {s.name: s.layout() for s in SHAPES}
    assert [len(n.vcpus) for n in layouts["two-nodes-gpu-on-node1"].nodes] == [2, 2]
    assert layouts["two-nodes-gpu-on-node1"].devices[0].bus == "rp-numa1-0"
    assert [len(n.vcpus) for n in layouts["right-sized-gpu-on-node0"].nodes] == [2]
    assert layouts["right-sized-gpu-on-node0"].devices[0].bus == "rp-numa0-0"
    assert [len(n.vcpus) for n in layouts["uneven-three-plus-one"].nodes] == [3, 1]
    assert len(layouts["three-nodes-distances"].nodes) == 3


def test_guest_sees_the_numa_nodes_of_the_command_line(booted):
    assert booted.real.online == {node.nodeid for node in booted.cmdline.numa_nodes}


def test_each_guest_node_has_the_cpus_of_its_numa_option(booted):
    expected = {node.nodeid: node.cpus for node in booted.cmdline.numa_nodes}
    assert booted.real.cpulists == expected
    assert booted.real.cpus == {node: len(cpus) for node, cpus in expected.items()}


def test_each_guest_node_reports_memtotal_within_the_band_of_its_backend(booted):
    for node in booted.cmdline.numa_nodes:
        backend = booted.cmdline.backend(node.memdev)
        low, high = memtotal_band_kb(backend.size_bytes)
        assert low <= booted.real.mem_kb[node.nodeid] <= high, (node.nodeid, backend.size_mib, booted.real.mem_kb)


def test_guest_distances_equal_the_numa_dist_options(booted):
    nodes = sorted(node.nodeid for node in booted.cmdline.numa_nodes)
    given = {(d.src, d.dst): d.val for d in booted.cmdline.dists}
    expected = {s: tuple(10 if s == t else given[(s, t)] for t in nodes) for s in nodes}
    assert booted.real.distances == expected


def bus_of(bdf: str) -> int:
    """The bus number of a normalised address ``0000:41:00.0`` (the parser normalises every BDF)."""
    _domain, bus, _slot = bdf.split(":")
    return int(bus, 16)


def expected_guest_node_of_bus(bus: int, cmdline: QemuCommandLine) -> int | None:
    """The pxb-pcie whose bus range holds ``bus`` gives its numa_node; pcie.0 (bus 0) gives none."""
    owners = [pxb for pxb in cmdline.pxbs if pxb.bus_nr is not None and pxb.bus_nr <= bus]
    return max(owners, key=lambda pxb: pxb.bus_nr).numa_node if owners else None


def test_devices_report_the_numa_node_of_their_pxb_and_none_on_pcie0(booted):
    seen = {bdf: device.numa_node for bdf, device in booted.real.pci.items()}
    expected = {bdf: expected_guest_node_of_bus(bus_of(bdf), booted.cmdline) for bdf in seen}
    assert seen == expected
    behind_pxb = [bdf for bdf, device in booted.real.pci.items() if _is_stand_in(device) and bus_of(bdf) > 0]
    assert len(behind_pxb) == len(booted.layout.devices)  # every passed-through device showed up
    assert any(bus_of(bdf) == 0 and _is_stand_in(d) for bdf, d in booted.real.pci.items())


def _is_stand_in(device) -> bool:
    return device.pci_class == STAND_IN_CLASS and device.props.get("vendor") == STAND_IN_VENDOR_DEVICE[0]


def test_simulated_guest_report_equals_the_real_one(booted):
    real, simulated = booted.real, booted.simulated
    assert simulated.online == real.online
    assert simulated.cpus == real.cpus
    assert simulated.cpulists == real.cpulists
    assert simulated.distances == real.distances
    real_devices = {
        bdf: device.numa_node for bdf, device in real.pci.items() if _is_stand_in(device) and bus_of(bdf) > 0
    }
    assert simulated.gpus == real_devices  # the GPU the model places is where the stand-in showed up


def test_simulated_memtotal_is_modelled_inside_the_measured_band(booted):
    for node in booted.layout.nodes:
        low, high = memtotal_band_kb(node.memory_mib * 1024 * 1024)
        assert low <= booted.simulated.mem_kb[node.index] <= high, (node.index, booted.simulated.mem_kb)
        assert low <= booted.real.mem_kb[node.index] <= high, (node.index, booted.real.mem_kb)


# -- robustness ---------------------------------------------------------------------------------


def _shape_argv(kit, workdir, initrd_name: str, init: bytes) -> list[str]:
    shape = SHAPES[0]
    (workdir / initrd_name).write_bytes(build_initramfs(kit, PROBE, init))
    kata_argv = qemu_argv(shape.layout(), "robustness", shape.topology(), host_node_override=0)
    return bootable_argv(kata_argv, kit, workdir / initrd_name, workdir / f"{initrd_name}.console", workdir / "pid")


def _assert_qemu_gone(pid: int) -> None:
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_panicking_guest_fails_with_the_console_tail(kit, workdir):
    argv = _shape_argv(kit, workdir, "panic-initrd", b"#!/bin/busybox sh\n/bin/busybox echo init gives up\nexit 3\n")
    started = time.monotonic()
    with pytest.raises(GuestBootFailed) as failure:
        boot_guest(argv, workdir / "panic-initrd.console", timeout=BOOT_TIMEOUT)
    message = str(failure.value)
    assert "the guest kernel panicked (Kernel panic - not syncing: Attempted to kill init!" in message
    tail = message.split("lines of the serial console ---\n", 1)[1]
    assert "Kernel panic - not syncing" in tail
    assert len(tail.splitlines()) <= CONSOLE_TAIL_LINES
    assert time.monotonic() - started < BOOT_TIMEOUT
    _assert_qemu_gone(failure.value.pid)


def test_a_guest_that_never_ends_the_probe_fails_at_its_timeout(kit, workdir):
    hanging = b"#!/bin/busybox sh\n/bin/busybox echo 'numa-probe: begin'\nwhile :; do /bin/busybox sleep 1; done\n"
    argv = _shape_argv(kit, workdir, "hang-initrd", hanging)
    started = time.monotonic()
    with pytest.raises(GuestBootFailed, match="no probe end marker before the boot's timeout") as failure:
        boot_guest(argv, workdir / "hang-initrd.console", timeout=8)
    assert 8 <= time.monotonic() - started < 14
    assert "Linux version" in str(failure.value) or "numa-probe: begin" in str(failure.value)
    _assert_qemu_gone(failure.value.pid)
