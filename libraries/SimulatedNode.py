"""Robot Framework library: starts and stops the built-in simulated Kata node."""

from __future__ import annotations

from robot.api import logger
from robot.api.deco import keyword, library

from kata_numa import __version__
from kata_numa.cpuset import format_cpulist
from kata_numa.sim.cluster import SimulatedCluster, start_simulated_cluster
from kata_numa.sim.faults import CATALOGUE
from keyword_support import core_call, log_table


@library(scope="GLOBAL", version=__version__, doc_format="ROBOT")
class SimulatedNode:
    """The suite's built-in target when ``TARGET`` is ``sim``.

    = The simulated node =

    A directory that looks like a Kata node's filesystem (``/sys``, ``/proc``,
    the runtime's configuration, ``crictl`` and ``journalctl``) and a
    Kubernetes API server on 127.0.0.1 that runs pods in it by the Kata
    runtime's NUMA rules. Named faults make it deviate on purpose, so each
    assertion is shown to fail when the behaviour it guards breaks. Several
    simulated nodes can run at once; each lives in its own temp directory,
    removed by `Stop Simulated Node`.
    """

    def __init__(self) -> None:
        self._clusters: list[SimulatedCluster] = []

    @keyword("Start Simulated Node")
    def start_simulated_node(
        self,
        topology: str = "",
        faults: str = "",
        cpu_manager_policy: str = "none",
        placement_reads: int = 1,
        *,
        configz_forbidden: bool = False,
        token: str = "",
    ) -> tuple[str, str]:
        """Starts a simulated node; returns its kubeconfig path and its host root.

        ``topology`` is a host topology YAML file (default: two sockets, a GPU
        on node 1), ``faults`` a comma-separated list of fault names,
        ``cpu_manager_policy`` ``none`` or ``static``. The runtime places a
        sandbox's vCPU threads at the ``placement_reads``-th read of a vCPU
        thread's status (0: at once), so a probe right after Ready sees broad
        masks, as on a real node, and the suite must poll. ``token`` fixes the
        API server's bearer token (default: a random one); it is never logged.
        """
        cluster = core_call(
            start_simulated_cluster,
            topology or None,
            faults=faults,
            cpu_manager_policy=cpu_manager_policy,
            placement_reads=placement_reads,
            configz_forbidden=configz_forbidden,
            token=token,
        )
        self._clusters.append(cluster)
        topo = cluster.node.topology
        log_table(
            ("host node", "CPUs", "MemTotal kB"),
            [(n.id, format_cpulist(n.cpus) or "-", n.mem_kb) for n in topo.nodes],
            f"simulated node {cluster.node.node_name} at {cluster.url}, CPU manager policy {cpu_manager_policy}",
        )
        if cluster.node.faults:
            log_table(("fault", "breaks"), [(f, CATALOGUE[f].breaks) for f in sorted(cluster.node.faults)], "faults")
        return str(cluster.kubeconfig), str(cluster.root)

    @keyword("Stop Simulated Node")
    def stop_simulated_node(self, kubeconfig: str = "") -> None:
        """Stops the simulated node of ``kubeconfig`` (all of them when empty) and removes its directory."""
        chosen = [c for c in self._clusters if not kubeconfig or str(c.kubeconfig) == kubeconfig]
        for cluster in chosen:
            log_table(
                ("namespace", "pod", "phase", "sandbox", "QEMU pid", "guest nodes", "exclusive CPUs"),
                cluster.node.summary(),
                f"pods left on {cluster.node.node_name}",
            )
            cluster.stop()
            self._clusters.remove(cluster)
            logger.info(f"stopped simulated node, removed {cluster.directory}")
