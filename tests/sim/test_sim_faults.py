"""Every fault changes what the suite's core reads back, the way its documentation says."""

import subprocess
import time
from pathlib import Path

import pytest

from kata_numa.dropin import DropIn, clean_leftover, dropin_content, find_active_config, find_leftovers, render_dropin
from kata_numa.errors import InputError
from kata_numa.guest import check_memory_on_every_node
from kata_numa.hostaccess import LocalHostAccess
from kata_numa.memory import check_memory_bound_in_kernel, check_pages_on_bound_nodes
from kata_numa.placement import check_balanced, check_no_cpus_in_common, check_no_shared_cpus
from kata_numa.qemu_checks import check_backends_bound, check_vfio_on_guest_node
from kata_numa.sim.faults import CATALOGUE, catalogue_markdown, parse_faults
from simhelpers import REPO, core_view, enable_numa, make_node, pod_manifest, run_pod

BIG = {"cpu": "64", "memory": "8Gi"}  # 65 vCPUs: more than one host node holds
GPU = "0000:41:00.0"


def test_every_fault_is_documented_with_what_catches_it():
    assert len(CATALOGUE) == 17
    for fault in CATALOGUE.values():
        assert fault.breaks and fault.caught_by


def test_unknown_fault_names_are_refused_listing_the_catalogue():
    with pytest.raises(InputError, match=r"unknown nope.*guest-single-node"):
        parse_faults("vcpus-same-cpu, nope")


def view(tmp_path: Path, faults: str = "", mapping=None, **pod):
    node = make_node(tmp_path, faults=faults)
    enable_numa(node, mapping)
    return run_pod(node, "p", **(pod or BIG))


def test_healthy_node_passes_every_check(tmp_path):
    seen = view(tmp_path, cpu="64", memory="8Gi", gpus=1)
    assert seen.report.node_count == 2
    assert check_balanced(seen.report.cpus, seen.report.online).ok
    assert check_memory_on_every_node(seen.report).ok
    assert seen.pinning.per_node == {0: 33, 1: 32}
    assert seen.pinning.unplaced == ()
    assert check_no_shared_cpus(seen.pinning).ok
    assert check_backends_bound(seen.cmdline, {0: {0}, 1: {1}}).ok
    assert check_vfio_on_guest_node(seen.cmdline, GPU, 1).ok
    assert seen.report.gpus == {GPU: 1}
    assert check_memory_bound_in_kernel(seen.memory).ok
    assert check_pages_on_bound_nodes(seen.memory).ok
    assert [(m.mapping.kernel_policy, set(m.mapping.pages)) for m in seen.memory] == [("bind:0", {0}), ("bind:1", {1})]


def test_guest_single_node(tmp_path):
    seen = view(tmp_path, "guest-single-node")
    assert seen.report.node_count == 1
    assert len(seen.cmdline.numa_nodes) == 2  # only the guest's view breaks


def test_guest_vcpu_imbalance(tmp_path):
    seen = view(tmp_path, "guest-vcpu-imbalance")
    assert seen.report.cpus == {0: 64, 1: 1}
    assert not check_balanced(seen.report.cpus, seen.report.online).ok


def test_guest_memory_one_node(tmp_path):
    seen = view(tmp_path, "guest-memory-one-node")
    assert seen.report.mem_kb[1] == 0
    assert not check_memory_on_every_node(seen.report).ok


def test_vcpus_unpinned(tmp_path):
    seen = view(tmp_path, "vcpus-unpinned")
    assert len(seen.pinning.unplaced) == 65
    assert {t.state for t in seen.pinning.unplaced} == {"not placed yet"}


def test_vcpus_pinned_node0(tmp_path):
    seen = view(tmp_path, "vcpus-pinned-node0")
    assert seen.pinning.per_node == {0: 65}


def test_vcpus_same_cpu(tmp_path):
    seen = view(tmp_path, "vcpus-same-cpu")
    assert seen.pinning.per_node == {0: 33, 1: 32}  # a per-node count passes
    assert set(seen.pinning.shared_cpus) == {0, 32}
    assert not check_no_shared_cpus(seen.pinning).ok


def test_sandboxes_share_cpus(tmp_path):
    node = make_node(tmp_path, faults="sandboxes-share-cpus")
    enable_numa(node)
    first = run_pod(node, "a", cpu="8", memory="4Gi")
    second = run_pod(node, "b", cpu="8", memory="4Gi")
    assert first.pinning.single_cpu_threads == 9  # under none: should be 0
    assert check_no_shared_cpus(first.pinning).ok
    assert not check_no_cpus_in_common(first.pinning, second.pinning).ok


