from conftest import host_access
from kata_numa.host_checks import (
    FAIL,
    PASS,
    SKIP,
    Expectation,
    expected_host_layout,
    locality_lines,
    logfmt_fields,
    placement_checks,
)
from kata_numa.placement import analyse_pinning
from kata_numa.procfs import ProcessThreads, ThreadInfo, read_cmdline, read_threads
from kata_numa.qemu import parse_qemu_argv
from kata_numa.report import numa_arguments, placement_rows
from kata_numa.sysfs import read_host_topology


def fixture(pid: int):
    access = host_access()
    topology = read_host_topology(access)
    return analyse_pinning(read_threads(access, pid), topology), parse_qemu_argv(read_cmdline(access, pid)), topology


def statuses(checks):
    return {c.name: c.status for c in checks}


def test_confined_vcpus_pass_under_none():
    summary, cmdline, topology = fixture(4100)
    checks = placement_checks(
        summary, cmdline, topology, policy="none", cpu_limit=64, expect=Expectation(spanning=True, guest_vcpus=65)
    )
    assert set(statuses(checks).values()) == {PASS}, [c.message for c in checks if c.status != PASS]


def test_confined_vcpus_fail_the_static_count():
    summary, cmdline, topology = fixture(4100)
    checks = placement_checks(summary, cmdline, topology, policy="static", cpu_limit=64)
    count = next(c for c in checks if c.name.startswith("single-CPU"))
    assert count.status == FAIL
    assert "expected 64 single-CPU vCPU threads" in count.message


def test_unknown_policy_skips_only_the_count():
    summary, cmdline, topology = fixture(4100)
    result = statuses(placement_checks(summary, cmdline, topology, policy="unknown", cpu_limit=64))
    assert result["single-CPU vCPU threads match the CPU manager policy"] == SKIP
    assert result["every vCPU thread is placed on one host node"] == PASS


def test_stacked_vcpus_fail_the_shared_cpu_check():
    summary, cmdline, topology = fixture(6100)
    result = statuses(placement_checks(summary, cmdline, topology, policy="static", cpu_limit=8))
    assert result["no two vCPU threads hold the same CPU"] == FAIL


def test_static_layout_checks_skip_with_the_reason():
    summary, cmdline, topology = fixture(5100)
    checks = placement_checks(
        summary, cmdline, topology, policy="static", cpu_limit=8, expect=Expectation(spanning=True)
    )
    skipped = [c for c in checks if c.status == SKIP]
    assert len(skipped) == 2
    assert "borrows CPUs of another node" in skipped[0].message


def test_a_guest_node_without_cpus_in_the_set_skips_quoting_the_journal():
    _, cmdline, topology = fixture(8100)  # right-sized on host node 1
    node0 = sorted(topology.node(0).cpus)[:4]
    threads = tuple(
        ThreadInfo(t.tid, t.name, frozenset({node0[i % 4]}) if t.name.startswith("CPU") else t.cpus)
        for i, t in enumerate(ProcessThreads(8100, tuple(read_threads(host_access(), 8100).threads)).threads)
    )
    moved = analyse_pinning(ProcessThreads(8100, threads), topology)
    message = "guest NUMA node 0 has no CPU in the sandbox CPU set 0-3: its vCPUs lose host NUMA locality"
    journal = f'time="x" level=warning msg="{message}"'
    checks = placement_checks(
        moved, cmdline, topology, policy="static", cpu_limit=4, journal=journal, expect=Expectation(host_node=1)
    )
    on_node = next(c for c in checks if c.name == "every vCPU thread on host node 1")
    assert on_node.status == SKIP
    assert "the runtime logged: guest NUMA node 0 has no CPU" in on_node.message


def test_one_node_expectation():
    summary, cmdline, topology = fixture(8100)
    assert (
        statuses(
            placement_checks(summary, cmdline, topology, policy="none", cpu_limit=4, expect=Expectation(host_node=1))
        )["every vCPU thread on host node 1"]
        == PASS
    )
    result = placement_checks(summary, cmdline, topology, policy="none", cpu_limit=4, expect=Expectation(host_node=0))
    assert statuses(result)["every vCPU thread on host node 0"] == FAIL


def test_no_vcpu_threads_is_a_failure():
    _, cmdline, topology = fixture(8100)
    empty = analyse_pinning(ProcessThreads(1, (ThreadInfo(1, "qemu", frozenset({0})),)), topology)
    checks = placement_checks(empty, cmdline, topology, policy="none", cpu_limit=4)
    assert checks[0].status == FAIL


def test_expected_host_layout_counts_only_booted_vcpus():
    _, cmdline, _ = fixture(4100)
    assert expected_host_layout(cmdline) == {0: 33, 1: 32}


def test_logfmt_and_locality_lines():
    line = 'level=warning msg="a \\"quoted\\" word" n=1'
    assert logfmt_fields(line) == {"level": "warning", "msg": 'a "quoted" word', "n": "1"}
    assert locality_lines('msg=x\nlevel=warning msg="node 1: its vCPUs lose host NUMA locality"\n') == [
        "node 1: its vCPUs lose host NUMA locality"
    ]


def test_placement_table_rows():
    summary, cmdline, topology = fixture(4100)
    rows = dict(placement_rows(topology, None, cmdline, summary, "none"))
    assert rows["kubelet CPU manager policy"] == "none"
    assert rows["GPUs passed through"] == ["0000:41:00.0: host node 1, guest node 1 via rp-numa1-0 -> pxb-numa1"]
    assert "-device pxb-pcie,id=pxb-numa1,bus=pcie.0,bus_nr=64,numa_node=1" in numa_arguments(cmdline)
    assert not any(a.startswith("-append") for a in numa_arguments(cmdline))
