"""The suite's own guest probe (resources/probe/numa-probe.sh) on fixture sysfs trees, under dash and busybox."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from conftest import HOSTS, ROOT, TOPOLOGIES
from kata_numa.guest import parse_guest_report
from kata_numa.hostaccess import LocalHostAccess
from kata_numa.sim.topology import load_topology
from kata_numa.sysfs import read_host_topology

PROBE = ROOT / "resources" / "probe" / "numa-probe.sh"
SHELLS = [["sh"]] + ([["busybox", "sh"]] if shutil.which("busybox") else [])


def run_probe(shell: list[str], host: str, classes: str = "0x03") -> subprocess.CompletedProcess:
    env = {"SYSFS": str(HOSTS / host / "sys"), "PROBE_ONCE": "1", "PROBE_PCI_CLASSES": classes, "PATH": "/usr/bin:/bin"}
    return subprocess.run([*shell, str(PROBE)], capture_output=True, text=True, env=env, check=False, timeout=30)


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
@pytest.mark.parametrize("host", sorted(p.stem for p in TOPOLOGIES.glob("*.yaml")))
def test_probe_reports_the_tree_it_reads(shell, host):
    done = run_probe(shell, host)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    report = parse_guest_report(done.stdout)
    topology = load_topology(TOPOLOGIES / f"{host}.yaml")
    assert report.online == set(topology.node_ids)
    assert report.cpus == {n.id: len(n.cpus) for n in topology.nodes}
    assert report.mem_kb == {n.id: n.mem_kb for n in topology.nodes}
    assert report.cpulists == {n.id: n.cpus for n in topology.nodes}
    assert report.distances == {n.id: n.distances for n in topology.nodes}
    assert report.gpus == {g.bdf: g.numa_node for g in topology.gpus()}
    assert set(report.pci) == {d.bdf for d in topology.pci if d.pci_class.startswith("0x03")}


def test_probe_keys_of_the_original_image_come_first():
    lines = run_probe(["sh"], "two-socket-gpu").stdout.splitlines()
    keys = [line.split(": ", 1)[0] for line in lines]
    assert keys[:6] == [
        "numa_online",
        "node0_cpus",
        "node1_cpus",
        "node0_mem_kb",
        "node1_mem_kb",
        "gpu_0000:41:00.0_numa",
    ]


def test_probe_pci_classes_are_configurable():
    report = parse_guest_report(run_probe(["sh"], "two-socket-gpu", "all").stdout)
    assert set(report.pci) == {"0000:01:00.0", "0000:05:00.0", "0000:41:00.0"}
    assert report.pci["0000:01:00.0"].pci_class == "0x020000"


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_probe_reads_this_machines_real_sysfs(shell):
    """The real /sys: a node's cpulist is a binary attribute that answers a one-byte read with end of file."""
    host = read_host_topology(LocalHostAccess())
    env = {"PROBE_ONCE": "1", "PROBE_PCI_CLASSES": "all", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([*shell, str(PROBE)], capture_output=True, text=True, env=env, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    report = parse_guest_report(done.stdout)
    assert report.online == set(host.node_ids)
    assert report.cpulists == {n.id: n.cpus for n in host.nodes}
    assert report.cpus == {n.id: len(n.cpus) for n in host.nodes}
    assert report.distances == {n.id: n.distances for n in host.nodes}
    assert {bdf: d.numa_node for bdf, d in report.pci.items()} == {d.bdf: d.numa_node for d in host.pci}