def test_sandboxes_do_not_share_cpus_without_the_fault(tmp_path):
    node = make_node(tmp_path, cpu_manager_policy="static")
    enable_numa(node)
    first = run_pod(node, "a", cpu="8", memory="4Gi")
    second = run_pod(node, "b", cpu="8", memory="4Gi")
    assert first.pinning.single_cpu_threads == 8
    assert check_no_cpus_in_common(first.pinning, second.pinning).ok


def test_rightsize_ignores_gpu(tmp_path):
    healthy = view(tmp_path / "healthy", cpu="4", memory="4Gi", gpus=1)
    assert healthy.cmdline.memory_backends[0].host_nodes == {1}
    assert healthy.pinning.per_node == {1: 5}
    seen = view(tmp_path / "faulty", "rightsize-ignores-gpu", cpu="4", memory="4Gi", gpus=1)
    assert seen.cmdline.memory_backends[0].host_nodes == {0}
    assert seen.pinning.per_node == {0: 5}


def test_no_pxb(tmp_path):
    seen = view(tmp_path, "no-pxb", cpu="64", memory="8Gi", gpus=1)
    assert seen.cmdline.pxbs == ()
    assert seen.cmdline.vfio[0].guest_node is None
    assert set(seen.report.gpus.values()) == {None}
    assert not check_vfio_on_guest_node(seen.cmdline, GPU, 1).ok


def test_gpu_wrong_guest_node(tmp_path):
    seen = view(tmp_path, "gpu-wrong-guest-node", cpu="64", memory="8Gi", gpus=1)
    assert [p.numa_node for p in seen.cmdline.pxbs] == [0]
    assert seen.report.gpus == {GPU: 0}
    assert not check_vfio_on_guest_node(seen.cmdline, GPU, 1).ok


def test_no_policy_bind(tmp_path):
    seen = view(tmp_path, "no-policy-bind")
    assert {b.policy for b in seen.cmdline.memory_backends} == {None}
    assert not check_backends_bound(seen.cmdline).ok
    assert {m.mapping.kernel_policy for m in seen.memory} == {"default"}  # no policy declared: the kernel's default
    assert not check_memory_bound_in_kernel(seen.memory).ok


def test_memory_not_bound(tmp_path):
    seen = view(tmp_path, "memory-not-bound")
    assert check_backends_bound(seen.cmdline).ok  # the declaration is intact
    assert {m.mapping.kernel_policy for m in seen.memory} == {"default"}
    assert all(set(m.mapping.pages) == {0, 1} for m in seen.memory)
    bound, pages = check_memory_bound_in_kernel(seen.memory), check_pages_on_bound_nodes(seen.memory)
    assert not bound.ok and not pages.ok
    assert bound.message.startswith("declaration and kernel disagree: numa-mem0 declares host-nodes=0,policy=bind")


def test_mapping_ignored(tmp_path):
    healthy = view(tmp_path / "healthy", mapping=["1"], cpu="4", memory="4Gi")
    assert healthy.cmdline.memory_backends[0].host_nodes == {1}
    seen = view(tmp_path / "faulty", "mapping-ignored", mapping=["1"], cpu="4", memory="4Gi")
    assert seen.cmdline.memory_backends[0].host_nodes == {0}
    assert not check_backends_bound(seen.cmdline, {0: {1}}).ok


def test_dropins_ignored(tmp_path):
    seen = view(tmp_path, "dropins-ignored")
    assert seen.report.node_count == 1
    assert len(seen.pinning.unplaced) == 65


def test_malformed_dropin_fails_the_pod_with_an_event_quoting_the_error(tmp_path):
    node = make_node(tmp_path)
    config_d = node.root / "opt/kata/share/defaults/kata-containers/runtimes/qemu-nvidia-gpu/config.d"
    config_d.mkdir(parents=True)
    (config_d / "10-broken.toml").write_text("[hypervisor.qemu\n")
    node.create_pod("default", pod_manifest("p"))
    node.settle()
    pod = node.get_pod("default", "p")
    assert pod.phase == "Pending"
    assert "10-broken.toml" in pod.events[-1]["message"]
    assert pod.events[-1]["reason"] == "FailedCreatePodSandBox"


def test_leftover_dropin_condition(tmp_path):
    node = make_node(tmp_path, faults="leftover-dropin")
    access = LocalHostAccess(str(node.root))
    config = find_active_config(access, "qemu-nvidia-gpu")
    assert [run for _, run in find_leftovers(access, config)] == ["19700101T000000Z-1"]
    seen = run_pod(node, "p", **BIG)  # left in place it maps every pod onto host node 0
    assert seen.report.node_count == 1
    assert seen.cmdline.memory_backends[0].host_nodes == {0}


