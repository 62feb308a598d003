"""Robot Framework library: the scenarios' pods on the cluster, and what the cluster says about its node."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time

import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from robot.api import logger
from robot.api.deco import keyword, library
from robot.libraries.BuiltIn import BuiltIn
from robot.utils import timestr_to_secs

from kata_numa import __version__
from kata_numa.errors import InputError
from kata_numa.pods import (
    GPU_RESOURCE,
    READ_STREAM_PATCH,
    SETTINGS_DROPIN,
    genpolicy_argv,
    is_confidential,
    numa_pod_manifest,
    parse_cpu_manager_policy,
)
from keyword_support import backoff, core_call, log_debug, log_table


@library(scope="GLOBAL", version=__version__, doc_format="ROBOT")
class PodLifecycle:
    """Builds the probe pods, waits for them, reads what they print, and removes them.

    = Connection =

    `Connect To Kubernetes` reads a kubeconfig (the simulated node writes one).
    Failures say what the pod is waiting for, with the cluster's events, and a
    refused log read on a confidential shim says why.
    """

    def __init__(self) -> None:
        self._api: client.CoreV1Api | None = None
        self.namespace = "default"

    @property
    def api(self) -> client.CoreV1Api:
        """The client of the cluster connected last."""
        if self._api is None:
            raise AssertionError("not connected to a cluster: call `Connect To Kubernetes` first")
        return self._api

    @keyword("Connect To Kubernetes")
    def connect_to_kubernetes(self, kubeconfig: str = "", context: str = "", namespace: str = "default") -> None:
        """Connects with ``kubeconfig`` (default: ``KUBECONFIG`` or ``~/.kube/config``) and ``context``."""
        try:
            api_client = config.new_client_from_config(config_file=kubeconfig or None, context=context or None)
        except (config.ConfigException, OSError, TypeError) as error:
            raise AssertionError(f"cannot read kubeconfig {kubeconfig or '(default)'}: {error}") from None
        self._api = client.CoreV1Api(api_client)
        self.namespace = namespace

    @keyword("Import KubeLibrary For The Cluster")
    def import_kubelibrary_for_the_cluster(self, kubeconfig: str = "", context: str = "") -> None:
        """Imports KubeLibrary on the same kubeconfig, for scenarios that want its keywords."""
        BuiltIn().import_library("KubeLibrary", f"kube_config={kubeconfig or None}", f"context={context or None}")

    @keyword("Create Pod")
    def create_pod(self, manifest: dict) -> None:
        """Creates the pod; a refusal (bad manifest, unknown runtime class) fails with the API's message."""
        try:
            self.api.create_namespaced_pod(self.namespace, manifest)
        except ApiException as error:
            detail = error.body
            with contextlib.suppress(TypeError, ValueError):
                detail = json.loads(error.body).get("message", error.body)
            raise AssertionError(f"creating pod {manifest['metadata']['name']}: {error.status} {detail}") from None

    @keyword("Build NUMA Pod Manifest")
    def build_numa_pod_manifest(
        self,
        name: str,
        vcpus: int,
        memory: str,
        gpus: int = 0,
        *,
        node_name: str = "",
        runtime_class: str = "",
        image: str = "",
    ) -> dict:
        """Returns the manifest of a probe pod with limits only (Guaranteed), optionally bound to ``node_name``."""
        manifest = core_call(
            numa_pod_manifest,
            name,
            image=image,
            runtime_class=runtime_class,
            vcpus=vcpus,
            memory=memory,
            gpus=gpus,
            node_name=node_name or None,
        )
        log_debug(f"manifest of {name}", json.dumps(manifest, indent=2))
        return manifest

    @keyword("Apply Agent Policy To Manifest")
    def apply_agent_policy_to_manifest(self, manifest: dict, genpolicy: str, settings_dir: str) -> dict:
        """Returns the manifest with an agent policy from ``genpolicy`` that lets the guest's log be read.

        The policy is generated in a copy of ``settings_dir`` (the original is not
        touched) with a JSON-patch drop-in that allows ``ReadStreamRequest``.
        """
        if not os.path.isdir(settings_dir):
            raise AssertionError(f"GENPOLICY_SETTINGS_DIR {settings_dir} is not a directory")
        with tempfile.TemporaryDirectory(prefix="kata-numa-policy-") as work:
            settings = os.path.join(work, "settings")
            shutil.copytree(settings_dir, settings)
            patch = os.path.join(settings, SETTINGS_DROPIN)
            os.makedirs(os.path.dirname(patch), exist_ok=True)
            with open(patch, "w", encoding="utf-8") as handle:
                json.dump(READ_STREAM_PATCH, handle)
            path = os.path.join(work, "pod.yaml")
            with open(path, "w", encoding="utf-8") as handle:
                yaml.safe_dump(manifest, handle)
            argv = genpolicy_argv(genpolicy, path, settings)
            try:
                done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
            except OSError as error:
                raise AssertionError(f"GENPOLICY {genpolicy} cannot run: {error.strerror}") from None
            if done.returncode != 0:
                raise AssertionError(f"{' '.join(argv)} failed: {done.stderr.strip()[-500:]}")
            with open(path, encoding="utf-8") as handle:
                generated = yaml.safe_load(handle)
        annotations = (generated.get("metadata") or {}).get("annotations") or {}
        log_table(("manifest", "annotations added"), [(manifest["metadata"]["name"], ", ".join(annotations) or "-")])
        return generated

    @keyword("Wait Until Pod Is Ready")
    def wait_until_pod_is_ready(self, name: str, timeout: str = "300s") -> None:
        """Waits until the pod's containers are ready; fails early when it failed, naming the events."""
        deadline = time.monotonic() + timestr_to_secs(timeout)
        delays = backoff()
        while True:
            pod = self._read(name)
            phase = pod.status.phase if pod and pod.status else "absent"
            statuses = (pod.status.container_statuses or []) if pod and pod.status else []
            if phase == "Running" and statuses and all(s.ready for s in statuses):
                logger.info(f"pod {name} is Ready on node {pod.spec.node_name}")
                return
            if phase in ("Failed", "Succeeded") or time.monotonic() >= deadline:
                raise AssertionError(
                    f"pod {name} is not Ready after {timeout}: phase {phase}; {self._event_text(name)}"
                )
            time.sleep(next(delays))

    def _read(self, name: str) -> client.V1Pod | None:
        try:
            return self.api.read_namespaced_pod_status(name, self.namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise AssertionError(f"reading pod {name}: {error.status} {error.reason}") from None

    def _events(self, name: str) -> list:
        try:
            selector = f"involvedObject.name={name}"
            return self.api.list_namespaced_event(self.namespace, field_selector=selector).items
        except ApiException:
            return []

    def _event_text(self, name: str) -> str:
        events = self._events(name)
        if not events:
            return "no events"
        return "events: " + "; ".join(f"{e.reason}: {e.message}" for e in events[-4:])

    @keyword("Get Probe Output Of Pod")
    def get_probe_output_of_pod(self, name: str, runtime_class: str = "") -> str:
        """Returns what the probe container printed (the guest's report)."""
        try:
            text = self.api.read_namespaced_pod_log(name, self.namespace, container="probe")
        except ApiException as error:
            if is_confidential(runtime_class):
                raise AssertionError(
                    f"reading the log of {name} was refused ({error.status} {error.reason}): runtime class "
                    f"{runtime_class} runs an agent policy; the log is readable only when the pod's policy allows "
                    "ReadStreamRequest (set GENPOLICY and GENPOLICY_SETTINGS_DIR)"
                ) from None
            raise AssertionError(f"reading the log of {name}: {error.status} {error.reason}: {error.body}") from None
        log_debug(f"probe output of {name}", text)
        return text

    @keyword("Add Agent Policy When The Shim Needs One")
    def add_agent_policy_when_the_shim_needs_one(
        self, manifest: dict, runtime_class: str, genpolicy: str = "", settings_dir: str = ""
    ) -> dict:
        """Returns ``manifest``, with an agent policy allowing log reads for a confidential runtime class.

        Unchanged for other runtime classes, and when ``genpolicy`` is not given
        (the preflight warned; a refused log read then says why).
        """
        if not is_confidential(runtime_class) or not genpolicy:
            return manifest
        return self.apply_agent_policy_to_manifest(manifest, genpolicy, settings_dir)

    @keyword("Check Agent Policy Settings")
    def check_agent_policy_settings(self, runtime_class: str, genpolicy: str = "", settings_dir: str = "") -> str:
        """Returns how log reads will work for ``runtime_class``; warns when a confidential shim lacks genpolicy."""
        if not is_confidential(runtime_class):
            return "not needed"
        if not genpolicy or not settings_dir:
            logger.warn(
                f"runtime class {runtime_class} runs an agent policy: without GENPOLICY and "
                "GENPOLICY_SETTINGS_DIR the guest's log cannot be read and every scenario will fail"
            )
            return "missing: set GENPOLICY and GENPOLICY_SETTINGS_DIR"
        return f"generated by {genpolicy} from {settings_dir} with ReadStreamRequest allowed"

    @keyword("Get Node Of Pod")
    def get_node_of_pod(self, name: str) -> str:
        """Returns the node the pod runs on."""
        pod = self._read(name)
        if pod is None or not pod.spec.node_name:
            raise AssertionError(f"pod {name} is not scheduled on a node")
        return pod.spec.node_name

    @keyword("Delete Pod And Wait Until Gone")
    def delete_pod_and_wait_until_gone(self, name: str, timeout: str = "120s") -> None:
        """Deletes the pod (if it exists) and waits until the API no longer knows it."""
        try:
            self.api.delete_namespaced_pod(name, self.namespace, grace_period_seconds=0)
        except ApiException as error:
            if error.status == 404:
                return
            raise AssertionError(f"deleting pod {name}: {error.status} {error.reason}") from None
        deadline = time.monotonic() + timestr_to_secs(timeout)
        delays = backoff()
        while self._read(name) is not None:
            if time.monotonic() >= deadline:
                raise AssertionError(f"pod {name} still exists {timeout} after its deletion")
            time.sleep(next(delays))

    @keyword("Log Pod Status And Events")
    def log_pod_status_and_events(self, name: str) -> None:
        """Logs the pod's phase, conditions, events and log (for the teardown of a scenario)."""
        pod = self._read(name)
        if pod is None:
            logger.info(f"pod {name} does not exist")
            return
        conditions = [(c.type, c.status, c.reason or "") for c in (pod.status.conditions or [])]
        log_table(("condition", "status", "reason"), conditions, f"pod {name}: {pod.status.phase}")
        log_table(
            ("type", "reason", "message"),
            [(e.type, e.reason, e.message) for e in self._events(name)],
            f"events of {name}",
        )
        if pod.status.phase == "Running":
            try:
                text = self.api.read_namespaced_pod_log(name, self.namespace, container="probe")
            except ApiException as error:
                text = f"(not readable: {error.status} {error.reason})"
            logger.info(f"log of {name}:\n{text}")

    @keyword("Get Kubelet CPU Manager Policy")
    def get_kubelet_cpu_manager_policy(self, node: str) -> str:
        """Returns ``none``, ``static`` or ``unknown`` (the node's configz may be forbidden) and logs why."""
        try:
            response = self.api.connect_get_node_proxy_with_path(node, "configz", _preload_content=False)
            policy = parse_cpu_manager_policy(response.data)
        except ApiException as error:
            logger.info(f"kubelet configuration of {node} is not readable: {error.status} {error.reason}")
            return "unknown"
        except InputError as error:
            logger.info(f"kubelet configuration of {node}: {error}")
            return "unknown"
        logger.info(f"kubelet CPU manager policy of {node}: {policy}")
        return policy

    @keyword("Get Allocatable GPUs")
    def get_allocatable_gpus(self, node: str) -> int:
        """Returns ``status.allocatable["nvidia.com/pgpu"]`` of the node (0 when absent)."""
        try:
            allocatable = self.api.read_node(node).status.allocatable or {}
        except ApiException as error:
            raise AssertionError(f"reading node {node}: {error.status} {error.reason}") from None
        value = str(allocatable.get(GPU_RESOURCE, "0"))
        return int(value) if value.isdigit() else 0

    @keyword("Get First Node Name")
    def get_first_node_name(self) -> str:
        """Returns the name of the cluster's first node (for a one-node cluster or the simulated node)."""
        nodes = self.api.list_node().items
        if not nodes:
            raise AssertionError("the cluster has no node")
        return nodes[0].metadata.name
