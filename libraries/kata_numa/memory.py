"""Where a QEMU's guest RAM really sits: ``/proc/<pid>/maps`` and ``/proc/<pid>/numa_maps``.

The command line declares ``host-nodes=1,policy=bind``; the kernel knows
what happened. ``numa_maps`` gives, per mapping (by start address), the
memory policy the kernel applies (``bind:1``, ``prefer:0``, ``default``)
and the resident pages on each node (``N1=65536``); ``maps`` gives each
mapping's end, so its size. Each memory backend of the parsed command line
is matched to the one mapping of its size and kind (anonymous or shared
anonymous RAM, a file under ``mem-path``, a memfd; huge pages by the page
size); backends of the same size and kind are matched in creation order,
which is descending address under Linux's top-down ``mmap``. A line the
reader does not understand is kept and shown, never a crash.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .cpuset import format_cpulist, parse_cpulist
from .errors import InputError
from .hostaccess import HostAccess
from .qemu import MemoryBackend, QemuCommandLine
from .verdict import Verdict

# The kernel's names for the policies QEMU sets (mpol_to_str), by QEMU's policy= value.
KERNEL_POLICY_OF = {"bind": "bind", "preferred": "prefer", "interleave": "interleave", "default": "default"}

_NUMA_MAPS_LINE = re.compile(
    r"^(?P<address>[0-9a-f]+) "
    r"(?P<policy>weighted interleave|prefer \(many\)|default|local|bind|prefer|interleave)"
    r"(?:=(?P<flags>[a-z|]+))?(?::(?P<nodes>[0-9,-]*))?"
    r"(?P<rest>\s.*)?$"
)
_MAPS_LINE = re.compile(
    r"^(?P<start>[0-9a-f]+)-(?P<end>[0-9a-f]+) (?P<perms>[-rwxsp]{4}) [0-9a-f]+ [0-9a-f]+:[0-9a-f]+ \d+ *(?P<path>.*)$"
)
_PAGE_KEY = re.compile(r"^N(\d+)$")


@dataclass(frozen=True)
class MemoryMapping:
    """One mapping of the process: its range from ``maps``, its policy and pages from ``numa_maps``."""

    start: int
    end: int
    perms: str
    path: str  # "" for anonymous memory; "(deleted)" kept as the kernel prints it
    policy: str | None = None  # as the kernel names it: bind, prefer, default, interleave, local, ...
    policy_nodes: frozenset[int] = frozenset()
    pages: dict[int, int] = field(default_factory=dict)  # host node -> resident pages
    page_size_kb: int | None = None
    huge: bool = False

    @property
    def size(self) -> int:
        """Bytes spanned."""
        return self.end - self.start

    @property
    def kernel_policy(self) -> str:
        """``bind:1``, ``prefer:0``, ``default``: the policy as ``numa_maps`` shows it."""
        if self.policy is None:
            return "unknown"
        return self.policy + (f":{format_cpulist(self.policy_nodes)}" if self.policy_nodes else "")

    @property
    def resident_pages(self) -> int:
        """Resident pages over all nodes."""
        return sum(self.pages.values())

    def describe(self) -> str:
        """One line naming the mapping for a failure message."""
        where = self.path or "anonymous"
        return f"{self.start:x}-{self.end:x} ({self.size >> 20} MiB, {where}, {self.kernel_policy})"


@dataclass(frozen=True)
class ProcessMemory:
    """The mappings of one process with what ``numa_maps`` says of them; lines not understood kept."""

    pid: int
    mappings: tuple[MemoryMapping, ...]
    unparsed: tuple[str, ...] = ()


@dataclass(frozen=True)
class BackendMemory:
    """A memory backend of the command line and the mapping the kernel holds it in (None: no match)."""

    backend: MemoryBackend
    mapping: MemoryMapping | None
    problem: str = ""  # why there is no mapping: none matched, or several did

    @property
    def declared(self) -> str:
        """``host-nodes=1,policy=bind`` as the command line says."""
        nodes = format_cpulist(self.backend.host_nodes) or "(none)"
        return f"host-nodes={nodes},policy={self.backend.policy or '(none)'}"


def memory_patterns(pid: int) -> list[str]:
    """The two files of one probe."""
    return [f"/proc/{pid}/maps", f"/proc/{pid}/numa_maps"]


def read_process_memory(access: HostAccess, pid: int) -> ProcessMemory:
    """Reads ``maps`` and ``numa_maps`` of ``pid`` in one host round trip."""
    files = access.read_files(memory_patterns(pid))
    maps, numa_maps = (files.get(path) for path in memory_patterns(pid))
    if maps is None or numa_maps is None:
        missing = [p for p in memory_patterns(pid) if files.get(p) is None]
        raise InputError(f"cannot read {', '.join(missing)}: is process {pid} gone, or not readable as this user?")
    return parse_process_memory(pid, maps, numa_maps)


def parse_process_memory(pid: int, maps: str, numa_maps: str) -> ProcessMemory:
    """Joins the two files by start address; lines of either that do not parse are kept in ``unparsed``."""
    unparsed: list[str] = []
    ranges: dict[int, tuple[int, str, str]] = {}
    for line in maps.splitlines():
        found = _MAPS_LINE.match(line)
        if found is None:
            if line.strip():
                unparsed.append(f"maps: {line}")
            continue
        ranges[int(found["start"], 16)] = (int(found["end"], 16), found["perms"], found["path"].strip())
    mappings = []
    for line in numa_maps.splitlines():
        entry = _parse_numa_maps_line(line)
        if entry is None:
            if line.strip():
                unparsed.append(f"numa_maps: {line}")
            continue
        start, policy, nodes, pages, page_size, huge = entry
        if start not in ranges:
            unparsed.append(f"numa_maps: {line} (no mapping starts at {start:x} in maps)")
            continue
        end, perms, path = ranges[start]
        mappings.append(MemoryMapping(start, end, perms, path, policy, nodes, pages, page_size, huge))
    return ProcessMemory(pid, tuple(sorted(mappings, key=lambda m: m.start)), tuple(unparsed))


def _parse_numa_maps_line(line: str):
    found = _NUMA_MAPS_LINE.match(line.rstrip())
    if found is None:
        return None
    try:
        nodes = parse_cpulist(found["nodes"] or "", what="policy nodes")
    except InputError:
        return None
    pages: dict[int, int] = {}
    page_size: int | None = None
    huge = False
    for token in (found["rest"] or "").split():
        key, _, value = token.partition("=")
        node = _PAGE_KEY.match(key)
        if node and value.isdigit():
            pages[int(node.group(1))] = int(value)
        elif key == "kernelpagesize_kB" and value.isdigit():
            page_size = int(value)
        elif key == "huge" and not value:
            huge = True
    return int(found["address"], 16), found["policy"], nodes, pages, page_size, huge


# -- matching backends to mappings ----------------------------------------------------------


def _kind_of_backend(backend: MemoryBackend) -> str:
    if backend.type == "memory-backend-file":
        return "file"
    if backend.type == "memory-backend-memfd":
        return "memfd"
    return "ram"


def mapping_can_hold(mapping: MemoryMapping, backend: MemoryBackend) -> bool:
    """Same size and the kind of memory the backend allocates.

    Anonymous RAM (private, or shared as ``/dev/zero``) never in huge pages;
    a file under ``mem-path`` (huge or not, as the file system decides); a
    memfd, in huge pages of ``hugetlbsize`` exactly when ``hugetlb=on``.
    """
    if backend.size_bytes is None or mapping.size != backend.size_bytes:
        return False
    path = mapping.path.removesuffix(" (deleted)")
    kind = _kind_of_backend(backend)
    if kind == "ram":
        return not mapping.huge and path in {"", "/dev/zero"}
    if kind == "memfd":
        if backend.hugetlb != mapping.huge:
            return False
        wanted_kb = backend.hugetlb_size_bytes // 1024 if backend.hugetlb_size_bytes else None
        return path.startswith("/memfd:") and (wanted_kb is None or mapping.page_size_kb == wanted_kb)
    mem_path = (backend.mem_path or "").rstrip("/")
    return bool(mem_path) and (path == mem_path or path.startswith(mem_path + "/"))


def match_backends(cmdline: QemuCommandLine, memory: ProcessMemory) -> tuple[BackendMemory, ...]:
    """Each backend with its mapping; same-size backends of one kind in creation order, highest address first."""
    groups: dict[tuple, list[MemoryBackend]] = {}  # backends no mapping could tell apart
    for backend in cmdline.memory_backends:
        key = (
            _kind_of_backend(backend),
            backend.size_bytes,
            backend.mem_path,
            backend.hugetlb,
            backend.hugetlb_size_bytes,
        )
        groups.setdefault(key, []).append(backend)
    found: dict[str, BackendMemory] = {}
    for backends in groups.values():
        candidates = sorted(
            (m for m in memory.mappings if mapping_can_hold(m, backends[0])), key=lambda m: m.start, reverse=True
        )
        if len(candidates) == len(backends):
            for backend, mapping in zip(backends, candidates, strict=True):
                found[backend.id] = BackendMemory(backend, mapping)
            continue
        listed = "; ".join(m.describe() for m in candidates) or "none"
        size = f"{backends[0].size_bytes >> 20} MiB" if backends[0].size_bytes else "unknown size"
        names = ", ".join(b.id for b in backends)
        what = f"memory backend {names} ({size})" if len(backends) == 1 else f"memory backends {names} ({size} each)"
        if len(candidates) < len(backends):
            problem = f"{what}: {len(candidates)} mapping(s) of this size and kind in QEMU {memory.pid}: {listed}"
        else:
            problem = (
                f"{what}: {len(candidates)} candidate mappings in QEMU {memory.pid} for {len(backends)} "
                f"backend(s), cannot tell which: {listed}"
            )
        for backend in backends:
            found[backend.id] = BackendMemory(backend, None, problem)
    return tuple(found[b.id] for b in cmdline.memory_backends)


# -- checks -----------------------------------------------------------------------------------

MEMORY_HEADERS = ("backend", "declared", "kernel policy", "resident pages per host node", "mapping")


def memory_rows(placements: Sequence[BackendMemory]) -> tuple[tuple[object, ...], ...]:
    """One row per backend: declared binding, the kernel's policy, pages per host node."""
    rows = []
    for item in placements:
        mapping = item.mapping
        if mapping is None:
            rows.append((item.backend.id, item.declared, "-", "-", item.problem))
            continue
        rows.append(
            (item.backend.id, item.declared, mapping.kernel_policy, pages_text(mapping.pages), mapping.describe())
        )
    return tuple(rows)


