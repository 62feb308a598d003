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

from .cpuset import parse_cpulist
from .errors import InputError
from .sysfs import normalise_bdf

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
