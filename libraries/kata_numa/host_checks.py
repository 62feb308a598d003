"""The host-side placement checks every scenario runs, as one list of results.

Each check passes, fails, or skips with a reason, because some cannot hold
under a kubelet CPU manager policy: under ``static`` the kubelet may hand a
sandbox the CPUs of one node only, so surplus vCPUs borrow CPUs of another
node and a guest node without CPUs in the set loses host NUMA locality (the
runtime logs it). Those checks skip, quoting the runtime's log line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .cpuset import format_cpulist
from .placement import (
    PinningSummary,
    ThreadPlacement,
    check_distribution,
    check_no_shared_cpus,
    check_single_node,
    expected_single_cpu_threads,
    map_vcpus,
)
from .qemu import QemuCommandLine
from .sysfs import HostTopology
from .verdict import Verdict

PASS, FAIL, SKIP = "pass", "fail", "skip"
LOCALITY_LOST = "lose host NUMA locality"
_LOGFMT = re.compile(r'(\w[\w.-]*)=("(?:[^"\\]|\\.)*"|\S*)')


@dataclass(frozen=True)
class Check:
    """One check's outcome and the evidence behind it."""

    name: str
    status: str
    message: str
    verdict: Verdict | None = None


def logfmt_fields(line: str) -> dict[str, str]:
    """``level=warning msg="a b" x=1`` -> {"level": "warning", "msg": "a b", "x": "1"}."""
    fields = {}
    for key, value in _LOGFMT.findall(line):
        fields[key] = value[1:-1].replace('\\"', '"') if value.startswith('"') else value
    return fields


def locality_lines(journal: str) -> list[str]:
    """The runtime's messages saying that vCPUs lose host NUMA locality."""
    return [
        fields["msg"]
        for line in journal.splitlines()
        if LOCALITY_LOST in (fields := logfmt_fields(line)).get("msg", "")
    ]


def exclusive_set(summary: PinningSummary, policy: str) -> frozenset[int] | None:
    """Under ``static``: the sandbox's CPU set, i.e. every CPU a vCPU thread may use."""
    if policy != "static" or not summary.vcpus:
        return None
    return frozenset().union(*(t.cpus for t in summary.vcpus))


def guest_nodes_without_local_cpus(
    cmdline: QemuCommandLine, topology: HostTopology, exclusive: frozenset[int] | None
) -> dict[int, frozenset[int]]:
    """Guest node -> its host nodes, for guest nodes none of whose host CPUs are in the exclusive set."""
    if exclusive is None:
        return {}
    lost = {}
    for node in cmdline.numa_nodes:
        host_nodes = cmdline.host_nodes_of_guest_node(node.nodeid)
        if host_nodes and not topology.cpus_of(n for n in host_nodes if n in topology.node_ids) & exclusive:
            lost[node.nodeid] = host_nodes
    return lost


def expected_host_layout(cmdline: QemuCommandLine) -> dict[int, int] | None:
    """Host node -> vCPUs the guest layout puts there (None when a guest node spans host nodes)."""
    booted = cmdline.smp.cpus if cmdline.smp and cmdline.smp.cpus else None
    layout: dict[int, int] = {}
    for node in cmdline.numa_nodes:
        host_nodes = cmdline.host_nodes_of_guest_node(node.nodeid)
        if not host_nodes or len(host_nodes) != 1:
            return None
        vcpus = len([c for c in node.cpus if booted is None or c < booted])
        (host,) = host_nodes
        layout[host] = layout.get(host, 0) + vcpus
    return {n: c for n, c in sorted(layout.items()) if c}


@dataclass(frozen=True)
class Expectation:
    """What one scenario expects of the host placement beyond the common checks."""

    spanning: bool = False  # per-node counts follow the guest layout, each vCPU on its guest node's host node
    one_node: bool = False  # every vCPU thread on one host node
    host_node: int | None = None  # ... and that node is this one
    guest_vcpus: int | None = None  # placed vCPU threads equal the guest's vCPU count


