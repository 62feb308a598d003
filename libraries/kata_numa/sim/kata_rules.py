"""The Kata runtime's NUMA rules, as the behaviour page describes them, as pure functions.

From the host topology, the effective runtime configuration and a pod's
limits they decide the guest NUMA nodes (automatic or explicit mapping,
right-sizing with and without VFIO), the vCPU and memory split, the QEMU
command line, each vCPU thread's host CPUs under a kubelet CPU manager
policy, and what the guest probe prints. Named faults make them deviate.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..cpuset import format_cpulist, parse_cpulist
from ..errors import InputError
from ..guest import MEMMAP_SHARE
from ..placement import proportional_split
from ..qemu import parse_qemu_argv
from ..sysfs import HostTopology, PciDevice

QEMU_BINARY = "/opt/kata/bin/qemu-system-x86_64"
# What a real 6.1 guest keeps of each node for itself: 1/64 for page structures, plus fixed
# reservations that the measured capture (2048 MiB backends: 1964604 kB on node 0, 2061900 kB on
# node 1) puts mostly on node 0. tests/realguest checks the model against real boots.
FIXED_RESERVATION_NODE0_KB = 99780
FIXED_RESERVATION_OTHERS_KB = 2484


@dataclass(frozen=True)
class RuntimeSettings:
    """The keys of the effective configuration that shape a sandbox."""

    hypervisor: str = "qemu"
    enable_numa: bool = False
    numa_mapping: tuple[str, ...] = ()
    default_vcpus: int = 1
    default_memory: int = 2048
    enable_vcpus_pinning: bool = False
    enable_debug: bool = False
    rust_runtime: bool = False


def settings_from_config(document: Mapping, *, rust_runtime: bool = False) -> RuntimeSettings:
    """Reads the keys that matter from a merged configuration document."""
    tables = document.get("hypervisor") or {}
    if not isinstance(tables, Mapping) or len(tables) != 1:
        raise InputError("configuration needs exactly one [hypervisor.<name>] table")
    name, table = next(iter(tables.items()))
    runtime = document.get("runtime") or {}
    mapping = table.get("numa_mapping") or []
    if not isinstance(mapping, list) or not all(isinstance(m, str) for m in mapping):
        raise InputError(f"[hypervisor.{name}] numa_mapping must be a list of strings, found {mapping!r}")
    return RuntimeSettings(
        hypervisor=name,
        enable_numa=bool(table.get("enable_numa", False)),
        numa_mapping=tuple(mapping),
        default_vcpus=int(table.get("default_vcpus", 1) or 0),
        default_memory=int(table.get("default_memory", 2048) or 0),
        enable_vcpus_pinning=bool(runtime.get("enable_vcpus_pinning", False)),
        enable_debug=bool(table.get("enable_debug", False)),
        rust_runtime=rust_runtime,
    )


# -- pod resources -------------------------------------------------------------


@dataclass(frozen=True)
class SandboxRequest:
    """What a pod asks of its sandbox."""

    cpu_milli: int
    memory_mib: int
    gpus: tuple[PciDevice, ...] = ()


# -- guest layout ----------------------------------------------------------------


@dataclass(frozen=True)
class GuestNode:
    """One guest NUMA node: the host nodes behind it, its vCPU ids and memory."""

    index: int
    host_nodes: frozenset[int]
    host_cpus: frozenset[int]
    vcpus: tuple[int, ...] = ()
    memory_mib: int = 0


@dataclass(frozen=True)
class GuestDevice:
    """A VFIO device: host address and node, where it plugs in the guest and what the guest calls it."""

    host_bdf: str
    host_node: int | None
    guest_node: int | None  # the guest node the pxb-pcie announces, None on pcie.0
    bus: str
    guest_bdf: str


@dataclass(frozen=True)
class SandboxLayout:
    """Everything the runtime decided for one sandbox."""

    vcpus: int
    memory_mib: int
    numa: bool
    nodes: tuple[GuestNode, ...]
    devices: tuple[GuestDevice, ...] = ()
    journal: tuple[str, ...] = ()
    faults: frozenset[str] = field(default_factory=frozenset)

    @property
    def maxcpus(self) -> int:
        """Sockets times cores: every possible vCPU, described in some ``-numa node``."""
        return len(self.nodes) * math.ceil(self.vcpus / len(self.nodes))


def sandbox_size(settings: RuntimeSettings, request: SandboxRequest) -> tuple[int, int]:
    """(vCPUs, MiB): the pod's limits rounded up plus ``default_vcpus`` / ``default_memory``."""
    return math.ceil(request.cpu_milli / 1000) + settings.default_vcpus, request.memory_mib + settings.default_memory


