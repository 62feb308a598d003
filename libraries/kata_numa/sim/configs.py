"""The runtime configuration files a Kata node ships, as the simulated node writes them.

The NVIDIA shims ship with NUMA and vCPU pinning off; every scenario turns
both on with a drop-in. The Rust runtime's shim lives under ``runtime-rs/``
and builds no NUMA topology.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..dropin import BASE_DIR


@dataclass(frozen=True)
class Shim:
    """A shim the node has: its name, where its configuration lives, and which runtime reads it."""

    name: str
    directory: str
    rust_runtime: bool = False

    @property
    def config_file(self) -> str:
        """The node path of its configuration file."""
        return f"{self.directory}/configuration-{self.name}.toml"

    @property
    def runtime_class(self) -> str:
        """The RuntimeClass kata-deploy creates for it."""
        return f"kata-{self.name}"


SHIMS = tuple(
    [
        Shim(name, f"{BASE_DIR}/runtimes/{name}")
        for name in ("qemu-nvidia-gpu", "qemu-nvidia-gpu-snp", "qemu-nvidia-gpu-tdx", "qemu-nvidia-cpu")
    ]
    + [Shim("qemu-runtime-rs", f"{BASE_DIR}/runtime-rs/runtimes/qemu-runtime-rs", rust_runtime=True)]
)


def shim_by_name(name: str) -> Shim | None:
    """The shim called ``name`` or None."""
    return next((s for s in SHIMS if s.name == name), None)


def configuration_text(shim: Shim) -> str:
    """The shipped configuration of ``shim``: NUMA and pinning off."""
    machine = "q35"
    extra = ""
    if shim.name.endswith("-snp"):
        extra = "confidential_guest = true\nsev_snp_guest = true\n"
    elif shim.name.endswith("-tdx"):
        extra = "confidential_guest = true\n"
    vfio = 'hot_plug_vfio = "no-port"\ncold_plug_vfio = "root-port"\n' if "gpu" in shim.name else ""
    return (
        f"# Kata Containers configuration for the {shim.name} shim, as installed by kata-deploy.\n"
        "[hypervisor.qemu]\n"
        'path = "/opt/kata/bin/qemu-system-x86_64"\n'
        'kernel = "/opt/kata/share/kata-containers/vmlinuz.container"\n'
        f'machine_type = "{machine}"\n'
        f"{extra}{vfio}"
        "default_vcpus = 1\n"
        "default_maxvcpus = 0\n"
        "default_memory = 2048\n"
        "enable_numa = false\n"
        "numa_mapping = []\n"
        "enable_debug = false\n"
        "\n[agent.kata]\n"
        "dial_timeout = 90\n"
        "\n[runtime]\n"
        'internetworking_model = "tcfilter"\n'
        "enable_vcpus_pinning = false\n"
        "static_sandbox_resource_mgmt = true\n"
        "sandbox_cgroup_only = false\n"
    )