def placement_checks(
    summary: PinningSummary,
    cmdline: QemuCommandLine,
    topology: HostTopology,
    *,
    policy: str,
    cpu_limit: int,
    journal: str = "",
    expect: Expectation = Expectation(),
) -> list[Check]:
    """Runs the common host checks and the scenario's own; see the module docstring for the skips."""
    exclusive = exclusive_set(summary, policy)
    lost = guest_nodes_without_local_cpus(cmdline, topology, exclusive)
    quoted = locality_lines(journal)
    lost_reason = _lost_reason(lost, exclusive, quoted)
    checks = [
        _placed(summary, cmdline, topology, lost, lost_reason),
        _shared(summary),
        _count(summary, policy, cpu_limit),
    ]
    if expect.guest_vcpus is not None:
        placed = sum(summary.per_node.values())
        ok = placed == expect.guest_vcpus
        checks.append(
            Check(
                "placed vCPU threads equal the guest's vCPUs",
                PASS if ok else FAIL,
                f"expected {expect.guest_vcpus} placed vCPU threads (the guest's vCPU count), found {placed}",
            )
        )
    if expect.spanning:
        checks += _spanning(summary, cmdline, topology, policy)
    if expect.one_node or expect.host_node is not None:
        checks.append(_one_node(summary, expect.host_node, lost, lost_reason))
    return checks


def _lost_reason(lost: Mapping[int, frozenset[int]], exclusive: frozenset[int] | None, quoted: list[str]) -> str:
    if not lost:
        return ""
    nodes = ", ".join(f"guest node {g} (host nodes {format_cpulist(h)})" for g, h in sorted(lost.items()))
    reason = (
        f"under the static CPU manager policy the sandbox's CPU set {format_cpulist(exclusive or ())} holds no "
        f"CPU of {nodes}: it cannot be placed locally"
    )
    return reason + (f"; the runtime logged: {quoted[0]}" if quoted else "")


def _multi_node_cpus(cmdline: QemuCommandLine, topology: HostTopology) -> dict[int, frozenset[int]]:
    """Guest node -> host CPUs, for guest nodes that an explicit mapping backs with several host nodes."""
    found = {}
    for node in cmdline.numa_nodes:
        host_nodes = cmdline.host_nodes_of_guest_node(node.nodeid)
        if host_nodes and len(host_nodes) > 1:
            found[node.nodeid] = topology.cpus_of(n for n in host_nodes if n in topology.node_ids)
    return found


def _confined_to_guest_node(
    thread: ThreadPlacement, cmdline: QemuCommandLine, multi: Mapping[int, frozenset[int]]
) -> bool:
    """A thread of a guest node backed by several host nodes is placed when confined to their CPUs."""
    if not thread.cpus:
        return False
    if thread.vcpu_index is not None:
        guest = cmdline.guest_node_of_vcpu(thread.vcpu_index)
        return guest is not None and guest.nodeid in multi and thread.cpus <= multi[guest.nodeid]
    return any(thread.cpus <= cpus for cpus in multi.values())


def _placed(
    summary: PinningSummary,
    cmdline: QemuCommandLine,
    topology: HostTopology,
    lost: Mapping[int, frozenset[int]],
    reason: str,
) -> Check:
    name = "every vCPU thread is placed on one host node"
    if not summary.vcpus:
        return Check(name, FAIL, f"no vCPU thread found ({summary.method_note})")
    multi = _multi_node_cpus(cmdline, topology)
    unplaced = tuple(t for t in summary.unplaced if not _confined_to_guest_node(t, cmdline, multi))
    if multi:
        name = "every vCPU thread is placed on the host nodes of its guest node"
    if not unplaced:
        return Check(name, PASS, f"{len(summary.vcpus)} vCPU threads placed ({summary.method_note})")
    excused = []
    for thread in unplaced:
        guest = cmdline.guest_node_of_vcpu(thread.vcpu_index) if thread.vcpu_index is not None else None
        if lost and (guest is None or guest.nodeid in lost):
            excused.append(thread)
    listed = ", ".join(f"tid {t.tid} ({t.name}) {t.where} [{format_cpulist(t.cpus)}]" for t in unplaced[:8])
    more = f" and {len(unplaced) - 8} more" if len(unplaced) > 8 else ""
    if len(excused) == len(unplaced):
        return Check(name, SKIP, f"{len(unplaced)} vCPU threads not confined to one node: {reason}")
    return Check(
        name,
        FAIL,
        f"expected every vCPU thread pinned to one CPU or confined to one host node; "
        f"{len(unplaced)} are not: {listed}{more}",
    )


