"""A simulated cluster: one simulated Kata node, its API server and a kubeconfig, under a temp directory."""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .apiserver import ApiServer
from .node import SimulatedNode
from .topology import load_topology

REPO = Path(__file__).resolve().parents[3]
DEFAULT_TOPOLOGY = REPO / "variables" / "topologies" / "two-socket-gpu.yaml"


@dataclass
class SimulatedCluster:
    """A running simulated node: where its kubeconfig and host tree are, and how to stop it."""

    node: SimulatedNode
    server: ApiServer
    directory: Path
    kubeconfig: Path
    token: str

    @property
    def root(self) -> Path:
        """The host tree: the node's ``/`` for host access."""
        return self.node.root

    @property
    def url(self) -> str:
        """The API server's URL."""
        return self.server.url

    def stop(self) -> None:
        """Stops the API server and the node and removes the temp directory."""
        self.server.stop()
        self.node.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def write_kubeconfig(path: Path, url: str, token: str, node_name: str) -> None:
    """A kubeconfig (JSON is valid YAML) for the simulated API server."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kata-numa-sim", "cluster": {"server": url}}],
        "users": [{"name": "suite", "user": {"token": token}}],
        "contexts": [
            {"name": "kata-numa-sim", "context": {"cluster": "kata-numa-sim", "user": "suite", "namespace": "default"}}
        ],
        "current-context": "kata-numa-sim",
        "preferences": {},
        "x-kata-numa-sim-node": node_name,
    }
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)


def start_simulated_cluster(
    topology: str | Path | None = None,
    *,
    faults: str = "",
    cpu_manager_policy: str = "none",
    node_name: str = "sim-node",
    placement_reads: int = 1,
    placement_delay: float = 10.0,
    configz_forbidden: bool = False,
    qemu_names_threads: bool = True,
    parent: str | Path | None = None,
    token: str = "",
) -> SimulatedCluster:
    """Loads the topology, builds the host tree and starts the API server on a random loopback port."""
    host = load_topology(topology or DEFAULT_TOPOLOGY)
    directory = Path(tempfile.mkdtemp(prefix="kata-numa-sim-", dir=parent))
    try:
        node = SimulatedNode(
            host,
            directory / "root",
            cpu_manager_policy=cpu_manager_policy,
            faults=faults,
            node_name=node_name,
            placement_reads=placement_reads,
            placement_delay=placement_delay,
            configz_forbidden=configz_forbidden,
            qemu_names_threads=qemu_names_threads,
        )
        token = token or secrets.token_hex(24)
        server = ApiServer(node, token).start()
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    kubeconfig = directory / "kubeconfig"
    write_kubeconfig(kubeconfig, server.url, token, node_name)
    return SimulatedCluster(node, server, directory, kubeconfig, token)
