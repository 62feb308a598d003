import pytest

from conftest import CMDLINES
from kata_numa.errors import InputError
from kata_numa.qemu import (
    argv_from_cmdline,
    argv_from_text,
    parse_option_value,
    parse_qemu_argv,
    parse_size,
    qemu_as_json,
)


def load(name: str):
    return parse_qemu_argv(argv_from_text((CMDLINES / name).read_text()))


def test_gpu_two_nodes_sample():
    cmdline = load("qemu-argv-gpu-two-nodes.txt")
    assert cmdline.sandbox_id == "5f2e9c0d7a6b4c1e8f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e"
    assert cmdline.debug_threads is True
    assert [(b.id, b.size_mib, b.host_nodes, b.policy) for b in cmdline.memory_backends] == [
        ("numa-mem0", 33792, {0}, "bind"),
        ("numa-mem1", 33792, {1}, "bind"),
    ]
    assert [(n.nodeid, n.memdev, len(n.cpus)) for n in cmdline.numa_nodes] == [
        (0, "numa-mem0", 33),
        (1, "numa-mem1", 33),
    ]
    assert [(d.src, d.dst, d.val) for d in cmdline.dists] == [(0, 1, 21), (1, 0, 21)]
    assert (cmdline.smp.cpus, cmdline.smp.sockets, cmdline.smp.cores, cmdline.smp.maxcpus) == (65, 2, 33, 66)
    assert [(p.id, p.bus_nr, p.numa_node) for p in cmdline.pxbs] == [("pxb-numa1", 64, 1)]
    assert [(v.host, v.bus, v.guest_node) for v in cmdline.vfio] == [("0000:41:00.0", "rp-numa1-0", 1)]
    assert cmdline.host_nodes_of_guest_node(1) == {1}
    assert cmdline.guest_node_of_vcpu(33).nodeid == 1


def test_right_sized_single_node_is_bound_too():
    cmdline = load("qemu-argv-right-sized-gpu.txt")
    assert [(b.host_nodes, b.policy) for b in cmdline.memory_backends] == [({1}, "bind")]
    assert cmdline.debug_threads is False
    assert cmdline.vfio[0].guest_node == 0


def test_real_world_forms():
    cmdline = load("qemu-argv-real-forms.txt")
    backends = {b.id: b for b in cmdline.memory_backends}
    # keys in any order, a mem-path, sizes with G and raw bytes
    assert backends["numa-mem0"].type == "memory-backend-file"
    assert backends["numa-mem0"].mem_path == "/dev/hugepages"
    assert backends["numa-mem0"].prealloc is True
    assert backends["numa-mem0"].size_mib == 16384
    assert backends["numa-mem1"].size_mib == 16384
    # host-nodes as a range plus a repeated key
    assert backends["numa-mem1"].host_nodes == {1, 2, 5}
    # host-nodes=10 is node ten, never node one
    assert backends["numa-mem2"].host_nodes == {10}
    assert backends["numa-mem2"].policy == "preferred"
    # several cpus= keys in one -numa node
    assert [sorted(n.cpus) for n in cmdline.numa_nodes] == [[0, 1, 6, 7], [2, 3, 8, 9], [4, 5, 10, 11]]
    # -smp starting with cpus=, and the -name guest= form
    assert cmdline.smp.cpus == 12
    assert cmdline.sandbox_id.startswith("0123456789abcdef")
    # bus_nr in hex
    assert [p.bus_nr for p in cmdline.pxbs] == [64, 96]
    # vfio: no domain + upper case, sysfsdev behind a bridge, fd-passed, domain 9 on pcie.0
    assert [(v.host, v.guest_node) for v in cmdline.vfio] == [
        ("0000:c1:00.0", 1),
        ("0000:e1:00.1", 2),
        (None, None),
        ("0009:01:00.0", None),
    ]
    assert cmdline.vfio[1].bus_chain == ("br-numa2", "rp-numa2-0", "pxb-numa2")


def test_decoys_inside_values_are_never_parsed_as_options():
    cmdline = load("qemu-argv-real-forms.txt")
    assert len(cmdline.memory_backends) == 3
    assert 7 not in {n.nodeid for n in cmdline.numa_nodes}
    assert all(b.id != "numa-mem9" for b in cmdline.memory_backends)


