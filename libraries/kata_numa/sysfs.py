"""Host NUMA topology and PCI devices, read from sysfs.

Node ids can be sparse (``0,8,250-255`` on POWER9), nodes can have no CPUs
(GPU memory on Grace-Hopper) or no memory, and a distance row holds one value
per ONLINE node by position, not by id. Every sysfs value is stripped of
trailing whitespace and NUL bytes before it is parsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .cpuset import format_cpulist, parse_cpulist
from .errors import InputError
from .hostaccess import HostAccess

NODE_DIR = "/sys/devices/system/node"
PCI_DIR = "/sys/bus/pci/devices"
GPU_CLASSES = ("0x030200",)

_BDF = re.compile(r"^(?:([0-9a-f]{4,8}):)?([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$")
_NODE_FILE = re.compile(rf"^{NODE_DIR}/node(\d+)/(cpulist|meminfo|distance)$")
_PCI_FILE = re.compile(rf"^{PCI_DIR}/([^/]+)/(class|numa_node|vendor)$")


def sysfs_value(text: str) -> str:
    """Strips the trailing whitespace and NUL bytes that sysfs files may carry."""
    return text.rstrip(" \t\r\n\x00")


def normalise_bdf(text: str, *, what: str = "PCI address") -> str:
    """Returns ``dddd:bb:dd.f`` in lower case; adds domain 0000 when absent.

    Refuses anything that is not a PCI address (``../../etc`` included), so a
    BDF can safely become part of a sysfs path.
    """
    value = sysfs_value(text).strip().lower()
    match = _BDF.match(value)
    if not match:
        raise InputError(f"{what}: {text.strip()!r} is not a PCI address (expected dddd:bb:dd.f)")
    domain, bus, device, function = match.groups()
    return f"{int(domain or '0', 16):04x}:{bus}:{device}.{function}"


@dataclass(frozen=True)
class HostNode:
    """One online host NUMA node."""

    id: int
    cpus: frozenset[int]
    mem_kb: int
    distances: tuple[int, ...]  # one value per online node, in online-node order


@dataclass(frozen=True)
class PciDevice:
    """A PCI device and the NUMA node the platform reports for it (None = unknown, ``-1``)."""

    bdf: str
    pci_class: str
    vendor: str | None
    numa_node: int | None


@dataclass(frozen=True)
class HostTopology:
    """Online NUMA nodes in id order, and PCI devices in BDF order."""

    nodes: tuple[HostNode, ...]
    pci: tuple[PciDevice, ...] = ()

    @property
    def node_ids(self) -> tuple[int, ...]:
        """Online node ids in id order."""
        return tuple(node.id for node in self.nodes)

    @property
    def cpu_bearing_nodes(self) -> tuple[int, ...]:
        """Ids of the nodes that have CPUs: the only nodes that can hold vCPU threads."""
        return tuple(node.id for node in self.nodes if node.cpus)

    @property
    def all_cpus(self) -> frozenset[int]:
        """Every CPU of every online node."""
        return frozenset().union(*(node.cpus for node in self.nodes))

    def node(self, node_id: int) -> HostNode:
        """The node with id ``node_id``; an unknown id is an InputError listing the online ones."""
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise InputError(f"host node {node_id} is not online (online: {format_cpulist(self.node_ids)})")

    def cpu_to_node(self) -> dict[int, int]:
        """Host CPU id -> the node that holds it."""
        return {cpu: node.id for node in self.nodes for cpu in node.cpus}

    def cpus_of(self, node_ids: Iterable[int]) -> frozenset[int]:
        """The union of the CPUs of the given nodes."""
        return frozenset().union(*(self.node(n).cpus for n in node_ids))

    def distance(self, source: int, target: int) -> int:
        """The distance from node ``source`` to node ``target``, indexed by online position."""
        position = self.node_ids.index(self.node(target).id)
        return self.node(source).distances[position]

    def gpus(self, classes: Iterable[str] = GPU_CLASSES) -> tuple[PciDevice, ...]:
        """The PCI devices whose class is one of ``classes`` (default: 3D controllers)."""
        wanted = {c.lower() for c in classes}
        return tuple(device for device in self.pci if device.pci_class in wanted)

    def pci_device(self, bdf: str) -> PciDevice | None:
        """The PCI device at ``bdf`` or None."""
        address = normalise_bdf(bdf)
        return next((device for device in self.pci if device.bdf == address), None)


def topology_patterns() -> list[str]:
    """The sysfs globs that ``parse_host_topology`` needs, for one ``read_files`` call."""
    return [
        f"{NODE_DIR}/online",
        f"{NODE_DIR}/node*/cpulist",
        f"{NODE_DIR}/node*/meminfo",
        f"{NODE_DIR}/node*/distance",
        f"{PCI_DIR}/*/class",
        f"{PCI_DIR}/*/numa_node",
        f"{PCI_DIR}/*/vendor",
    ]


def read_host_topology(access: HostAccess) -> HostTopology:
    """Reads the host topology in one host round trip."""
    return parse_host_topology(access.read_files(topology_patterns()))


def parse_host_topology(files: Mapping[str, str]) -> HostTopology:
    """Builds the topology from node path -> text of the files in ``topology_patterns``."""
    online_path = f"{NODE_DIR}/online"
    if online_path not in files:
        raise InputError(f"{online_path} is missing: the kernel exposes no NUMA information")
    online = sorted(parse_cpulist(sysfs_value(files[online_path]), what=online_path))
    if not online:
        raise InputError(f"{online_path} lists no node")
    per_node: dict[int, dict[str, str]] = {}
    pci_files: dict[str, dict[str, str]] = {}
    for path, text in files.items():
        if match := _NODE_FILE.match(path):
            per_node.setdefault(int(match.group(1)), {})[match.group(2)] = sysfs_value(text)
        elif match := _PCI_FILE.match(path):
            pci_files.setdefault(match.group(1), {})[match.group(2)] = sysfs_value(text)
    nodes = tuple(_parse_node(node_id, per_node.get(node_id, {}), len(online)) for node_id in online)
    pci = tuple(sorted((_parse_pci(bdf, values) for bdf, values in pci_files.items()), key=lambda d: d.bdf))
    return HostTopology(nodes, pci)


def _parse_node(node_id: int, values: Mapping[str, str], online_count: int) -> HostNode:
    where = f"{NODE_DIR}/node{node_id}"
    missing = [name for name in ("cpulist", "meminfo", "distance") if name not in values]
    if missing:
        raise InputError(f"{where}: online but {', '.join(missing)} missing")
    cpus = parse_cpulist(values["cpulist"], what=f"{where}/cpulist")
    mem_kb = parse_node_meminfo(values["meminfo"], what=f"{where}/meminfo")
    distances = _parse_distance_row(values["distance"], f"{where}/distance")
    if len(distances) != online_count:
        raise InputError(
            f"{where}/distance: {len(distances)} values for {online_count} online nodes ({values['distance']!r})"
        )
    return HostNode(node_id, cpus, mem_kb, distances)


def parse_node_meminfo(text: str, *, what: str = "meminfo") -> int:
    """Returns the kB of the ``Node N MemTotal:  <kB> kB`` line (0 for an empty node)."""
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[0] == "Node" and fields[2] == "MemTotal:":
            if not fields[3].isdigit():
                raise InputError(f"{what}: MemTotal is not a number in {line.strip()!r}")
            return int(fields[3])
    raise InputError(f"{what}: no 'Node N MemTotal:' line")


def _parse_distance_row(text: str, what: str) -> tuple[int, ...]:
    values = text.split()
    if not values or not all(v.isdigit() for v in values):
        raise InputError(f"{what}: expected space-separated numbers, found {text!r}")
    return tuple(int(v) for v in values)


def _parse_pci(name: str, values: Mapping[str, str]) -> PciDevice:
    bdf = normalise_bdf(name, what=f"{PCI_DIR}/{name}")
    pci_class = values.get("class", "").lower()
    if pci_class.startswith("0x"):
        pci_class = "0x" + pci_class[2:].rjust(6, "0")
    numa_text = values.get("numa_node", "-1")
    try:
        numa = int(numa_text)
    except ValueError as error:
        raise InputError(f"{PCI_DIR}/{name}/numa_node: {numa_text!r} is not a node id") from error
    return PciDevice(bdf, pci_class, values.get("vendor") or None, None if numa < 0 else numa)


def topology_as_json(topology: HostTopology, gpu_classes: Iterable[str] = GPU_CLASSES) -> dict:
    """The ``host`` JSON shape of the CLI."""
    return {
        "nodes": [
            {"id": n.id, "cpus": sorted(n.cpus), "mem_kb": n.mem_kb, "distances": list(n.distances)}
            for n in topology.nodes
        ],
        "cpu_bearing_nodes": list(topology.cpu_bearing_nodes),
        "pci": [
            {
                "bdf": d.bdf,
                "class": d.pci_class,
                "vendor": d.vendor,
                "numa_node": -1 if d.numa_node is None else d.numa_node,
            }
            for d in topology.pci
        ],
        "gpus": [d.bdf for d in topology.gpus(gpu_classes)],
    }
