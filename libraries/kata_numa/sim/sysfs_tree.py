"""Writes the sysfs files of a host topology under a root directory, shaped as a real node's."""

from __future__ import annotations

from pathlib import Path

from ..cpuset import format_cpulist
from ..sysfs import HostTopology


def write_sysfs_tree(topology: HostTopology, root: str | Path, *, cpu_node_links: bool = True) -> None:
    """Creates ``<root>/sys/devices/system/{node,cpu}`` and ``<root>/sys/bus/pci/devices``.

    ``cpu_node_links`` adds the empty ``cpu/cpuK/nodeN`` directories a real
    node has (left out of committed fixtures, where git keeps no empty dirs).
    """
    base = Path(root)
    node_dir = base / "sys/devices/system/node"
    ids = topology.node_ids
    _write(node_dir / "online", format_cpulist(ids))
    _write(node_dir / "possible", format_cpulist(ids))
    _write(node_dir / "has_cpu", format_cpulist(topology.cpu_bearing_nodes))
    _write(node_dir / "has_memory", format_cpulist(n.id for n in topology.nodes if n.mem_kb))
    for node in topology.nodes:
        directory = node_dir / f"node{node.id}"
        _write(directory / "cpulist", format_cpulist(node.cpus))
        _write(directory / "meminfo", _meminfo(node.id, node.mem_kb))
        _write(directory / "distance", " ".join(str(d) for d in node.distances))
        if cpu_node_links:
            for cpu in node.cpus:
                (base / f"sys/devices/system/cpu/cpu{cpu}/node{node.id}").mkdir(parents=True, exist_ok=True)
    for device in topology.pci:
        directory = base / "sys/bus/pci/devices" / device.bdf
        _write(directory / "class", device.pci_class)
        _write(directory / "vendor", device.vendor or "0x0000")
        _write(directory / "numa_node", str(-1 if device.numa_node is None else device.numa_node))


def _meminfo(node_id: int, mem_kb: int) -> str:
    return (
        f"Node {node_id} MemTotal:       {mem_kb} kB\n"
        f"Node {node_id} MemFree:        {mem_kb * 9 // 10} kB\n"
        f"Node {node_id} MemUsed:        {mem_kb - mem_kb * 9 // 10} kB"
    )


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")
