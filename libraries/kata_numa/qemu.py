"""The QEMU command line of a sandbox, parsed into a typed model.

Every option value is split into ``key=value`` properties the way QEMU does
(``,,`` is a literal comma, a bare first element is the implied key), so no
decision is ever made by substring: ``host-nodes=1`` is never confused with
``host-nodes=10``, and a kernel ``-append`` string that mentions
``host-nodes=1`` is only ever the value of ``-append``.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from .cpuset import parse_cpulist
from .errors import InputError
from .sysfs import normalise_bdf

MIB = 1024 * 1024
_SIZE_SUFFIX = {"": 1, "b": 1, "k": 1024, "m": MIB, "g": 1024 * MIB, "t": 1024**2 * MIB, "p": 1024**3 * MIB}

# Options that take no value; every other option consumes the next argv element.
FLAG_OPTIONS = frozenset(
    {
        "S",
        "s",
        "nographic",
        "nodefaults",
        "no-user-config",
        "no-reboot",
        "no-shutdown",
        "enable-kvm",
        "daemonize",
        "snapshot",
        "no-hpet",
        "no-acpi",
        "full-screen",
        "version",
        "h",
        "help",
        "no-fd-bootchk",
        "no-quit",
        "preconfig",
        "only-migratable",
        "win2k-hack",
        "semihosting",
        "enable-sync-profile",
        "old-param",
        "nouserconfig",
        "no-graphic",
    }
)

# The implied key of a bare first element, per option (QEMU's "implied_opt_name").
IMPLIED_KEY = {"object": "qom-type", "device": "driver", "numa": "type", "smp": "cpus", "name": "guest"}

ROOT_BUSES = frozenset({"pcie.0", "pci.0"})


@dataclass(frozen=True)
class OptionValue:
    """One option's value as ordered ``key=value`` pairs (a bare key has value None)."""

    pairs: tuple[tuple[str, str | None], ...]

    def get(self, key: str) -> str | None:
        """The last value of ``key`` (QEMU lets the last one win), or None."""
        values = self.get_all(key)
        return values[-1] if values else None

    def get_all(self, key: str) -> list[str]:
        """Every value given for ``key`` (``cpus=`` and ``host-nodes=`` may repeat)."""
        return [value for k, value in self.pairs if k == key and value is not None]

    def has(self, key: str) -> bool:
        """True when ``key`` appears at all, with or without a value."""
        return any(k == key for k, _ in self.pairs)


def parse_option_value(text: str, implied_key: str | None = None) -> OptionValue:
    """Splits ``a,b=c,,d,e=f`` into pairs; ``,,`` is a literal comma."""
    elements: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == ",":
            if text[index + 1 : index + 2] == ",":
                current.append(",")
                index += 2
                continue
            elements.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    elements.append("".join(current))
    pairs: list[tuple[str, str | None]] = []
    for position, element in enumerate(elements):
        key, equals, value = element.partition("=")
        if equals:
            pairs.append((key, value))
        elif position == 0 and implied_key:
            pairs.append((implied_key, element))
        elif element:
            pairs.append((element, None))
    return OptionValue(tuple(pairs))


@dataclass(frozen=True)
class Option:
    """One option of the argv (``name`` without dashes) and its raw value."""

    name: str
    raw: str | None
    position: int

    @property
    def value(self) -> OptionValue:
        """The raw value split into properties."""
        return parse_option_value(self.raw or "", IMPLIED_KEY.get(self.name))


@dataclass(frozen=True)
class MemoryBackend:
    """A ``memory-backend-*`` object: the guest RAM of one guest node."""

    id: str
    type: str
    size_bytes: int | None
    host_nodes: frozenset[int]
    policy: str | None
    mem_path: str | None = None
    prealloc: bool = False
    hugetlb: bool = False  # memory-backend-memfd,hugetlb=on
    hugetlb_size_bytes: int | None = None  # hugetlbsize= (None: the system's default huge page)

    @property
    def size_mib(self) -> float | None:
        """The size in MiB (an int when it is a whole number of MiB)."""
        if self.size_bytes is None:
            return None
        mib = self.size_bytes / MIB
        return int(mib) if mib.is_integer() else mib


@dataclass(frozen=True)
class GuestNumaNode:
    """A ``-numa node``: guest node id, its memory backend and its vCPU ids."""

    nodeid: int
    memdev: str | None
    cpus: frozenset[int]


@dataclass(frozen=True)
class NumaDistance:
    """A ``-numa dist`` entry."""

    src: int
    dst: int
    val: int


