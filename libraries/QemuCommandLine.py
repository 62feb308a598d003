"""Robot Framework library: the NUMA parts of a sandbox's QEMU command line."""

from __future__ import annotations

import time

from robot.api.deco import keyword, library
from robot.libraries.BuiltIn import BuiltIn
from robot.utils import timestr_to_secs

from kata_numa import __version__
from kata_numa.cpuset import format_cpulist, parse_cpulist
from kata_numa.errors import KataNumaError
from kata_numa.pods import crictl_pods_argv, parse_crictl_ids
from kata_numa.procfs import find_sandbox_qemu, read_cmdline
from kata_numa.procfs import read_cmdline as _read_cmdline
from kata_numa.qemu import QemuCommandLine as CommandLine
from kata_numa.qemu import argv_from_text, parse_qemu_argv
from kata_numa.qemu_checks import (
    check_backends_bound,
    check_backends_in_order,
    check_vfio_on_guest_node,
    guest_node_for_host_node,
    vfio_guest_node,
)
from keyword_support import CONVERTERS, CpuList, backoff, core_call, log_debug, log_table, node_access, require


@library(scope="SUITE", version=__version__, converters=CONVERTERS, doc_format="ROBOT")
class QemuCommandLine:
    """Finds a sandbox's QEMU process and checks its command line, parsed ``key=value`` by ``key=value``.

    = Reading =

    `Read QEMU Command Line Of Sandbox` finds the one QEMU process whose
    command line names the sandbox id; the checks then work on that command
    line. Nothing is decided by substring: ``host-nodes=1`` never matches
    ``host-nodes=10``, and a kernel ``-append`` string is only a value.
    """

    def __init__(self) -> None:
        self._cmdline: CommandLine | None = None
        self._pid: int | None = None
        self._seen_pids: list[int] = []
        self._by_pid: dict[int, CommandLine] = {}

    @property
    def latest(self) -> CommandLine | None:
        """The command line read last, or None."""
        return self._cmdline

    def command_line_of(self, pid: int) -> CommandLine:
        """The command line of QEMU ``pid``: the one read before, else read now."""
        if pid not in self._by_pid:
            self._by_pid[pid] = core_call(parse_qemu_argv, core_call(read_cmdline, node_access(), pid))
        return self._by_pid[pid]

    @property
    def cmdline(self) -> CommandLine:
        """The command line read last."""
        if self._cmdline is None:
            raise AssertionError("no QEMU command line read yet: call `Read QEMU Command Line Of Sandbox` first")
        return self._cmdline

    @keyword("Read QEMU Command Line Of Sandbox")
    def read_qemu_command_line_of_sandbox(self, sandbox_id: str) -> int:
        """Finds the sandbox's QEMU process (exactly one must match), reads its command line, returns its pid."""
        access = node_access()
        process = core_call(find_sandbox_qemu, access, sandbox_id)
        self._use(process.argv, process.pid)
        self._seen_pids.append(process.pid)
        return process.pid

    @keyword("Find Sandbox Of Pod")
    def find_sandbox_of_pod(self, pod: str, namespace: str = "default") -> str:
        """Returns the ready sandbox id of ``pod`` from ``crictl``, matching the pod name exactly (a label).

        ``crictl pods --name`` matches substrings, so the sandbox of ``numa-test``
        could resolve to that of ``numa-test-b``; the label does not.
        """
        argv = core_call(crictl_pods_argv, pod, namespace)
        result = core_call(node_access().run, argv)
        if not result.ok:
            raise AssertionError(f"{' '.join(argv)} failed: {result.stderr.strip() or result.returncode}")
        sandbox = core_call(parse_crictl_ids, result.stdout, pod)
        log_table(("pod", "namespace", "sandbox"), [(pod, namespace, sandbox)])
        return sandbox

    @keyword("Sandbox Processes Should Be Gone")
    def sandbox_processes_should_be_gone(self, timeout: str = "60s") -> None:
        """Waits until every QEMU process read since the last call has exited, then forgets them."""
        deadline = time.monotonic() + timestr_to_secs(timeout)
        access = node_access()
        delays = backoff()
        while True:
            alive = [pid for pid in self._seen_pids if _alive(access, pid)]
            if not alive:
                for pid in self._seen_pids:
                    self._by_pid.pop(pid, None)
                self._seen_pids = []
                return
            if time.monotonic() >= deadline:
                raise AssertionError(f"QEMU processes {', '.join(map(str, alive))} still run {timeout} after deletion")
            time.sleep(next(delays))

    @keyword("Read QEMU Command Line Of Process")
    def read_qemu_command_line_of_process(self, pid: int) -> None:
        """Reads and parses ``/proc/<pid>/cmdline``."""
        self._use(core_call(read_cmdline, node_access(), pid), pid)

    @keyword("Parse QEMU Command Line")
    def parse_qemu_command_line(self, text: str) -> None:
        """Parses a command line given as text (NUL-separated, one argument per line, or space-joined)."""
        self._use(core_call(argv_from_text, text), None)

    def _use(self, argv: list[str] | tuple[str, ...], pid: int | None) -> None:
        self._cmdline = core_call(parse_qemu_argv, list(argv))
        self._pid = pid
        if pid is not None:
            self._by_pid[pid] = self._cmdline
        log_debug("QEMU argv", "\n".join(argv))
        cmdline = self._cmdline
        log_table(
            ("guest node", "vCPUs", "memdev", "host-nodes", "policy"),
            [
                (
                    n.nodeid,
                    format_cpulist(n.cpus),
                    n.memdev,
                    format_cpulist(cmdline.host_nodes_of_guest_node(n.nodeid) or ()) or "-",
                    (cmdline.backend(n.memdev).policy if n.memdev and cmdline.backend(n.memdev) else None),
                )
                for n in cmdline.numa_nodes
            ],
            f"QEMU {pid or ''} sandbox {cmdline.sandbox_id or '(unnamed)'}",
        )

    @keyword("Get QEMU Process Id")
    def get_qemu_process_id(self) -> int:
        """Returns the pid of the QEMU process read last."""
        if self._pid is None:
            raise AssertionError("the command line was not read from a process")
        return self._pid

    @keyword("Get Host Nodes Of Guest Node")
    def get_host_nodes_of_guest_node(self, guest_node: int) -> list[int]:
        """Returns the ``host-nodes`` of the memory backend behind ``guest_node``."""
        nodes = self.cmdline.host_nodes_of_guest_node(guest_node)
        if nodes is None:
            raise AssertionError(f"guest node {guest_node} has no memory backend bound with host-nodes=")
        return sorted(nodes)

    @keyword("Get VFIO Host Addresses")
    def get_vfio_host_addresses(self) -> list[str]:
        """Returns the host BDFs of the ``vfio-pci`` devices (fd-passed devices have none and are left out)."""
        return [v.host for v in self.cmdline.vfio if v.host]

    @keyword("Get Guest Node Of VFIO Device")
    def get_guest_node_of_vfio_device(self, host_bdf: str) -> int:
        """Returns the guest node of the vfio device for ``host_bdf``, from its bus chain up to a pxb-pcie."""
        node = core_call(vfio_guest_node, self.cmdline, host_bdf)
        if node is None:
            raise AssertionError(f"vfio-pci {host_bdf} is not below any pxb-pcie: it has no guest NUMA node")
        return node

    @keyword("Get Guest Node Of Host Node")
    def get_guest_node_of_host_node(self, host_node: int) -> int:
        """Returns the guest node whose memory backend is bound to ``host_node``."""
        node = guest_node_for_host_node(self.cmdline, host_node)
        if node is None:
            raise AssertionError(f"no guest node's memory backend is bound to host node {host_node}")
        return node

    @keyword("Memory Backends Should Bind Guest Nodes To Host Nodes In Order")
    def memory_backends_should_bind_guest_nodes_to_host_nodes_in_order(self, host_nodes: CpuList) -> None:
        """Fails unless guest node i's backend has ``policy=bind`` and exactly the i-th of ``host_nodes``."""
        require(check_backends_in_order(self.cmdline, sorted(host_nodes)))

    @keyword("Memory Backends Should Bind Guest Nodes To CPU-Bearing Host Nodes")
    def memory_backends_should_bind_guest_nodes_to_cpu_bearing_host_nodes(self) -> None:
        """Fails unless guest node i is bound (``policy=bind``) to exactly the i-th CPU-bearing host node."""
        topology = BuiltIn().get_library_instance("HostTopology").topology
        require(check_backends_in_order(self.cmdline, list(topology.cpu_bearing_nodes)))

    @keyword("Memory Backends Should Follow The Mapping")
    def memory_backends_should_follow_the_mapping(self, *mapping: str) -> None:
        """Fails unless guest node i's backend has ``policy=bind`` and exactly the host nodes of ``mapping[i]``."""
        expected = {
            i: frozenset(core_call(parse_cpulist, str(e), what=f"mapping entry {i}")) for i, e in enumerate(mapping)
        }
        if len(self.cmdline.numa_nodes) != len(expected):
            raise AssertionError(
                f"expected {len(expected)} guest nodes for numa_mapping {list(mapping)}, "
                f"the command line has {len(self.cmdline.numa_nodes)}"
            )
        require(check_backends_bound(self.cmdline, expected))

    @keyword("Get Passed-Through GPU")
    def get_passed_through_gpu(self) -> str:
        """Returns the host BDF of the first ``vfio-pci`` device with an address; fails when there is none."""
        addresses = self.get_vfio_host_addresses()
        if not addresses:
            raise AssertionError("the QEMU command line has no vfio-pci device with a host address")
        return addresses[0]

    @keyword("Memory Backends Should Be Bound")
    def memory_backends_should_be_bound(self) -> None:
        """Fails unless every guest node's memory backend has ``policy=bind`` and ``host-nodes``."""
        require(check_backends_bound(self.cmdline))

    @keyword("Guest Node Memory Should Be Bound To Host Nodes")
    def guest_node_memory_should_be_bound_to_host_nodes(self, guest_node: int, host_nodes: CpuList) -> None:
        """Fails unless the backend of ``guest_node`` has ``policy=bind`` and exactly ``host_nodes`` (``0-1``)."""
        require(check_backends_bound(self.cmdline, {guest_node: frozenset(host_nodes)}))

    @keyword("Every Memory Backend Should Be Bound To Host Nodes")
    def every_memory_backend_should_be_bound_to_host_nodes(self, host_nodes: CpuList) -> None:
        """Fails unless every guest node's backend is bound (``policy=bind``) to exactly ``host_nodes``."""
        expected = {n.nodeid: frozenset(host_nodes) for n in self.cmdline.numa_nodes}
        require(check_backends_bound(self.cmdline, expected))

    @keyword("VFIO Device Should Sit On Guest Node")
    def vfio_device_should_sit_on_guest_node(self, host_bdf: str, guest_node: int) -> None:
        """Fails unless ``vfio-pci`` ``host_bdf`` is plugged below a pxb-pcie with ``numa_node=guest_node``."""
        require(core_call(check_vfio_on_guest_node, self.cmdline, host_bdf, guest_node))


def _alive(access, pid: int) -> bool:
    """True while ``/proc/<pid>/cmdline`` can still be read."""
    try:
        _read_cmdline(access, pid)
    except KataNumaError:
        return False
    return True