def test_flags_take_no_value():
    cmdline = parse_qemu_argv(["qemu", "-S", "-nographic", "-name", "sandbox-a", "--no-reboot", "-nodefaults"])
    assert cmdline.sandbox_id == "a"


def test_proc_cmdline_nul_separated_and_terminated():
    argv = argv_from_cmdline(b"qemu\0-name\0sandbox-a\0")
    assert argv == ["qemu", "-name", "sandbox-a"]


def test_space_joined_text_honours_quotes():
    argv = argv_from_text("qemu -name sandbox-a -append 'console=hvc0 quiet'")
    assert argv[-1] == "console=hvc0 quiet"


def test_double_comma_is_a_literal_comma():
    value = parse_option_value("memory-backend-file,id=m0,mem-path=/a,,b,size=1G", "qom-type")
    assert value.get("mem-path") == "/a,b"
    assert value.get("qom-type") == "memory-backend-file"


@pytest.mark.parametrize(
    ("text", "size"),
    [("4096M", 4096 * 2**20), ("2G", 2 * 2**30), ("1T", 2**40), ("17179869184", 2**34), ("512k", 512 * 1024)],
)
def test_sizes(text, size):
    assert parse_size(text) == size


def test_truncated_command_line_is_a_clear_error():
    with pytest.raises(InputError, match="truncated"):
        load("qemu-argv-truncated.txt")


def test_host_nodes_without_value_is_a_clear_error():
    with pytest.raises(InputError, match="numa-mem0: host-nodes= has no value"):
        load("qemu-argv-host-nodes-empty.txt")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["qemu", "-object", "memory-backend-ram,size=1G"], "without id="),
        (["qemu", "-object", "memory-backend-ram,id=m,size=lots"], "m size: 'lots' is not a size"),
        (["qemu", "-numa", "dist,src=0,dst=1"], "needs src=, dst= and val="),
        (["qemu", "-device", "pxb-pcie,id=p,bus_nr=zz"], "bus_nr: 'zz' is not a number"),
        (["qemu", "-device", "vfio-pci,host=../../etc"], "not a PCI address"),
        (["qemu", "-numa", "node,nodeid=0", "-numa", "node,nodeid=0"], "appears twice"),
        ([], "empty"),
    ],
)
def test_bad_input_names_the_culprit(argv, message):
    with pytest.raises(InputError, match=message):
        parse_qemu_argv(argv)


def test_empty_cmdline_of_an_exited_process():
    with pytest.raises(InputError, match="exited"):
        argv_from_cmdline(b"")


def test_bus_chain_loop_and_unknown_bus_give_no_guest_node():
    cmdline = parse_qemu_argv(
        ["qemu", "-device", "pcie-root-port,id=a,bus=b", "-device", "pcie-root-port,id=b,bus=a",
         "-device", "vfio-pci,host=01:00.0,bus=a", "-device", "vfio-pci,host=02:00.0,bus=nowhere"]
    )  # fmt: skip
    assert [v.guest_node for v in cmdline.vfio] == [None, None]


def test_json_shape_contract():
    data = qemu_as_json(load("qemu-argv-gpu-two-nodes.txt"))
    assert data["memory_backends"][0] == {
        "id": "numa-mem0", "type": "memory-backend-ram", "size_mib": 33792, "host_nodes": [0],
        "policy": "bind", "mem_path": None,
    }  # fmt: skip
    assert data["numa_nodes"][1] == {"nodeid": 1, "memdev": "numa-mem1", "cpus": list(range(33, 66))}
    assert data["dists"][0] == {"src": 0, "dst": 1, "val": 21}
    assert data["pxb"] == [{"id": "pxb-numa1", "bus_nr": 64, "numa_node": 1}]
    assert data["vfio"] == [{"host": "0000:41:00.0", "bus": "rp-numa1-0", "guest_node": 1}]


def test_a_numa_node_without_nodeid_gets_the_next_id():
    cmdline = parse_qemu_argv(["qemu", "-numa", "node,memdev=dimm1", "-numa", "node,memdev=dimm2"])
    assert [n.nodeid for n in cmdline.numa_nodes] == [0, 1]
