import filecmp
from pathlib import Path

import pytest

from conftest import HOSTS, TOPOLOGIES, host_access
from kata_numa.errors import InputError
from kata_numa.sim.topology import load_topology
from kata_numa.sysfs import normalise_bdf, parse_host_topology, read_host_topology, sysfs_value

ALL_HOSTS = sorted(p.stem for p in TOPOLOGIES.glob("*.yaml"))


@pytest.mark.parametrize("host", ALL_HOSTS)
def test_sysfs_tree_reads_back_as_the_topology_it_was_written_from(host):
    assert read_host_topology(host_access(host, with_proc=False)) == load_topology(TOPOLOGIES / f"{host}.yaml")


def test_two_socket_gpu_host():
    topology = read_host_topology(host_access("two-socket-gpu"))
    assert topology.node_ids == (0, 1)
    assert topology.cpu_bearing_nodes == (0, 1)
    assert len(topology.node(0).cpus) == 64
    assert topology.node(1).mem_kb == 264203840
    assert topology.cpu_to_node()[96] == 1
    assert [g.bdf for g in topology.gpus()] == ["0000:41:00.0"]
    assert topology.pci_device("41:00.0").numa_node == 1
    assert topology.distance(0, 1) == 21


def test_memory_only_node_with_a_gpu_on_it():
    topology = read_host_topology(host_access("gpu-on-memory-only-node"))
    assert topology.node_ids == (0, 1, 2)
    assert topology.cpu_bearing_nodes == (0, 1)
    assert topology.node(2).cpus == frozenset()
    assert topology.gpus()[0].numa_node == 2


def test_asymmetric_host_keeps_unequal_cpu_counts():
    topology = read_host_topology(host_access("asymmetric-gpu"))
    assert [len(n.cpus) for n in topology.nodes] == [48, 32]


def test_sparse_node_ids_index_distances_by_position():
    topology = read_host_topology(host_access("sparse-node-ids-power9"))
    assert topology.node_ids == (0, 8, 250, 251, 252, 253, 254, 255)
    assert topology.cpu_bearing_nodes == (0, 8)
    assert topology.distance(0, 8) == 40
    assert topology.distance(8, 255) == 80
    assert topology.distance(250, 250) == 10
    assert {g.bdf[:4] for g in topology.gpus()} == {"0004", "0006", "0007", "0035"}


def test_grace_hopper_memoryless_nodes_with_zero_memory_and_a_gpu_in_domain_nine():
    topology = read_host_topology(host_access("grace-hopper"))
    assert topology.node_ids == tuple(range(9))
    assert topology.cpu_bearing_nodes == (0,)
    assert topology.node(5).mem_kb == 0
    assert topology.gpus()[0].bdf == "0009:01:00.0"


def test_gapped_node_ids():
    topology = read_host_topology(host_access("gapped-node-ids"))
    assert topology.node_ids == (0, 2)
    assert topology.distance(2, 0) == 21
    with pytest.raises(InputError, match="host node 1 is not online"):
        topology.node(1)


def test_numa_node_minus_one_is_unknown_and_nul_bytes_are_stripped():
    topology = read_host_topology(host_access("two-socket-gpu-no-affinity"))
    assert topology.pci_device("0000:41:00.0").numa_node is None
    assert len(topology.node(0).cpus) == 64


def test_configurable_gpu_classes():
    topology = read_host_topology(host_access("two-socket-gpu"))
    assert [d.bdf for d in topology.gpus(["0x030200", "0x020000"])] == ["0000:01:00.0", "0000:41:00.0"]


def test_sysfs_value_strips_trailing_whitespace_and_nul_bytes():
    assert sysfs_value("0-3 \n\x00\x00") == "0-3"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0000:41:00.0", "0000:41:00.0"),
        ("41:00.0", "0000:41:00.0"),
        ("0000:C1:00.1", "0000:c1:00.1"),
        ("0009:01:00.0\n", "0009:01:00.0"),
    ],
)
def test_normalises_bdfs(text, expected):
    assert normalise_bdf(text) == expected


@pytest.mark.parametrize("text", ["../../etc", "0000:41:00", "0000:41:00.8", "zz:00.0", "", "0000:41:00.0/../x"])
def test_refuses_what_is_not_a_bdf(text):
    with pytest.raises(InputError, match="not a PCI address"):
        normalise_bdf(text)


def base_files():
    root = "/sys/devices/system/node"
    return {
        f"{root}/online": "0-1\n",
        f"{root}/node0/cpulist": "0-1\n",
        f"{root}/node0/meminfo": "Node 0 MemTotal:  1024 kB\n",
        f"{root}/node0/distance": "10 21\n",
        f"{root}/node1/cpulist": "2-3\n",
        f"{root}/node1/meminfo": "Node 1 MemTotal:  2048 kB\n",
        f"{root}/node1/distance": "21 10\n",
    }


def test_missing_online_file_is_a_clear_error():
    with pytest.raises(InputError, match="online is missing"):
        parse_host_topology({})


def test_online_node_without_files_names_them():
    files = base_files()
    del files["/sys/devices/system/node/node1/meminfo"]
    with pytest.raises(InputError, match="node1: online but meminfo missing"):
        parse_host_topology(files)


def test_distance_row_of_wrong_length_is_a_clear_error():
    files = base_files()
    files["/sys/devices/system/node/node1/distance"] = "21 10 12\n"
    with pytest.raises(InputError, match="3 values for 2 online nodes"):
        parse_host_topology(files)


def test_unparsable_meminfo_names_the_file():
    files = base_files()
    files["/sys/devices/system/node/node0/meminfo"] = "garbage\n"
    with pytest.raises(InputError, match="node0/meminfo"):
        parse_host_topology(files)


def test_committed_fixture_trees_match_the_generator(tmp_path):
    import generate  # tests/fixtures/generate.py

    generate.generate(tmp_path)
    for name in ("hosts", "procs"):
        comparison = filecmp.dircmp(tmp_path / name, HOSTS.parent / name)
        assert _differences(comparison) == [], "run python tests/fixtures/generate.py"


def _differences(comparison: filecmp.dircmp) -> list[str]:
    found = [str(Path(comparison.left) / n) for n in comparison.left_only + comparison.right_only]
    _, mismatch, errors = filecmp.cmpfiles(comparison.left, comparison.right, comparison.common_files, shallow=False)
    found += mismatch + errors
    for sub in comparison.subdirs.values():
        found += _differences(sub)
    return found
