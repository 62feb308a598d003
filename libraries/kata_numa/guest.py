"""The guest probe's report: ``key: value`` lines printed inside the sandbox.

Accepts the keys of the ``quay.io/kata-containers/numa`` image
(``numa_online``, ``nodeN_cpus``, ``nodeN_mem_kb``, ``gpu_<bdf>_numa``) and the
richer ones of our own probe (``nodeN_cpulist``, ``nodeN_distance``,
``pci_<bdf>: class=... numa=...``). Unknown keys are kept; a missing
``numa_online`` or an unparsable value is an error quoting the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .cpuset import format_cpulist, parse_cpulist
from .errors import InputError
from .sysfs import normalise_bdf
from .verdict import Verdict

_NODE_KEY = re.compile(r"^node(\d+)_(cpus|mem_kb|cpulist|distance)$")
_GPU_KEY = re.compile(r"^gpu_(.+)_numa$")
_PCI_KEY = re.compile(r"^pci_(.+)$")


@dataclass(frozen=True)
class GuestPciDevice:
    """A PCI device as the guest sees it."""

    bdf: str
    pci_class: str | None
    numa_node: int | None
    props: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GuestReport:
    """What the guest kernel reports about its NUMA topology and devices."""

    online: frozenset[int]
    cpus: dict[int, int]
    mem_kb: dict[int, int]
    gpus: dict[str, int | None]  # guest BDF -> guest node (None for -1)
    cpulists: dict[int, frozenset[int]] = field(default_factory=dict)
    distances: dict[int, tuple[int, ...]] = field(default_factory=dict)
    pci: dict[str, GuestPciDevice] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)
    ignored_lines: tuple[str, ...] = ()

    @property
    def node_count(self) -> int:
        """How many guest NUMA nodes are online."""
        return len(self.online)

    @property
    def total_cpus(self) -> int:
        """The vCPUs the guest reports over all nodes."""
        return sum(self.cpus.values())

    @property
    def total_mem_kb(self) -> int:
        """MemTotal summed over all nodes."""
        return sum(self.mem_kb.values())


def parse_guest_report(text: str) -> GuestReport:
    """Parses the probe output; a line without ``key: value`` shape is kept as ignored."""
    online: frozenset[int] | None = None
    cpus: dict[int, int] = {}
    mem: dict[int, int] = {}
    gpus: dict[str, int | None] = {}
    cpulists: dict[int, frozenset[int]] = {}
    distances: dict[int, tuple[int, ...]] = {}
    pci: dict[str, GuestPciDevice] = {}
    extra: dict[str, str] = {}
    ignored: list[str] = []
    for raw in text.splitlines():
        line = raw.strip().strip("\x00")
        if not line or line.startswith("#"):
            continue
        # A BDF key holds colons itself: split at the first ": ", else at the last ":".
        if ": " in line:
            key, _, value = line.partition(": ")
        elif ":" in line:
            key, _, value = line.rpartition(":")
        else:
            ignored.append(raw)
            continue
        key, value = key.strip(), value.strip()
        if key == "numa_online":
            online = parse_cpulist(value, what=f"guest report line {line!r}")
        elif match := _NODE_KEY.match(key):
            node, kind = int(match.group(1)), match.group(2)
            if kind == "cpus":
                cpus[node] = _count(value, line)
            elif kind == "mem_kb":
                mem[node] = _count(value, line)
            elif kind == "cpulist":
                cpulists[node] = parse_cpulist(value, what=f"guest report line {line!r}")
            else:
                distances[node] = _distance_row(value, line)
        elif match := _GPU_KEY.match(key):
            gpus[normalise_bdf(match.group(1), what=f"guest report line {line!r}")] = _node(value, line)
        elif match := _PCI_KEY.match(key):
            device = _pci_device(match.group(1), value, line)
            pci[device.bdf] = device
        else:
            extra[key] = value
    if online is None:
        raise InputError("guest report has no 'numa_online:' line" + _excerpt(text))
    for node, cpulist in cpulists.items():
        cpus.setdefault(node, len(cpulist))
    return GuestReport(online, cpus, mem, gpus, cpulists, distances, pci, extra, tuple(ignored))


def _count(value: str, line: str) -> int:
    if not value.isdigit():
        raise InputError(f"guest report line {line!r}: {value!r} is not a count")
    return int(value)


def _node(value: str, line: str) -> int | None:
    try:
        node = int(value)
    except ValueError as error:
        raise InputError(f"guest report line {line!r}: {value!r} is not a NUMA node") from error
    return None if node < 0 else node


def _distance_row(value: str, line: str) -> tuple[int, ...]:
    parts = value.split()
    if not parts or not all(p.isdigit() for p in parts):
        raise InputError(f"guest report line {line!r}: expected space-separated distances")
    return tuple(int(p) for p in parts)


def _pci_device(name: str, value: str, line: str) -> GuestPciDevice:
    bdf = normalise_bdf(name, what=f"guest report line {line!r}")
    props: dict[str, str] = {}
    for item in value.split():
        key, equals, val = item.partition("=")
        if not equals:
            raise InputError(f"guest report line {line!r}: {item!r} is not key=value")
        props[key] = val
    numa = _node(props["numa"], line) if "numa" in props else None
    return GuestPciDevice(bdf, props.get("class"), numa, props)


def _excerpt(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()][:3]
    return f" (output begins: {' | '.join(lines)!r})" if lines else " (the output is empty)"


def guest_report_as_json(report: GuestReport) -> dict:
    """The ``guest-report`` JSON shape of the CLI."""
    return {
        "online": sorted(report.online),
        "cpus": {str(k): v for k, v in sorted(report.cpus.items())},
        "mem_kb": {str(k): v for k, v in sorted(report.mem_kb.items())},
        "gpus": {bdf: (-1 if node is None else node) for bdf, node in sorted(report.gpus.items())},
        "cpulists": {str(k): sorted(v) for k, v in sorted(report.cpulists.items())},
        "distances": {str(k): list(v) for k, v in sorted(report.distances.items())},
        "extra": dict(report.extra),
    }


# -- checks ---------------------------------------------------------------------

_LAYOUT_HEADERS = ("guest node", "vCPUs", "MemTotal kB")


def layout_rows(report: GuestReport) -> tuple[tuple[object, ...], ...]:
    """One row per online guest node: vCPUs and memory."""
    return tuple((n, report.cpus.get(n, "-"), report.mem_kb.get(n, "-")) for n in sorted(report.online))


def check_node_count(report: GuestReport, expected: int) -> Verdict:
    """The guest reports exactly ``expected`` online NUMA nodes."""
    ok = report.node_count == expected
    seen = f"{report.node_count} NUMA node(s) ({format_cpulist(report.online)})"
    message = f"guest exposes {seen}" if ok else f"expected {expected} guest NUMA node(s), found {seen}"
    return Verdict(ok, message, _LAYOUT_HEADERS, layout_rows(report))


def check_memory_on_every_node(report: GuestReport) -> Verdict:
    """Every online guest node reports a positive MemTotal."""
    empty = [n for n in sorted(report.online) if report.mem_kb.get(n, 0) <= 0]
    if empty:
        return Verdict(
            False, f"guest nodes {format_cpulist(empty)} report no memory", _LAYOUT_HEADERS, layout_rows(report)
        )
    return Verdict(True, "every guest node has memory", _LAYOUT_HEADERS, layout_rows(report))


def check_total_memory_at_least(report: GuestReport, mib: int) -> Verdict:
    """The guest's MemTotal summed over nodes is at least ``mib`` MiB."""
    total_mib = report.total_mem_kb / 1024
    ok = total_mib >= mib
    message = f"guest memory totals {total_mib:.0f} MiB, {'at least' if ok else 'less than'} the {mib} MiB asked for"
    return Verdict(ok, message, _LAYOUT_HEADERS, layout_rows(report))


