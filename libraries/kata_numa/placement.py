"""Where a sandbox's vCPU threads run on the host, and whether that is right.

The runtime either pins each vCPU thread to one CPU of its own (kubelet CPU
manager policy ``static``) or confines it to the CPUs of its host node
(policy ``none``); both are correct. Never correct: two vCPU threads holding
the same single CPU, which a per-node count alone does not catch.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .cpuset import format_cpulist
from .procfs import ProcessThreads, ThreadInfo
from .qemu import QemuCommandLine
from .sysfs import HostTopology
from .verdict import Verdict

METHOD_NAME = "thread-name"
METHOD_AFFINITY = "affinity"

STATE_NODE = "node"
STATE_SPANS = "spans nodes"
STATE_UNPLACED = "not placed yet"
STATE_EMPTY = "no CPUs"
STATE_UNKNOWN = "CPUs of no online node"

_VCPU_NAME = re.compile(r"^CPU (\d+)/([A-Za-z]+)$")


def vcpu_index_from_name(name: str) -> int | None:
    """The vCPU index of a thread named ``CPU <n>/KVM`` (or ``/TCG``...), else None."""
    match = _VCPU_NAME.match(name)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class ThreadPlacement:
    """One thread: its CPUs, the host node they lie in, and whether it is a vCPU."""

    tid: int
    name: str
    cpus: frozenset[int]
    vcpu: bool
    vcpu_index: int | None
    node: int | None
    state: str

    @property
    def single_cpu(self) -> bool:
        """True when the thread may run on exactly one CPU."""
        return len(self.cpus) == 1

    @property
    def where(self) -> str:
        """``node 1`` or the state, for tables and messages."""
        return f"node {self.node}" if self.state == STATE_NODE else self.state


@dataclass(frozen=True)
class PinningSummary:
    """The placement of every thread of one QEMU process and its vCPU aggregates."""

    pid: int
    method: str
    method_note: str
    threads: tuple[ThreadPlacement, ...]
    host_nodes: tuple[int, ...]
    notes: tuple[str, ...] = ()

    @property
    def vcpus(self) -> tuple[ThreadPlacement, ...]:
        """The vCPU threads, by vCPU index when known, else by tid."""
        found = [t for t in self.threads if t.vcpu]
        return tuple(sorted(found, key=lambda t: (t.vcpu_index is None, t.vcpu_index or 0, t.tid)))

    @property
    def per_node(self) -> dict[int, int]:
        """Host node -> number of vCPU threads placed on it (nodes with none left out)."""
        counts = Counter(t.node for t in self.vcpus if t.state == STATE_NODE)
        return {node: counts[node] for node in sorted(counts)}

    @property
    def single_cpu_threads(self) -> int:
        """VCPU threads that hold exactly one CPU."""
        return sum(1 for t in self.vcpus if t.single_cpu)

    @property
    def pinned_cpus(self) -> frozenset[int]:
        """The CPUs held by single-CPU vCPU threads (to compare two sandboxes)."""
        return frozenset(next(iter(t.cpus)) for t in self.vcpus if t.single_cpu)

    @property
    def distinct_single_cpus(self) -> int:
        """How many different CPUs the single-CPU vCPU threads hold."""
        return len(self.pinned_cpus)

    @property
    def shared_cpus(self) -> dict[int, tuple[int, ...]]:
        """CPU -> tids for every CPU that more than one single-CPU vCPU thread holds."""
        holders: dict[int, list[int]] = {}
        for thread in self.vcpus:
            if thread.single_cpu:
                holders.setdefault(next(iter(thread.cpus)), []).append(thread.tid)
        return {cpu: tuple(tids) for cpu, tids in sorted(holders.items()) if len(tids) > 1}

    @property
    def unplaced(self) -> tuple[ThreadPlacement, ...]:
        """VCPU threads not confined to one host node."""
        return tuple(t for t in self.vcpus if t.state != STATE_NODE)


def analyse_pinning(process: ProcessThreads, topology: HostTopology) -> PinningSummary:
    """Identifies the vCPU threads and places every thread on the host's nodes."""
    cpu_node = topology.cpu_to_node()
    main = process.main
    named = {t.tid: vcpu_index_from_name(t.name) for t in process.threads}
    if any(index is not None for index in named.values()):
        method, note = METHOD_NAME, "vCPU threads recognised by their names (CPU <n>/KVM)"
        is_vcpu = {tid: index is not None for tid, index in named.items()}
    else:
        method = METHOD_AFFINITY
        is_vcpu, note = _vcpus_by_affinity(process, cpu_node)
    placements = tuple(
        ThreadPlacement(
            tid=t.tid,
            name=t.name,
            cpus=t.cpus,
            vcpu=is_vcpu[t.tid],
            vcpu_index=named[t.tid],
            node=_node_of(t.cpus, cpu_node),
            state=_state(t, main, cpu_node),
        )
        for t in process.threads
    )
    return PinningSummary(process.pid, method, note, placements, topology.node_ids, process.notes)


