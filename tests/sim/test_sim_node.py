import pytest

from kata_numa.hostaccess import LocalHostAccess
from kata_numa.sim.node import ApiError
from simhelpers import enable_numa, make_node, pod_manifest, run_pod


def crictl(node, *args: str) -> str:
    return LocalHostAccess(str(node.root)).run_checked(["crictl", "pods", *args]).stdout


def test_crictl_label_is_exact_where_name_matches_substrings(tmp_path):
    node = make_node(tmp_path)
    node.create_pod("default", pod_manifest("numa-test"))
    node.create_pod("default", pod_manifest("numa-test-b"))
    node.settle()
    exact = crictl(
        node, "--label", "io.kubernetes.pod.name=numa-test", "--namespace", "default", "--state", "ready", "-q"
    )
    assert exact.split() == [node.pods[("default", "numa-test")].sandbox.sandbox_id]
    assert len(crictl(node, "--name", "numa-test", "-q").split()) == 2
    assert crictl(node, "--label", "io.kubernetes.pod.name=numa-test", "--namespace", "other", "-q") == ""
    assert "numa-test-b" in crictl(node)


def test_journal_has_the_runtimes_vfio_line(tmp_path):
    node = make_node(tmp_path)
    enable_numa(node)
    run_pod(node, "g", cpu="4", memory="4Gi", gpus=1)
    journal = LocalHostAccess(str(node.root)).run_checked(["journalctl", "-t", "kata", "-o", "cat"]).stdout
    assert "VFIO device NUMA placement validated bdf=0000:41:00.0 host-numa=1 guest-numa=0" in journal.replace('"', "")
    assert "-- No entries --" in LocalHostAccess(str(node.root)).run(["journalctl", "-t", "other"]).stdout


def test_pods_side_by_side_and_deletion_removes_the_processes(tmp_path):
    node = make_node(tmp_path)
    enable_numa(node)
    first = run_pod(node, "a", cpu="4", memory="4Gi")
    second = run_pod(node, "b", cpu="4", memory="4Gi")
    assert first.pid != second.pid
    assert first.sandbox_id != second.sandbox_id
    node.delete_pod("default", "a")
    assert not (node.root / "proc" / str(first.pid)).exists()
    assert (node.root / "proc" / str(second.pid)).exists()
    assert crictl(node, "-q").split() == [second.sandbox_id]
    with pytest.raises(ApiError, match='pods "a" not found'):
        node.delete_pod("default", "a")


def test_big_pods_do_not_reuse_thread_ids(tmp_path):
    node = make_node(tmp_path, "four-node-snc")
    enable_numa(node)
    first = run_pod(node, "a", cpu="95", memory="4Gi")
    second = run_pod(node, "b", cpu="95", memory="4Gi")
    assert len(first.pinning.vcpus) == len(second.pinning.vcpus) == 96
    assert not {t.tid for t in first.pinning.threads} & {t.tid for t in second.pinning.threads}


def test_static_policy_packs_exclusive_cpus_from_the_gpus_node_never_sharing(tmp_path):
    node = make_node(tmp_path, cpu_manager_policy="static")
    enable_numa(node)
    gpu_pod = run_pod(node, "g", cpu="4", memory="4Gi", gpus=1)
    assert node.pods[("default", "g")].exclusive == {32, 33, 34, 35}
    assert gpu_pod.pinning.pinned_cpus == {32, 33, 34, 35}
    assert gpu_pod.pinning.single_cpu_threads == 4  # the 5th vCPU floats within its node's share of the set
    plain = run_pod(node, "p", cpu="4", memory="4Gi")
    assert node.pods[("default", "p")].exclusive == {0, 1, 2, 3}
    assert not plain.pinning.pinned_cpus & gpu_pod.pinning.pinned_cpus


def test_static_policy_with_a_fractional_cpu_uses_the_shared_pool(tmp_path):
    node = make_node(tmp_path, cpu_manager_policy="static")
    enable_numa(node)
    seen = run_pod(node, "f", cpu="3500m", memory="4Gi")
    assert node.pods[("default", "f")].exclusive is None
    assert seen.pinning.single_cpu_threads == 0