@dataclass(frozen=True)
class Smp:
    """The ``-smp`` topology."""

    cpus: int | None
    maxcpus: int | None
    sockets: int | None
    cores: int | None
    threads: int | None


@dataclass(frozen=True)
class Device:
    """A ``-device``: driver, id, the bus it plugs into and all its properties."""

    driver: str
    id: str | None
    bus: str | None
    props: OptionValue


@dataclass(frozen=True)
class PxbPcie:
    """A ``pxb-pcie`` expander bus: the devices below it sit on guest node ``numa_node``."""

    id: str | None
    bus: str | None
    bus_nr: int | None
    numa_node: int | None


@dataclass(frozen=True)
class RootPort:
    """A ``pcie-root-port``."""

    id: str | None
    bus: str | None


@dataclass(frozen=True)
class VfioDevice:
    """A ``vfio-pci`` device; ``host`` is None for an fd-passed device without address."""

    host: str | None
    bus: str | None
    id: str | None
    guest_node: int | None
    bus_chain: tuple[str, ...] = ()


@dataclass(frozen=True)
class QemuCommandLine:
    """Everything the NUMA checks need from one QEMU argv."""

    argv: tuple[str, ...]
    binary: str
    sandbox_id: str | None
    guest_name: str | None
    debug_threads: bool
    memory_backends: tuple[MemoryBackend, ...]
    numa_nodes: tuple[GuestNumaNode, ...]
    dists: tuple[NumaDistance, ...]
    smp: Smp | None
    pxbs: tuple[PxbPcie, ...]
    root_ports: tuple[RootPort, ...]
    vfio: tuple[VfioDevice, ...]
    devices: tuple[Device, ...]
    options: tuple[Option, ...] = field(repr=False, default=())

    def backend(self, backend_id: str) -> MemoryBackend | None:
        """The memory backend with id ``backend_id`` or None."""
        return next((b for b in self.memory_backends if b.id == backend_id), None)

    def guest_node_of_vcpu(self, vcpu: int) -> GuestNumaNode | None:
        """The ``-numa node`` whose ``cpus=`` holds vCPU ``vcpu``."""
        return next((n for n in self.numa_nodes if vcpu in n.cpus), None)

    def host_nodes_of_guest_node(self, nodeid: int) -> frozenset[int] | None:
        """The ``host-nodes`` of the backend behind guest node ``nodeid`` (None when unbound)."""
        node = next((n for n in self.numa_nodes if n.nodeid == nodeid), None)
        if node is None or node.memdev is None:
            return None
        backend = self.backend(node.memdev)
        if backend is None or not backend.host_nodes:
            return None
        return backend.host_nodes


# -- argv sources --------------------------------------------------------------


