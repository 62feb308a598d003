"""The simulated Kata node: its host tree, its pods and sandboxes, and the runtime's decisions.

The node keeps a directory that looks like a real node's filesystem and
answers the Kubernetes API server (``apiserver``) for pod operations. When a
pod is created it reads the effective runtime configuration from that tree
through host access (base file plus every ``config.d/`` file, as Kata does),
applies the Kata rules (``kata_rules``) and writes the sandbox's QEMU, shim
and virtiofsd processes into the tree's ``/proc``.
"""

from __future__ import annotations

import datetime
import glob
import itertools
import os
import shutil
import threading
import time
import tomllib
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..cpuset import format_cpulist
from ..dropin import STAMP, find_active_config, merge_config
from ..errors import InputError
from ..hostaccess import LocalHostAccess
from ..pods import is_confidential, parse_cpu_quantity, parse_memory_quantity
from ..sysfs import HostTopology, PciDevice
from .configs import SHIMS, Shim, configuration_text, shim_by_name
from .faults import parse_faults
from .kata_rules import (
    Placement,
    SandboxLayout,
    SandboxRequest,
    guest_report,
    host_report,
    layout_sandbox,
    memory_maps,
    place_vcpus,
    qemu_argv,
    settings_from_config,
)
from .opencount import OpenCounter
from .procfs_tree import SimThread, remove_process, update_threads, write_atomic, write_process
from .sysfs_tree import write_sysfs_tree

GPU_RESOURCE = "nvidia.com/pgpu"
AGENT_POLICY_ANNOTATION = "io.katacontainers.config.agent.policy"
SUITE_DROPIN = "90-kata-numa-suite.toml"
STATE_FILE = "run/kata-sim/pods"
JOURNAL_FILE = "var/log/kata-sim/journal"


class ApiError(Exception):
    """An answer of the API server other than success: HTTP code, Kubernetes reason, message."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message


@dataclass
class Sandbox:
    """A pod's sandbox: its id, processes and what the runtime decided."""

    sandbox_id: str
    shim_pid: int | None = None
    qemu_pid: int | None = None
    virtiofsd_pid: int | None = None
    layout: SandboxLayout | None = None
    placement: Placement | None = None
    threads: list[SimThread] = field(default_factory=list)
    placed: bool = False