def candidate_nodes(topology: HostTopology, settings: RuntimeSettings, faults: frozenset[str]) -> list[GuestNode]:
    """Guest nodes before right-sizing: one per ``numa_mapping`` entry, else one per online host node."""
    if settings.numa_mapping and "mapping-ignored" not in faults:
        nodes = []
        for index, entry in enumerate(settings.numa_mapping):
            host_nodes = parse_cpulist(entry, what=f"numa_mapping entry {index}")
            missing = sorted(host_nodes - set(topology.node_ids))
            if not host_nodes or missing:
                raise InputError(
                    f"numa_mapping entry {index} ({entry!r}) names host nodes that are not online: "
                    f"{format_cpulist(missing) or 'none given'}"
                )
            nodes.append(GuestNode(index, host_nodes, topology.cpus_of(host_nodes)))
        return nodes
    return [GuestNode(i, frozenset({n.id}), n.cpus) for i, n in enumerate(topology.nodes)]


def right_size(
    nodes: list[GuestNode],
    topology: HostTopology,
    vcpus: int,
    memory_mib: int,
    gpus: Sequence[PciDevice],
    *,
    faults: frozenset[str] = frozenset(),
) -> list[GuestNode]:
    """Keeps only the guest nodes the sandbox needs (automatic mapping only)."""

    def memory_kb(node: GuestNode) -> int:
        return sum(topology.node(h).mem_kb for h in node.host_nodes)

    gpu_nodes = {g.numa_node for g in gpus if g.numa_node is not None}
    if not gpu_nodes:  # no device, or none whose node the platform knows: the rule without VFIO
        with_cpus = [n for n in nodes if n.host_cpus]
        if len(with_cpus) <= 1:
            return with_cpus
        smallest_cpus = min(len(n.host_cpus) for n in with_cpus)
        smallest_mem = min(memory_kb(n) for n in with_cpus)
        if vcpus <= smallest_cpus and memory_mib * 1024 <= smallest_mem:
            return with_cpus[:1]
        return with_cpus
    covering = [n for n in nodes if n.host_nodes & gpu_nodes]
    if "rightsize-ignores-gpu" in faults and covering:
        covering = nodes[:1]
    if covering:
        cpus = sum(len(n.host_cpus) for n in covering)
        memory = sum(memory_kb(n) for n in covering)
        if vcpus <= cpus and memory_mib * 1024 <= memory:
            return covering
    return nodes