def argv_from_cmdline(data: bytes | str) -> list[str]:
    """Splits ``/proc/<pid>/cmdline`` (NUL-separated, NUL-terminated) into argv."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    if not text.strip("\x00"):
        raise InputError("the command line is empty (the process may have exited)")
    parts = text.split("\x00")
    if parts and parts[-1] == "":
        parts.pop()
    return parts


def argv_from_text(text: str) -> list[str]:
    """Splits a space-joined command line (shell quoting honoured), or one argument per line."""
    if "\x00" in text:
        return argv_from_cmdline(text)
    stripped = text.strip()
    if not stripped:
        raise InputError("the command line is empty")
    if "\n" in stripped:
        return [line.rstrip("\r") for line in stripped.split("\n") if line.strip()]
    try:
        return shlex.split(stripped)
    except ValueError as error:
        raise InputError(f"the command line cannot be split: {error}") from error


# -- parsing -------------------------------------------------------------------


def split_options(argv: Sequence[str]) -> list[Option]:
    """Walks argv into options; a value-taking option at the very end is a truncated argv."""
    options: list[Option] = []
    index = 1
    while index < len(argv):
        token = argv[index]
        if token.startswith("-") and token.strip("-"):
            name = token.lstrip("-")
            if name in FLAG_OPTIONS:
                options.append(Option(name, None, index))
                index += 1
                continue
            if index + 1 >= len(argv):
                raise InputError(f"argv ends after {token!r} with no value: the command line is truncated")
            options.append(Option(name, argv[index + 1], index))
            index += 2
        else:
            options.append(Option("", token, index))  # a positional argument (e.g. a disk image)
            index += 1
    return options


def parse_qemu_argv(argv: Sequence[str]) -> QemuCommandLine:
    """Parses a QEMU argv (as from ``argv_from_cmdline``) into the model."""
    if not argv:
        raise InputError("the command line is empty")
    options = split_options(argv)
    guest_name, debug_threads = _parse_name(options)
    backends = tuple(_parse_backend(o) for o in options if o.name == "object" and _is_backend(o.value))
    numa = [o for o in options if o.name == "numa"]
    numa_nodes = _parse_numa_nodes([o for o in numa if o.value.get("type") == "node"])
    dists = tuple(_parse_dist(o) for o in numa if o.value.get("type") == "dist")
    devices = tuple(_parse_device(o) for o in options if o.name == "device")
    pxbs = tuple(
        PxbPcie(
            d.id,
            d.bus,
            _optional_int(d.props.get("bus_nr"), "pxb-pcie bus_nr"),
            _optional_int(d.props.get("numa_node"), "pxb-pcie numa_node"),
        )
        for d in devices
        if d.driver == "pxb-pcie"
    )
    root_ports = tuple(RootPort(d.id, d.bus) for d in devices if d.driver in ("pcie-root-port", "ioh3420"))
    vfio = tuple(_vfio_device(d, devices) for d in devices if d.driver == "vfio-pci")
    _check_unique_node_ids(numa_nodes)
    return QemuCommandLine(
        argv=tuple(argv),
        binary=argv[0],
        sandbox_id=guest_name[len("sandbox-") :] if guest_name and guest_name.startswith("sandbox-") else None,
        guest_name=guest_name,
        debug_threads=debug_threads,
        memory_backends=backends,
        numa_nodes=numa_nodes,
        dists=dists,
        smp=_parse_smp(options),
        pxbs=pxbs,
        root_ports=root_ports,
        vfio=vfio,
        devices=devices,
        options=tuple(options),
    )


def _parse_name(options: Sequence[Option]) -> tuple[str | None, bool]:
    names = [o.value for o in options if o.name == "name"]
    if not names:
        return None, False
    value = names[-1]
    return value.get("guest"), value.get("debug-threads") == "on"


def _is_backend(value: OptionValue) -> bool:
    return (value.get("qom-type") or "").startswith("memory-backend-")


def _parse_backend(option: Option) -> MemoryBackend:
    value = option.value
    backend_id = value.get("id")
    if not backend_id:
        raise InputError(f"memory backend without id= in {option.raw!r}")
    nodes: set[int] = set()
    if value.has("host-nodes"):
        given = value.get_all("host-nodes")
        if not given or any(not v.strip() for v in given):
            raise InputError(f"memory backend {backend_id}: host-nodes= has no value in {option.raw!r}")
        for text in given:
            nodes |= parse_cpulist(text, what=f"memory backend {backend_id} host-nodes")
    size_text = value.get("size")
    return MemoryBackend(
        id=backend_id,
        type=value.get("qom-type") or "",
        size_bytes=parse_size(size_text, what=f"memory backend {backend_id} size") if size_text else None,
        host_nodes=frozenset(nodes),
        policy=value.get("policy"),
        mem_path=value.get("mem-path"),
        prealloc=value.get("prealloc") in ("on", "yes", "true"),
        hugetlb=value.get("hugetlb") in ("on", "yes", "true"),
        hugetlb_size_bytes=(
            parse_size(value.get("hugetlbsize") or "", what=f"memory backend {backend_id} hugetlbsize")
            if value.get("hugetlbsize")
            else None
        ),
    )


def parse_size(text: str, *, what: str = "size") -> int:
    """Parses a QEMU size (``32768M``, ``2G``, ``1T``, raw bytes) into bytes."""
    value = text.strip()
    digits = value.rstrip("bBkKmMgGtTpP")
    suffix = value[len(digits) :].lower()
    if not digits or suffix not in _SIZE_SUFFIX:
        raise InputError(f"{what}: {text!r} is not a size")
    try:
        number = float(digits) if "." in digits else int(digits)
    except ValueError as error:
        raise InputError(f"{what}: {text!r} is not a size") from error
    return int(number * _SIZE_SUFFIX[suffix])


def _parse_numa_nodes(options: Sequence[Option]) -> tuple[GuestNumaNode, ...]:
    """``-numa node`` options; one without ``nodeid=`` gets the next free id, as QEMU assigns it."""
    nodes: list[GuestNumaNode] = []
    for option in options:
        given = _optional_int(option.value.get("nodeid"), f"-numa {option.raw}: nodeid")
        nodeid = given if given is not None else max((n.nodeid + 1 for n in nodes), default=0)
        nodes.append(_parse_numa_node(option, nodeid))
    return tuple(nodes)


def _parse_numa_node(option: Option, nodeid: int) -> GuestNumaNode:
    value = option.value
    cpus: set[int] = set()
    for text in value.get_all("cpus"):
        cpus |= parse_cpulist(text, what=f"-numa node {nodeid} cpus")
    return GuestNumaNode(nodeid, value.get("memdev"), frozenset(cpus))


def _parse_dist(option: Option) -> NumaDistance:
    value = option.value
    numbers = [_optional_int(value.get(k), f"-numa {option.raw}: {k}") for k in ("src", "dst", "val")]
    if None in numbers:
        raise InputError(f"-numa dist needs src=, dst= and val=: {option.raw!r}")
    src, dst, val = numbers
    return NumaDistance(src, dst, val)  # type: ignore[arg-type]


def _parse_smp(options: Sequence[Option]) -> Smp | None:
    found = [o for o in options if o.name == "smp"]
    if not found:
        return None
    value = found[-1].value
    what = f"-smp {found[-1].raw}"
    return Smp(
        *(_optional_int(value.get(k), f"{what}: {k}") for k in ("cpus", "maxcpus", "sockets", "cores", "threads"))
    )


def _parse_device(option: Option) -> Device:
    value = option.value
    return Device(value.get("driver") or "", value.get("id"), value.get("bus"), value)


def _vfio_device(device: Device, devices: Sequence[Device]) -> VfioDevice:
    host = device.props.get("host")
    sysfsdev = device.props.get("sysfsdev")
    address = None
    if host:
        address = normalise_bdf(host, what=f"vfio-pci host={host}")
    elif sysfsdev:
        address = normalise_bdf(posixpath.basename(sysfsdev.rstrip("/")), what=f"vfio-pci sysfsdev={sysfsdev}")
    chain, node = bus_chain(device.bus, devices)
    return VfioDevice(address, device.bus, device.id, node, chain)


def bus_chain(bus: str | None, devices: Sequence[Device]) -> tuple[tuple[str, ...], int | None]:
    """Follows ``bus=`` links up to a pxb-pcie; returns the chain and that pxb's ``numa_node``.

    A device on the root bus, on an unknown bus, or in a loop has no guest node.
    """
    by_id = {d.id: d for d in devices if d.id}
    chain: list[str] = []
    current = bus
    while current and current not in ROOT_BUSES and current not in chain:
        chain.append(current)
        parent = by_id.get(current)
        if parent is None:
            return tuple(chain), None
        if parent.driver == "pxb-pcie":
            return tuple(chain), _optional_int(parent.props.get("numa_node"), f"pxb-pcie {parent.id} numa_node")
        current = parent.bus
    return tuple(chain), None


def _optional_int(text: str | None, what: str) -> int | None:
    if text is None:
        return None
    value = text.strip().lower()
    try:
        return int(value, 16) if value.startswith("0x") else int(value, 10)
    except ValueError as error:
        raise InputError(f"{what}: {text!r} is not a number") from error


def _check_unique_node_ids(nodes: Sequence[GuestNumaNode]) -> None:
    seen: set[int] = set()
    for node in nodes:
        if node.nodeid in seen:
            raise InputError(f"-numa node nodeid={node.nodeid} appears twice")
        seen.add(node.nodeid)


def qemu_as_json(cmdline: QemuCommandLine) -> dict:
    """The ``qemu-args`` JSON shape of the CLI."""
    smp = cmdline.smp
    return {
        "binary": cmdline.binary,
        "sandbox_id": cmdline.sandbox_id,
        "debug_threads": cmdline.debug_threads,
        "smp": None
        if smp is None
        else {
            "cpus": smp.cpus,
            "maxcpus": smp.maxcpus,
            "sockets": smp.sockets,
            "cores": smp.cores,
            "threads": smp.threads,
        },
        "memory_backends": [
            {
                "id": b.id,
                "type": b.type,
                "size_mib": b.size_mib,
                "host_nodes": sorted(b.host_nodes),
                "policy": b.policy,
                "mem_path": b.mem_path,
            }
            for b in cmdline.memory_backends
        ],
        "numa_nodes": [{"nodeid": n.nodeid, "memdev": n.memdev, "cpus": sorted(n.cpus)} for n in cmdline.numa_nodes],
        "dists": [{"src": d.src, "dst": d.dst, "val": d.val} for d in cmdline.dists],
        "pxb": [{"id": p.id, "bus_nr": p.bus_nr, "numa_node": p.numa_node} for p in cmdline.pxbs],
        "root_ports": [{"id": r.id, "bus": r.bus} for r in cmdline.root_ports],
        "vfio": [{"host": v.host, "bus": v.bus, "guest_node": v.guest_node} for v in cmdline.vfio],
    }
