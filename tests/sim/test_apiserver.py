"""The kubernetes client and KubeLibrary talking to the simulated API server."""

import json
import time
import urllib.error
import urllib.request

import pytest
from KubeLibrary import KubeLibrary
from kubernetes import client, config

from kata_numa.sim.cluster import start_simulated_cluster
from simhelpers import pod_manifest


@pytest.fixture
def cluster(tmp_path):
    running = start_simulated_cluster(parent=tmp_path)
    yield running
    running.stop()
    assert not running.directory.exists()


@pytest.fixture
def v1(cluster):
    api = client.ApiClient(config.new_client_from_config(str(cluster.kubeconfig)).configuration)
    return client.CoreV1Api(api)


def wait_running(v1, name: str) -> None:
    deadline = time.monotonic() + 5
    while v1.read_namespaced_pod_status(name, "default").status.phase != "Running":
        assert time.monotonic() < deadline, f"{name} never ran"
        time.sleep(0.02)


def test_client_create_status_log_events_delete(cluster, v1):
    created = v1.create_namespaced_pod("default", pod_manifest("p1", cpu="4"))
    assert created.metadata.name == "p1"
    wait_running(v1, "p1")
    status = v1.read_namespaced_pod_status("p1", "default").status
    assert status.container_statuses[0].ready is True
    assert status.qos_class == "Guaranteed"
    assert v1.read_namespaced_pod_log("p1", "default", container="probe").startswith("numa_online: 0\n")
    reasons = [e.reason for e in v1.list_namespaced_event("default", field_selector="involvedObject.name=p1").items]
    assert reasons[:1] == ["Scheduled"]
    assert [p.metadata.name for p in v1.list_namespaced_pod("default").items] == ["p1"]
    v1.delete_namespaced_pod("p1", "default")
    with pytest.raises(client.ApiException) as missing:
        v1.read_namespaced_pod("p1", "default")
    assert missing.value.status == 404


def test_nodes_offer_the_topologys_gpus_and_serve_configz(cluster, v1):
    nodes = v1.list_node().items
    assert [n.metadata.name for n in nodes] == ["sim-node"]
    assert nodes[0].status.allocatable["nvidia.com/pgpu"] == "1"
    response = v1.connect_get_node_proxy_with_path("sim-node", "configz", _preload_content=False)
    assert json.loads(response.data)["kubeletconfig"]["cpuManagerPolicy"] == "none"


def test_configz_can_be_forbidden(tmp_path):
    running = start_simulated_cluster(parent=tmp_path, configz_forbidden=True, cpu_manager_policy="static")
    try:
        api = client.CoreV1Api(config.new_client_from_config(str(running.kubeconfig)))
        with pytest.raises(client.ApiException) as forbidden:
            api.connect_get_node_proxy_with_path("sim-node", "configz")
        assert forbidden.value.status == 403
    finally:
        running.stop()


def test_admission_errors_come_back_as_kubernetes_status(cluster, v1):
    with pytest.raises(client.ApiException) as rejected:
        v1.create_namespaced_pod("default", pod_manifest("x", runtime_class="kata-nope"))
    body = json.loads(rejected.value.body)
    assert (rejected.value.status, body["kind"], body["reason"]) == (403, "Status", "Forbidden")
    with pytest.raises(client.ApiException) as invalid:
        v1.create_namespaced_pod("default", pod_manifest("y", cpu="lots"))
    assert invalid.value.status == 422


def test_kubelibrary_create_get_status_log_delete(cluster):
    kube = KubeLibrary(kube_config=str(cluster.kubeconfig))
    assert kube.create("v1", "Pod", body=pod_manifest("k1", cpu="2"), namespace="default").metadata.name == "k1"
    deadline = time.monotonic() + 5
    while kube.read_namespaced_pod_status("k1", "default").phase != "Running":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert kube.get("v1", "Pod", name="k1", namespace="default").status.phase == "Running"
    assert "node0_cpus: 3" in kube.read_namespaced_pod_log("k1", "default", "probe")
    assert kube.get_healthy_nodes_count() == 1
    kube.delete("v1", "Pod", name="k1", namespace="default")
    assert kube.list_namespaced_pod_by_pattern(".*", "default") == []


def raw(cluster, path: str, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(cluster.url + path, headers={"Authorization": f"Bearer {token or cluster.token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_wrong_token_is_401_and_unknown_paths_404_with_status_bodies(cluster):
    code, body = raw(cluster, "/api/v1/nodes", token="wrong")
    assert (code, body["kind"], body["reason"]) == (401, "Status", "Unauthorized")
    code, body = raw(cluster, "/apis/apps/v1/deployments")
    assert (code, body["kind"], body["code"]) == (404, "Status", 404)
    assert raw(cluster, "/version")[1]["major"] == "1"


def test_a_broken_body_is_a_400_not_a_crash(cluster):
    request = urllib.request.Request(
        cluster.url + "/api/v1/namespaces/default/pods",
        data=b"{not json",
        method="POST",
        headers={"Authorization": f"Bearer {cluster.token}", "Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=5)
    assert error.value.code == 400
    assert raw(cluster, "/api/v1/nodes")[0] == 200


def test_two_simulated_nodes_run_side_by_side(tmp_path):
    first = start_simulated_cluster(parent=tmp_path)
    second = start_simulated_cluster(parent=tmp_path, topology="variables/topologies/four-node-snc.yaml")
    try:
        assert first.url != second.url
        assert first.root != second.root
        assert raw(second, "/api/v1/nodes")[1]["items"][0]["status"]["allocatable"]["nvidia.com/pgpu"] == "2"
    finally:
        first.stop()
        second.stop()
