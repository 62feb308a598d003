"""Robot Framework library: where the kernel really holds a sandbox's guest memory."""

from __future__ import annotations

from robot.api.deco import keyword, library
from robot.libraries.BuiltIn import BuiltIn

from kata_numa import __version__
from kata_numa.memory import (
    MEMORY_HEADERS,
    BackendMemory,
    check_memory_bound_in_kernel,
    check_pages_on_bound_nodes,
    match_backends,
    memory_rows,
    read_process_memory,
)
from keyword_support import CONVERTERS, core_call, log_table, node_access, require


@library(scope="SUITE", version=__version__, converters=CONVERTERS, doc_format="ROBOT")
class GuestMemory:
    """Checks the kernel's view of a QEMU's memory backends against the command line's declaration.

    = Reading =

    ``/proc/<pid>/maps`` and ``/proc/<pid>/numa_maps`` are read in one host
    round trip. Each memory backend of the QEMU command line (read with the
    QemuCommandLine library) is matched to the mapping of its size and kind;
    the kernel's policy (``bind:1``, ``default``) and the resident pages per
    host node are logged in a table per QEMU process. Lines of ``numa_maps``
    that are not understood are logged, never dropped.
    """

    def __init__(self) -> None:
        self._latest: tuple[BackendMemory, ...] | None = None

    @property
    def latest(self) -> tuple[BackendMemory, ...] | None:
        """The backends read last with their mappings, or None."""
        return self._latest

    def _read(self, pid: int) -> tuple[BackendMemory, ...]:
        cmdline = BuiltIn().get_library_instance("QemuCommandLine").command_line_of(pid)
        memory = core_call(read_process_memory, node_access(), pid)
        placements = match_backends(cmdline, memory)
        log_table(MEMORY_HEADERS, memory_rows(placements), f"guest memory of QEMU {pid} as the kernel holds it")
        for line in memory.unparsed:
            BuiltIn().log(f"not understood, kept: {line}", "WARN")
        self._latest = placements
        return placements

    @keyword("Read Guest Memory Placement")
    def read_guest_memory_placement(self, pid: int) -> None:
        """Reads where the kernel holds each memory backend of QEMU ``pid`` and logs it (no check)."""
        self._read(pid)

    @keyword("Guest Memory Should Sit On Its Bound Host Nodes")
    def guest_memory_should_sit_on_its_bound_host_nodes(self, *pids: int) -> None:
        """Fails unless the kernel binds every memory backend of each QEMU as declared, pages included.

        For each QEMU ``pids`` (default: the one read last), every backend's
        mapping must have the kernel policy ``bind`` to exactly the backend's
        declared ``host-nodes``, and every resident page must be on those nodes.
        A backend with no resident page yet (not preallocated) passes the page check with a note in the log.
        """
        if not pids:
            pids = (BuiltIn().get_library_instance("QemuCommandLine").get_qemu_process_id(),)
        for pid in pids:
            placements = self._read(int(pid))
            require(check_memory_bound_in_kernel(placements), prefix=f"QEMU {pid}")
            require(check_pages_on_bound_nodes(placements), prefix=f"QEMU {pid}")
