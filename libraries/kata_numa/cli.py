"""``python -m kata_numa``: the hand tool for a node, successor of numa-pinning-check.sh.

Exit status 0 on success, 2 with a one-line error on bad input or a missing
path (never a traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import __version__
from .cpuset import format_cpulist
from .errors import KataNumaError
from .guest import guest_report_as_json, parse_guest_report
from .hostaccess import LocalHostAccess
from .placement import analyse_pinning, pinning_as_json, pinning_lines
from .procfs import find_sandbox_qemu, read_cmdline, read_threads
from .qemu import QemuCommandLine, argv_from_text, parse_qemu_argv, qemu_as_json
from .sysfs import GPU_CLASSES, HostTopology, read_host_topology, topology_as_json

if TYPE_CHECKING:
    from .memory import BackendMemory, ProcessMemory

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3


class UsageError(KataNumaError):
    """A command-line argument names something that is not there."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other bad input
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = _Parser(prog="python -m kata_numa", description="Inspect NUMA placement of Kata sandboxes on a node.")
    parser.add_argument("--version", action="version", version=f"kata_numa {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    host = commands.add_parser("host", help="host NUMA nodes, CPUs, memory, distances and PCI devices")
    _sys_root(host)
    host.add_argument("--gpu-class", action="append", help="PCI class counted as GPU (repeatable; default 0x030200)")
    _json(host)

    pinning = commands.add_parser("pinning", help="vCPU threads of a QEMU process per host node")
    pinning.add_argument("pid", type=_pid, help="QEMU process id")
    _proc_root(pinning)
    _sys_root(pinning)
    _json(pinning)

    qemu = commands.add_parser("qemu-args", help="the NUMA parts of a QEMU command line")
    source = qemu.add_mutually_exclusive_group(required=True)
    source.add_argument("--pid", type=_pid, help="read /proc/PID/cmdline")
    source.add_argument("--file", help="a file holding the argv (NUL-separated, one per line, or space-joined)")
    source.add_argument("--text", help="the argv as one space-joined string")
    _proc_root(qemu)
    _json(qemu)

    sandbox = commands.add_parser("sandbox", help="the pid of the QEMU process of a sandbox id")
    sandbox.add_argument("sandbox_id")
    _proc_root(sandbox)
    _json(sandbox)

    memory = commands.add_parser("memory", help="where the kernel holds each memory backend of a QEMU process")
    memory.add_argument("pid", type=_pid, help="QEMU process id")
    _proc_root(memory)
    _json(memory)

    guest = commands.add_parser("guest-report", help="parse the guest probe output")
    guest.add_argument("path", help="file with the probe output ('-' for standard input)")
    _json(guest)
    return parser


def _json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


def _sys_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sys-root", default="/sys", help="where sysfs is mounted (default /sys)")


def _proc_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--proc-root", default="/proc", help="where procfs is mounted (default /proc)")


def _pid(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a process id")
    return int(text)


def _access(args: argparse.Namespace) -> LocalHostAccess:
    mounts = {}
    for option, node_dir in (("sys_root", "/sys"), ("proc_root", "/proc")):
        directory = getattr(args, option, None)
        if directory is None:
            continue
        if not os.path.isdir(directory):
            raise UsageError(f"--{option.replace('_', '-')} {directory}: no such directory")
        mounts[node_dir] = directory
    return LocalHostAccess("/", mounts=mounts)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        output = COMMANDS[args.command](args)
    except KataNumaError as error:
        print(f"kata_numa {args.command}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as error:
        print(f"kata_numa {args.command}: {error.filename or ''}: {error.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as error:
        if os.environ.get("KATA_NUMA_DEBUG"):
            raise
        print(
            f"kata_numa {args.command}: internal error: {type(error).__name__}: {error} "
            "(set KATA_NUMA_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    print(json.dumps(output, indent=2) if args.json else "\n".join(output))
    return 0


def _host(args: argparse.Namespace) -> dict | list[str]:
    topology = read_host_topology(_access(args))
    classes = tuple(args.gpu_class or GPU_CLASSES)
    return topology_as_json(topology, classes) if args.json else host_lines(topology, classes)


def host_lines(topology: HostTopology, classes: Sequence[str] = GPU_CLASSES) -> list[str]:
    """The text form of ``host``."""
    lines = ["node  cpus                  mem_kb        distances"]
    for node in topology.nodes:
        cpus = format_cpulist(node.cpus) or "(none)"
        lines.append(f"{node.id:<5} {cpus:<21} {node.mem_kb:<13} {' '.join(map(str, node.distances))}")
    lines.append(f"cpu_bearing_nodes: {format_cpulist(topology.cpu_bearing_nodes) or '(none)'}")
    for device in topology.pci:
        numa = -1 if device.numa_node is None else device.numa_node
        lines.append(f"pci {device.bdf} class={device.pci_class} numa_node={numa}")
    lines.append(f"gpus: {' '.join(d.bdf for d in topology.gpus(classes)) or '(none)'}")
    return lines


def _pinning(args: argparse.Namespace) -> dict | list[str]:
    access = _access(args)
    summary = analyse_pinning(read_threads(access, args.pid), read_host_topology(access))
    if args.json:
        return pinning_as_json(summary)
    for note in (f"method: {summary.method} ({summary.method_note})", *summary.notes):
        print(f"note: {note}", file=sys.stderr)
    return pinning_lines(summary)


def _qemu_args(args: argparse.Namespace) -> dict | list[str]:
    if args.pid is not None:
        argv = read_cmdline(_access(args), args.pid)
    elif args.file is not None:
        if not os.path.isfile(args.file):
            raise UsageError(f"--file {args.file}: no such file")
        with open(args.file, "rb") as handle:
            argv = argv_from_text(handle.read().decode("utf-8", "replace"))
    else:
        argv = argv_from_text(args.text)
    cmdline = parse_qemu_argv(argv)
    return qemu_as_json(cmdline) if args.json else qemu_lines(cmdline)


def _memory(args: argparse.Namespace) -> dict | list[str]:
    from .memory import match_backends, memory_as_json, read_process_memory  # only this command pays its import

    access = _access(args)
    cmdline = parse_qemu_argv(read_cmdline(access, args.pid))
    memory = read_process_memory(access, args.pid)
    placements = match_backends(cmdline, memory)
    if args.json:
        return memory_as_json(memory, placements)
    return memory_lines(memory, placements)


def memory_lines(memory: ProcessMemory, placements: Sequence[BackendMemory]) -> list[str]:
    """The text form of ``memory``: one line per backend, then the verdicts, then lines not understood."""
    from .memory import check_memory_bound_in_kernel, check_pages_on_bound_nodes, pages_text

    lines = []
    for item in placements:
        if item.mapping is None:
            lines.append(f"{item.backend.id}: declared {item.declared}; {item.problem}")
        else:
            lines.append(
                f"{item.backend.id}: declared {item.declared}; kernel {item.mapping.kernel_policy}; "
                f"pages {pages_text(item.mapping.pages)}; mapping {item.mapping.start:x}-{item.mapping.end:x}"
            )
    for verdict in (check_memory_bound_in_kernel(placements), check_pages_on_bound_nodes(placements)):
        lines.append(f"{'ok' if verdict.ok else 'FAIL'}: {verdict.message}")
    lines += [f"not understood: {line}" for line in memory.unparsed]
    return lines


def qemu_lines(cmdline: QemuCommandLine) -> list[str]:
    """The text form of ``qemu-args``."""
    lines = [f"sandbox_id: {cmdline.sandbox_id or '(none)'}", f"debug_threads: {cmdline.debug_threads}"]
    if cmdline.smp:
        lines.append(
            f"smp: cpus={cmdline.smp.cpus} sockets={cmdline.smp.sockets} cores={cmdline.smp.cores} "
            f"maxcpus={cmdline.smp.maxcpus}"
        )
    for b in cmdline.memory_backends:
        lines.append(
            f"backend {b.id}: {b.type} size_mib={b.size_mib} host_nodes={format_cpulist(b.host_nodes) or '-'} "
            f"policy={b.policy or '-'}"
        )
    for n in cmdline.numa_nodes:
        lines.append(f"guest node {n.nodeid}: memdev={n.memdev or '-'} cpus={format_cpulist(n.cpus) or '-'}")
    for d in cmdline.dists:
        lines.append(f"dist {d.src}->{d.dst}: {d.val}")
    for p in cmdline.pxbs:
        lines.append(f"pxb-pcie {p.id}: bus_nr={p.bus_nr} numa_node={p.numa_node}")
    for v in cmdline.vfio:
        guest = "-" if v.guest_node is None else v.guest_node
        lines.append(f"vfio {v.host or '(fd-passed, no address)'}: bus={v.bus or '-'} guest_node={guest}")
    return lines


def _sandbox(args: argparse.Namespace) -> dict | list[str]:
    found = find_sandbox_qemu(_access(args), args.sandbox_id)
    return {"sandbox_id": args.sandbox_id, "pid": found.pid} if args.json else [str(found.pid)]


def _guest_report(args: argparse.Namespace) -> dict | list[str]:
    if args.path == "-":
        text = sys.stdin.read()
    else:
        if not os.path.isfile(args.path):
            raise UsageError(f"{args.path}: no such file")
        with open(args.path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    report = parse_guest_report(text)
    if args.json:
        return guest_report_as_json(report)
    lines = [f"numa_online: {format_cpulist(report.online)}"]
    lines += [
        f"node{n}: cpus={report.cpus.get(n, '-')} mem_kb={report.mem_kb.get(n, '-')}" for n in sorted(report.online)
    ]
    lines += [f"gpu {bdf}: node {'-1' if node is None else node}" for bdf, node in sorted(report.gpus.items())]
    return lines


COMMANDS = {
    "host": _host,
    "pinning": _pinning,
    "qemu-args": _qemu_args,
    "sandbox": _sandbox,
    "guest-report": _guest_report,
    "memory": _memory,
}