def test_foreign_dropin_condition_is_restored_byte_for_byte(tmp_path):
    node = make_node(tmp_path, faults="foreign-dropin")
    access = LocalHostAccess(str(node.root))
    config = find_active_config(access, "qemu-nvidia-gpu")
    path = node.root / config.config_d.lstrip("/") / "90-kata-numa-suite.toml"
    before = path.read_bytes()
    assert find_leftovers(access, config) == []
    dropin = DropIn(access, config, "90-kata-numa-suite.toml", "r")
    dropin.install(render_dropin(dropin_content("qemu"), "r"))
    dropin.restore()
    assert path.read_bytes() == before
    assert path.stat().st_mode & 0o777 == 0o640


def test_leftover_over_a_foreign_dropin_keeps_the_operators_file(tmp_path):
    node = make_node(tmp_path, faults="leftover-dropin,foreign-dropin")
    access = LocalHostAccess(str(node.root))
    config = find_active_config(access, "qemu-nvidia-gpu")
    ((path, _),) = find_leftovers(access, config)
    assert clean_leftover(access, config, path).startswith("restored")
    assert b"Operator's own settings" in (node.root / path.lstrip("/")).read_bytes()


def test_placement_waits_for_the_runtime(tmp_path):
    # placement at a later read than this test makes: with 1, the runtime would place the threads
    # while the first probe is still reading them, and the count would depend on scheduling
    node = make_node(tmp_path, placement_reads=1000)
    enable_numa(node)
    node.create_pod("default", pod_manifest("p", cpu="64", memory="8Gi"))
    node.get_pod("default", "p")
    early = core_view(node, "p")
    assert len(early.pinning.unplaced) == 65  # right after boot: broad masks
    node.settle()
    assert core_view(node, "p").pinning.unplaced == ()


def test_the_documented_catalogue_is_the_real_one():
    assert catalogue_markdown() in (REPO / "docs" / "simulated-node.md").read_text()


def wait_placed(node, pod: str) -> None:
    deadline = time.monotonic() + 5
    while not node.pods[("default", pod)].sandbox.placed:
        assert time.monotonic() < deadline, "never placed"
        time.sleep(0.01)


def test_placement_comes_at_the_nth_read_of_a_vcpu_status(tmp_path):
    node = make_node(tmp_path, placement_reads=2)
    enable_numa(node)
    node.create_pod("default", pod_manifest("p", cpu="64", memory="8Gi"))
    assert len(core_view(node, "p").pinning.unplaced) == 65
    time.sleep(0.2)  # the read counter has seen the first read and must still wait
    assert not node.pods[("default", "p")].sandbox.placed
    core_view(node, "p")  # the second read: the runtime places the threads while or after it reads
    wait_placed(node, "p")
    assert core_view(node, "p").pinning.unplaced == ()


def test_placement_reads_zero_places_at_once(tmp_path):
    node = make_node(tmp_path, placement_reads=0)
    enable_numa(node)
    node.create_pod("default", pod_manifest("p", cpu="64", memory="8Gi"))
    assert core_view(node, "p").pinning.unplaced == ()


def test_reads_through_a_shell_count_too(tmp_path):
    node = make_node(tmp_path, placement_reads=1)
    enable_numa(node)
    node.create_pod("default", pod_manifest("p", cpu="64", memory="8Gi"))
    pid = node.pods[("default", "p")].sandbox.qemu_pid
    subprocess.run(["cat", str(node.root / f"proc/{pid}/task/{pid + 10}/status")], capture_output=True, check=True)
    wait_placed(node, "p")


def test_no_numa_dist(tmp_path):
    from kata_numa.qemu_checks import check_guest_distances
    from kata_numa.sysfs import read_host_topology

    healthy = view(tmp_path / "healthy")
    topology = read_host_topology(LocalHostAccess(str(tmp_path / "healthy" / "root")))
    assert check_guest_distances(healthy.report.distances, healthy.cmdline, topology).ok
    seen = view(tmp_path / "faulty", "no-numa-dist")
    assert seen.cmdline.dists == ()
    assert seen.report.distances == {0: (10, 20), 1: (20, 10)}
    verdict = check_guest_distances(seen.report.distances, seen.cmdline, topology)
    assert not verdict.ok
    assert "guest NUMA distances differ from the host's" in verdict.message


def test_dropins_ignored_shows_an_unbound_file_backend_in_the_kernel(tmp_path):
    seen = view(tmp_path, "dropins-ignored")
    (memory,) = seen.memory
    assert memory.mapping.path.startswith("/dev/shm/qemu_back_mem.dimm1.")
    assert memory.mapping.kernel_policy == "default"
    assert not check_memory_bound_in_kernel(seen.memory).ok
