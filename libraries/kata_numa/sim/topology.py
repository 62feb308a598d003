"""Host topology files (YAML): nodes with CPUs and memory, a distance matrix, PCI devices."""

from __future__ import annotations

from pathlib import Path

import yaml

from ..cpuset import parse_cpulist
from ..errors import InputError
from ..sysfs import HostNode, HostTopology, PciDevice, normalise_bdf


def load_topology(path: str | Path) -> HostTopology:
    """Reads a topology YAML file; a malformed one is an InputError naming the file and field."""
    source = Path(path)
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError(f"topology {source}: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise InputError(f"topology {source}: not valid YAML: {error}") from error
    return topology_from_dict(data, where=str(source))


def topology_from_dict(data: object, *, where: str = "topology") -> HostTopology:
    """Builds a topology from the parsed YAML document."""
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list) or not data["nodes"]:
        raise InputError(f"{where}: needs a non-empty 'nodes' list")
    nodes_data = data["nodes"]
    matrix = data.get("distances")
    if not isinstance(matrix, list) or len(matrix) != len(nodes_data):
        raise InputError(f"{where}: 'distances' must be a {len(nodes_data)}x{len(nodes_data)} matrix")
    nodes = []
    for index, (entry, row) in enumerate(zip(nodes_data, matrix, strict=True)):
        field = f"{where}: nodes[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), int):
            raise InputError(f"{field}: needs an integer 'id'")
        if not isinstance(row, list) or len(row) != len(nodes_data) or not all(isinstance(v, int) for v in row):
            raise InputError(f"{where}: distances[{index}] must hold {len(nodes_data)} integers")
        mem = entry.get("mem_kb", 0)
        if not isinstance(mem, int) or mem < 0:
            raise InputError(f"{field}: 'mem_kb' must be a non-negative integer")
        cpus = parse_cpulist(str(entry.get("cpus", "") or ""), what=f"{field} cpus")
        nodes.append(HostNode(entry["id"], cpus, mem, tuple(row)))
    ids = [n.id for n in nodes]
    if ids != sorted(set(ids)):
        raise InputError(f"{where}: node ids must be unique and in increasing order, found {ids}")
    pci = []
    for index, entry in enumerate(data.get("pci") or []):
        field = f"{where}: pci[{index}]"
        if not isinstance(entry, dict) or "bdf" not in entry:
            raise InputError(f"{field}: needs a 'bdf'")
        numa = entry.get("numa_node", -1)
        if not isinstance(numa, int):
            raise InputError(f"{field}: 'numa_node' must be an integer")
        pci.append(
            PciDevice(
                normalise_bdf(str(entry["bdf"]), what=f"{field} bdf"),
                str(entry.get("class", "")).lower(),
                entry.get("vendor"),
                None if numa < 0 else numa,
            )
        )
    topology = HostTopology(tuple(nodes), tuple(sorted(pci, key=lambda d: d.bdf)))
    check_topology(topology, where)
    return topology


def check_topology(topology: HostTopology, where: str = "topology") -> None:
    """Refuses what no real host has: a CPU on two nodes, a bad distance matrix, a device on a missing node."""
    owner: dict[int, int] = {}
    for node in topology.nodes:
        for cpu in sorted(node.cpus):
            if cpu in owner:
                raise InputError(f"{where}: CPU {cpu} is on node {owner[cpu]} and on node {node.id}")
            owner[cpu] = node.id
    for index, node in enumerate(topology.nodes):
        if node.distances[index] != 10:
            raise InputError(f"{where}: distances[{index}][{index}] must be 10 (a node's distance to itself)")
    if not topology.cpu_bearing_nodes:
        raise InputError(f"{where}: no node has CPUs")
    ids = set(topology.node_ids)
    seen: set[str] = set()
    for device in topology.pci:
        if device.bdf in seen:
            raise InputError(f"{where}: pci device {device.bdf} is listed twice")
        seen.add(device.bdf)
        if device.numa_node is not None and device.numa_node not in ids:
            raise InputError(f"{where}: pci device {device.bdf} is on node {device.numa_node}, which is not in 'nodes'")
