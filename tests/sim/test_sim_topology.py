import pytest
import yaml

from kata_numa.errors import InputError
from kata_numa.hostaccess import LocalHostAccess
from kata_numa.sim.topology import load_topology, topology_from_dict
from kata_numa.sysfs import read_host_topology
from simhelpers import TOPOLOGIES, make_node

SHIPPED = sorted(p.stem for p in TOPOLOGIES.glob("*.yaml"))


def test_the_shared_topologies_are_shipped_with_the_default_among_them():
    assert {
        "two-socket-gpu",
        "asymmetric-gpu",
        "four-node-snc",
        "gapped-node-ids",
        "grace-hopper",
        "single-node",
        "two-socket-no-gpu",
    } <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_host_tree_reads_back_as_the_yaml(tmp_path, name):
    node = make_node(tmp_path, name)
    assert read_host_topology(LocalHostAccess(str(node.root))) == load_topology(TOPOLOGIES / f"{name}.yaml")


def test_host_tree_has_cpu_node_links_and_has_cpu(tmp_path):
    node = make_node(tmp_path, "gapped-node-ids")
    assert (node.root / "sys/devices/system/cpu/cpu30/node2").is_dir()
    assert (node.root / "sys/devices/system/node/has_cpu").read_text() == "0,2\n"
    assert (node.root / "sys/devices/system/node/possible").read_text() == "0,2\n"


def base() -> dict:
    return yaml.safe_load((TOPOLOGIES / "two-socket-gpu.yaml").read_text())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["nodes"][1].update(cpus="31-63"), "CPU 31 is on node 0 and on node 1"),
        (lambda d: d["distances"].pop(), "'distances' must be a 2x2 matrix"),
        (lambda d: d["distances"][0].append(30), r"distances\[0\] must hold 2 integers"),
        (lambda d: d["distances"][1].__setitem__(1, 20), r"distances\[1\]\[1\] must be 10"),
        (lambda d: d["pci"][0].update(numa_node=5), "0000:41:00.0 is on node 5, which is not in 'nodes'"),
        (lambda d: d["pci"][0].update(bdf="../../etc"), "not a PCI address"),
        (lambda d: d["nodes"][0].update(cpus="0-x"), r"nodes\[0\] cpus"),
        (lambda d: d["nodes"][0].update(mem_kb=-1), "'mem_kb' must be a non-negative integer"),
        (lambda d: d["nodes"][0].pop("id"), "needs an integer 'id'"),
        (lambda d: d["nodes"].reverse(), "increasing order"),
        (lambda d: d.pop("nodes"), "non-empty 'nodes' list"),
        (lambda d: [n.update(cpus="") for n in d["nodes"]], "no node has CPUs"),
    ],
)
def test_bad_topologies_are_refused_naming_the_field(change, message):
    data = base()
    change(data)
    with pytest.raises(InputError, match=message):
        topology_from_dict(data, where="t.yaml")


def test_unreadable_and_malformed_files_name_the_file(tmp_path):
    with pytest.raises(InputError, match=r"missing\.yaml"):
        load_topology(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes: [\n")
    with pytest.raises(InputError, match=r"bad\.yaml: not valid YAML"):
        load_topology(bad)