def pages_text(pages: Mapping[int, int]) -> str:
    """``N0=12 N1=4`` or ``none resident``."""
    return " ".join(f"N{node}={count}" for node, count in sorted(pages.items()) if count) or "none resident"


def check_memory_bound_in_kernel(placements: Sequence[BackendMemory]) -> Verdict:
    """Every backend's mapping has the kernel policy ``bind`` to exactly the backend's declared host nodes."""
    rows = memory_rows(placements)
    if not placements:
        return Verdict(False, "the command line has no memory backend to look for", MEMORY_HEADERS, rows)
    wrong = []
    for item in placements:
        if item.mapping is None:
            wrong.append(item.problem)
        elif item.mapping.policy != "bind" or item.mapping.policy_nodes != item.backend.host_nodes:
            wrong.append(_policy_problem(item, item.mapping))
    if wrong:
        return Verdict(False, "; ".join(dict.fromkeys(wrong)), MEMORY_HEADERS, rows)
    return Verdict(True, f"{len(placements)} memory backend(s) bound by the kernel as declared", MEMORY_HEADERS, rows)


def _policy_problem(item: BackendMemory, mapping: MemoryMapping) -> str:
    declared_in_kernel = KERNEL_POLICY_OF.get(item.backend.policy or "default")
    if mapping.policy == declared_in_kernel and mapping.policy_nodes == item.backend.host_nodes:
        return (
            f"{item.backend.id} is not bound: the command line declares {item.declared} and the kernel applies "
            f"{mapping.kernel_policy}, not bind"
        )
    return (
        f"declaration and kernel disagree: {item.backend.id} declares {item.declared} but the kernel applies "
        f"{mapping.kernel_policy} ({pages_text(mapping.pages)})"
    )