# What the guest kernel keeps of a node's memory for itself, measured on Debian's 6.1 cloud kernel
# under QEMU (tests/realguest): the page structures (64 bytes per 4 KiB page, 1/64 of the node)
# plus up to 105 MiB of fixed reservations (kernel image, initramfs, DMA buffers) that land on
# one node or another. The band allows 128 MiB for the fixed part.
MEMMAP_SHARE = 64
FIXED_RESERVATION_KB = 128 * 1024


def memtotal_band_kb(backend_bytes: int) -> tuple[int, int]:
    """The (lowest, highest) MemTotal in kB a guest node reports for a memory backend of ``backend_bytes``."""
    size_kb = backend_bytes // 1024
    return max(0, size_kb - size_kb // MEMMAP_SHARE - FIXED_RESERVATION_KB), size_kb


def check_total_cpus_at_least(report: GuestReport, count: int) -> Verdict:
    """The guest reports at least ``count`` vCPUs over all nodes."""
    ok = report.total_cpus >= count
    message = f"guest reports {report.total_cpus} vCPUs, {'at least' if ok else 'fewer than'} the {count} asked for"
    return Verdict(ok, message, _LAYOUT_HEADERS, layout_rows(report))


def check_gpus_on_node(report: GuestReport, guest_node: int) -> Verdict:
    """Every guest GPU reports NUMA node ``guest_node``; no GPU at all fails."""
    rows = tuple((bdf, "-1" if node is None else node) for bdf, node in sorted(report.gpus.items()))
    headers = ("guest GPU", "NUMA node")
    if not report.gpus:
        return Verdict(False, "the guest reports no GPU (no gpu_<bdf>_numa line)", headers, rows)
    wrong = {bdf: node for bdf, node in report.gpus.items() if node != guest_node}
    if wrong:
        listed = ", ".join(f"{bdf} on {'-1' if n is None else n}" for bdf, n in sorted(wrong.items()))
        return Verdict(False, f"expected every guest GPU on guest node {guest_node}, found {listed}", headers, rows)
    return Verdict(True, f"{len(report.gpus)} guest GPU(s) on guest node {guest_node}", headers, rows)
