import pytest

from conftest import host_access
from kata_numa.errors import InputError
from kata_numa.pods import (
    auto_large_memory_mib,
    auto_large_vcpus,
    auto_mapping_node,
    memory_quantity,
    numa_pod_manifest,
    parse_cpu_manager_policy,
    parse_crictl_ids,
    resolve_size,
)
from kata_numa.sysfs import read_host_topology


def topo(name: str):
    return read_host_topology(host_access(name, with_proc=False))


def test_manifest_has_limits_only_and_the_gpu_resource():
    manifest = numa_pod_manifest(
        "numa-gpu", image="img@sha256:x", runtime_class="kata", vcpus=4, memory="4Gi", gpus=1, node_name="n1"
    )
    container = manifest["spec"]["containers"][0]
    assert container["resources"] == {"limits": {"cpu": "4", "memory": "4Gi", "nvidia.com/pgpu": "1"}}
    assert manifest["spec"]["runtimeClassName"] == "kata"
    assert manifest["spec"]["nodeName"] == "n1"


@pytest.mark.parametrize(("name", "vcpus"), [("Bad_Name", 1), ("ok", 0)])
def test_manifest_refuses_bad_names_and_sizes(name, vcpus):
    with pytest.raises(InputError):
        numa_pod_manifest(name, image="i", runtime_class="k", vcpus=vcpus, memory="1Gi")


@pytest.mark.parametrize(
    ("host", "vcpus", "node"),
    [
        ("two-socket-gpu", 65, 1),
        ("asymmetric-gpu", 33, 1),
        ("sparse-node-ids-power9", 89, 8),
        ("gapped-node-ids", 25, 2),
        ("memoryless-cpu-nodes", 13, 2),
        ("single-node", 17, None),
        ("grace-hopper", 73, None),
    ],
)
def test_automatic_sizes_and_mapping_node(host, vcpus, node):
    topology = topo(host)
    assert auto_large_vcpus(topology) == vcpus
    assert auto_mapping_node(topology) == node


def test_large_memory_exceeds_a_small_node():
    assert auto_large_memory_mib(topo("two-socket-gpu")) == 8192


def test_resolve_size():
    assert resolve_size("auto", 65, "X") == 65
    assert resolve_size("80", 65, "X") == 80
    with pytest.raises(InputError, match="NUMA_TEST_VCPUS_LARGE: 'many'"):
        resolve_size("many", 65, "NUMA_TEST_VCPUS_LARGE")


def test_memory_quantity():
    assert memory_quantity(8192) == "8Gi"
    assert memory_quantity(1000) == "1000Mi"


def test_crictl_ids():
    assert parse_crictl_ids("0123456789abcdef\n", "p") == "0123456789abcdef"
    with pytest.raises(InputError, match="no ready sandbox for pod p"):
        parse_crictl_ids("\n", "p")
    with pytest.raises(InputError, match="2 ready sandboxes"):
        parse_crictl_ids("0123456789abcdef\nfedcba9876543210\n", "p")
    with pytest.raises(InputError, match="not a sandbox id"):
        parse_crictl_ids("POD ID   CREATED\n", "p")


def test_cpu_manager_policy_from_configz():
    assert parse_cpu_manager_policy('{"kubeletconfig": {"cpuManagerPolicy": "static"}}') == "static"
    assert parse_cpu_manager_policy('{"kubeletconfig": {}}') == "none"
    with pytest.raises(InputError, match="not a kubelet configuration"):
        parse_cpu_manager_policy("<html>")
    with pytest.raises(InputError, match="unknown cpuManagerPolicy"):
        parse_cpu_manager_policy('{"kubeletconfig": {"cpuManagerPolicy": "dynamic"}}')


def test_crictl_argv_matches_the_pod_name_exactly_and_refuses_bad_names():
    from kata_numa.pods import crictl_pods_argv

    assert crictl_pods_argv("numa-test", "default") == [
        "crictl",
        "pods",
        "--label",
        "io.kubernetes.pod.name=numa-test",
        "--namespace",
        "default",
        "--state",
        "ready",
        "-q",
    ]
    with pytest.raises(InputError, match="not valid Kubernetes names"):
        crictl_pods_argv("a; rm -rf /", "default")
