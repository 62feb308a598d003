"""Helpers for the simulated-node tests: a node in a temp dir, drop-ins, pods, and the core's view."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kata_numa.dropin import DropIn, dropin_content, find_active_config, render_dropin
from kata_numa.guest import GuestReport, parse_guest_report
from kata_numa.hostaccess import LocalHostAccess
from kata_numa.memory import BackendMemory, match_backends, read_process_memory
from kata_numa.placement import PinningSummary, analyse_pinning
from kata_numa.pods import crictl_pods_argv
from kata_numa.procfs import find_sandbox_qemu, read_threads
from kata_numa.qemu import QemuCommandLine, parse_qemu_argv
from kata_numa.sim.node import SimulatedNode
from kata_numa.sim.topology import load_topology
from kata_numa.sysfs import read_host_topology

REPO = Path(__file__).resolve().parents[2]
TOPOLOGIES = REPO / "variables" / "topologies"
SHIM = "qemu-nvidia-gpu"


def make_node(tmp_path: Path, topology: str = "two-socket-gpu", **options) -> SimulatedNode:
    """A simulated node over a shipped topology, with placement left to ``settle``."""
    options.setdefault("placement_delay", 3600)
    options.setdefault("boot_delay", 0)
    return SimulatedNode(load_topology(TOPOLOGIES / f"{topology}.yaml"), tmp_path / "root", **options)


def enable_numa(node: SimulatedNode, mapping: list[str] | None = None, *, pinning: bool = True) -> DropIn:
    """Writes the suite's drop-in into the node's tree, as the scenarios do."""
    access = LocalHostAccess(str(node.root))
    config = find_active_config(access, SHIM, f"kata-{SHIM}")
    dropin = DropIn(access, config, "90-kata-numa-suite.toml", "test-run")
    dropin.install(
        render_dropin(dropin_content("qemu", numa_mapping=mapping, enable_vcpus_pinning=pinning), "test-run")
    )
    return dropin


def pod_manifest(name: str, cpu: str = "4", memory: str = "4Gi", gpus: int = 0, runtime_class: str | None = None):
    """A probe pod with limits only (Guaranteed)."""
    limits = {"cpu": cpu, "memory": memory}
    if gpus:
        limits["nvidia.com/pgpu"] = str(gpus)
    spec = {"containers": [{"name": "probe", "image": "quay.io/kata-containers/numa", "resources": {"limits": limits}}]}
    spec["runtimeClassName"] = runtime_class if runtime_class is not None else f"kata-{SHIM}"
    if runtime_class == "":
        del spec["runtimeClassName"]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


@dataclass
class CoreView:
    """What the suite's core reads back from the node for one pod."""

    sandbox_id: str
    pid: int
    cmdline: QemuCommandLine
    pinning: PinningSummary
    report: GuestReport
    memory: tuple[BackendMemory, ...]


def core_view(node: SimulatedNode, pod: str, namespace: str = "default") -> CoreView:
    """Reads a pod's sandbox the way a scenario does: crictl, /proc, /sys and the pod log."""
    access = LocalHostAccess(str(node.root))
    found = access.run_checked(crictl_pods_argv(pod, namespace)).stdout.split()
    assert len(found) == 1, found
    process = find_sandbox_qemu(access, found[0])
    summary = analyse_pinning(read_threads(access, process.pid), read_host_topology(access))
    cmdline = parse_qemu_argv(process.argv)
    memory = match_backends(cmdline, read_process_memory(access, process.pid))
    return CoreView(found[0], process.pid, cmdline, summary, parse_guest_report(node.pod_log(namespace, pod)), memory)


def run_pod(node: SimulatedNode, name: str, **manifest) -> CoreView:
    """Creates a pod, lets the runtime place it, and returns the core's view of it."""
    node.create_pod("default", pod_manifest(name, **manifest))
    node.settle()
    return core_view(node, name)
