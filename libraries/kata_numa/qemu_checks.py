"""Checks over a parsed QEMU command line, each returning a Verdict with its evidence."""

from __future__ import annotations

from collections.abc import Mapping

from .cpuset import format_cpulist
from .errors import InputError
from .placement import proportional_split
from .qemu import QemuCommandLine
from .sysfs import HostTopology, normalise_bdf
from .verdict import Verdict

BACKEND_HEADERS = ("guest node", "backend", "type", "size MiB", "host-nodes", "policy", "verdict")


def check_backends_bound(cmdline: QemuCommandLine, expected: Mapping[int, frozenset[int]] | None = None) -> Verdict:
    """Every guest node's backend has ``policy=bind`` and, when given, exactly the expected host nodes.

    ``expected`` maps guest node -> host nodes. Without it, any non-empty
    ``host-nodes`` passes. A guest node without a backend fails.
    """
    if not cmdline.numa_nodes:
        return Verdict(False, "the command line has no -numa node: no guest node is bound", BACKEND_HEADERS)
    rows, problems = [], []
    for node in cmdline.numa_nodes:
        backend = cmdline.backend(node.memdev) if node.memdev else None
        if backend is None:
            problems.append(f"guest node {node.nodeid}: no memory backend {node.memdev or '(no memdev=)'}")
            rows.append((node.nodeid, node.memdev, "-", "-", "-", "-", "MISSING"))
            continue
        want = expected.get(node.nodeid) if expected is not None else None
        wrong = []
        if backend.policy != "bind":
            wrong.append(f"policy={backend.policy or '(none)'} instead of bind")
        if not backend.host_nodes:
            wrong.append("no host-nodes=")
        elif want is not None and backend.host_nodes != want:
            wrong.append(f"host-nodes={format_cpulist(backend.host_nodes)} instead of {format_cpulist(want)}")
        if wrong:
            problems.append(f"guest node {node.nodeid} backend {backend.id}: {', '.join(wrong)}")
        rows.append(
            (
                node.nodeid,
                backend.id,
                backend.type,
                backend.size_mib,
                format_cpulist(backend.host_nodes) or "-",
                backend.policy or "-",
                "MISMATCH" if wrong else "ok",
            )
        )
    if problems:
        return Verdict(
            False, "memory backends not bound as expected: " + "; ".join(problems), BACKEND_HEADERS, tuple(rows)
        )
    return Verdict(True, f"{len(rows)} memory backend(s) bound with policy=bind", BACKEND_HEADERS, tuple(rows))


def vfio_guest_node(cmdline: QemuCommandLine, host_bdf: str) -> int | None:
    """The guest node of the vfio-pci device for ``host_bdf`` (None when not behind a pxb-pcie)."""
    address = normalise_bdf(host_bdf)
    for device in cmdline.vfio:
        if device.host == address:
            return device.guest_node
    raise InputError(f"no vfio-pci device for host {address} (found: {_vfio_list(cmdline)})")


def check_vfio_on_guest_node(cmdline: QemuCommandLine, host_bdf: str, guest_node: int) -> Verdict:
    """The vfio device sits below a pxb-pcie whose ``numa_node`` is ``guest_node``."""
    address = normalise_bdf(host_bdf)
    headers = ("vfio host", "bus chain", "pxb-pcie numa_node")
    rows = tuple((v.host or "(fd)", " -> ".join(v.bus_chain) or v.bus or "-", v.guest_node) for v in cmdline.vfio)
    device = next((v for v in cmdline.vfio if v.host == address), None)
    if device is None:
        return Verdict(False, f"no vfio-pci device for host {address} (found: {_vfio_list(cmdline)})", headers, rows)
    pxbs = [p for p in cmdline.pxbs if p.numa_node == guest_node]
    if not pxbs:
        found = ", ".join(f"{p.id} numa_node={p.numa_node}" for p in cmdline.pxbs) or "none"
        return Verdict(False, f"no pxb-pcie with numa_node={guest_node} (pxb-pcie devices: {found})", headers, rows)
    if device.guest_node != guest_node:
        chain = " -> ".join(device.bus_chain) or "(no bus=)"
        return Verdict(
            False,
            f"vfio-pci {address} is on guest node {device.guest_node} via {chain}, expected {guest_node}",
            headers,
            rows,
        )
    return Verdict(True, f"vfio-pci {address} sits below pxb-pcie numa_node={guest_node}", headers, rows)