def _node_of(cpus: frozenset[int], cpu_node: Mapping[int, int]) -> int | None:
    nodes = {cpu_node.get(cpu) for cpu in cpus}
    if len(nodes) == 1 and None not in nodes:
        return nodes.pop()
    return None


def _state(thread: ThreadInfo, main: ThreadInfo | None, cpu_node: Mapping[int, int]) -> str:
    if not thread.cpus:
        return STATE_EMPTY
    if any(cpu not in cpu_node for cpu in thread.cpus):
        return STATE_UNKNOWN
    if _node_of(thread.cpus, cpu_node) is not None:
        return STATE_NODE
    if main is not None and thread.tid != main.tid and thread.cpus == main.cpus:
        return STATE_UNPLACED
    return STATE_SPANS


def _confined(cpus: frozenset[int], cpu_node: Mapping[int, int]) -> bool:
    return len(cpus) == 1 or _node_of(cpus, cpu_node) is not None


def _vcpus_by_affinity(process: ProcessThreads, cpu_node: Mapping[int, int]) -> tuple[dict[int, bool], str]:
    main = process.main
    others = [t for t in process.threads if main is None or t.tid != main.tid]
    if main is not None and not _confined(main.cpus, cpu_node):
        chosen = {t.tid for t in others if _confined(t.cpus, cpu_node)}
        note = (
            "threads are not named: vCPU threads recognised as those confined to one host node "
            f"or pinned to one CPU while the main thread is not ({format_cpulist(main.cpus)})"
        )
    elif main is not None and len(main.cpus) > 1:
        chosen = {t.tid for t in others if t.cpus < main.cpus}
        note = (
            "threads are not named and the main thread is itself confined to one node "
            f"({format_cpulist(main.cpus)}): vCPU threads recognised as those with a narrower mask"
        )
    else:
        chosen = set()
        note = "threads are not named and the main thread is pinned too: vCPU threads cannot be told apart"
    return {t.tid: t.tid in chosen for t in process.threads}, note


# -- per-vCPU mapping ------------------------------------------------------------


@dataclass(frozen=True)
class VcpuMapping:
    """vCPU index -> guest node -> host node(s) -> the thread's CPUs."""

    vcpu: int
    tid: int
    guest_node: int | None
    host_nodes: frozenset[int] | None
    expected_cpus: frozenset[int] | None
    cpus: frozenset[int]
    problem: str | None

    @property
    def ok(self) -> bool:
        """True when the thread's CPUs lie in the host node(s) behind its guest node."""
        return self.problem is None


def map_vcpus(summary: PinningSummary, cmdline: QemuCommandLine, topology: HostTopology) -> tuple[VcpuMapping, ...]:
    """Checks each named vCPU thread against the host node its guest node is bound to."""
    mappings = []
    for thread in summary.vcpus:
        if thread.vcpu_index is None:
            continue
        guest = cmdline.guest_node_of_vcpu(thread.vcpu_index)
        host_nodes = cmdline.host_nodes_of_guest_node(guest.nodeid) if guest else None
        expected = topology.cpus_of(n for n in host_nodes if n in topology.node_ids) if host_nodes else None
        problem = _mapping_problem(thread, guest.nodeid if guest else None, host_nodes, expected)
        mappings.append(
            VcpuMapping(
                thread.vcpu_index,
                thread.tid,
                guest.nodeid if guest else None,
                host_nodes,
                expected,
                thread.cpus,
                problem,
            )
        )
    return tuple(mappings)


