"""Robot Framework library: where a sandbox's vCPU threads run on the host."""

from __future__ import annotations

import time

from robot.api.deco import keyword, library
from robot.libraries.BuiltIn import BuiltIn
from robot.utils import timestr_to_secs

from kata_numa import __version__
from kata_numa.cpuset import format_cpulist
from kata_numa.errors import KataNumaError
from kata_numa.host_checks import Expectation, placement_checks
from kata_numa.placement import (
    STATE_UNPLACED,
    PinningSummary,
    analyse_pinning,
    check_balanced,
    check_distribution,
    check_no_cpus_in_common,
    check_no_shared_cpus,
    check_single_node,
    map_vcpus,
    proportional_split,
)
from kata_numa.procfs import read_cmdline, read_threads
from kata_numa.qemu import parse_qemu_argv
from kata_numa.report import placement_rows
from kata_numa.sysfs import HostTopology, read_host_topology
from kata_numa.verdict import Verdict
from keyword_support import CONVERTERS, CpuList, core_call, log_table, node_access, require


def _counts(per_node: dict[int, int]) -> str:
    return ", ".join(f"node{n}: {c}" for n, c in per_node.items()) or "none"


@library(scope="SUITE", version=__version__, converters=CONVERTERS, doc_format="ROBOT")
class VcpuPinning:
    """Checks how the vCPU threads of a sandbox's QEMU are placed on the host's NUMA nodes.

    = Placement =

    A vCPU thread is placed correctly when it is pinned to one CPU of its own
    (kubelet CPU manager policy ``static``) or confined to its host node's CPUs
    (policy ``none``). Two vCPU threads holding the same single CPU is never
    correct. vCPU threads are recognised by their names (``CPU 3/KVM``) when
    QEMU names them, else by their affinity; the log says which.

    Every probe reads all threads in one host round trip.
    """

    def __init__(self) -> None:
        self._summary: PinningSummary | None = None
        self._topology: HostTopology | None = None

    @property
    def summary(self) -> PinningSummary:
        """The placement probed last."""
        if self._summary is None:
            raise AssertionError("no vCPU placement probed yet: call `Probe vCPU Placement` first")
        return self._summary

    def _probe(self, pid: int) -> PinningSummary:
        access = node_access()
        if self._topology is None:
            self._topology = core_call(read_host_topology, access)
        return analyse_pinning(core_call(read_threads, access, pid), self._topology)

    @keyword("Probe vCPU Placement")
    def probe_vcpu_placement(self, pid: int) -> PinningSummary:
        """Reads every thread of QEMU ``pid``, identifies the vCPU threads, logs their placement."""
        self._summary = self._probe(pid)
        self._log(self._summary)
        return self._summary

    @keyword("Wait Until vCPU Threads Are Placed")
    def wait_until_vcpu_threads_are_placed(self, pid: int, timeout: str = "30s", interval: str = "1s") -> None:
        """Probes until no vCPU thread is left unplaced (right after boot masks may still be broad)."""
        deadline = time.monotonic() + timestr_to_secs(timeout)
        while True:
            summary = self._probe(pid)
            if summary.vcpus and not summary.unplaced:
                break
            if time.monotonic() >= deadline:
                self._summary = summary
                self._log(summary)
                left = ", ".join(f"{t.tid} ({t.where})" for t in summary.unplaced) or "no vCPU thread found"
                raise AssertionError(f"vCPU threads of QEMU {pid} not placed within {timeout}: {left}")
            time.sleep(timestr_to_secs(interval))
        self._summary = summary
        self._log(summary)

    def _log(self, summary: PinningSummary) -> None:
        log_table(
            ("vCPU", "tid", "name", "CPUs", "host node", "single CPU"),
            [(t.vcpu_index, t.tid, t.name, format_cpulist(t.cpus), t.where, t.single_cpu) for t in summary.vcpus],
            f"QEMU {summary.pid}: {len(summary.vcpus)} vCPU threads, {summary.method_note}",
        )
        log_table(("host node", "placed vCPU threads"), summary.per_node.items(), "vCPU threads per host node")

    @keyword("Poll vCPU Placement")
    def poll_vcpu_placement(
        self, pid: int, retries: int = 30, interval: str = "1s", policy: str = "none", cpu_limit: int = 0
    ) -> PinningSummary:
        """Probes until the runtime has placed the vCPU threads as ``policy`` says, or the retries run out.

        Placed: no vCPU thread keeps the process's mask and, under ``static``,
        as many threads hold a CPU of their own as the limit ``cpu_limit``
        backs. Logs each attempt's counts. Never fails by itself: the checks
        that follow say what is wrong when the retries ran out.
        """
        attempts = []
        for attempt in range(1, max(1, retries) + 1):
            summary = self._probe(pid)
            waiting = [t for t in summary.vcpus if t.state == STATE_UNPLACED]
            pinned_enough = policy != "static" or summary.single_cpu_threads >= min(cpu_limit, len(summary.vcpus))
            attempts.append(
                (attempt, len(summary.vcpus), _counts(summary.per_node), len(waiting), summary.single_cpu_threads)
            )
            if summary.vcpus and not waiting and pinned_enough:
                break
            if attempt < retries:
                time.sleep(timestr_to_secs(interval))
        log_table(
            ("attempt", "vCPU threads", "placed per host node", "not placed yet", "single-CPU"),
            attempts,
            f"polling the placement of QEMU {pid} (CPU manager policy {policy})",
        )
        self._summary = summary
        self._log(summary)
        return summary

    @keyword("Log Placement Table")
    def log_placement_table(self, policy: str = "unknown") -> None:
        """Logs the scenario's one placement table.

        Host and guest nodes, vCPU threads, guest memory as the kernel holds
        it, the CPU manager policy, GPUs and the QEMU NUMA arguments.
        """
        libraries = BuiltIn()
        topology = libraries.get_library_instance("HostTopology").topology
        report = libraries.get_library_instance("GuestReport").latest
        cmdline = libraries.get_library_instance("QemuCommandLine").latest
        memory = libraries.get_library_instance("GuestMemory").latest
        rows = placement_rows(topology, report, cmdline, self._summary, policy, memory=memory)
        log_table(("placement", "observed"), rows, "placement of the sandbox")

    @keyword("Host Placement Should Be Correct")
    def host_placement_should_be_correct(
        self,
        policy: str,
        cpu_limit: int,
        *,
        spanning: bool = False,
        host_node: int | None = None,
        one_node: bool = False,
        guest_vcpus: int | None = None,
    ) -> None:
        """Runs the host placement checks of the probed sandbox for the kubelet CPU manager ``policy``.

        Always: every vCPU thread placed on one host node, no CPU held by two
        vCPU threads, single-CPU threads 0 under ``none`` and ``cpu_limit``
        (capped by the vCPUs) under ``static``. ``spanning``: per-node counts
        follow the guest layout and each vCPU runs on its guest node's host
        node. ``one_node`` / ``host_node``: every vCPU thread on one (that)
        host node. ``guest_vcpus``: the placed threads equal the guest's
        vCPUs. Checks that cannot hold under the policy are deferred skips.
        """
        access = node_access()
        summary = self.summary
        cmdline = core_call(parse_qemu_argv, core_call(read_cmdline, access, summary.pid))
        topology = self._topology or core_call(read_host_topology, access)
        journal = self._journal(access)
        expect = Expectation(spanning=spanning, one_node=one_node, host_node=host_node, guest_vcpus=guest_vcpus)
        checks = placement_checks(
            summary, cmdline, topology, policy=policy, cpu_limit=cpu_limit, journal=journal, expect=expect
        )
        BuiltIn().get_library_instance("Scenario").record_checks(checks, f"host placement of QEMU {summary.pid}")

    @staticmethod
    def _journal(access) -> str:
        try:
            result = access.run(["journalctl", "-t", "kata", "-o", "cat", "--no-pager"])
        except KataNumaError:
            return ""
        return result.stdout if result.ok else ""

    @keyword("Placed vCPU Threads Should Number")
    def placed_vcpu_threads_should_number(self, count: int) -> None:
        """Fails unless exactly ``count`` vCPU threads are placed on a host node."""
        placed = sum(self.summary.per_node.values())
        ok = placed == count and not self.summary.unplaced
        unplaced = ", ".join(f"tid {t.tid} {t.where}" for t in self.summary.unplaced) or "none"
        message = f"expected {count} placed vCPU threads, found {placed} (unplaced: {unplaced})"
        require(Verdict(ok, message if not ok else f"{placed} vCPU threads placed"))

    @keyword("vCPU Threads Should Be On Host Node")
    def vcpu_threads_should_be_on_host_node(self, node: int) -> None:
        """Fails unless every vCPU thread is placed on host node ``node``."""
        require(check_single_node(self.summary.per_node, node), "vCPU threads per host node")
        self._require_all_placed()

    @keyword("vCPU Threads Should Be On One Host Node")
    def vcpu_threads_should_be_on_one_host_node(self) -> None:
        """Fails unless every vCPU thread is placed, all on the same host node."""
        require(check_single_node(self.summary.per_node), "vCPU threads per host node")
        self._require_all_placed()

    @keyword("vCPU Threads Should Be Balanced Over Host Nodes")
    def vcpu_threads_should_be_balanced_over_host_nodes(self, nodes: CpuList) -> None:
        """Fails unless the vCPU threads cover exactly ``nodes`` (``0-1``) and differ by at most 1 per node."""
        require(check_balanced(self.summary.per_node, nodes))
        self._require_all_placed()

    @keyword("vCPU Threads Should Follow Host CPU Proportions")
    def vcpu_threads_should_follow_host_cpu_proportions(self, nodes: CpuList) -> None:
        """Fails unless each node of ``nodes`` holds its share, in proportion to its host CPUs, within 1."""
        topology = self._topology or core_call(read_host_topology, node_access())
        total = len(self.summary.vcpus)
        expected = proportional_split(total, {n: len(topology.node(n).cpus) for n in nodes})
        require(check_distribution(self.summary.per_node, expected, tolerance=1))

    @keyword("vCPU Threads Per Host Node Should Match Guest Layout")
    def vcpu_threads_per_host_node_should_match_guest_layout(self, *counts: int) -> None:
        """Fails unless host nodes, in id order of those used, hold ``counts`` vCPU threads each."""
        observed = self.summary.per_node
        if len(counts) != len(observed):
            raise AssertionError(f"expected vCPU threads on {len(counts)} host nodes, found {observed or 'none'}")
        require(check_distribution(observed, dict(zip(sorted(observed), counts, strict=True))))

    @keyword("No Two vCPU Threads Should Hold The Same CPU")
    def no_two_vcpu_threads_should_hold_the_same_cpu(self) -> None:
        """Fails when two vCPU threads are pinned to the same single CPU (the stacking bug)."""
        require(check_no_shared_cpus(self.summary))

    @keyword("Single-CPU vCPU Threads Should Number")
    def single_cpu_vcpu_threads_should_number(self, count: int) -> None:
        """Fails unless exactly ``count`` vCPU threads hold a single CPU.

        That is 0 under the ``none`` CPU manager policy and the pod's CPU limit
        (capped by the vCPU count) under ``static``.
        """
        found = self.summary.single_cpu_threads
        pinned = format_cpulist(self.summary.pinned_cpus) or "none"
        require(Verdict(found == count, f"expected {count} single-CPU vCPU threads, found {found} (CPUs {pinned})"))

    @keyword("Each vCPU Should Run On The Host Node Of Its Guest Node")
    def each_vcpu_should_run_on_the_host_node_of_its_guest_node(self) -> None:
        """Fails unless each named vCPU thread's CPUs lie in the host node bound to its guest node."""
        access = node_access()
        cmdline = core_call(parse_qemu_argv, core_call(read_cmdline, access, self.summary.pid))
        topology = self._topology or core_call(read_host_topology, access)
        mappings = map_vcpus(self.summary, cmdline, topology)
        if not mappings:
            raise AssertionError("vCPU threads are not named (no debug-threads=on): vCPU index unknown")
        bad = [m.problem for m in mappings if not m.ok]
        rows = tuple(
            (
                m.vcpu,
                m.tid,
                m.guest_node,
                format_cpulist(m.host_nodes or ()),
                format_cpulist(m.cpus),
                "ok" if m.ok else "WRONG",
            )
            for m in mappings
        )
        message = "; ".join(bad) if bad else f"{len(mappings)} vCPUs on the host node of their guest node"
        require(Verdict(not bad, message, ("vCPU", "tid", "guest node", "host node", "CPUs", "verdict"), rows))

    @keyword("Sandboxes Should Not Share Pinned CPUs")
    def sandboxes_should_not_share_pinned_cpus(self, first_pid: int, second_pid: int) -> None:
        """Fails when the vCPU threads of two QEMU processes are pinned to a common CPU."""
        require(check_no_cpus_in_common(self._probe(first_pid), self._probe(second_pid)))

    def _require_all_placed(self) -> None:
        unplaced = self.summary.unplaced
        if unplaced:
            listed = ", ".join(f"tid {t.tid} {t.where} ({format_cpulist(t.cpus)})" for t in unplaced)
            raise AssertionError(f"vCPU threads not confined to one host node: {listed}")
