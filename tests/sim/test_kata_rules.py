"""The Kata rules on the behaviour page's examples."""

import pytest

from kata_numa.cpuset import format_cpulist
from kata_numa.dropin import merge_config
from kata_numa.errors import InputError
from kata_numa.pods import parse_cpu_quantity, parse_memory_quantity
from kata_numa.qemu import parse_qemu_argv
from kata_numa.sim.kata_rules import (
    RuntimeSettings,
    SandboxRequest,
    guest_report,
    layout_sandbox,
    place_vcpus,
    qemu_argv,
    settings_from_config,
)
from kata_numa.sim.topology import load_topology
from kata_numa.sysfs import HostNode, HostTopology
from simhelpers import TOPOLOGIES

NUMA = RuntimeSettings(enable_numa=True, enable_vcpus_pinning=True, default_vcpus=1, default_memory=2048)


def topo(name: str) -> HostTopology:
    return load_topology(TOPOLOGIES / f"{name}.yaml")


def two_by_32() -> HostTopology:
    return HostTopology(
        (
            HostNode(0, frozenset(range(32)), 64 * 2**20, (10, 21)),
            HostNode(1, frozenset(range(32, 64)), 64 * 2**20, (21, 10)),
        )
    )


def test_two_nodes_of_32_cpus_with_64_vcpus_split_32_32_with_contiguous_ranges():
    layout = layout_sandbox(two_by_32(), NUMA, SandboxRequest(63000, 8192))
    assert layout.vcpus == 64
    assert [len(n.vcpus) for n in layout.nodes] == [32, 32]
    cmdline = parse_qemu_argv(qemu_argv(layout, "x", two_by_32()))
    assert [format_cpulist(n.cpus) for n in cmdline.numa_nodes] == ["0-31", "32-63"]
    assert [b.host_nodes for b in cmdline.memory_backends] == [{0}, {1}]
    assert all(b.policy == "bind" for b in cmdline.memory_backends)
    assert (cmdline.smp.cpus, cmdline.smp.sockets, cmdline.smp.cores, cmdline.smp.maxcpus) == (64, 2, 32, 64)


def test_asymmetric_host_splits_in_proportion_to_host_cpus():
    layout = layout_sandbox(topo("asymmetric-gpu"), NUMA, SandboxRequest(79000, 8192))
    assert [len(n.vcpus) for n in layout.nodes] == [48, 32]
    small = layout_sandbox(topo("asymmetric-gpu"), NUMA, SandboxRequest(199000, 8192))
    assert [len(n.vcpus) for n in small.nodes] == [120, 80]


def test_a_4_vcpu_pod_right_sizes_to_node_0():
    layout = layout_sandbox(topo("two-socket-gpu"), NUMA, SandboxRequest(4000, 4096))
    assert [n.host_nodes for n in layout.nodes] == [{0}]
    assert layout.vcpus == 5


def test_a_4_vcpu_gpu_pod_right_sizes_to_the_gpus_node():
    host = topo("two-socket-gpu")
    layout = layout_sandbox(host, NUMA, SandboxRequest(4000, 4096, host.gpus()))
    assert [n.host_nodes for n in layout.nodes] == [{1}]
    assert layout.devices[0].guest_node == 0
    cmdline = parse_qemu_argv(qemu_argv(layout, "x", host))
    assert cmdline.memory_backends[0].host_nodes == {1}
    assert cmdline.vfio[0].guest_node == 0
    assert cmdline.pxbs[0].bus_nr == 32


def test_mapping_1_binds_host_node_1_and_is_never_right_sized():
    settings = RuntimeSettings(enable_numa=True, enable_vcpus_pinning=True, numa_mapping=("1",))
    layout = layout_sandbox(topo("two-socket-gpu"), settings, SandboxRequest(4000, 4096))
    assert [n.host_nodes for n in layout.nodes] == [{1}]
    two = RuntimeSettings(enable_numa=True, numa_mapping=("0-1", "2-3"))
    layout = layout_sandbox(topo("four-node-snc"), two, SandboxRequest(2000, 4096))
    assert [n.host_nodes for n in layout.nodes] == [{0, 1}, {2, 3}]


def test_mapping_to_a_missing_node_is_an_error():
    settings = RuntimeSettings(enable_numa=True, numa_mapping=("7",))
    with pytest.raises(InputError, match="not online: 7"):
        layout_sandbox(topo("two-socket-gpu"), settings, SandboxRequest(4000, 4096))


def test_a_big_gpu_pod_spans_every_node_with_the_gpu_behind_its_nodes_pxb():
    host = topo("two-socket-gpu")
    layout = layout_sandbox(host, NUMA, SandboxRequest(64000, 65536, host.gpus()))
    cmdline = parse_qemu_argv(qemu_argv(layout, "x", host))
    assert [(p.id, p.bus_nr, p.numa_node) for p in cmdline.pxbs] == [("pxb-numa1", 64, 1)]
    assert cmdline.vfio[0].guest_node == 1
    assert "gpu_0000:41:00.0_numa: 1" in guest_report(layout, host)
    assert any("host-numa=1 guest-numa=1" in line for line in layout.journal)


def test_memory_only_nodes_are_dropped_without_vfio():
    layout = layout_sandbox(topo("grace-hopper"), NUMA, SandboxRequest(8000, 8192))
    assert [n.host_nodes for n in layout.nodes] == [{0}]


def test_a_cpu_less_gpu_node_kept_for_vfio_makes_the_sandbox_fail():
    host = topo("grace-hopper")
    gpu = host.gpus()[0]
    on_memory_node = type(gpu)(gpu.bdf, gpu.pci_class, gpu.vendor, 1)
    with pytest.raises(InputError, match="has no host CPUs"):
        layout_sandbox(host, NUMA, SandboxRequest(200000, 8192, (on_memory_node,)))


