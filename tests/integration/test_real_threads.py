"""The pinning probe and the CLI on real processes of this machine.

A helper process (tests/helpers/thread_farm.py) starts threads named and
pinned like QEMU's; a sysfs fixture tree can declare this machine's CPUs as
two NUMA nodes, so node placement is exercised on a one-node machine too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from conftest import ROOT
from helpers.thread_farm import start_farm, stop_farm
from kata_numa.hostaccess import LocalHostAccess
from kata_numa.placement import analyse_pinning
from kata_numa.procfs import find_sandbox_qemu, read_threads
from kata_numa.sim.sysfs_tree import write_sysfs_tree
from kata_numa.sysfs import HostNode, HostTopology, read_host_topology

pytestmark = pytest.mark.integration
CPUS = sorted(os.sched_getaffinity(0))
needs_two_cpus = pytest.mark.skipif(len(CPUS) < 2, reason="needs at least 2 CPUs")


def cli_pinning(pid: int, sys_root: str | None = None) -> dict:
    args = [sys.executable, "-m", "kata_numa", "pinning", str(pid), "--json"]
    if sys_root:
        args += ["--sys-root", sys_root]
    done = subprocess.run(
        args, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT / "libraries")), check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def two_node_sys(tmp_path) -> str:
    """This machine's CPUs declared as two nodes: the first CPU, and the rest."""
    nodes = (
        HostNode(0, frozenset(CPUS[:1]), 1024, (10, 21)),
        HostNode(1, frozenset(CPUS[1:]), 1024, (21, 10)),
    )
    write_sysfs_tree(HostTopology(nodes), tmp_path)
    return str(tmp_path / "sys")


@pytest.fixture
def farm():
    started = []

    def start(*argv: str, **kwargs):
        process = start_farm(list(argv), **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        stop_farm(process)


@needs_two_cpus
def test_named_vcpus_pinned_to_single_cpus_counts_only_vcpu_threads(farm):
    process = farm("--vcpus", "8", "--named", "--pin", "single", "--extra-pinned", "3")
    data = cli_pinning(process.pid)
    assert data["method"] == "thread-name"
    assert data["per_node"] == {"0": 8}
    assert data["single_cpu_threads"] == 8  # the 3 pinned helper threads are not vCPUs
    assert data["distinct_single_cpus"] == len(CPUS[:8])
    assert sum(1 for t in data["threads"] if t["vcpu"]) == 8
    assert sum(1 for t in data["threads"] if not t["vcpu"] and len(t["cpus"]) == 1) == 3


@needs_two_cpus
def test_unnamed_vcpus_pinned_found_by_affinity(farm, two_node_sys):
    process = farm("--vcpus", "6", "--pin", "single", "--cpus", ",".join(map(str, CPUS[:2])))
    data = cli_pinning(process.pid, two_node_sys)
    assert data["method"] == "affinity"
    assert data["per_node"] == {"0": 3, "1": 3}
    assert data["single_cpu_threads"] == 6
    assert data["pinned_cpus"] == CPUS[:2]


@needs_two_cpus
def test_vcpus_confined_to_node_cpus_instead_of_single_cpus(farm, two_node_sys):
    masks = f"{CPUS[0]};{','.join(map(str, CPUS[1:]))}"
    process = farm("--vcpus", "4", "--pin", "mask", "--cpus", masks)
    data = cli_pinning(process.pid, two_node_sys)
    assert data["method"] == "affinity"
    assert data["per_node"] == {"0": 2, "1": 2}


@needs_two_cpus
def test_named_vcpus_confined_to_a_multi_cpu_node_hold_no_single_cpu(farm, tmp_path):
    # Declare the machine's CPUs as node 0 and two absent CPUs as node 1.
    extra = max(CPUS) + 1
    nodes = (
        HostNode(0, frozenset(CPUS), 1024, (10, 21)),
        HostNode(1, frozenset({extra, extra + 1}), 1024, (21, 10)),
    )
    write_sysfs_tree(HostTopology(nodes), tmp_path)
    process = farm("--vcpus", "4", "--named", "--pin", "mask", "--cpus", ",".join(map(str, CPUS)))
    data = cli_pinning(process.pid, str(tmp_path / "sys"))
    assert data["per_node"] == {"0": 4}
    assert data["single_cpu_threads"] == 0
    assert data["pinned_cpus"] == []


def test_finds_the_process_by_sandbox_id_among_this_machines_processes(farm):
    sandbox = uuid.uuid4().hex
    process = farm("--vcpus", "2", "--named", "--", "-name", f"sandbox-{sandbox},debug-threads=on")
    access = LocalHostAccess("/")
    assert find_sandbox_qemu(access, sandbox).pid == process.pid
    assert access.stats.reads == 1


def test_one_read_for_all_threads_of_a_real_process(farm):
    process = farm("--vcpus", "32", "--named", "--pin", "single")
    access = LocalHostAccess("/")
    summary = analyse_pinning(read_threads(access, process.pid), read_host_topology(access))
    assert access.stats.reads == 2  # the threads, then the topology
    assert len(summary.vcpus) == 32


def test_probe_survives_threads_exiting_while_it_reads():
    """A process whose threads come and go: the probe never fails, it skips what vanished."""
    code = (
        "import threading, time, sys\n"
        "def churn():\n"
        "    while True:\n"
        "        ts = [threading.Thread(target=time.sleep, args=(0.001,)) for _ in range(20)]\n"
        "        [t.start() for t in ts]; [t.join() for t in ts]\n"
        "threading.Thread(target=churn, daemon=True).start()\n"
        "print('ready', flush=True); sys.stdin.read()\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().startswith("ready")
        access = LocalHostAccess("/")
        for _ in range(200):
            threads = read_threads(access, process.pid)
            assert threads.main is not None
    finally:
        process.stdin.close()
        process.wait(timeout=10)


def test_cli_answers_on_this_machine():
    done = subprocess.run(
        [sys.executable, "-m", "kata_numa", "host", "--json"],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT / "libraries")),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert sorted(c for n in data["nodes"] for c in n["cpus"]) == sorted(
        int(p.name[3:]) for p in Path("/sys/devices/system/cpu").glob("cpu[0-9]*") if (p / "topology").exists()
    )