def layout_sandbox(
    topology: HostTopology, settings: RuntimeSettings, request: SandboxRequest, faults: frozenset[str] = frozenset()
) -> SandboxLayout:
    """Applies the rules; an impossible layout is an InputError the pod fails with."""
    vcpus, memory_mib = sandbox_size(settings, request)
    if not settings.enable_numa or settings.rust_runtime:
        node = GuestNode(0, frozenset(), topology.all_cpus, tuple(range(vcpus)), memory_mib)
        devices = tuple(_device_on_root_bus(g, k) for k, g in enumerate(request.gpus))
        return SandboxLayout(vcpus, memory_mib, False, (node,), devices, faults=faults)
    explicit = bool(settings.numa_mapping) and "mapping-ignored" not in faults
    nodes = candidate_nodes(topology, settings, faults)
    if not explicit:
        nodes = right_size(nodes, topology, vcpus, memory_mib, request.gpus, faults=faults)
    if vcpus < len(nodes):
        gpu_nodes = {g.numa_node for g in request.gpus}
        holder = next((n for n in nodes if n.host_nodes & gpu_nodes), nodes[0])
        nodes = [holder]
    empty = [n for n in nodes if not n.host_cpus]
    if empty:
        raise InputError(
            f"guest node {empty[0].index} (host nodes {format_cpulist(empty[0].host_nodes)}) has no host CPUs: "
            "vCPUs cannot be split over the guest NUMA nodes"
        )
    nodes = [GuestNode(i, n.host_nodes, n.host_cpus) for i, n in enumerate(nodes)]
    split = _vcpu_split(vcpus, nodes, faults)
    memory = _memory_split(memory_mib, split, vcpus)
    first = 0
    placed = []
    for node in nodes:
        count = split[node.index]
        placed.append(
            GuestNode(
                node.index, node.host_nodes, node.host_cpus, tuple(range(first, first + count)), memory[node.index]
            )
        )
        first += count
    devices, journal = _place_devices(placed, request.gpus, faults)
    return SandboxLayout(vcpus, memory_mib, True, tuple(placed), devices, journal, faults)


def _vcpu_split(vcpus: int, nodes: Sequence[GuestNode], faults: frozenset[str]) -> dict[int, int]:
    if "guest-vcpu-imbalance" in faults and len(nodes) > 1:
        split = {n.index: 1 for n in nodes}
        split[nodes[0].index] = vcpus - (len(nodes) - 1)
        return split
    return proportional_split(vcpus, {n.index: len(n.host_cpus) for n in nodes})