def test_fewer_vcpus_than_nodes_gives_one_guest_node():
    settings = RuntimeSettings(enable_numa=True, default_vcpus=0, numa_mapping=("0", "1", "2", "3"))
    layout = layout_sandbox(topo("four-node-snc"), settings, SandboxRequest(2000, 1024))
    assert len(layout.nodes) == 1


def test_memory_follows_the_vcpu_share_with_the_remainder_on_the_last_node():
    layout = layout_sandbox(topo("asymmetric-gpu"), NUMA, SandboxRequest(79000, 8190))
    assert [n.memory_mib for n in layout.nodes] == [10238 * 48 // 80, 10238 - 10238 * 48 // 80]


def test_without_numa_the_guest_has_one_unbound_node():
    layout = layout_sandbox(topo("two-socket-gpu"), RuntimeSettings(), SandboxRequest(64000, 4096))
    cmdline = parse_qemu_argv(qemu_argv(layout, "x", topo("two-socket-gpu")))
    assert layout.numa is False
    assert [b.host_nodes for b in cmdline.memory_backends] == [frozenset()]
    placement = place_vcpus(layout, topo("two-socket-gpu"), pinning=True)
    assert set(placement.vcpu_cpus.values()) == {topo("two-socket-gpu").all_cpus}


def test_static_set_pins_own_node_cpus_first_and_floats_the_rest():
    host = topo("two-socket-gpu")
    layout = layout_sandbox(host, NUMA, SandboxRequest(4000, 4096))  # 5 vCPUs on node 0
    exclusive = frozenset({0, 1, 2, 3})
    placement = place_vcpus(layout, host, pinning=True, exclusive=exclusive)
    singles = [c for c in placement.vcpu_cpus.values() if len(c) == 1]
    assert sorted(next(iter(c)) for c in singles) == [0, 1, 2, 3]
    assert placement.vcpu_cpus[4] == exclusive


def test_static_set_on_another_node_loses_locality_and_says_so():
    host = topo("two-socket-gpu")
    settings = RuntimeSettings(enable_numa=True, enable_vcpus_pinning=True, numa_mapping=("0", "1"), default_vcpus=2)
    layout = layout_sandbox(host, settings, SandboxRequest(2000, 4096))  # 4 vCPUs, 2 per node
    placement = place_vcpus(layout, host, pinning=True, exclusive=frozenset({32, 33}))
    # the two surplus vCPUs float on guest node 1 (all the set is there); guest node 0's borrow its CPUs
    assert (placement.vcpu_cpus[0], placement.vcpu_cpus[1]) == ({32}, {33})
    assert placement.vcpu_cpus[2] == placement.vcpu_cpus[3] == {32, 33}
    assert any("lose host NUMA locality" in line for line in placement.journal)


def test_config_merge_and_settings():
    base = {"hypervisor": {"qemu": {"enable_numa": False, "default_vcpus": 1}}, "runtime": {"x": 1}}
    merged = merge_config(
        base,
        {"hypervisor": {"qemu": {"enable_numa": True, "numa_mapping": ["1"]}}},
        {"runtime": {"enable_vcpus_pinning": True}},
    )
    settings = settings_from_config(merged)
    assert (settings.enable_numa, settings.numa_mapping, settings.enable_vcpus_pinning) == (True, ("1",), True)
    assert base["hypervisor"]["qemu"]["enable_numa"] is False


@pytest.mark.parametrize(("text", "milli"), [("4", 4000), ("500m", 500), ("2.5", 2500), ("0.1", 100)])
def test_cpu_quantities(text, milli):
    assert parse_cpu_quantity(text) == milli


@pytest.mark.parametrize(("text", "mib"), [("4Gi", 4096), ("4096Mi", 4096), ("4G", 3815), ("1073741824", 1024)])
def test_memory_quantities(text, mib):
    assert parse_memory_quantity(text) == mib


@pytest.mark.parametrize("text", ["four", "1x", ""])
def test_bad_quantities(text):
    with pytest.raises(InputError, match="quantities must match"):
        parse_cpu_quantity(text)


def test_static_surplus_vcpus_borrow_free_cpus_of_the_set_from_another_node():
    host = topo("two-socket-gpu")
    layout = layout_sandbox(host, NUMA, SandboxRequest(64000, 8192))  # 65 vCPUs: 33 on node 0, 32 on node 1
    node0 = host.node(0).cpus
    placement = place_vcpus(layout, host, pinning=True, exclusive=node0)  # the kubelet gave node 0 only
    singles = [c for c in placement.vcpu_cpus.values() if len(c) == 1]
    assert len(singles) == 64
    assert len({next(iter(c)) for c in singles}) == 64
    assert all(c <= node0 for c in placement.vcpu_cpus.values())
    assert placement.vcpu_cpus[32] == node0  # the floating vCPU comes from the node with most CPUs in the set
    assert any("guest NUMA node 1 has no CPU in the sandbox CPU set" in line for line in placement.journal)


def test_static_floating_vcpu_never_gets_a_one_cpu_mask_another_vcpu_holds():
    host = topo("two-socket-gpu")
    layout = layout_sandbox(host, NUMA, SandboxRequest(65000, 8192))  # 66 vCPUs, 33 per node
    exclusive = host.node(0).cpus | {32}  # the kubelet packed node 0, then one CPU of node 1
    placement = place_vcpus(layout, host, pinning=True, exclusive=exclusive)
    singles = [next(iter(c)) for c in placement.vcpu_cpus.values() if len(c) == 1]
    assert len(singles) == len(set(singles)) == 65
    floating = [c for c in placement.vcpu_cpus.values() if len(c) > 1]
    assert floating == [host.node(0).cpus]
