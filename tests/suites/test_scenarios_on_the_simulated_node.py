"""The scenario suites themselves, run against the simulated node.

* every shipped topology under both CPU manager policies: the scenarios pass,
  or skip with the reason where the host cannot run them;
* every fault of the catalogue: exactly the scenarios its documentation names
  fail, with a message naming the broken behaviour, and the others pass;
* the healthy default host passes five times in a row (no flakes);
* no target configured: the run stops at once, naming both targets.
"""

from __future__ import annotations

import re

import pytest

from kata_numa.sim.faults import CATALOGUE
from robotrun import REPO, run_suites

pytestmark = pytest.mark.suites

SCENARIOS = set(range(1, 8))
SINGLE_NODE_REASON = r"CPU-bearing NUMA node\(s\) .*needs 2 or more"
NO_GPU_REASON = r"offers no nvidia\.com/pgpu"
TOPOLOGY_SKIPS = {
    "two-socket-gpu": {},
    "asymmetric-gpu": {},
    "four-node-snc": {},
    "gapped-node-ids": {},
    "two-socket-no-gpu": {3: NO_GPU_REASON, 4: NO_GPU_REASON},
    "single-node": dict.fromkeys(range(1, 6), SINGLE_NODE_REASON),
    "grace-hopper": dict.fromkeys(range(1, 6), SINGLE_NODE_REASON),
}


def test_every_shipped_topology_has_an_expectation():
    shipped = {p.stem for p in (REPO / "variables" / "topologies").glob("*.yaml")}
    assert shipped == set(TOPOLOGY_SKIPS)


@pytest.mark.parametrize("policy", ["none", "static"])
@pytest.mark.parametrize("topology", sorted(TOPOLOGY_SKIPS))
def test_scenarios_on_every_topology_and_policy(tmp_path, topology, policy):
    result = run_suites(
        tmp_path,
        SIM_TOPOLOGY=str(REPO / "variables" / "topologies" / f"{topology}.yaml"),
        SIM_CPU_MANAGER_POLICY=policy,
    )
    assert set(result.scenarios) == SCENARIOS, result.output[-2000:]
    skips = TOPOLOGY_SKIPS[topology]
    for number, outcome in sorted(result.scenarios.items()):
        if number in skips:
            assert outcome.status == "SKIP", f"scenario {number}: {outcome.status} {outcome.message}"
            assert re.search(skips[number], outcome.message), f"scenario {number}: {outcome.message}"
        else:
            assert outcome.status == "PASS", f"scenario {number}: {outcome.status} {outcome.message}"
    failed = [o for o in result.others if o.status == "FAIL"]
    assert not failed, failed
    assert result.returncode == 0, result.output[-2000:]


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_each_fault_fails_exactly_the_scenarios_that_guard_it(tmp_path, name):
    fault = CATALOGUE[name]
    result = run_suites(tmp_path, SIM_FAULTS=name)
    assert set(result.scenarios) == SCENARIOS, result.output[-2000:]
    for number, outcome in sorted(result.scenarios.items()):
        if number in fault.scenarios:
            assert outcome.status == "FAIL", f"{name}: scenario {number} should catch it: {outcome.status}"
            assert re.search(fault.message, outcome.message), f"{name}: scenario {number}: {outcome.message}"
        else:
            assert outcome.status == "PASS", f"{name}: scenario {number}: {outcome.status} {outcome.message}"
    assert "differs from the start of the run" not in result.suite_message


@pytest.mark.parametrize("attempt", range(1, 6))
def test_a_healthy_run_passes_every_time(tmp_path, attempt):
    result = run_suites(tmp_path)
    assert {n: o.status for n, o in result.scenarios.items()} == dict.fromkeys(SCENARIOS, "PASS"), attempt
    assert result.returncode == 0


def test_no_target_stops_the_run_naming_both_targets(tmp_path):
    result = run_suites(tmp_path, TARGET="")
    assert result.returncode != 0
    assert {o.status for o in result.scenarios.values()} == {"FAIL"}
    assert "TARGET=sim" in result.suite_message
    assert "TARGET=cluster" in result.suite_message


def test_a_confidential_shim_without_genpolicy_says_why_the_log_is_refused(tmp_path):
    result = run_suites(tmp_path, KATA_HYPERVISOR="qemu-nvidia-gpu-snp")
    assert result.scenarios[2].status == "FAIL"
    assert "ReadStreamRequest" in result.scenarios[2].message
    assert "GENPOLICY" in result.scenarios[2].message


def test_a_confidential_shim_with_genpolicy_runs_every_scenario(tmp_path):
    settings = tmp_path / "settings"
    settings.mkdir()
    (settings / "rules.rego").write_text("package agent_policy\n")
    result = run_suites(
        tmp_path / "out",
        KATA_HYPERVISOR="qemu-nvidia-gpu-snp",
        GENPOLICY=str(REPO / "tests" / "helpers" / "fake_genpolicy.py"),
        GENPOLICY_SETTINGS_DIR=str(settings),
    )
    assert {n: o.status for n, o in result.scenarios.items()} == dict.fromkeys(SCENARIOS, "PASS"), result.scenarios
    assert not (settings / "genpolicy-settings.d").exists()  # the settings were copied, not changed


def test_a_gpu_without_numa_affinity_skips_its_locality_checks_after_the_rest(tmp_path):
    host = REPO / "tests" / "fixtures" / "topologies" / "two-socket-gpu-no-affinity.yaml"
    result = run_suites(tmp_path, SIM_TOPOLOGY=str(host))
    for number in (3, 4):
        assert result.scenarios[number].status == "SKIP", result.scenarios[number]
        assert "numa_node is -1" in result.scenarios[number].message
    assert {result.scenarios[n].status for n in (1, 2, 5, 6, 7)} == {"PASS"}
