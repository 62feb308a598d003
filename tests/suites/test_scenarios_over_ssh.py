"""The scenarios with host access over a real OpenSSH server: the simulated node's tree reached by SSH."""

from __future__ import annotations

import pytest

from robotrun import run_suites

pytestmark = pytest.mark.suites

TOKEN = "kata-numa-test-token-3f9a1c7e5b2d4f60a8e1c3b5d7f9a2c4"


def test_every_scenario_over_ssh_without_leaking_secrets(server, tmp_path):
    result = run_suites(
        tmp_path,
        log=True,
        **server.suite_variables(),
        NODE_SSH_KNOWN_HOSTS=str(server.known_hosts),
        SIM_TOKEN=TOKEN,
    )
    assert {n: o.status for n, o in result.scenarios.items()} == dict.fromkeys(range(1, 8), "PASS"), result.scenarios
    key_lines = [line for line in server.key.read_text().splitlines() if line and not line.startswith("-----")]
    for name in ("output.xml", "log.html"):
        text = (tmp_path / name).read_text()
        assert TOKEN not in text, f"the simulated node's token is in {name}"
        assert not any(line in text for line in key_lines), f"the SSH key is in {name}"
        assert "host round trips of the scenario" in text
    assert TOKEN not in result.output
    assert not any(line in result.output for line in key_lines)


def test_a_wrong_key_stops_the_run_at_setup_with_the_reason(server, tmp_path):
    other = tmp_path / "other_key"
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    result = run_suites(
        tmp_path / "out",
        **server.suite_variables(key=other),
    )
    assert result.returncode != 0
    assert "cannot log in to" in result.suite_message
