import pytest

from conftest import host_access
from kata_numa.placement import (
    METHOD_AFFINITY,
    METHOD_NAME,
    STATE_NODE,
    STATE_SPANS,
    STATE_UNPLACED,
    analyse_pinning,
    check_balanced,
    check_distribution,
    check_no_cpus_in_common,
    check_no_shared_cpus,
    check_single_node,
    expected_single_cpu_threads,
    map_vcpus,
    pinning_as_json,
    pinning_lines,
    proportional_split,
)
from kata_numa.procfs import ProcessThreads, ThreadInfo, read_cmdline, read_threads
from kata_numa.qemu import parse_qemu_argv
from kata_numa.sysfs import read_host_topology


def summary_of(pid: int, host: str = "two-socket-gpu"):
    access = host_access(host)
    return analyse_pinning(read_threads(access, pid), read_host_topology(access))


def test_named_vcpus_confined_to_their_nodes_policy_none():
    summary = summary_of(4100)
    assert summary.method == METHOD_NAME
    assert len(summary.vcpus) == 65
    assert summary.per_node == {0: 33, 1: 32}
    assert summary.single_cpu_threads == 0
    assert summary.unplaced == ()
    assert pinning_lines(summary) == [
        "node0: 33",
        "node1: 32",
        "single_cpu_threads: 0",
        "distinct_single_cpus: 0",
        "pinned_cpus: ",
    ]


def test_a_non_vcpu_thread_pinned_to_one_cpu_is_not_counted():
    summary = summary_of(5100)
    kvm_helper = next(t for t in summary.threads if t.name == "kvm-nx-lpage-re")
    assert kvm_helper.single_cpu and not kvm_helper.vcpu
    assert summary.single_cpu_threads == 8
    assert 20 not in summary.pinned_cpus


def test_static_policy_each_vcpu_on_a_cpu_of_its_own():
    summary = summary_of(5100)
    assert summary.per_node == {0: 4, 1: 4}
    assert summary.distinct_single_cpus == 8
    assert summary.shared_cpus == {}
    assert check_no_shared_cpus(summary).ok


def test_stacked_vcpus_pass_a_per_node_count_but_not_the_shared_cpu_check():
    summary = summary_of(6100)
    assert check_balanced(summary.per_node, [0, 1]).ok
    assert summary.distinct_single_cpus == 2
    assert summary.shared_cpus == {0: (6110, 6111, 6112, 6113), 32: (6114, 6115, 6116, 6117)}
    verdict = check_no_shared_cpus(summary)
    assert not verdict.ok
    assert "CPU 0 held by tids 6110, 6111, 6112, 6113" in verdict.message


def test_unnamed_threads_found_by_affinity_pinned():
    summary = summary_of(7100)
    assert summary.method == METHOD_AFFINITY
    assert "not named" in summary.method_note
    assert summary.per_node == {0: 2, 1: 2}
    assert summary.single_cpu_threads == 4
    assert summary.pinned_cpus == {0, 1, 32, 33}


def test_unnamed_threads_found_by_affinity_confined():
    summary = summary_of(7200)
    assert summary.method == METHOD_AFFINITY
    assert summary.per_node == {0: 2, 1: 2}
    assert summary.single_cpu_threads == 0


def test_vcpu_mapping_follows_guest_node_to_host_node():
    access = host_access()
    summary = summary_of(4100)
    cmdline = parse_qemu_argv(read_cmdline(access, 4100))
    mappings = map_vcpus(summary, cmdline, read_host_topology(access))
    assert len(mappings) == 65
    assert all(m.ok for m in mappings)
    assert mappings[40].guest_node == 1
    assert mappings[40].host_nodes == {1}


def test_vcpu_mapping_catches_a_vcpu_on_the_wrong_node():
    access = host_access()
    cmdline = parse_qemu_argv(read_cmdline(access, 4100))
    process = read_threads(access, 4100)
    swapped = tuple(
        ThreadInfo(t.tid, t.name, frozenset({40}) if t.name == "CPU 0/KVM" else t.cpus) for t in process.threads
    )
    summary = analyse_pinning(ProcessThreads(4100, swapped), read_host_topology(access))
    bad = [m for m in map_vcpus(summary, cmdline, read_host_topology(access)) if not m.ok]
    assert [m.vcpu for m in bad] == [0]
    assert bad[0].problem == "vCPU 0 (tid 4110): expected CPUs of host node(s) 0 (0-31,64-95), found 40"


