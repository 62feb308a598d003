"""Robot Framework library: what the guest kernel reports, as printed by the probe container."""

from __future__ import annotations

from robot.api import logger
from robot.api.deco import keyword, library
from robot.libraries.BuiltIn import BuiltIn

from kata_numa import __version__
from kata_numa.guest import GuestReport as Report
from kata_numa.guest import (
    check_gpus_on_node,
    check_memory_on_every_node,
    check_node_count,
    check_total_cpus_at_least,
    check_total_memory_at_least,
    layout_rows,
    parse_guest_report,
)
from kata_numa.placement import check_balanced, check_distribution
from kata_numa.pods import parse_memory_quantity
from kata_numa.qemu_checks import check_guest_distances, expected_guest_split
from keyword_support import CONVERTERS, core_call, log_debug, log_table, require


@library(scope="SUITE", version=__version__, converters=CONVERTERS, doc_format="ROBOT")
class GuestReport:
    """Parses the probe output (``numa_online``, ``nodeN_cpus``, ``nodeN_mem_kb``, ``gpu_<bdf>_numa``) and checks it.

    Accepts the original ``quay.io/kata-containers/numa`` image's keys and the
    richer keys of the suite's own probe; unknown keys are kept.
    """

    def __init__(self) -> None:
        self._report: Report | None = None

    @property
    def latest(self) -> Report | None:
        """The report parsed last, or None."""
        return self._report

    @property
    def report(self) -> Report:
        """The report parsed last."""
        if self._report is None:
            raise AssertionError("no guest report parsed yet: call `Parse Guest Report` first")
        return self._report

    @keyword("Parse Guest Report")
    def parse_guest_report(self, text: str) -> Report:
        """Parses the probe's ``key: value`` output, logs the guest layout and returns the report."""
        log_debug("probe output", text)
        self._report = core_call(parse_guest_report, text)
        log_table(("guest node", "vCPUs", "MemTotal kB"), layout_rows(self._report), "guest NUMA layout")
        return self._report

    @keyword("Get Guest vCPU Count")
    def get_guest_vcpu_count(self) -> int:
        """Returns the vCPUs the guest reports over all its nodes."""
        return self.report.total_cpus

    @keyword("Guest Should Expose NUMA Nodes")
    def guest_should_expose_numa_nodes(self, count: int) -> None:
        """Fails unless the guest reports exactly ``count`` online NUMA nodes."""
        require(check_node_count(self.report, count))

    @keyword("Guest vCPUs Should Total At Least")
    def guest_vcpus_should_total_at_least(self, count: int) -> None:
        """Fails unless the guest reports at least ``count`` vCPUs over all nodes."""
        require(check_total_cpus_at_least(self.report, count))

    @keyword("Guest vCPUs Should Be Balanced Over Its Nodes")
    def guest_vcpus_should_be_balanced_over_its_nodes(self) -> None:
        """Fails unless every guest node has vCPUs and their counts differ by at most 1."""
        require(check_balanced(self.report.cpus, self.report.online))

    @keyword("Guest vCPUs Per Node Should Be")
    def guest_vcpus_per_node_should_be(self, *counts: int) -> None:
        """Fails unless guest node 0, 1, ... hold exactly ``counts`` vCPUs, in node order."""
        nodes = sorted(self.report.online)
        if len(counts) != len(nodes):
            raise AssertionError(f"{len(counts)} counts given for {len(nodes)} guest nodes ({nodes})")
        expected = dict(zip(nodes, counts, strict=True))
        require(check_distribution(self.report.cpus, expected))

    @keyword("Guest vCPUs Should Follow Host CPU Proportions")
    def guest_vcpus_should_follow_host_cpu_proportions(self) -> None:
        """Fails unless each guest node holds its share of the vCPUs, in proportion to its host CPUs, within 1.

        The host nodes behind each guest node come from the QEMU command line
        read last (`Read QEMU Command Line Of Sandbox`), their CPUs from sysfs.
        """
        libraries = BuiltIn()
        cmdline = libraries.get_library_instance("QemuCommandLine").cmdline
        topology = libraries.get_library_instance("HostTopology").topology
        expected = expected_guest_split(cmdline, topology, self.report.total_cpus)
        if expected is None:
            raise AssertionError("a guest node's memory backend has no host-nodes: no host CPUs to compare with")
        require(
            check_distribution(self.report.cpus, expected, tolerance=1),
            "guest vCPUs per node vs host CPUs",
            prefix="guest vCPUs per node do not follow the host CPUs",
        )

    @keyword("Guest Distances Should Match The Host When Reported")
    def guest_distances_should_match_the_host_when_reported(self) -> None:
        """Fails unless the guest's distance rows equal the host distances behind each pair of guest nodes.

        Only the suite's own probe prints distances; with the original image this logs that and passes.
        """
        if not self.report.distances:
            logger.info("the probe printed no nodeN_distance lines (the original image): distances not checked")
            return
        libraries = BuiltIn()
        cmdline = libraries.get_library_instance("QemuCommandLine").cmdline
        topology = libraries.get_library_instance("HostTopology").topology
        require(check_guest_distances(self.report.distances, cmdline, topology), "guest vs host NUMA distances")

    @keyword("Every Guest Node Should Have Memory")
    def every_guest_node_should_have_memory(self) -> None:
        """Fails when a guest node reports no MemTotal."""
        require(check_memory_on_every_node(self.report))

    @keyword("Guest Memory Should Total At Least")
    def guest_memory_should_total_at_least(self, memory: str) -> None:
        """Fails unless the guest's MemTotal over all nodes is at least ``memory`` (``4Gi``, ``4096Mi`` or MiB)."""
        text = str(memory).strip()
        mib = int(text) if text.isdigit() else core_call(parse_memory_quantity, text)
        require(check_total_memory_at_least(self.report, mib))

    @keyword("Guest GPUs Should Report NUMA Node")
    def guest_gpus_should_report_numa_node(self, guest_node: int) -> None:
        """Fails unless the guest has GPUs and every one reports NUMA node ``guest_node``."""
        require(check_gpus_on_node(self.report, guest_node))
