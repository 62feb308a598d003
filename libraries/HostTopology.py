"""Robot Framework library: the host's NUMA nodes, CPUs, memory, distances and GPUs."""

from __future__ import annotations

from robot.api.deco import keyword, library
from robot.libraries.BuiltIn import BuiltIn

from kata_numa import __version__
from kata_numa.cpuset import format_cpulist, parse_cpulist
from kata_numa.pods import auto_large_memory_mib, auto_large_vcpus, auto_mapping_node, memory_quantity, resolve_size
from kata_numa.sysfs import GPU_CLASSES, read_host_topology
from kata_numa.sysfs import HostTopology as Topology
from keyword_support import CONVERTERS, core_call, log_table, node_access, skip_or_fail


@library(scope="SUITE", version=__version__, converters=CONVERTERS, doc_format="ROBOT")
class HostTopology:
    """Reads the host NUMA topology from sysfs through the node's host access.

    Node ids may be sparse and nodes may have no CPUs: only CPU-bearing nodes
    can hold vCPU threads, so the keywords count those.
    """

    def __init__(self, gpu_classes: str = ",".join(GPU_CLASSES)) -> None:
        self.gpu_classes = tuple(c.strip() for c in gpu_classes.split(",") if c.strip())
        self._topology: Topology | None = None

    @keyword("Read Host Topology")
    def read_host_topology(self) -> Topology:
        """Reads nodes, CPUs, memory, distances and PCI devices in one round trip, and logs them."""
        topology = core_call(read_host_topology, node_access())
        self._topology = topology
        log_table(
            ("node", "CPUs", "MemTotal kB", "distances"),
            [(n.id, format_cpulist(n.cpus) or "-", n.mem_kb, " ".join(map(str, n.distances))) for n in topology.nodes],
            "host NUMA nodes",
        )
        gpus = topology.gpus(self.gpu_classes)
        if gpus:
            log_table(("GPU", "class", "host node"), [(g.bdf, g.pci_class, g.numa_node) for g in gpus], "host GPUs")
        return topology

    @property
    def topology(self) -> Topology:
        """The last topology read (read now when none was)."""
        return self._topology or self.read_host_topology()

    @keyword("Get CPU-Bearing Host Nodes")
    def get_cpu_bearing_host_nodes(self) -> list[int]:
        """Returns the ids of the host nodes that have CPUs."""
        return list(self.topology.cpu_bearing_nodes)

    @keyword("Get Host GPUs")
    def get_host_gpus(self) -> list[str]:
        """Returns the BDFs of the host's GPUs (PCI classes given at import, default ``0x030200``)."""
        return [g.bdf for g in self.topology.gpus(self.gpu_classes)]

    @keyword("Get Host Node Of PCI Device")
    def get_host_node_of_pci_device(self, bdf: str) -> int:
        """Returns the host node sysfs reports for ``bdf``; fails when unknown (``-1``) or absent."""
        device = core_call(self.topology.pci_device, bdf)
        if device is None:
            raise AssertionError(f"PCI device {bdf} is not in /sys/bus/pci/devices")
        if device.numa_node is None:
            raise AssertionError(f"PCI device {bdf}: numa_node is -1, the platform reports no NUMA affinity")
        return device.numa_node

    @keyword("Get Host Node Of PCI Device Or Defer")
    def get_host_node_of_pci_device_or_defer(self, bdf: str) -> int | None:
        """Returns the device's host node; when sysfs says ``-1`` defers a skip and returns None."""
        device = core_call(self.topology.pci_device, bdf)
        if device is None:
            raise AssertionError(f"PCI device {bdf} is not in /sys/bus/pci/devices")
        if device.numa_node is None:
            BuiltIn().get_library_instance("Scenario").defer_skip(
                f"GPU {bdf}: numa_node is -1, the platform reports no NUMA affinity: its locality cannot be checked"
            )
        return device.numa_node

    @keyword("Get Large Pod Size")
    def get_large_pod_size(self, vcpus: str = "auto", memory: str = "auto") -> tuple[int, str]:
        """Returns (CPU limit, memory quantity) of a pod too large for any one node.

        ``auto`` CPUs: the smallest CPU-bearing node's CPU count plus one; ``auto``
        memory: 8 GiB, or more than the smallest node's memory when that is less.
        Numbers given (``-v NUMA_TEST_VCPUS_LARGE:80``) are used as they are.
        """
        topology = self.topology
        count = core_call(resolve_size, vcpus, core_call(auto_large_vcpus, topology), "NUMA_TEST_VCPUS_LARGE")
        if str(memory).strip().lower() == "auto":
            quantity = memory_quantity(auto_large_memory_mib(topology))
        else:
            quantity = str(memory)
        log_table(
            ("setting", "given", "used"), [("CPU limit", vcpus, count), ("memory", memory, quantity)], "large pod size"
        )
        return count, quantity

    @keyword("Get Mapping Host Node")
    def get_mapping_host_node(self, node: str = "auto") -> int:
        """Returns the host node for an explicit ``numa_mapping``: ``auto`` is the second node with CPUs and memory.

        Skips (with the reason) when no such node exists.
        """
        topology = self.topology
        if str(node).strip().lower() == "auto":
            chosen = auto_mapping_node(topology)
            if chosen is None:
                skip_or_fail("no second host node has both CPUs and memory for an explicit numa_mapping")
            return chosen
        chosen = int(node)
        if chosen not in topology.node_ids:
            raise AssertionError(f"NUMA_MAPPING_NODE {chosen} is not an online host node ({list(topology.node_ids)})")
        return chosen

    @keyword("Skip Unless Host Has Several CPU-Bearing Nodes")
    def skip_unless_host_has_several_cpu_bearing_nodes(self) -> None:
        """Skips the test, saying why, when fewer than two host nodes have CPUs."""
        nodes = self.topology.cpu_bearing_nodes
        if len(nodes) < 2:
            skip_or_fail(f"host has {len(nodes)} CPU-bearing NUMA node(s) ({format_cpulist(nodes)}): needs 2 or more")

    @keyword("Skip Unless Host Nodes Have CPUs")
    def skip_unless_host_nodes_have_cpus(self, *node_lists: str) -> None:
        """Skips unless every host node named in the cpulists (``0-1``, ``2``) is online and has CPUs."""
        wanted = set()
        for text in node_lists:
            wanted |= core_call(parse_cpulist, str(text), what="host node list")
        missing = sorted(n for n in wanted if n not in self.topology.cpu_bearing_nodes)
        if missing:
            skip_or_fail(
                f"host nodes {format_cpulist(missing)} are not online with CPUs "
                f"(CPU-bearing: {format_cpulist(self.topology.cpu_bearing_nodes)})"
            )

    @keyword("Skip Unless Host Has GPUs")
    def skip_unless_host_has_gpus(self) -> None:
        """Skips the test, saying why, when the host has no GPU of the configured PCI classes."""
        if not self.topology.gpus(self.gpu_classes):
            skip_or_fail(f"host has no PCI device of class {', '.join(self.gpu_classes)}")