@dataclass
class Pod:
    """A pod on the simulated node."""

    namespace: str
    name: str
    manifest: dict
    uid: str
    created: str
    phase: str = "Pending"
    waiting_reason: str | None = "ContainerCreating"
    ready_at: float | None = None
    sandbox: Sandbox | None = None
    exclusive: frozenset[int] | None = None
    gpus: tuple[PciDevice, ...] = ()
    log: str = ""
    events: list[dict] = field(default_factory=list)
    timer: threading.Timer | None = None
    watch: int | None = None


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SimulatedNode:
    """One simulated Kubernetes node running Kata, with its host tree under ``root``."""

    def __init__(
        self,
        topology: HostTopology,
        root: str | Path,
        *,
        cpu_manager_policy: str = "none",
        faults: str | frozenset[str] = frozenset(),
        node_name: str = "sim-node",
        placement_reads: int = 1,
        placement_delay: float = 10.0,
        boot_delay: float = 0.05,
        qemu_names_threads: bool = True,
        configz_forbidden: bool = False,
        default_shim: str = "qemu-nvidia-gpu",
    ) -> None:
        if cpu_manager_policy not in ("none", "static"):
            raise InputError(f"SIM_CPU_MANAGER_POLICY: {cpu_manager_policy!r} is not none or static")
        if shim_by_name(default_shim) is None:
            raise InputError(f"default shim {default_shim!r} is not one of {', '.join(s.name for s in SHIMS)}")
        self.topology = topology
        self.root = Path(root)
        self.policy = cpu_manager_policy
        self.faults = parse_faults(faults) if isinstance(faults, str) else frozenset(faults)
        self.node_name = node_name
        if placement_reads < 0:
            raise InputError(f"SIM_PLACEMENT_READS: {placement_reads} must be 0 or more")
        self.placement_reads = placement_reads
        self.placement_delay = placement_delay
        self._opens = _open_counter() if placement_reads else None
        self.boot_delay = boot_delay
        self.qemu_names_threads = qemu_names_threads
        self.configz_forbidden = configz_forbidden
        self.default_shim = default_shim
        self.access = LocalHostAccess(str(self.root))
        self.pods: dict[tuple[str, str], Pod] = {}
        self.namespaces: set[str] = {"default", "kube-system"}
        self.lock = threading.RLock()
        self._next_pid = 4200
        self._resource_version = itertools.count(1000)
        self.write_tree()

    # -- the host tree ---------------------------------------------------------

    @property
    def proc(self) -> Path:
        """The tree's ``/proc``."""
        return self.root / "proc"

    def write_tree(self) -> None:
        """Writes sysfs, the shims' configurations, the node's tools and its unrelated processes."""
        write_sysfs_tree(self.topology, self.root)
        for shim in SHIMS:
            path = self.root / shim.config_file.lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(configuration_text(shim))
        self._write_tools()
        every_cpu = self.topology.all_cpus
        for pid, argv, name in (
            (1, ["/sbin/init"], "systemd"),
            (310, ["/usr/local/bin/containerd"], "containerd"),
            (420, ["/usr/bin/kubelet", "--config=/var/lib/kubelet/config.yaml"], "kubelet"),
        ):
            write_process(self.proc, pid, argv, [SimThread(pid, name, every_cpu)])
        self._write_state()
        (self.root / JOURNAL_FILE).parent.mkdir(parents=True, exist_ok=True)
        (self.root / JOURNAL_FILE).touch()
        self._write_conditions()

    def _write_tools(self) -> None:
        tools = Path(__file__).with_name("tools")
        target = self.root / "usr/bin"
        target.mkdir(parents=True, exist_ok=True)
        for tool in ("crictl", "journalctl"):
            shutil.copyfile(tools / tool, target / tool)
            os.chmod(target / tool, 0o755)  # noqa: S103 - the node's tools are executables

    def _write_conditions(self) -> None:
        shim = shim_by_name(self.default_shim)
        config_d = self.root / shim.directory.lstrip("/") / "config.d"
        operator = (
            b"# Operator's own settings for this node; not the suite's.\n[hypervisor.qemu]\ndefault_memory = 2048\n"
        )
        if "foreign-dropin" in self.faults:
            config_d.mkdir(parents=True, exist_ok=True)
            (config_d / SUITE_DROPIN).write_bytes(operator)
            os.chmod(config_d / SUITE_DROPIN, 0o640)
        if "leftover-dropin" in self.faults:
            config_d.mkdir(parents=True, exist_ok=True)
            if "foreign-dropin" in self.faults:  # a crash while the operator's file was set aside
                backup = self.root / shim.directory.lstrip("/") / ".kata-numa-suite-backup" / SUITE_DROPIN
                backup.parent.mkdir(parents=True, exist_ok=True)
                backup.write_bytes(operator)
                os.chmod(backup, 0o640)
            (config_d / SUITE_DROPIN).write_text(
                f"{STAMP}; run=19700101T000000Z-1; removed when that run ends\n"
                '[hypervisor.qemu]\nenable_numa = true\nnuma_mapping = ["0"]\n'
                "\n[runtime]\nenable_vcpus_pinning = true\n"
            )

    def _write_state(self) -> None:
        lines = []
        for pod in self.pods.values():
            if pod.sandbox is not None:
                state = "SANDBOX_READY" if pod.phase == "Running" or pod.ready_at else "SANDBOX_NOTREADY"
                runtime = pod.manifest.get("spec", {}).get("runtimeClassName") or "runc"
                lines.append(f"{pod.sandbox.sandbox_id}\t{pod.namespace}\t{pod.name}\t{state}\t{runtime}\n")
        write_atomic(self.root / STATE_FILE, "".join(lines).encode())

    def _journal(self, pid: int | None, lines: list[str] | tuple[str, ...]) -> None:
        if not lines:
            return
        stamp = datetime.datetime.now().strftime("%b %d %H:%M:%S")
        with open(self.root / JOURNAL_FILE, "a", encoding="utf-8") as journal:
            for line in lines:
                journal.write(f"{stamp} {self.node_name} kata[{pid or 0}]: {line}\n")

    # -- pods -------------------------------------------------------------------

    def create_pod(self, namespace: str, manifest: dict) -> dict:
        """Admits a pod (or refuses it as the API server would) and starts its sandbox."""
        with self.lock:
            pod = self._admit(namespace, manifest)
            self.pods[(namespace, pod.name)] = pod
            self._schedule(pod)
            if not self._unschedulable(pod):
                self._start_sandbox(pod)
            self._write_state()
            return self.pod_object(pod)

    def _admit(self, namespace: str, manifest: dict) -> Pod:
        if not isinstance(manifest, dict) or manifest.get("kind", "Pod") != "Pod":
            raise ApiError(400, "BadRequest", "the body is not a Pod")
        metadata = manifest.get("metadata") or {}
        name = metadata.get("name")
        if not name:
            raise ApiError(422, "Invalid", "Pod is invalid: metadata.name: Required value: name is required")
        if (namespace, name) in self.pods:
            raise ApiError(409, "AlreadyExists", f'pods "{name}" already exists')
        spec = manifest.get("spec") or {}
        containers = spec.get("containers") or []
        if not containers:
            raise ApiError(422, "Invalid", f'Pod "{name}" is invalid: spec.containers: Required value')
        runtime_class = spec.get("runtimeClassName")
        if runtime_class and self._shim_of(runtime_class) is None:
            raise ApiError(
                403, "Forbidden", f'pods "{name}" is forbidden: pod rejected: RuntimeClass "{runtime_class}" not found'
            )
        for index, container in enumerate(containers):
            limits = ((container.get("resources") or {}).get("limits")) or {}
            for key, parse in (("cpu", parse_cpu_quantity), ("memory", parse_memory_quantity)):
                if key in limits:
                    try:
                        parse(limits[key])
                    except InputError:
                        raise ApiError(
                            422,
                            "Invalid",
                            f'Pod "{name}" is invalid: spec.containers[{index}].resources.limits[{key}]: '
                            f'Invalid value: "{limits[key]}": quantities must match the regular expression '
                            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                        ) from None
        manifest = dict(manifest, metadata=dict(metadata, namespace=namespace))
        self.namespaces.add(namespace)
        return Pod(namespace, name, manifest, str(uuid.uuid4()), _now())

    def _shim_of(self, runtime_class: str) -> Shim | None:
        if runtime_class == "kata":
            return shim_by_name(self.default_shim)
        if runtime_class.startswith("kata-"):
            return shim_by_name(runtime_class[len("kata-") :])
        return None

    def _limits(self, pod: Pod) -> tuple[int, int, int, bool]:
        """(millicores, MiB, GPUs, integer CPU) summed over the pod's containers."""
        cpu = memory = gpus = 0
        for container in pod.manifest["spec"]["containers"]:
            limits = ((container.get("resources") or {}).get("limits")) or {}
            cpu += parse_cpu_quantity(limits.get("cpu", "0"))
            memory += parse_memory_quantity(limits.get("memory", "0"))
            gpus += int(str(limits.get(GPU_RESOURCE, "0")))
        return cpu, memory, gpus, cpu > 0 and cpu % 1000 == 0

    def _schedule(self, pod: Pod) -> None:
        try:
            cpu, _, gpu_count, integer_cpu = self._limits(pod)
        except ValueError:
            self._event(pod, "Warning", "FailedScheduling", f"invalid {GPU_RESOURCE} limit")
            return
        free_gpus = [g for g in self.topology.gpus() if g.bdf not in self._gpus_in_use()]
        if gpu_count > len(free_gpus):
            self._event(pod, "Warning", "FailedScheduling", f"0/1 nodes are available: 1 Insufficient {GPU_RESOURCE}.")
            return
        pod.gpus = tuple(free_gpus[:gpu_count])
        if self.policy == "static" and integer_cpu:
            exclusive = self._allocate_cpus(cpu // 1000, pod.gpus)
            if exclusive is None:
                self._event(pod, "Warning", "FailedScheduling", "0/1 nodes are available: 1 Insufficient cpu.")
                pod.gpus = ()
                return
            pod.exclusive = exclusive
        self._event(pod, "Normal", "Scheduled", f"Successfully assigned {pod.namespace}/{pod.name} to {self.node_name}")

    def _gpus_in_use(self) -> set[str]:
        return {g.bdf for p in self.pods.values() for g in p.gpus}

    def _allocate_cpus(self, count: int, gpus: tuple[PciDevice, ...]) -> frozenset[int] | None:
        """Exclusive CPUs, packed node by node from the GPU's node (else the lowest node with free CPUs)."""
        used = set().union(*(p.exclusive for p in self.pods.values() if p.exclusive))
        nodes = [n for n in self.topology.nodes if n.cpus]
        start_node = next((g.numa_node for g in gpus if g.numa_node is not None), None)
        if start_node is None:
            start_node = next((n.id for n in nodes if n.cpus - used), nodes[0].id)
        ordered = sorted(nodes, key=lambda n: (n.id != start_node, n.id))
        chosen: list[int] = []
        for node in ordered:
            for cpu in sorted(node.cpus):
                if cpu not in used and len(chosen) < count:
                    chosen.append(cpu)
        return frozenset(chosen) if len(chosen) == count else None

    def _event(self, pod: Pod, kind: str, reason: str, message: str) -> None:
        pod.events.append({"type": kind, "reason": reason, "message": message, "time": _now()})

    def _fail_sandbox(self, pod: Pod, message: str) -> None:
        self._event(
            pod,
            "Warning",
            "FailedCreatePodSandBox",
            f"Failed to create pod sandbox: rpc error: code = Unknown desc = {message}",
        )
        pod.waiting_reason = "ContainerCreating"

    def _start_sandbox(self, pod: Pod) -> None:
        runtime_class = pod.manifest["spec"].get("runtimeClassName")
        sandbox = Sandbox(os.urandom(32).hex())
        if not runtime_class:  # the default runtime: the probe runs on the host itself
            pod.sandbox = sandbox
            pod.log = host_report(self.topology)
            pod.ready_at = time.monotonic() + self.boot_delay
            return
        shim = self._shim_of(runtime_class)
        try:
            layout, settings = self._decide(pod, shim, runtime_class)
        except InputError as error:
            self._fail_sandbox(pod, str(error))
            return
        pid = self._next_pid
        self._next_pid += 100 * (1 + (layout.vcpus + 30) // 100)  # room for every thread id
        sandbox.shim_pid, sandbox.qemu_pid, sandbox.virtiofsd_pid = pid, pid + 10, pid + 5
        sandbox.layout = layout
        debug = settings.enable_debug
        argv = qemu_argv(layout, sandbox.sandbox_id, self.topology, debug_threads=debug)
        sandbox.placement = place_vcpus(
            layout, self.topology, pinning=settings.enable_vcpus_pinning, exclusive=pod.exclusive
        )
        sandbox.threads = self._threads(sandbox, names=debug or self.qemu_names_threads)
        every_cpu = self.topology.all_cpus
        write_process(
            self.proc,
            sandbox.shim_pid,
            [
                "/opt/kata/bin/containerd-shim-kata-v2",
                "-namespace",
                "k8s.io",
                "-address",
                "/run/containerd/containerd.sock",
                "-id",
                sandbox.sandbox_id,
            ],
            [SimThread(sandbox.shim_pid, "containerd-shim", every_cpu)],
        )
        write_process(self.proc, sandbox.qemu_pid, argv, sandbox.threads)
        maps, numa_maps = memory_maps(argv, self.topology, layout.faults)
        write_atomic(self.proc / str(sandbox.qemu_pid) / "maps", maps.encode())
        write_atomic(self.proc / str(sandbox.qemu_pid) / "numa_maps", numa_maps.encode())
        write_process(
            self.proc,
            sandbox.virtiofsd_pid,
            ["/opt/kata/libexec/virtiofsd", f"--socket-path=/run/vc/vm/{sandbox.sandbox_id}/vhost-fs.sock"],
            [SimThread(sandbox.virtiofsd_pid, "virtiofsd", every_cpu)],
        )
        self._journal(sandbox.shim_pid, layout.journal)
        pod.sandbox = sandbox
        pod.log = guest_report(layout, self.topology)
        pod.ready_at = time.monotonic() + self.boot_delay
        self._schedule_placement(pod)

    def _schedule_placement(self, pod: Pod) -> None:
        """Places the vCPU threads at the N-th read of a vCPU thread's status, or after the delay at the latest."""
        sandbox = pod.sandbox
        if self.placement_reads == 0:
            self._place(pod)
            return
        if self._opens is not None:
            task = self.proc / str(sandbox.qemu_pid) / "task" / str(sandbox.qemu_pid + 10)
            pod.watch = self._opens.after_opens(str(task), "status", self.placement_reads, lambda: self._place(pod))
        pod.timer = threading.Timer(self.placement_delay, self._place, args=(pod,))
        pod.timer.daemon = True
        pod.timer.start()

    def _decide(self, pod: Pod, shim: Shim, runtime_class: str):
        try:
            config = find_active_config(self.access, shim.name, runtime_class)
        except InputError as error:
            raise InputError(f"failed to load the {shim.name} configuration: {error}") from None
        try:
            documents = [tomllib.loads(config.text)]
        except tomllib.TOMLDecodeError as error:
            raise InputError(f"{config.file}: {error}") from None
        if "dropins-ignored" not in self.faults:
            pattern = glob.escape(config.config_d) + "/*.toml"
            for path, text in sorted(self.access.read_files([pattern]).items()):
                try:
                    documents.append(tomllib.loads(text))
                except tomllib.TOMLDecodeError as error:
                    raise InputError(f"failed to load drop-in {path}: {error}") from None
        settings = settings_from_config(merge_config(*documents), rust_runtime=shim.rust_runtime)
        cpu, memory, _, _ = self._limits(pod)
        layout = layout_sandbox(self.topology, settings, SandboxRequest(cpu, memory, pod.gpus), self.faults)
        return layout, settings

    def _threads(self, sandbox: Sandbox, *, names: bool) -> list[SimThread]:
        pid = sandbox.qemu_pid
        broad = self.topology.all_cpus
        binary = "qemu-system-x86"
        threads = [SimThread(pid, binary, broad)]
        for offset, name in enumerate(("call_rcu", "IO mon_iothread", "worker"), start=1):
            threads.append(SimThread(pid + offset, name if names else binary, broad))
        # vCPU threads start with the process mask; the runtime places them a moment after boot (_place).
        threads += [
            SimThread(pid + 10 + vcpu, f"CPU {vcpu}/KVM" if names else binary, broad)
            for vcpu in range(sandbox.layout.vcpus)
        ]
        return threads

    def _place(self, pod: Pod) -> None:
        with self.lock:
            self._stop_waiting(pod)
            sandbox = pod.sandbox
            if (
                sandbox is None
                or sandbox.qemu_pid is None
                or sandbox.placed
                or (pod.namespace, pod.name) not in self.pods
            ):
                return
            cpus = sandbox.placement.vcpu_cpus
            placed = [
                SimThread(t.tid, t.name, cpus[t.tid - sandbox.qemu_pid - 10]) if t.tid >= sandbox.qemu_pid + 10 else t
                for t in sandbox.threads
            ]
            sandbox.threads = placed
            update_threads(self.proc, sandbox.qemu_pid, placed)
            sandbox.placed = True
            self._journal(sandbox.shim_pid, sandbox.placement.journal)

    def _stop_waiting(self, pod: Pod) -> None:
        if pod.timer is not None:
            pod.timer.cancel()
            pod.timer = None
        if pod.watch is not None and self._opens is not None:
            self._opens.cancel(pod.watch)
            pod.watch = None

    def settle(self) -> None:
        """Places every vCPU thread still waiting for its placement now (tests and benchmarks)."""
        with self.lock:
            for pod in list(self.pods.values()):
                if pod.sandbox is not None and pod.sandbox.qemu_pid is not None and not pod.sandbox.placed:
                    self._place(pod)
                if pod.ready_at is not None:
                    pod.ready_at = min(pod.ready_at, time.monotonic())
                    self._refresh(pod)

    def delete_pod(self, namespace: str, name: str) -> dict:
        """Stops the sandbox, removes its processes and frees its CPUs and GPUs."""
        with self.lock:
            pod = self.pods.pop((namespace, name), None)
            if pod is None:
                raise ApiError(404, "NotFound", f'pods "{name}" not found')
            self._stop_waiting(pod)
            if pod.sandbox is not None:
                for pid in (pod.sandbox.shim_pid, pod.sandbox.qemu_pid, pod.sandbox.virtiofsd_pid):
                    if pid is not None:
                        remove_process(self.proc, pid)
            self._write_state()
            body = self.pod_object(pod)
            body["metadata"]["deletionTimestamp"] = _now()
            return body

    def get_pod(self, namespace: str, name: str) -> Pod:
        """The pod, or a 404 ApiError."""
        pod = self.pods.get((namespace, name))
        if pod is None:
            raise ApiError(404, "NotFound", f'pods "{name}" not found')
        self._refresh(pod)
        return pod

    def _refresh(self, pod: Pod) -> None:
        if pod.phase == "Pending" and pod.ready_at is not None and time.monotonic() >= pod.ready_at:
            pod.phase = "Running"
            pod.waiting_reason = None
            self._event(pod, "Normal", "Started", "Started container")
            with self.lock:
                self._write_state()

    def pod_log(self, namespace: str, name: str) -> str:
        """The probe container's output (what the guest reports)."""
        pod = self.get_pod(namespace, name)
        if pod.phase != "Running":
            raise ApiError(
                400,
                "BadRequest",
                f'container "{self._container_name(pod)}" in pod "{name}" is waiting to start: '
                f"{pod.waiting_reason or 'ContainerCreating'}",
            )
        runtime_class = pod.manifest["spec"].get("runtimeClassName") or ""
        annotations = (pod.manifest.get("metadata") or {}).get("annotations") or {}
        if is_confidential(runtime_class) and AGENT_POLICY_ANNOTATION not in annotations:
            raise ApiError(
                500,
                "InternalError",
                "failed to read the container log: rpc error: code = PermissionDenied desc = "
                '"ReadStreamRequest is blocked by policy"',
            )
        return pod.log

    def list_pods(self, namespace: str | None) -> list[Pod]:
        """The pods of a namespace (all namespaces when None)."""
        found = [p for p in self.pods.values() if namespace is None or p.namespace == namespace]
        for pod in found:
            self._refresh(pod)
        return found

    # -- API objects ----------------------------------------------------------------

    def _container_name(self, pod: Pod) -> str:
        return pod.manifest["spec"]["containers"][0].get("name", "probe")

    def resource_version(self) -> str:
        """A fresh resourceVersion."""
        return str(next(self._resource_version))

    def pod_object(self, pod: Pod) -> dict:
        """The pod as the API server returns it."""
        running = pod.phase == "Running"
        containers = pod.manifest["spec"]["containers"]
        statuses = [
            {
                "name": c.get("name", f"c{i}"),
                "image": c.get("image", ""),
                "imageID": f"{c.get('image', '')}@sha256:{'0' * 64}",
                "containerID": f"containerd://{pod.uid.replace('-', '')}{i}" if running else None,
                "ready": running,
                "started": running,
                "restartCount": 0,
                "state": {"running": {"startedAt": pod.created}}
                if running
                else {"waiting": {"reason": pod.waiting_reason or "ContainerCreating"}},
            }
            for i, c in enumerate(containers)
        ]
        conditions = [
            {
                "type": "PodScheduled",
                "status": "False" if self._unschedulable(pod) else "True",
                "lastTransitionTime": pod.created,
            },
            {"type": "Ready", "status": "True" if running else "False", "lastTransitionTime": pod.created},
            {"type": "ContainersReady", "status": "True" if running else "False", "lastTransitionTime": pod.created},
        ]
        metadata = dict(pod.manifest.get("metadata") or {})
        metadata.update(
            namespace=pod.namespace,
            name=pod.name,
            uid=pod.uid,
            creationTimestamp=pod.created,
            resourceVersion=self.resource_version(),
        )
        spec = dict(pod.manifest.get("spec") or {})
        if not self._unschedulable(pod):
            spec["nodeName"] = self.node_name
        qos = "Guaranteed" if self._limits_safe(pod) else "BestEffort"
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": metadata,
            "spec": spec,
            "status": {
                "phase": pod.phase,
                "conditions": conditions,
                "containerStatuses": statuses,
                "qosClass": qos,
                "hostIP": "127.0.0.1",
                "startTime": pod.created,
            },
        }

    def _limits_safe(self, pod: Pod) -> bool:
        try:
            return self._limits(pod)[0] > 0
        except (InputError, ValueError):
            return False

    def _unschedulable(self, pod: Pod) -> bool:
        return any(e["reason"] == "FailedScheduling" for e in pod.events)

    def event_objects(self, namespace: str, involved: str | None) -> list[dict]:
        """Events of a namespace, optionally of one pod only."""
        items = []
        for pod in self.pods.values():
            if pod.namespace != namespace or (involved and pod.name != involved):
                continue
            for index, event in enumerate(pod.events):
                items.append(
                    {
                        "apiVersion": "v1",
                        "kind": "Event",
                        "metadata": {"name": f"{pod.name}.{index:04d}", "namespace": namespace},
                        "involvedObject": {"kind": "Pod", "name": pod.name, "namespace": namespace, "uid": pod.uid},
                        "reason": event["reason"],
                        "message": event["message"],
                        "type": event["type"],
                        "firstTimestamp": event["time"],
                        "lastTimestamp": event["time"],
                        "count": 1,
                        "source": {"component": "kubelet", "host": self.node_name},
                    }
                )
        return items

    def node_object(self) -> dict:
        """The node with its allocatable CPUs, memory and GPUs."""
        mem_kb = sum(n.mem_kb for n in self.topology.nodes)
        resources = {
            "cpu": str(len(self.topology.all_cpus)),
            "memory": f"{mem_kb}Ki",
            "pods": "110",
            GPU_RESOURCE: str(len(self.topology.gpus())),
        }
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node_name,
                "uid": "00000000-0000-4000-8000-000000000001",
                "labels": {"kubernetes.io/hostname": self.node_name, "katacontainers.io/kata-runtime": "true"},
                "resourceVersion": self.resource_version(),
                "creationTimestamp": "2026-01-01T00:00:00Z",
            },
            "spec": {},
            "status": {
                "capacity": resources,
                "allocatable": resources,
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "KubeletReady",
                        "message": "kubelet is posting ready status",
                    }
                ],
                "nodeInfo": {
                    "architecture": "amd64",
                    "bootID": "sim",
                    "containerRuntimeVersion": "containerd://2.0.0",
                    "kernelVersion": "6.8.0",
                    "kubeProxyVersion": "v1.33.0",
                    "kubeletVersion": "v1.33.0",
                    "machineID": "sim",
                    "operatingSystem": "linux",
                    "osImage": "Simulated Kata node",
                    "systemUUID": "sim",
                },
            },
        }

    def configz(self) -> dict:
        """The kubelet configuration (``proxy/configz``), or a 403 when it is forbidden."""
        if self.configz_forbidden:
            raise ApiError(
                403, "Forbidden", f'nodes "{self.node_name}" is forbidden: cannot get resource "nodes/proxy"'
            )
        return {
            "kubeletconfig": {
                "cpuManagerPolicy": self.policy,
                "topologyManagerPolicy": "none",
                "cgroupDriver": "systemd",
            }
        }

    def summary(self) -> list[tuple[str, ...]]:
        """One row per pod: namespace, name, phase, sandbox, QEMU pid, guest nodes, CPUs."""
        rows = []
        for pod in self.pods.values():
            box = pod.sandbox
            nodes = len(box.layout.nodes) if box and box.layout else "-"
            rows.append(
                (
                    pod.namespace,
                    pod.name,
                    pod.phase,
                    box.sandbox_id[:12] if box else "-",
                    str(box.qemu_pid if box and box.qemu_pid else "-"),
                    str(nodes),
                    format_cpulist(pod.exclusive or ()) or "-",
                )
            )
        return rows

    def close(self) -> None:
        """Stops every placement timer and read watch."""
        with self.lock:
            for pod in self.pods.values():
                self._stop_waiting(pod)


_SHARED_COUNTER: list[OpenCounter | None] = []
_SHARED_LOCK = threading.Lock()


def _open_counter() -> OpenCounter | None:
    """The process's one inotify open counter (inotify instances are few per user), or None without inotify."""
    with _SHARED_LOCK:
        if not _SHARED_COUNTER:
            try:
                _SHARED_COUNTER.append(OpenCounter())
            except (OSError, AttributeError):
                _SHARED_COUNTER.append(None)  # placement then waits for the delay
        return _SHARED_COUNTER[0]