def _mapping_problem(
    thread: ThreadPlacement, guest_node: int | None, host_nodes: frozenset[int] | None, expected: frozenset[int] | None
) -> str | None:
    label = f"vCPU {thread.vcpu_index} (tid {thread.tid})"
    if guest_node is None:
        return f"{label}: in no -numa node cpus= range"
    if not host_nodes:
        return f"{label}: guest node {guest_node} has no memory backend bound with host-nodes="
    if not expected:
        return f"{label}: host node(s) {format_cpulist(host_nodes)} of guest node {guest_node} have no CPUs"
    if not thread.cpus or not thread.cpus <= expected:
        return (
            f"{label}: expected CPUs of host node(s) {format_cpulist(host_nodes)} ({format_cpulist(expected)}), "
            f"found {format_cpulist(thread.cpus) or 'none'}"
        )
    return None


# -- distributions ---------------------------------------------------------------


def proportional_split(total: int, weights: Mapping[int, int]) -> dict[int, int]:
    """Splits ``total`` vCPUs over nodes in proportion to their host CPU counts.

    The runtime's rule: floor share, at least 1 each, then the remainder one
    by one to the nodes with the most host CPUs (ties by node id).
    """
    nodes = sorted(weights)
    weight_sum = sum(weights.values())
    if not nodes or weight_sum <= 0:
        return {}
    shares = {n: max(1, total * weights[n] // weight_sum) for n in nodes}
    by_size = sorted(nodes, key=lambda n: (-weights[n], n))
    index = 0
    while sum(shares.values()) < total:
        shares[by_size[index % len(by_size)]] += 1
        index += 1
    for node in reversed(by_size):  # "at least 1" may overshoot a tiny total: take back from the smallest
        while sum(shares.values()) > total and shares[node] > 1:
            shares[node] -= 1
    return shares


def check_distribution(observed: Mapping[int, int], expected: Mapping[int, int], *, tolerance: int = 0) -> Verdict:
    """Each node's observed count equals the expected one within ``tolerance``; no other node used."""
    nodes = sorted(set(observed) | set(expected))
    rows = []
    bad = []
    for node in nodes:
        want, got = expected.get(node, 0), observed.get(node, 0)
        ok = abs(want - got) <= tolerance
        rows.append((node, want, got, "ok" if ok else "MISMATCH"))
        if not ok:
            bad.append(f"node {node}: expected {want}, found {got}")
    within = f" within {tolerance}" if tolerance else ""
    if bad:
        summary = f"expected {_counts(expected)}, found {_counts(observed)}"
        message = f"per-node counts differ{within}: {'; '.join(bad)} ({summary})"
    else:
        message = f"per-node counts match{within}: {_counts(observed)}"
    return Verdict(not bad, message, ("node", "expected", "observed", "verdict"), tuple(rows))


def check_balanced(observed: Mapping[int, int], nodes: Iterable[int]) -> Verdict:
    """Every node in ``nodes`` holds some, no other node does, and max - min <= 1."""
    wanted = sorted(set(nodes))
    counts = {n: observed.get(n, 0) for n in wanted}
    rows = tuple((n, counts[n]) for n in wanted)
    extra = sorted(set(observed) - set(wanted))
    problems = []
    if extra:
        problems.append(f"nodes {format_cpulist(extra)} are not expected to hold any")
    empty = [n for n in wanted if counts[n] == 0]
    if empty:
        problems.append(f"nodes {format_cpulist(empty)} hold none")
    if counts and max(counts.values()) - min(counts.values()) > 1:
        problems.append(f"max - min = {max(counts.values()) - min(counts.values())} > 1")
    message = (
        f"balanced within 1 over nodes {format_cpulist(wanted)}: {_counts(observed)}"
        if not problems
        else f"not balanced over nodes {format_cpulist(wanted)}: {'; '.join(problems)} (found {_counts(observed)})"
    )
    return Verdict(not problems, message, ("node", "observed"), rows)


def check_single_node(observed: Mapping[int, int], node: int | None = None) -> Verdict:
    """All counts sit on one node (node ``node`` when given)."""
    used = sorted(n for n, count in observed.items() if count)
    rows = tuple((n, observed[n]) for n in sorted(observed))
    if not used:
        return Verdict(False, "no vCPU thread is placed on any host node", ("node", "observed"), rows)
    if len(used) > 1:
        return Verdict(
            False, f"spread over nodes {format_cpulist(used)}: {_counts(observed)}", ("node", "observed"), rows
        )
    if node is not None and used[0] != node:
        return Verdict(
            False, f"expected all on host node {node}, found all on node {used[0]}", ("node", "observed"), rows
        )
    return Verdict(True, f"all on host node {used[0]}: {_counts(observed)}", ("node", "observed"), rows)


def check_no_shared_cpus(summary: PinningSummary) -> Verdict:
    """No two vCPU threads hold the same single CPU."""
    shared = summary.shared_cpus
    rows = tuple((cpu, ", ".join(str(t) for t in tids)) for cpu, tids in shared.items())
    if not shared:
        return Verdict(
            True, f"{summary.single_cpu_threads} single-CPU vCPU threads hold distinct CPUs", ("cpu", "tids"), rows
        )
    listed = "; ".join(f"CPU {cpu} held by tids {_tids(tids)}" for cpu, tids in list(shared.items())[:6])
    if len(shared) > 6:
        listed += f"; and {len(shared) - 6} more CPUs"
    return Verdict(False, f"vCPU threads stacked on shared CPUs: {listed}", ("cpu", "tids"), rows)


def check_no_cpus_in_common(first: PinningSummary, second: PinningSummary) -> Verdict:
    """Two sandboxes pin no vCPU thread to the same CPU."""
    common = first.pinned_cpus & second.pinned_cpus
    rows = ((first.pid, format_cpulist(first.pinned_cpus)), (second.pid, format_cpulist(second.pinned_cpus)))
    if common:
        return Verdict(
            False,
            f"QEMU {first.pid} and {second.pid} both pin vCPUs to CPUs {format_cpulist(common)}",
            ("pid", "pinned CPUs"),
            rows,
        )
    return Verdict(True, f"QEMU {first.pid} and {second.pid} pin vCPUs to disjoint CPUs", ("pid", "pinned CPUs"), rows)


def expected_single_cpu_threads(policy: str, cpu_limit: int, vcpu_count: int) -> int | None:
    """Single-CPU vCPU threads to expect under a kubelet CPU manager policy (None = unknown policy)."""
    if policy == "none":
        return 0
    if policy == "static":
        return min(cpu_limit, vcpu_count)
    return None


def _tids(tids: Iterable[int], most: int = 6) -> str:
    tids = list(tids)
    shown = ", ".join(map(str, tids[:most]))
    return shown + (f" and {len(tids) - most} more" if len(tids) > most else "")


def _counts(counts: Mapping[int, int]) -> str:
    return ", ".join(f"node{n}: {c}" for n, c in sorted(counts.items())) or "none"


# -- output ---------------------------------------------------------------------


def pinning_lines(summary: PinningSummary) -> list[str]:
    """The original script's ``nodeN: count`` lines, then the single-CPU aggregates."""
    lines = [f"node{node}: {count}" for node, count in summary.per_node.items()]
    lines += [
        f"single_cpu_threads: {summary.single_cpu_threads}",
        f"distinct_single_cpus: {summary.distinct_single_cpus}",
        f"pinned_cpus: {format_cpulist(summary.pinned_cpus)}",
    ]
    return lines


def pinning_as_json(summary: PinningSummary) -> dict:
    """The ``pinning`` JSON shape of the CLI."""
    return {
        "pid": summary.pid,
        "method": summary.method,
        "method_note": summary.method_note,
        "per_node": {str(n): c for n, c in summary.per_node.items()},
        "single_cpu_threads": summary.single_cpu_threads,
        "distinct_single_cpus": summary.distinct_single_cpus,
        "pinned_cpus": sorted(summary.pinned_cpus),
        "shared_cpus": {str(cpu): list(tids) for cpu, tids in summary.shared_cpus.items()},
        "unplaced": [t.tid for t in summary.unplaced],
        "threads": [
            {
                "tid": t.tid,
                "name": t.name,
                "cpus": sorted(t.cpus),
                "node": t.node,
                "state": t.state,
                "vcpu": t.vcpu,
                "vcpu_index": t.vcpu_index,
            }
            for t in summary.threads
        ],
        "notes": list(summary.notes),
    }
