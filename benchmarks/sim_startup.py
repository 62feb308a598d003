"""Times starting a simulated node and bringing a 64-vCPU pod to Ready through its API server.

Goal: under 1 s on the project's 2-core machine. Prints the median and the
slowest of several runs and exits 1 when the median misses the goal.

Run: ``make benchmark`` (or ``PYTHONPATH=libraries python benchmarks/sim_startup.py``).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "libraries"))

from kata_numa.sim.cluster import start_simulated_cluster

RUNS = 7
GOAL_SECONDS = 1.0
POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "numa-big"},
    "spec": {
        "runtimeClassName": "kata-qemu-nvidia-gpu",
        "containers": [
            {
                "name": "probe",
                "image": "quay.io/kata-containers/numa",
                "resources": {"limits": {"cpu": "63", "memory": "16Gi"}},
            }
        ],
    },
}


def call(url: str, token: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url + path,
        data=data,
        method="POST" if body else "GET",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def one_run() -> tuple[float, float]:
    start = time.perf_counter()
    cluster = start_simulated_cluster()
    started = time.perf_counter() - start
    try:
        call(cluster.url, cluster.token, "/api/v1/namespaces/default/pods", POD)
        while (
            call(cluster.url, cluster.token, "/api/v1/namespaces/default/pods/numa-big/status")["status"]["phase"]
            != "Running"
        ):
            time.sleep(0.005)
        ready = time.perf_counter() - start
        log = urllib.request.Request(
            cluster.url + "/api/v1/namespaces/default/pods/numa-big/log",
            headers={"Authorization": f"Bearer {cluster.token}"},
        )
        with urllib.request.urlopen(log, timeout=10) as response:
            assert "node0_cpus: 64" in response.read().decode()
    finally:
        cluster.stop()
    return started, ready


def main() -> int:
    runs = [one_run() for _ in range(RUNS)]
    ready = [r for _, r in runs]
    median = statistics.median(ready)
    print(f"simulated node start: median {statistics.median(s for s, _ in runs) * 1000:.0f} ms")
    print(
        f"start + 64-vCPU pod Ready: median {median * 1000:.0f} ms, slowest {max(ready) * 1000:.0f} ms "
        f"({RUNS} runs; goal < {GOAL_SECONDS * 1000:.0f} ms)"
    )
    print("goal met" if median < GOAL_SECONDS else "goal MISSED")
    return 0 if median < GOAL_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
