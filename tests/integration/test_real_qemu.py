"""A real QEMU with a Kata-like NUMA command line, inspected through local and SSH host access."""

from __future__ import annotations

import os

import pytest

from helpers import qemu as qemu_helper
from kata_numa.hostaccess import LocalHostAccess
from kata_numa.memory import (
    check_memory_bound_in_kernel,
    check_pages_on_bound_nodes,
    match_backends,
    read_process_memory,
)
from kata_numa.placement import METHOD_AFFINITY, METHOD_NAME, analyse_pinning
from kata_numa.procfs import find_sandbox_qemu, read_cmdline, read_threads
from kata_numa.qemu import parse_qemu_argv
from kata_numa.sysfs import read_host_topology
from ssh_host_access import SshHostAccess

pytestmark = pytest.mark.integration
CPUS = sorted(os.sched_getaffinity(0))


def accesses(server):
    yield "local", LocalHostAccess("/")
    ssh = SshHostAccess("127.0.0.1", port=server.port, user=server.user, key_file=str(server.key))
    yield "ssh", ssh
    ssh.close()


@pytest.mark.parametrize("named", [True, False], ids=["debug-threads", "unnamed-threads"])
def test_kata_like_qemu_is_found_parsed_and_its_pins_bucketed(tmp_path, server, named):
    if qemu_helper.QEMU is None:
        pytest.skip("no qemu-system-x86_64 after install")
    qemu = qemu_helper.start_paused_qemu(tmp_path, 4, named=named)
    try:
        qemu_helper.pin_vcpus_like_kata(qemu, CPUS)
        for how, access in accesses(server):
            process = find_sandbox_qemu(access, qemu.sandbox_id)
            assert process.pid == qemu.process.pid, how
            cmdline = parse_qemu_argv(process.argv)
            assert cmdline.sandbox_id == qemu.sandbox_id
            assert cmdline.debug_threads is named
            assert [(b.host_nodes, b.policy) for b in cmdline.memory_backends] == [({0}, "bind"), ({0}, "bind")]
            assert [sorted(n.cpus) for n in cmdline.numa_nodes] == [[0, 1], [2, 3]]
            assert [(p.bus_nr, p.numa_node) for p in cmdline.pxbs] == [(64, 1)]
            summary = analyse_pinning(read_threads(access, process.pid), read_host_topology(access))
            assert summary.method == (METHOD_NAME if named else METHOD_AFFINITY), how
            assert sorted(t.tid for t in summary.vcpus) == sorted(qemu.vcpu_tids), (how, summary.method_note)
            assert summary.per_node == {0: 4}
            assert summary.single_cpu_threads == 4
            assert summary.pinned_cpus == frozenset(CPUS[:4])
            if named:
                assert summary.vcpus[0].name.startswith("CPU 0/")
    finally:
        qemu.stop()


MEMORY_BACKENDS = (
    "size=256M,host-nodes=0,policy=bind,prealloc=on",
    "size=256M,host-nodes=0,policy=preferred,prealloc=on",
)


def test_memory_reader_tells_a_bound_backend_from_a_preferred_one(tmp_path, server):
    if qemu_helper.QEMU is None:
        pytest.skip("no qemu-system-x86_64 after install")
    qemu = qemu_helper.start_paused_qemu(tmp_path, 2, backends=MEMORY_BACKENDS)
    try:
        for how, access in accesses(server):
            cmdline = parse_qemu_argv(read_cmdline(access, qemu.process.pid))
            before = access.stats.round_trips
            memory = read_process_memory(access, qemu.process.pid)
            assert access.stats.round_trips - before == 1, how
            assert memory.unparsed == (), how
            placements = match_backends(cmdline, memory)
            seen = [(p.backend.id, p.mapping.kernel_policy, p.mapping.pages) for p in placements]
            # equal sizes: matched by creation order; the policies tell whether the order held
            assert seen == [("numa-mem0", "bind:0", {0: 65536}), ("numa-mem1", "prefer:0", {0: 65536})], how
            bound = check_memory_bound_in_kernel(placements)
            assert not bound.ok, how
            assert bound.message == (
                "numa-mem1 is not bound: the command line declares host-nodes=0,policy=preferred and the kernel "
                "applies prefer:0, not bind"
            )
            assert check_memory_bound_in_kernel(placements[:1]).ok, how
            assert check_pages_on_bound_nodes(placements).ok, how
    finally:
        qemu.stop()
