"""``python -m kata_numa.sim``: run a simulated Kata node by hand, or list its faults.

python -m kata_numa.sim serve [--topology FILE] [--faults a,b] [--cpu-manager-policy none|static]
python -m kata_numa.sim faults
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from ..errors import KataNumaError
from .cluster import DEFAULT_TOPOLOGY, start_simulated_cluster
from .faults import catalogue_markdown


def main(argv: list[str] | None = None) -> int:
    """Runs one command; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m kata_numa.sim", description="The simulated Kata node.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start a simulated node and serve until interrupted")
    serve.add_argument("--topology", default=str(DEFAULT_TOPOLOGY), help="host topology YAML file")
    serve.add_argument("--faults", default="", help="comma-separated fault names (see: faults)")
    serve.add_argument("--cpu-manager-policy", default="none", choices=("none", "static"))
    serve.add_argument(
        "--placement-reads",
        type=int,
        default=1,
        help="reads of a vCPU thread's status before the vCPU threads are placed (0: at once)",
    )
    serve.add_argument(
        "--placement-delay", type=float, default=10.0, help="seconds before they are placed at the latest"
    )
    serve.add_argument("--node-name", default="sim-node")
    commands.add_parser("faults", help="print the fault catalogue")
    args = parser.parse_args(argv)
    if args.command == "faults":
        print(catalogue_markdown())
        return 0
    try:
        cluster = start_simulated_cluster(
            args.topology,
            faults=args.faults,
            cpu_manager_policy=args.cpu_manager_policy,
            placement_reads=args.placement_reads,
            placement_delay=args.placement_delay,
            node_name=args.node_name,
        )
    except KataNumaError as error:
        print(f"kata_numa.sim: {error}", file=sys.stderr)
        return 2
    print(f"kubeconfig: {cluster.kubeconfig}")
    print(f"host root:  {cluster.root}")
    print(f"api server: {cluster.url}  (Ctrl-C stops and removes everything)", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