def guest_node_for_host_node(cmdline: QemuCommandLine, host_node: int) -> int | None:
    """The guest node whose backend is bound to ``host_node`` (the first when several)."""
    for node in cmdline.numa_nodes:
        host_nodes = cmdline.host_nodes_of_guest_node(node.nodeid)
        if host_nodes and host_node in host_nodes:
            return node.nodeid
    return None


def _vfio_list(cmdline: QemuCommandLine) -> str:
    return ", ".join(v.host or "(fd-passed)" for v in cmdline.vfio) or "none"


def expected_guest_split(cmdline: QemuCommandLine, topology: HostTopology, total: int) -> dict[int, int] | None:
    """Guest node -> its share of ``total`` vCPUs in proportion to the host CPUs behind it (None if unbound)."""
    weights = {}
    for node in cmdline.numa_nodes:
        host_nodes = cmdline.host_nodes_of_guest_node(node.nodeid)
        if not host_nodes:
            return None
        weights[node.nodeid] = len(topology.cpus_of(n for n in host_nodes if n in topology.node_ids))
    return proportional_split(total, weights)


def check_backends_in_order(cmdline: QemuCommandLine, host_nodes: list[int]) -> Verdict:
    """Guest node i is bound (``policy=bind``) to exactly the i-th of ``host_nodes``."""
    if len(cmdline.numa_nodes) != len(host_nodes):
        found = ", ".join(f"guest node {n.nodeid}" for n in cmdline.numa_nodes) or "none"
        return Verdict(
            False,
            f"expected {len(host_nodes)} guest nodes bound to host nodes "
            f"{', '.join(map(str, host_nodes))}, found {found}",
            BACKEND_HEADERS,
        )
    expected = {
        n.nodeid: frozenset({h})
        for n, h in zip(sorted(cmdline.numa_nodes, key=lambda n: n.nodeid), host_nodes, strict=True)
    }
    return check_backends_bound(cmdline, expected)


def check_guest_distances(
    reported: dict[int, tuple[int, ...]], cmdline: QemuCommandLine, topology: HostTopology
) -> Verdict:
    """The guest's distance rows equal the host distances between the host nodes behind each pair of guest nodes."""
    headers = ("guest node", "reported", "expected (host)")
    rows, wrong = [], []
    nodes = sorted(n.nodeid for n in cmdline.numa_nodes)
    for source in nodes:
        host_source = cmdline.host_nodes_of_guest_node(source)
        if not host_source:
            return Verdict(False, f"guest node {source} is bound to no host node: no distances to compare", headers)
        expected = []
        for target in nodes:
            host_target = cmdline.host_nodes_of_guest_node(target) or frozenset()
            if not host_target:
                return Verdict(False, f"guest node {target} is bound to no host node: no distances to compare", headers)
            expected.append(10 if source == target else topology.distance(min(host_source), min(host_target)))
        got = list(reported.get(source, ()))
        rows.append((source, " ".join(map(str, got)) or "-", " ".join(map(str, expected))))
        if got != expected:
            wrong.append(f"guest node {source}: reported {got or 'nothing'}, host distances {expected}")
    if wrong:
        return Verdict(False, "guest NUMA distances differ from the host's: " + "; ".join(wrong), headers, tuple(rows))
    return Verdict(True, f"guest distances equal the host's for {len(nodes)} guest nodes", headers, tuple(rows))