def check_pages_on_bound_nodes(placements: Sequence[BackendMemory]) -> Verdict:
    """Every resident page of every backend is on its declared host nodes; a backend with none is noted."""
    rows = memory_rows(placements)
    wrong, empty = [], []
    for item in placements:
        if item.mapping is None:
            wrong.append(item.problem)
            continue
        outside = {n: c for n, c in item.mapping.pages.items() if c and n not in item.backend.host_nodes}
        if outside:
            wrong.append(
                f"declaration and kernel disagree: {item.backend.id} declares {item.declared} but the kernel holds "
                f"{sum(outside.values())} of its {item.mapping.resident_pages} resident pages on other nodes "
                f"({pages_text(outside)})"
            )
        elif item.mapping.resident_pages == 0:
            empty.append(item.backend.id)
    if wrong:
        return Verdict(False, "; ".join(dict.fromkeys(wrong)), MEMORY_HEADERS, rows)
    note = f"; no resident pages yet in {', '.join(empty)} (not preallocated): nothing to place" if empty else ""
    return Verdict(True, f"every resident page is on its backend's declared host nodes{note}", MEMORY_HEADERS, rows)


def memory_as_json(memory: ProcessMemory, placements: Sequence[BackendMemory]) -> dict:
    """The CLI's ``--json`` form."""
    return {
        "pid": memory.pid,
        "backends": [
            {
                "id": item.backend.id,
                "declared_host_nodes": sorted(item.backend.host_nodes),
                "declared_policy": item.backend.policy,
                "mapping": None
                if item.mapping is None
                else {
                    "start": f"{item.mapping.start:x}",
                    "end": f"{item.mapping.end:x}",
                    "path": item.mapping.path,
                    "kernel_policy": item.mapping.policy,
                    "kernel_policy_nodes": sorted(item.mapping.policy_nodes),
                    "pages_per_node": {str(n): c for n, c in sorted(item.mapping.pages.items())},
                    "page_size_kb": item.mapping.page_size_kb,
                },
                "problem": item.problem or None,
            }
            for item in placements
        ],
        "unparsed": list(memory.unparsed),
    }
