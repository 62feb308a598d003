"""The simulated node's catalogue of faults: named deviations that each break one behaviour.

Chosen with ``SIM_FAULTS`` (comma-separated). Every fault names the scenario
assertion that must catch it, so each assertion is shown to fail when the
behaviour it guards breaks. Two further entries are not faults but
conditions a real node can be in; the suite must cope with them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import InputError


@dataclass(frozen=True)
class Fault:
    """One named deviation of the simulated node."""

    name: str
    breaks: str
    caught_by: str
    kind: str = "fault"
    scenarios: frozenset[int] = frozenset()  # the scenarios that fail on the default host under policy none
    message: str = ""  # a regular expression their failure messages match, naming the broken behaviour


ALL = frozenset(range(1, 8))

CATALOGUE: dict[str, Fault] = {
    f.name: f
    for f in (
        Fault(
            "guest-single-node",
            "the guest kernel sees one NUMA node although QEMU describes several",
            "Guest Should Expose NUMA Nodes",
            scenarios=frozenset({1, 3, 7}),
            message=r"expected 2 guest NUMA node\(s\), found 1",
        ),
        Fault(
            "guest-vcpu-imbalance",
            "the runtime splits vCPUs unevenly: all but one on the first guest node",
            "Guest vCPUs Should Follow Host CPU Proportions",
            scenarios=frozenset({1, 3}),
            message=r"guest vCPUs per node do not follow the host CPUs",
        ),
        Fault(
            "guest-memory-one-node",
            "the guest reports all its memory on node 0 and none on the others",
            "Every Guest Node Should Have Memory",
            scenarios=frozenset({1, 3}),
            message=r"guest nodes \S+ report no memory",
        ),
        Fault(
            "vcpus-unpinned",
            "vCPU threads keep the process's broad CPU mask",
            "every vCPU thread is placed on one host node",
            scenarios=ALL,
            message=r"not placed yet",
        ),
        Fault(
            "vcpus-pinned-node0",
            "every vCPU thread is confined to the CPUs of host node 0",
            "vCPU threads per host node match the guest layout; every vCPU thread on the GPU's / mapped node",
            scenarios=frozenset({1, 3, 4, 5}),
            message=r"vCPU threads per host node match the guest layout|expected all on host node",
        ),
        Fault(
            "vcpus-same-cpu",
            "every vCPU thread of a guest node is pinned to its node's first CPU",
            "no two vCPU threads hold the same CPU",
            scenarios=ALL,
            message=r"vCPU threads stacked on shared CPUs",
        ),
        Fault(
            "sandboxes-share-cpus",
            "each sandbox pins its vCPUs to single CPUs round-robin from its node's first CPU, "
            "so two sandboxes stack on the same CPUs (the old runtime behaviour)",
            "Sandboxes Should Not Share Pinned CPUs; single-CPU vCPU threads match the CPU manager policy",
            scenarios=ALL,
            message=r"expected 0 single-CPU vCPU threads|both pin vCPUs to CPUs",
        ),
        Fault(
            "rightsize-ignores-gpu",
            "a small GPU pod is right-sized to the first node instead of the GPU's node",
            "Guest GPUs Should Report NUMA Node (the GPU's node is not covered); memory on the GPU's node",
            scenarios=frozenset({4}),
            message=r"found 0000:\S+ on -1|host-nodes=0 instead of 1|no guest node's memory backend is bound",
        ),
        Fault(
            "no-pxb",
            "no pxb-pcie: the GPU sits on pcie.0 and the guest sees no NUMA node for it",
            "Guest GPUs Should Report NUMA Node",
            scenarios=frozenset({3, 4}),
            message=r"found 0000:\S+ on -1",
        ),
        Fault(
            "gpu-wrong-guest-node",
            "the GPU's pxb-pcie carries another guest node than the GPU's",
            "Guest GPUs Should Report NUMA Node; VFIO Device Should Sit On Guest Node",
            scenarios=frozenset({3, 4}),
            message=r"expected every guest GPU on guest node \d+, found 0000:\S+ on \d+",
        ),
        Fault(
            "no-policy-bind",
            "memory backends carry host-nodes but no policy=bind (the kernel then applies the default policy)",
            "memory backends bound with policy=bind; Guest Memory Should Sit On Its Bound Host Nodes",
            scenarios=ALL,
            message=r"policy=\(none\) instead of bind|declaration and kernel disagree",
        ),
        Fault(
            "mapping-ignored",
            "numa_mapping is not honoured: the automatic mapping is used instead",
            "memory bound to the mapped host node; two guest nodes on one host node",
            scenarios=frozenset({5, 7}),
            message=r"host-nodes=0 instead of 1|expected 2 guest NUMA node\(s\), found 1",
        ),
        Fault(
            "dropins-ignored",
            "config.d/ is not read: NUMA and pinning stay off as shipped",
            "guest node count; every vCPU thread is placed on one host node",
            scenarios=ALL,
            message=r"guest NUMA node\(s\)|not placed yet|on -1|instead of bind|no guest node's memory backend",
        ),
        Fault(
            "no-numa-dist",
            "the runtime leaves out -numa dist: the guest sees the default distance 20",
            "Guest Distances Should Match The Host When Reported",
            scenarios=frozenset({1, 3}),
            message=r"guest NUMA distances differ from the host's",
        ),
        Fault(
            "memory-not-bound",
            "the command line still says policy=bind, but the kernel applies the default policy and the guest's "
            "pages land on every host node",
            "Guest Memory Should Sit On Its Bound Host Nodes",
            scenarios=ALL,
            message=r"declaration and kernel disagree: \S+ declares host-nodes=\S+,policy=bind but the kernel "
            r"applies default",
        ),
        Fault(
            "leftover-dropin",
            "a drop-in left by an earlier crashed run of the suite sits in config.d/",
            "the run's setup cleans it before any scenario (every scenario passes)",
            kind="condition",
        ),
        Fault(
            "foreign-dropin",
            "the operator's own drop-in has the suite's drop-in file name",
            "it is put back byte for byte (the run's teardown checks config.d/ is as found)",
            kind="condition",
        ),
    )
}


def parse_faults(text: str | Iterable[str] | None) -> frozenset[str]:
    """``a,b`` -> {"a", "b"}; an unknown name is an InputError listing the catalogue."""
    if text is None:
        return frozenset()
    names = text.split(",") if isinstance(text, str) else list(text)
    chosen = {name.strip() for name in names if name and name.strip()}
    unknown = sorted(chosen - set(CATALOGUE))
    if unknown:
        raise InputError(f"SIM_FAULTS: unknown {', '.join(unknown)}; known: {', '.join(CATALOGUE)}")
    return frozenset(chosen)


def catalogue_markdown() -> str:
    """The catalogue as a Markdown table, for the docs."""
    lines = ["| name | kind | breaks | caught by | failing scenarios |", "|---|---|---|---|---|"]
    for fault in CATALOGUE.values():
        failing = ", ".join(str(n) for n in sorted(fault.scenarios)) or "none"
        lines.append(f"| `{fault.name}` | {fault.kind} | {fault.breaks} | {fault.caught_by} | {failing} |")
    return "\n".join(lines)
