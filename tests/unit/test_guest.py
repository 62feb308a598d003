import pytest

from conftest import GUEST
from kata_numa.errors import InputError
from kata_numa.guest import guest_report_as_json, parse_guest_report


def load(name: str):
    return parse_guest_report((GUEST / name).read_text())


def test_original_image_two_nodes_with_gpu():
    report = load("guest-report-gpu-two-nodes.txt")
    assert report.online == {0, 1}
    assert report.cpus == {0: 33, 1: 33}
    assert report.mem_kb == {0: 34214172, 1: 34601228}
    assert report.gpus == {"0000:41:00.0": 1}
    assert report.node_count == 2
    assert report.total_cpus == 66


def test_gpu_without_affinity_reports_none():
    assert load("guest-report-gpu-no-affinity.txt").gpus == {"0000:02:00.0": None}


def test_our_probe_cpulists_distances_and_pci_lines():
    report = load("real-guest-two-nodes-pxb.txt")
    assert report.cpulists == {0: {0, 1}, 1: {2, 3}}
    assert report.cpus == {0: 2, 1: 2}
    assert report.distances == {0: (10, 21), 1: (21, 10)}
    assert report.pci["0000:41:00.0"].numa_node == 1
    assert report.pci["0000:00:02.0"].numa_node is None
    assert report.pci["0000:41:00.0"].pci_class == "0x00ff00"
    assert report.extra == {"nproc": "4"}


def test_extra_keys_noise_and_gapped_guest_nodes_are_kept():
    report = load("guest-report-extra-keys.txt")
    assert report.online == {0, 2}
    assert report.gpus == {"0000:41:00.0": 2, "0000:42:00.0": None}
    assert report.extra == {"kernel": "6.12.1"}
    assert report.ignored_lines == ("Starting NUMA probe",)


def test_missing_numa_online_is_a_clear_error_quoting_the_output():
    with pytest.raises(InputError, match=r"no 'numa_online:' line.*node0_cpus: 4"):
        load("guest-report-no-online.txt")


def test_unparsable_value_quotes_the_line():
    with pytest.raises(InputError, match="'node1_cpus: four'"):
        load("guest-report-bad-value.txt")


def test_empty_output_says_so():
    with pytest.raises(InputError, match="output is empty"):
        parse_guest_report("")


def test_colon_without_space_still_parses():
    report = parse_guest_report("numa_online:0\ngpu_0000:41:00.0_numa:0\n")
    assert report.gpus == {"0000:41:00.0": 0}


def test_json_shape_contract():
    data = guest_report_as_json(load("guest-report-gpu-two-nodes.txt"))
    assert data["online"] == [0, 1]
    assert data["cpus"] == {"0": 33, "1": 33}
    assert data["mem_kb"] == {"0": 34214172, "1": 34601228}
    assert data["gpus"] == {"0000:41:00.0": 1}