def _memory_split(memory_mib: int, split: Mapping[int, int], vcpus: int) -> dict[int, int]:
    indexes = sorted(split)
    shares = {i: memory_mib * split[i] // vcpus for i in indexes}
    shares[indexes[-1]] += memory_mib - sum(shares.values())
    return shares


def _device_on_root_bus(gpu: PciDevice, k: int) -> GuestDevice:
    return GuestDevice(gpu.bdf, gpu.numa_node, None, f"rp{k}", f"0000:{1 + k:02x}:00.0")


def pxb_bus_nr(guest_node: int) -> int:
    """``bus_nr`` of the pxb-pcie of a guest node: 32 * (node + 1)."""
    return 32 * (guest_node + 1)


def _place_devices(
    nodes: Sequence[GuestNode], gpus: Sequence[PciDevice], faults: frozenset[str]
) -> tuple[tuple[GuestDevice, ...], tuple[str, ...]]:
    devices, journal = [], []
    per_node: dict[int, int] = {}
    root_ports = 0
    for gpu in gpus:
        node = next((n for n in nodes if gpu.numa_node is not None and gpu.numa_node in n.host_nodes), None)
        if node is None or "no-pxb" in faults:
            if node is None:
                journal.append(
                    f'level=warning msg="VFIO device on host NUMA node not covered by guest NUMA '
                    f'topology" bdf={gpu.bdf} host-numa={gpu.numa_node if gpu.numa_node is not None else -1}'
                )
            devices.append(_device_on_root_bus(gpu, root_ports))
            root_ports += 1
            continue
        announced = (node.index + 1) % max(len(nodes), 2) if "gpu-wrong-guest-node" in faults else node.index
        k = per_node.get(node.index, 0)
        per_node[node.index] = k + 1
        bus_nr = pxb_bus_nr(node.index)
        devices.append(
            GuestDevice(
                gpu.bdf, gpu.numa_node, announced, f"rp-numa{node.index}-{k}", f"0000:{bus_nr + 1 + k:02x}:00.0"
            )
        )
        journal.append(
            f'level=info msg="VFIO device NUMA placement validated" bdf={gpu.bdf} '
            f"host-numa={gpu.numa_node} guest-numa={node.index}"
        )
    return tuple(devices), tuple(journal)


# -- QEMU command line -------------------------------------------------------------


def qemu_argv(
    layout: SandboxLayout,
    sandbox_id: str,
    topology: HostTopology,
    *,
    debug_threads: bool = False,
    binary: str = QEMU_BINARY,
    host_node_override: int | None = None,
) -> list[str]:
    """The QEMU argv of a sandbox; ``host_node_override`` binds every backend to one node (for a real boot)."""
    name = f"sandbox-{sandbox_id}" + (",debug-threads=on" if debug_threads else "")
    argv = [
        binary,
        "-name",
        name,
        "-machine",
        "q35,accel=kvm",
        "-cpu",
        "host,pmu=off",
        "-m",
        f"{layout.memory_mib}M,slots=10,maxmem={layout.memory_mib * 16}M",
    ]
    if layout.numa:
        for node in layout.nodes:
            host = frozenset({host_node_override}) if host_node_override is not None else node.host_nodes
            backend = (
                f"memory-backend-ram,id=numa-mem{node.index},size={node.memory_mib}M,host-nodes={format_cpulist(host)}"
            )
            if "no-policy-bind" not in layout.faults:
                backend += ",policy=bind"
            argv += ["-object", backend + ",share=on"]
            argv += ["-numa", f"node,nodeid={node.index},memdev=numa-mem{node.index},cpus={_guest_cpus(layout, node)}"]
        if "no-numa-dist" not in layout.faults:
            argv += _dists(layout, topology)
    else:
        argv += [
            "-object",
            f"memory-backend-file,id=dimm1,size={layout.memory_mib}M,mem-path=/dev/shm,share=on",
            "-numa",
            "node,memdev=dimm1",
        ]
    argv += _device_args(layout)
    argv += [
        "-kernel",
        "/opt/kata/share/kata-containers/vmlinuz.container",
        "-append",
        "tsc=reliable no_timer_check console=hvc0 quiet panic=1 "
        f"nr_cpus={layout.maxcpus} systemd.unit=kata-containers.target",
        "-pidfile",
        f"/run/vc/vm/{sandbox_id}/pid",
        "-nographic",
        "--no-reboot",
        "-no-user-config",
        "-nodefaults",
        "-smp",
        f"{layout.vcpus},cores={math.ceil(layout.vcpus / len(layout.nodes))},threads=1,"
        f"sockets={len(layout.nodes)},maxcpus={layout.maxcpus}",
    ]
    return argv


def _guest_cpus(layout: SandboxLayout, node: GuestNode) -> str:
    cpus = set(node.vcpus)
    if node.index == layout.nodes[-1].index:
        cpus |= set(range(layout.vcpus, layout.maxcpus))  # possible vCPUs belong to the last node
    return format_cpulist(cpus)


def _dists(layout: SandboxLayout, topology: HostTopology) -> list[str]:
    """``-numa dist`` for every ordered pair: the host distance between the nodes behind them."""
    args = []
    for source in layout.nodes:
        for target in layout.nodes:
            if source.index != target.index:
                value = topology.distance(min(source.host_nodes), min(target.host_nodes))
                args += ["-numa", f"dist,src={source.index},dst={target.index},val={value}"]
    return args


def _device_args(layout: SandboxLayout) -> list[str]:
    args: list[str] = []
    pxb_nodes = sorted({int(d.bus.split("-")[1][4:]) for d in layout.devices if d.bus.startswith("rp-numa")})
    for index in pxb_nodes:
        announced = next(d.guest_node for d in layout.devices if d.bus.startswith(f"rp-numa{index}-"))
        args += ["-device", f"pxb-pcie,id=pxb-numa{index},bus=pcie.0,bus_nr={pxb_bus_nr(index)},numa_node={announced}"]
    root_port_index = 0
    for device in layout.devices:
        if device.bus.startswith("rp-numa"):
            index, k = (int(x) for x in device.bus[len("rp-numa") :].split("-"))
            args += ["-device", f"pcie-root-port,id={device.bus},bus=pxb-numa{index},chassis={10 + index},slot={k}"]
        else:
            args += ["-device", f"pcie-root-port,id={device.bus},bus=pcie.0,chassis={1 + root_port_index},slot=0"]
            root_port_index += 1
        args += ["-device", f"vfio-pci,host={device.host_bdf},bus={device.bus}"]
    return args


# -- vCPU placement on the host ---------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Each vCPU's host CPUs once the runtime has placed it, and what it logged."""

    vcpu_cpus: dict[int, frozenset[int]]
    journal: tuple[str, ...] = ()


def place_vcpus(
    layout: SandboxLayout,
    topology: HostTopology,
    *,
    pinning: bool,
    exclusive: frozenset[int] | None = None,
) -> Placement:
    """Host CPUs of every vCPU thread under the kubelet policy (``exclusive`` = the static CPU set).

    Without pinning or NUMA the threads keep the process mask. Under ``none``
    each thread gets its node's CPUs. With an exclusive set, each vCPU gets a
    CPU of its own while the set lasts (own node's CPUs first, then CPUs of
    the set still free, borrowed from another node); the rest get their
    node's CPUs within the set, or the whole set when their node has none
    there, which the runtime logs as a loss of host NUMA locality.
    """
    everything = topology.all_cpus if exclusive is None else exclusive
    broad = dict.fromkeys(range(layout.vcpus), everything)
    faults = layout.faults
    if not layout.numa or not pinning or "vcpus-unpinned" in faults:
        return Placement(broad)
    if "vcpus-pinned-node0" in faults:
        node0 = topology.node(topology.cpu_bearing_nodes[0]).cpus
        target = node0 & exclusive if exclusive else node0
        return Placement(dict.fromkeys(range(layout.vcpus), target or node0))
    if "vcpus-same-cpu" in faults:
        return Placement({v: frozenset({min(n.host_cpus)}) for n in layout.nodes for v in n.vcpus})
    if "sandboxes-share-cpus" in faults:
        cpus: dict[int, frozenset[int]] = {}
        for node in layout.nodes:
            ordered = sorted(node.host_cpus)
            for k, vcpu in enumerate(node.vcpus):
                cpus[vcpu] = frozenset({ordered[k % len(ordered)]})
        return Placement(cpus)
    if exclusive is None:
        return Placement({v: n.host_cpus for n in layout.nodes for v in n.vcpus})
    return _place_in_exclusive_set(layout, exclusive)


def _place_in_exclusive_set(layout: SandboxLayout, exclusive: frozenset[int]) -> Placement:
    """One CPU of its own per vCPU the set can back; the surplus vCPUs float within their node's share.

    The floating vCPUs are taken from the guest nodes with the most CPUs in the
    set, so a floating thread never gets a one-CPU mask that a pinned thread
    already holds. Pinned vCPUs take their own node's CPUs first, then CPUs of
    the set still free (borrowed from another node).
    """
    local = {n.index: exclusive & n.host_cpus for n in layout.nodes}
    remaining = {n.index: list(n.vcpus) for n in layout.nodes}
    floating: dict[int, int] = {}  # vcpu -> guest node
    for _ in range(max(0, layout.vcpus - len(exclusive))):
        index = max((i for i in remaining if remaining[i]), key=lambda i: (len(local[i]), -i))
        floating[remaining[index].pop()] = index
    cpus: dict[int, frozenset[int]] = {}
    taken: set[int] = set()
    waiting: list[int] = []
    for node in layout.nodes:
        own = sorted(local[node.index])
        for vcpu in remaining[node.index]:
            free = next((c for c in own if c not in taken), None)
            if free is None:
                waiting.append(vcpu)
            else:
                taken.add(free)
                cpus[vcpu] = frozenset({free})
    spare = [c for c in sorted(exclusive) if c not in taken]
    for vcpu in waiting:
        cpus[vcpu] = frozenset({spare.pop(0)})  # borrowed from another node's share of the set
    for vcpu, index in floating.items():
        cpus[vcpu] = local[index] if len(local[index]) > 1 else exclusive
    journal = tuple(
        f'level=warning msg="guest NUMA node {node.index} has no CPU in the sandbox CPU set '
        f'{format_cpulist(exclusive)}: its vCPUs lose host NUMA locality"'
        for node in layout.nodes
        if not local[node.index]
    )
    return Placement(cpus, journal)


# -- what the guest reports ---------------------------------------------------------------


def reported_mem_kb(node_index: int, memory_mib: int) -> int:
    """MemTotal the guest kernel reports for a backend of ``memory_mib`` (kernel reservations taken off)."""
    size_kb = memory_mib * 1024
    fixed = FIXED_RESERVATION_NODE0_KB if node_index == 0 else FIXED_RESERVATION_OTHERS_KB
    return max(0, size_kb - size_kb // MEMMAP_SHARE - fixed)


def guest_report(layout: SandboxLayout, topology: HostTopology) -> str:
    """The probe's output inside the guest (the original image's keys plus cpulist and distance)."""
    faults = layout.faults
    nodes = list(layout.nodes)
    cpus = {n.index: len(n.vcpus) for n in nodes}
    mem = {n.index: reported_mem_kb(n.index, n.memory_mib) for n in nodes}
    cpulists = {n.index: format_cpulist(n.vcpus) for n in nodes}
    if "guest-single-node" in faults and len(nodes) > 1:
        nodes = nodes[:1]
        cpus = {0: layout.vcpus}
        mem = {0: sum(mem.values())}
        cpulists = {0: format_cpulist(range(layout.vcpus))}
    if "guest-memory-one-node" in faults:
        total = sum(mem.values())
        mem = {i: (total if i == 0 else 0) for i in mem}
    lines = [f"numa_online: {format_cpulist(n.index for n in nodes)}"]
    lines += [f"node{n.index}_cpus: {cpus[n.index]}" for n in nodes]
    lines += [f"node{n.index}_mem_kb: {mem[n.index]}" for n in nodes]
    lines += [f"node{n.index}_cpulist: {cpulists[n.index]}" for n in nodes]
    if layout.numa:
        for source in nodes:
            row = [10 if source is target else _guest_distance(layout, topology, source, target) for target in nodes]
            lines.append(f"node{source.index}_distance: {' '.join(map(str, row))}")
    for device in layout.devices:
        lines.append(f"gpu_{device.guest_bdf}_numa: {-1 if device.guest_node is None else device.guest_node}")
    return "\n".join(lines) + "\n"


def _guest_distance(layout: SandboxLayout, topology: HostTopology, source: GuestNode, target: GuestNode) -> int:
    """What the guest kernel reports between two of its nodes: ``-numa dist``, or 20 when QEMU got none."""
    if "no-numa-dist" in layout.faults:
        return 20
    return topology.distance(min(source.host_nodes), min(target.host_nodes))


def host_report(topology: HostTopology) -> str:
    """What the probe prints when it runs on the host itself (a pod without a Kata runtime class)."""
    lines = [f"numa_online: {format_cpulist(topology.node_ids)}"]
    lines += [f"node{n.id}_cpus: {len(n.cpus)}" for n in topology.nodes]
    lines += [f"node{n.id}_mem_kb: {n.mem_kb}" for n in topology.nodes]
    lines += [f"gpu_{d.bdf}_numa: {-1 if d.numa_node is None else d.numa_node}" for d in topology.gpus()]
    return "\n".join(lines) + "\n"


# -- where the kernel holds guest memory ---------------------------------------------------------

PAGE_KB = 4
TOUCHED_SHARE = 8  # a freshly booted guest has touched about 1/8 of its RAM: those pages are resident
_TOP_OF_MMAP = 0x7F0000000000
_PROCESS_MAPPINGS = (  # a few of QEMU's own mappings, so the backends are not all there is
    ("55d0c0000000-55d0c0a00000 r-xp 00000000 fe:00 1311 /opt/kata/bin/qemu-system-x86_64", "default file={binary}"),
    ("55d0c2000000-55d0c4000000 rw-p 00000000 00:00 0 [heap]", "default heap anon=512 dirty=512 N{first}=512"),
    ("7ffd10000000-7ffd10021000 rw-p 00000000 00:00 0 [stack]", "default stack anon=3 dirty=3 N{first}=3"),
)


def memory_maps(argv: Sequence[str], topology: HostTopology, faults: frozenset[str] = frozenset()) -> tuple[str, str]:
    """``/proc/<qemu>/maps`` and ``numa_maps`` for the backends of ``argv``, as the kernel would show them.

    Each backend is one mapping of its size below the previous one (Linux maps
    top down, in creation order), followed by a guard page. Its policy is the
    declared one (``bind`` -> ``bind:<nodes>``), its resident pages spread over
    the policy's nodes; without a binding, or under the ``memory-not-bound``
    fault, the kernel applies ``default`` and the pages land on every node.
    """
    cmdline = parse_qemu_argv(argv)
    memory_nodes = [n.id for n in topology.nodes if n.mem_kb] or [topology.nodes[0].id]
    first = memory_nodes[0]
    maps, numa = [], []
    for line, numa_text in _PROCESS_MAPPINGS:
        maps.append(line)
        numa.append(f"{line.split('-')[0]} " + numa_text.format(binary=argv[0], first=first))
    end = _TOP_OF_MMAP
    for backend in cmdline.memory_backends:
        size = backend.size_bytes or 0
        start = end - size - (2 << 20)  # each backend 2 MiB aligned, with room for its guard page
        start -= start % (2 << 20)
        if backend.type == "memory-backend-file":
            directory = (backend.mem_path or "").rstrip("/")
            path = f"{directory}/qemu_back_mem.{backend.id}.Xk3q9A (deleted)"
        else:
            path = "/dev/zero (deleted)"
        maps.append(f"{start:x}-{start + size:x} rw-s 00000000 00:01 {4096 + len(maps)} {path}")
        maps.append(f"{start + size:x}-{start + size + 4096:x} ---p 00000000 00:00 0")
        bound = backend.policy == "bind" and backend.host_nodes and "memory-not-bound" not in faults
        policy_nodes = sorted(backend.host_nodes) if bound else memory_nodes
        policy = f"bind:{format_cpulist(backend.host_nodes)}" if bound else "default"
        resident = size // (PAGE_KB * 1024) // TOUCHED_SHARE
        share = proportional_split(resident, dict.fromkeys(policy_nodes, 1)) if resident else {}
        tokens = [f"{start:x}", policy, "file=" + path.replace(" ", "\\040")]
        if resident:
            tokens += [f"dirty={resident}", "active=0"]
            tokens += [f"N{node}={count}" for node, count in sorted(share.items()) if count]
        numa.append(" ".join([*tokens, f"kernelpagesize_kB={PAGE_KB}"]))
        numa.append(f"{start + size:x} default")
        end = start
    return "\n".join(sorted(maps, key=_start_address)) + "\n", "\n".join(sorted(numa, key=_start_address)) + "\n"


def _start_address(line: str) -> int:
    """The address a ``maps`` (``start-end ...``) or ``numa_maps`` (``start ...``) line begins with."""
    return int(re.split(r"[- ]", line, maxsplit=1)[0], 16)
