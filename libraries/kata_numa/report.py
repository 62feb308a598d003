"""Small escaped HTML tables for the Robot Framework log."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from .cpuset import format_cpulist
from .guest import GuestReport
from .memory import BackendMemory, pages_text
from .placement import PinningSummary
from .qemu import QemuCommandLine
from .sysfs import HostTopology
from .verdict import Verdict


def html_table(headers: Sequence[object], rows: Iterable[Sequence[object]], caption: str = "") -> str:
    """An HTML table with every header, cell and the caption escaped (list cells: one line per item)."""
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_html_cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    title = f"<caption>{escape(caption)}</caption>" if caption else ""
    return f'<table class="kata-numa" border="1">{title}<tr>{head}</tr>{body}</table>'


def verdict_table(verdict: Verdict, caption: str = "") -> str:
    """The evidence rows of a verdict as a table, captioned with its message."""
    return html_table(verdict.headers, verdict.rows, caption or verdict.message)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, (set, frozenset)):
        return format_cpulist(value) or "-"
    return str(value)


def _html_cell(value: object) -> str:
    """A cell: a list or tuple becomes one escaped line per item."""
    if isinstance(value, (list, tuple)):
        return "<br>".join(escape(_cell(item)) for item in value) or "-"
    return escape(_cell(value))


def placement_rows(
    topology: HostTopology,
    report: GuestReport | None,
    cmdline: QemuCommandLine | None,
    summary: PinningSummary | None,
    policy: str,
    *,
    memory: Sequence[BackendMemory] | None = None,
) -> list[tuple[str, list[str] | str]]:
    """The one table QA reads per scenario: host, guest, vCPU placement, guest memory, policy, GPUs, QEMU NUMA args."""
    gpus_by_node: dict[int | None, list[str]] = {}
    for device in topology.gpus():
        gpus_by_node.setdefault(device.numa_node, []).append(device.bdf)
    rows: list[tuple[str, list[str] | str]] = [
        (
            "host nodes",
            [
                f"node {n.id}: CPUs {format_cpulist(n.cpus) or 'none'}, {n.mem_kb // 1024} MiB"
                + (f", GPUs {' '.join(gpus_by_node[n.id])}" if n.id in gpus_by_node else "")
                for n in topology.nodes
            ],
        ),
        ("kubelet CPU manager policy", policy),
    ]
    if report is not None:
        rows.append(
            (
                "guest nodes",
                [
                    f"node {n}: {report.cpus.get(n, '-')} vCPUs, MemTotal {report.mem_kb.get(n, '-')} kB"
                    + (
                        f", bound to host nodes {format_cpulist(cmdline.host_nodes_of_guest_node(n) or ())}"
                        if cmdline
                        else ""
                    )
                    for n in sorted(report.online)
                ],
            )
        )
    if summary is not None:
        per_node = []
        for node in sorted({t.node for t in summary.vcpus if t.node is not None}):
            threads = [t for t in summary.vcpus if t.node == node]
            pinned = [next(iter(t.cpus)) for t in threads if t.single_cpu]
            per_node.append(
                f"host node {node}: {len(threads)} ({len(pinned)} pinned to a CPU, on {len(set(pinned))} distinct "
                f"CPUs; {len(threads) - len(pinned)} confined to CPUs of the node)"
            )
        per_node += [f"tid {t.tid} {t.name}: {t.where} [{format_cpulist(t.cpus)}]" for t in summary.unplaced]
        rows.append(("vCPU threads", per_node or ["none found"]))
        rows.append(("vCPU threads recognised by", summary.method_note))
    if memory is not None:
        rows.append(
            (
                "guest memory (declared -> kernel)",
                [
                    f"{m.backend.id}: declared {m.declared} -> "
                    + (
                        m.problem
                        if m.mapping is None
                        else f"kernel {m.mapping.kernel_policy}, pages {pages_text(m.mapping.pages)}"
                    )
                    for m in memory
                ]
                or "no memory backend",
            )
        )
    if cmdline is not None:
        rows.append(
            (
                "GPUs passed through",
                [
                    f"{v.host or '(fd)'}: host node {_host_node(topology, v.host)}, guest node "
                    f"{'-' if v.guest_node is None else v.guest_node} via "
                    f"{' -> '.join(v.bus_chain) or v.bus or 'pcie.0'}"
                    for v in cmdline.vfio
                ]
                or "none",
            )
        )
        rows.append(("QEMU NUMA arguments", numa_arguments(cmdline)))
    return rows


def _host_node(topology: HostTopology, bdf: str | None) -> str:
    device = topology.pci_device(bdf) if bdf else None
    if device is None:
        return "unknown"
    return "-1 (no affinity)" if device.numa_node is None else str(device.numa_node)


def numa_arguments(cmdline: QemuCommandLine) -> list[str]:
    """The NUMA-related options of the command line, one per line, in order."""
    devices = ("pxb-pcie", "pcie-root-port", "vfio-pci")
    wanted = []
    for option in cmdline.options:
        kind = option.value.get("qom-type") or option.value.get("driver") or ""
        backend = option.name == "object" and kind.startswith("memory-backend")
        if option.name in {"numa", "smp"} or backend or (option.name == "device" and kind in devices):
            wanted.append(f"-{option.name} {option.raw}")
    return wanted