def _shared(summary: PinningSummary) -> Check:
    verdict = check_no_shared_cpus(summary)
    return Check("no two vCPU threads hold the same CPU", PASS if verdict.ok else FAIL, verdict.message, verdict)


def _count(summary: PinningSummary, policy: str, cpu_limit: int) -> Check:
    name = "single-CPU vCPU threads match the CPU manager policy"
    expected = expected_single_cpu_threads(policy, cpu_limit, len(summary.vcpus))
    found = summary.single_cpu_threads
    if expected is None:
        return Check(
            name,
            SKIP,
            f"the kubelet CPU manager policy is unknown ({policy}): cannot tell how many "
            f"vCPU threads should hold a single CPU (found {found})",
        )
    pinned = format_cpulist(summary.pinned_cpus) or "none"
    why = (
        "none: threads are confined to nodes"
        if policy == "none"
        else f"static: the limit {cpu_limit}, capped by the vCPUs"
    )
    message = f"expected {expected} single-CPU vCPU threads ({why}), found {found} (CPUs {pinned})"
    return Check(name, PASS if found == expected else FAIL, message)


def _spanning(summary: PinningSummary, cmdline: QemuCommandLine, topology: HostTopology, policy: str) -> list[Check]:
    layout_name = "vCPU threads per host node match the guest layout"
    vcpu_name = "each vCPU runs on the host node of its guest node"
    if policy == "static":
        reason = (
            "under the static CPU manager policy the kubelet may give the sandbox CPUs of one node only and "
            "the runtime then borrows CPUs of another node for the surplus vCPUs (see the table)"
        )
        return [Check(layout_name, SKIP, reason), Check(vcpu_name, SKIP, reason)]
    checks = []
    layout = expected_host_layout(cmdline)
    if layout is None:
        checks.append(Check(layout_name, SKIP, "a guest node spans several host nodes: no per-node count to expect"))
    else:
        verdict = check_distribution(summary.per_node, layout)
        checks.append(Check(layout_name, PASS if verdict.ok else FAIL, verdict.message, verdict))
    mappings = map_vcpus(summary, cmdline, topology)
    if not mappings:
        checks.append(Check(vcpu_name, SKIP, "QEMU does not name its threads: the vCPU index of a thread is unknown"))
    else:
        bad = [m.problem for m in mappings if not m.ok]
        message = "; ".join(bad[:6]) + (f" and {len(bad) - 6} more" if len(bad) > 6 else "")
        checks.append(Check(vcpu_name, FAIL if bad else PASS, message or f"{len(mappings)} vCPUs on their host node"))
    return checks


def _one_node(summary: PinningSummary, node: int | None, lost: Mapping[int, frozenset[int]], reason: str) -> Check:
    name = f"every vCPU thread on host node {node}" if node is not None else "every vCPU thread on one host node"
    if lost and (node is None or any(node in h for h in lost.values())):
        return Check(name, SKIP, reason)
    verdict = check_single_node(summary.per_node, node)
    return Check(name, PASS if verdict.ok else FAIL, verdict.message, verdict)


def summarise(checks: Iterable[Check]) -> tuple[list[Check], list[Check]]:
    """(failed, skipped) checks."""
    checks = list(checks)
    return [c for c in checks if c.status == FAIL], [c for c in checks if c.status == SKIP]
