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


CATALOGUE: dict[str, Fault] = {
    f.name: f
    for f in (
        Fault(
            "guest-single-node",
            "the guest kernel sees one NUMA node although QEMU describes several",
            "Guest Should Expose NUMA Nodes (scenarios 1, 3)",
        ),
        Fault(
            "guest-vcpu-imbalance",
            "the runtime splits vCPUs unevenly: all but one on the first guest node",
            "guest vCPUs per node equal the proportional share within 1 (scenarios 1, 3)",
        ),
        Fault(
            "guest-memory-one-node",
            "the guest reports all its memory on node 0 and none on the others",
            "Every Guest Node Should Have Memory (scenarios 1, 3)",
        ),
        Fault(
            "vcpus-unpinned",
            "vCPU threads keep the process's broad CPU mask",
            "every vCPU thread placed on one host node (all scenarios)",
        ),
        Fault(
            "vcpus-pinned-node0",
            "every vCPU thread is confined to the CPUs of host node 0",
            "per-node counts match the guest layout / vCPUs on the GPU's or mapped node (scenarios 1-5)",
        ),
        Fault(
            "vcpus-same-cpu",
            "every vCPU thread of a guest node is pinned to its node's first CPU",
            "No Two vCPU Threads Should Hold The Same CPU (all scenarios)",
        ),
        Fault(
            "sandboxes-share-cpus",
            "each sandbox pins its vCPUs to single CPUs round-robin from its node's first CPU, "
            "so two sandboxes stack on the same CPUs (the old runtime behaviour)",
            "Sandboxes Should Not Share Pinned CPUs (scenario 6); the single-CPU count under none",
        ),
        Fault(
            "rightsize-ignores-gpu",
            "a small GPU pod is right-sized to the first node instead of the GPU's node",
            "vCPU threads and memory on the GPU's host node (scenario 4)",
        ),
        Fault(
            "no-pxb",
            "no pxb-pcie: the GPU sits on pcie.0 and the guest sees no NUMA node for it",
            "pxb-pcie with the GPU's guest node / guest GPU NUMA node (scenario 3)",
        ),
        Fault(
            "gpu-wrong-guest-node",
            "the GPU's pxb-pcie carries another guest node than the GPU's",
            "pxb-pcie numa_node and guest GPU NUMA node (scenarios 3, 4)",
        ),
        Fault(
            "no-policy-bind",
            "memory backends carry host-nodes but no policy=bind",
            "every memory backend has policy=bind (scenarios 3, 5)",
        ),
        Fault(
            "mapping-ignored",
            "numa_mapping is not honoured: the automatic mapping is used instead",
            "memory and vCPUs bound to the mapped host node (scenario 5)",
        ),
        Fault(
            "dropins-ignored",
            "config.d/ is not read: NUMA and pinning stay off as shipped",
            "guest node count and vCPU placement (all scenarios)",
        ),
        Fault(
            "leftover-dropin",
            "a drop-in left by an earlier crashed run of the suite sits in config.d/",
            "the run's setup cleans it before any scenario",
            kind="condition",
        ),
        Fault(
            "foreign-dropin",
            "the operator's own drop-in has the suite's drop-in file name",
            "the drop-in is put back byte for byte after the scenario",
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
    lines = ["| name | kind | breaks | caught by |", "|---|---|---|---|"]
    lines += [f"| `{f.name}` | {f.kind} | {f.breaks} | {f.caught_by} |" for f in CATALOGUE.values()]
    return "\n".join(lines)