def test_thread_states_spanning_and_not_placed_yet():
    topology = read_host_topology(host_access())
    all_cpus = frozenset(range(128))
    threads = (
        ThreadInfo(1, "qemu", all_cpus),
        ThreadInfo(2, "CPU 0/KVM", all_cpus),
        ThreadInfo(3, "CPU 1/KVM", frozenset({0, 40})),
        ThreadInfo(4, "CPU 2/KVM", frozenset({3})),
    )
    summary = analyse_pinning(ProcessThreads(1, threads), topology)
    states = {t.tid: t.state for t in summary.vcpus}
    assert states == {2: STATE_UNPLACED, 3: STATE_SPANS, 4: STATE_NODE}
    assert [t.tid for t in summary.unplaced] == [2, 3]
    assert summary.per_node == {0: 1}


def test_affinity_method_when_the_main_thread_is_confined_too():
    topology = read_host_topology(host_access())
    node0 = topology.node(0).cpus
    threads = (ThreadInfo(1, "qemu", node0), ThreadInfo(2, "qemu", frozenset({1})), ThreadInfo(3, "qemu", node0))
    summary = analyse_pinning(ProcessThreads(1, threads), topology)
    assert [t.tid for t in summary.vcpus] == [2]
    assert "narrower mask" in summary.method_note


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        (66, {0: 64, 1: 64}, {0: 33, 1: 33}),
        (65, {0: 64, 1: 64}, {0: 33, 1: 32}),
        (80, {0: 48, 1: 32}, {0: 48, 1: 32}),
        (9, {0: 48, 1: 32}, {0: 6, 1: 3}),
        (5, {0: 24, 2: 24}, {0: 3, 2: 2}),
        (3, {0: 1, 1: 1, 2: 100}, {0: 1, 1: 1, 2: 1}),
        (4, {0: 12, 1: 12, 2: 12, 3: 12}, {0: 1, 1: 1, 2: 1, 3: 1}),
    ],
)
def test_proportional_split(total, weights, expected):
    split = proportional_split(total, weights)
    assert split == expected
    assert sum(split.values()) == total


def test_distribution_within_tolerance():
    assert check_distribution({0: 33, 1: 32}, {0: 33, 1: 33}, tolerance=1).ok
    verdict = check_distribution({0: 40, 1: 26}, {0: 33, 1: 33}, tolerance=1)
    assert not verdict.ok
    assert "node 0: expected 33, found 40" in verdict.message


def test_distribution_flags_an_unexpected_node():
    assert not check_distribution({0: 4, 1: 4, 2: 1}, {0: 4, 1: 4}).ok


def test_balanced_requires_every_node_and_max_minus_min_at_most_one():
    assert check_balanced({0: 33, 1: 32}, [0, 1]).ok
    assert not check_balanced({0: 66}, [0, 1]).ok
    assert not check_balanced({0: 30, 1: 36}, [0, 1]).ok
    assert not check_balanced({0: 3, 1: 3, 2: 1}, [0, 1]).ok


def test_single_node():
    assert check_single_node({1: 5}).ok
    assert check_single_node({1: 5}, 1).ok
    assert "found all on node 1" in check_single_node({1: 5}, 0).message
    assert not check_single_node({0: 2, 1: 3}).ok
    assert not check_single_node({}).ok


def test_two_sandboxes_sharing_pinned_cpus():
    stacked, static = summary_of(6100), summary_of(5100)
    assert check_no_cpus_in_common(static, summary_of(7100)).ok
    stacked_twice = check_no_cpus_in_common(stacked, summary_of(7100))
    assert not stacked_twice.ok
    assert "CPUs 0,32" in stacked_twice.message
    assert static.pid == 5100


def test_expected_single_cpu_threads_per_policy():
    assert expected_single_cpu_threads("none", 8, 9) == 0
    assert expected_single_cpu_threads("static", 8, 9) == 8
    assert expected_single_cpu_threads("static", 12, 9) == 9
    assert expected_single_cpu_threads("unknown", 8, 9) is None


def test_json_shape_contract():
    data = pinning_as_json(summary_of(5100))
    assert data["method"] == "thread-name"
    assert data["per_node"] == {"0": 4, "1": 4}
    assert data["single_cpu_threads"] == 8
    assert data["distinct_single_cpus"] == 8
    assert data["pinned_cpus"] == [4, 5, 6, 7, 36, 37, 38, 39]
    vcpu0 = next(t for t in data["threads"] if t["name"] == "CPU 0/KVM")
    assert vcpu0 == {"tid": 5110, "name": "CPU 0/KVM", "cpus": [4], "node": 0, "state": "node", "vcpu": True,
                     "vcpu_index": 0}  # fmt: skip