def test_static_policy_runs_out_of_cpus_with_a_scheduling_event(tmp_path):
    node = make_node(tmp_path, "two-socket-no-gpu", cpu_manager_policy="static")
    node.create_pod("default", pod_manifest("huge", cpu="40"))
    node.create_pod("default", pod_manifest("more", cpu="40"))
    pod = node.get_pod("default", "more")
    assert pod.phase == "Pending"
    assert pod.events[-1]["message"] == "0/1 nodes are available: 1 Insufficient cpu."


def test_more_gpus_than_the_node_has_stays_pending_with_a_reason(tmp_path):
    node = make_node(tmp_path)
    node.create_pod("default", pod_manifest("greedy", gpus=2))
    pod = node.get_pod("default", "greedy")
    assert pod.phase == "Pending"
    assert "Insufficient nvidia.com/pgpu" in pod.events[-1]["message"]
    assert node.pod_object(pod)["status"]["conditions"][0] == {
        "type": "PodScheduled", "status": "False", "lastTransitionTime": pod.created}  # fmt: skip


def test_gpus_are_handed_out_once(tmp_path):
    node = make_node(tmp_path)
    node.create_pod("default", pod_manifest("one", gpus=1))
    node.create_pod("default", pod_manifest("two", gpus=1))
    assert node.get_pod("default", "two").phase == "Pending"
    node.delete_pod("default", "one")
    node.create_pod("default", pod_manifest("three", gpus=1))
    node.settle()
    assert node.get_pod("default", "three").phase == "Running"


@pytest.mark.parametrize(
    ("manifest", "code", "message"),
    [
        (pod_manifest("x", runtime_class="kata-nope"), 403, 'RuntimeClass "kata-nope" not found'),
        (pod_manifest("x", cpu="four"), 422, "limits[cpu]: Invalid value"),
        (pod_manifest("x", memory="lots"), 422, "limits[memory]: Invalid value"),
        ({"kind": "Pod", "metadata": {}, "spec": {}}, 422, "name is required"),
        ({"kind": "Pod", "metadata": {"name": "x"}, "spec": {}}, 422, "spec.containers: Required value"),
        ({"kind": "Service"}, 400, "not a Pod"),
        ([1, 2], 400, "not a Pod"),
    ],
)
def test_bad_manifests_get_the_api_servers_answer(tmp_path, manifest, code, message):
    node = make_node(tmp_path)
    with pytest.raises(ApiError) as error:
        node.create_pod("default", manifest)
    assert error.value.code == code
    assert message in error.value.message
    assert node.pods == {}


def test_a_pod_without_runtime_class_runs_on_the_host_and_reports_host_facts(tmp_path):
    node = make_node(tmp_path)
    node.create_pod("default", pod_manifest("runc", runtime_class=""))
    node.settle()
    assert node.get_pod("default", "runc").phase == "Running"
    assert "node1_cpus: 64" in node.pod_log("default", "runc")
    assert "kata" not in crictl(node)


def test_the_rust_runtime_builds_no_numa_topology(tmp_path):
    node = make_node(tmp_path)
    node.create_pod("default", pod_manifest("rs", cpu="64", runtime_class="kata-qemu-runtime-rs"))
    node.settle()
    assert "numa_online: 0\n" in node.pod_log("default", "rs")


def test_the_kata_runtime_class_maps_to_the_default_shim(tmp_path):
    node = make_node(tmp_path)
    enable_numa(node)
    node.create_pod("default", pod_manifest("k", cpu="64", runtime_class="kata"))
    node.settle()
    assert "numa_online: 0-1" in node.pod_log("default", "k")


def test_duplicate_pod_names_conflict(tmp_path):
    node = make_node(tmp_path)
    node.create_pod("default", pod_manifest("same"))
    with pytest.raises(ApiError, match="already exists"):
        node.create_pod("default", pod_manifest("same"))


def test_log_of_a_pod_that_is_not_running_is_refused(tmp_path):
    node = make_node(tmp_path)
    node.create_pod("default", pod_manifest("greedy", gpus=5))
    with pytest.raises(ApiError, match="waiting to start"):
        node.pod_log("default", "greedy")


def test_unknown_policy_is_refused(tmp_path):
    with pytest.raises(Exception, match="SIM_CPU_MANAGER_POLICY"):
        make_node(tmp_path, cpu_manager_policy="dynamic")
