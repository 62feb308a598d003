"""The scenarios' pods: manifests, automatic sizes, and what the node's tools say about them."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping

from .errors import InputError
from .sysfs import HostTopology

GPU_RESOURCE = "nvidia.com/pgpu"
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_SANDBOX_ID = re.compile(r"^[0-9a-f]{12,64}$")


def parse_cpu_quantity(text: str) -> int:
    """A Kubernetes CPU quantity (``4``, ``500m``, ``2.5``) in millicores."""
    value = str(text).strip()
    try:
        if value.endswith("m"):
            return int(value[:-1])
        return round(float(value) * 1000)
    except ValueError as error:
        raise InputError(f"quantities must match the regular expression: cpu limit {text!r}") from error


_MEMORY_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def parse_memory_quantity(text: str) -> int:
    """A Kubernetes memory quantity (``4Gi``, ``4096Mi``, ``4G``, bytes) in MiB, rounded up."""
    value = str(text).strip()
    for unit in sorted(_MEMORY_UNITS, key=len, reverse=True):
        if value.endswith(unit):
            number, factor = value[: -len(unit)], _MEMORY_UNITS[unit]
            break
    else:
        number, factor = value, 1
    try:
        amount = float(number) * factor
    except ValueError as error:
        raise InputError(f"quantities must match the regular expression: memory limit {text!r}") from error
    return math.ceil(amount / 2**20)


def numa_pod_manifest(
    name: str,
    *,
    image: str,
    runtime_class: str,
    vcpus: int,
    memory: str,
    gpus: int = 0,
    node_name: str | None = None,
) -> dict:
    """A probe pod with limits only (so requests equal limits and the pod is Guaranteed)."""
    if not _NAME.match(name or ""):
        raise InputError(f"pod name {name!r} is not a valid Kubernetes name")
    if vcpus < 1:
        raise InputError(f"pod {name}: vCPUs must be 1 or more, got {vcpus}")
    limits = {"cpu": str(vcpus), "memory": memory}
    if gpus:
        limits[GPU_RESOURCE] = str(gpus)
    spec: dict[str, object] = {
        "runtimeClassName": runtime_class,
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 0,
        "containers": [{"name": "probe", "image": image, "resources": {"limits": limits}}],
    }
    if node_name:
        spec["nodeName"] = node_name
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "kata-numa-suite"}},
        "spec": spec,
    }


def auto_large_vcpus(topology: HostTopology) -> int:
    """A CPU limit that cannot fit the smallest CPU-bearing node: its CPU count plus one."""
    counts = [len(n.cpus) for n in topology.nodes if n.cpus]
    if not counts:
        raise InputError("the host has no CPU-bearing node")
    return min(counts) + 1


def auto_large_memory_mib(topology: HostTopology, default_mib: int = 8192) -> int:
    """Memory for the large pod: the default, or more than the smallest memory node when that is smaller."""
    sizes = [n.mem_kb // 1024 for n in topology.nodes if n.cpus and n.mem_kb]
    return max(default_mib, min(sizes) + 1) if sizes and min(sizes) < default_mib else default_mib


def auto_mapping_node(topology: HostTopology) -> int | None:
    """The second host node, in id order, that has both CPUs and memory (None when there is none)."""
    usable = [n.id for n in topology.nodes if n.cpus and n.mem_kb]
    return usable[1] if len(usable) > 1 else None


def resolve_size(value: str | int, auto: int, what: str) -> int:
    """``auto`` -> the computed size; a number -> itself; anything else is an InputError naming ``what``."""
    text = str(value).strip()
    if text.lower() == "auto":
        return auto
    if not text.isdigit() or int(text) < 1:
        raise InputError(f"{what}: {value!r} is neither 'auto' nor a positive number")
    return int(text)


def memory_quantity(mib: int) -> str:
    """MiB as a Kubernetes quantity: whole GiB as ``Gi``, else ``Mi``."""
    return f"{mib // 1024}Gi" if mib % 1024 == 0 else f"{mib}Mi"


def vcpu_count(cpu_limit: int, default_vcpus: int) -> int:
    """The vCPUs a statically sized sandbox boots: the limit rounded up plus ``default_vcpus``."""
    return math.ceil(cpu_limit) + default_vcpus


def parse_crictl_ids(output: str, pod: str) -> str:
    """The one sandbox id ``crictl pods ... -q`` printed for ``pod``; none or several is an InputError."""
    ids = [line.strip() for line in output.splitlines() if line.strip()]
    bad = [i for i in ids if not _SANDBOX_ID.match(i)]
    if bad:
        raise InputError(f"crictl printed {bad[0]!r} for pod {pod}, which is not a sandbox id")
    if not ids:
        raise InputError(f"crictl found no ready sandbox for pod {pod}")
    if len(ids) > 1:
        raise InputError(f"crictl found {len(ids)} ready sandboxes for pod {pod}: {', '.join(i[:13] for i in ids)}")
    return ids[0]


def parse_cpu_manager_policy(configz: str | bytes | Mapping) -> str:
    """``cpuManagerPolicy`` from the kubelet's ``configz`` (``none`` when the kubelet leaves it unset)."""
    try:
        data = json.loads(configz) if isinstance(configz, (str, bytes)) else configz
        config = data["kubeletconfig"]
    except (ValueError, KeyError, TypeError) as error:
        raise InputError(f"configz is not a kubelet configuration: {error}") from None
    policy = str(config.get("cpuManagerPolicy") or "none").lower()
    if policy not in ("none", "static"):
        raise InputError(f"configz: unknown cpuManagerPolicy {policy!r}")
    return policy


CONFIDENTIAL_SUFFIXES = ("-snp", "-tdx")
READ_STREAM_PATCH = [{"op": "replace", "path": "/request_defaults/ReadStreamRequest", "value": True}]
SETTINGS_DROPIN = "genpolicy-settings.d/99-kata-numa-suite-read-logs.json"


def is_confidential(runtime_class: str) -> bool:
    """True for the confidential shims (``*-snp``, ``*-tdx``), whose agent policy guards log reads."""
    return runtime_class.endswith(CONFIDENTIAL_SUFFIXES)


def genpolicy_argv(genpolicy: str, manifest: str, settings_dir: str) -> list[str]:
    """``genpolicy -u -y <manifest> -p <settings>/rules.rego -j <settings>`` (writes the policy annotation)."""
    return [genpolicy, "-u", "-y", manifest, "-p", f"{settings_dir}/rules.rego", "-j", settings_dir]


def crictl_pods_argv(pod: str, namespace: str) -> list[str]:
    """``crictl pods`` for the ready sandbox of exactly ``pod`` (a label: ``--name`` matches substrings)."""
    if not _NAME.match(pod or "") or not _NAME.match(namespace or ""):
        raise InputError(f"pod {pod!r} in namespace {namespace!r}: not valid Kubernetes names")
    return [
        "crictl",
        "pods",
        "--label",
        f"io.kubernetes.pod.name={pod}",
        "--namespace",
        namespace,
        "--state",
        "ready",
        "-q",
    ]
