import json
import os
import subprocess
import sys

import pytest

from conftest import CMDLINES, GUEST, HOSTS, PROC, ROOT

SYS = str(HOSTS / "two-socket-gpu" / "sys")


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "libraries"))
    return subprocess.run(
        [sys.executable, "-m", "kata_numa", *args], capture_output=True, text=True, env=env, input=stdin, check=False
    )


def test_host_json_contract():
    done = cli("host", "--sys-root", SYS, "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["nodes"][1]["id"] == 1
    assert data["nodes"][0]["mem_kb"] == 263921376
    assert data["nodes"][0]["distances"] == [10, 21]
    assert data["cpu_bearing_nodes"] == [0, 1]
    assert {"bdf": "0000:41:00.0", "class": "0x030200", "numa_node": 1}.items() <= data["pci"][2].items()
    assert data["gpus"] == ["0000:41:00.0"]


def test_host_text_on_a_sparse_host():
    done = cli("host", "--sys-root", str(HOSTS / "sparse-node-ids-power9" / "sys"))
    assert done.returncode == 0
    assert "cpu_bearing_nodes: 0,8" in done.stdout.splitlines()


def test_pinning_prints_the_original_format_counting_vcpus_only():
    done = cli("pinning", "5100", "--proc-root", str(PROC), "--sys-root", SYS)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "node0: 4",
        "node1: 4",
        "single_cpu_threads: 8",
        "distinct_single_cpus: 8",
        "pinned_cpus: 4-7,36-39",
    ]
    assert "method: thread-name" in done.stderr


def test_pinning_json_contract():
    data = json.loads(cli("pinning", "6100", "--proc-root", str(PROC), "--sys-root", SYS, "--json").stdout)
    assert data["method"] == "thread-name"
    assert data["per_node"] == {"0": 4, "1": 4}
    assert data["single_cpu_threads"] == 8
    assert data["distinct_single_cpus"] == 2
    assert data["pinned_cpus"] == [0, 32]
    assert {"tid", "name", "cpus", "node", "vcpu"} <= set(data["threads"][0])


def test_pinning_skips_a_thread_that_exited_mid_read_with_a_note():
    done = cli("pinning", "9100", "--proc-root", str(PROC), "--sys-root", SYS)
    assert done.returncode == 0
    assert "node0: 2" in done.stdout
    assert "thread 9113: status incomplete" in done.stderr


def test_qemu_args_from_pid_file_and_text_agree():
    by_pid = json.loads(cli("qemu-args", "--pid", "4100", "--proc-root", str(PROC), "--json").stdout)
    by_file = json.loads(cli("qemu-args", "--file", str(CMDLINES / "qemu-argv-gpu-two-nodes.txt"), "--json").stdout)
    text = " ".join((CMDLINES / "qemu-argv-gpu-two-nodes.txt").read_text().split())
    by_text = json.loads(cli("qemu-args", "--text", text, "--json").stdout)
    assert by_pid == by_file == by_text
    assert by_pid["vfio"] == [{"host": "0000:41:00.0", "bus": "rp-numa1-0", "guest_node": 1}]


def test_guest_report_json_contract_and_stdin():
    path = GUEST / "guest-report-gpu-two-nodes.txt"
    data = json.loads(cli("guest-report", str(path), "--json").stdout)
    assert data == {
        **data,
        "online": [0, 1],
        "cpus": {"0": 33, "1": 33},
        "mem_kb": {"0": 34214172, "1": 34601228},
        "gpus": {"0000:41:00.0": 1},
    }
    assert json.loads(cli("guest-report", "-", "--json", stdin=path.read_text()).stdout)["online"] == [0, 1]


def test_sandbox_lookup():
    done = cli("sandbox", "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9", "--proc-root", str(PROC))
    assert done.stdout.strip() == "8100"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["qemu-args", "--file", str(CMDLINES / "qemu-argv-truncated.txt")], "truncated"),
        (["qemu-args", "--file", str(CMDLINES / "qemu-argv-host-nodes-empty.txt")], "host-nodes= has no value"),
        (["qemu-args", "--text", "qemu -device vfio-pci,host=../../etc"], "not a PCI address"),
        (["qemu-args", "--text", "qemu -name 'unbalanced"], "cannot be split"),
        (["qemu-args", "--file", "/no/such/file"], "no such file"),
        (["guest-report", str(GUEST / "guest-report-no-online.txt")], "numa_online"),
        (["guest-report", str(GUEST / "guest-report-bad-value.txt")], "node1_cpus: four"),
        (["guest-report", "/no/such/report"], "no such file"),
        (["host", "--sys-root", "/no/such/dir"], "no such directory"),
        (["host", "--sys-root", str(ROOT)], "online is missing"),
        (["pinning", "424242", "--proc-root", str(PROC), "--sys-root", SYS], "no threads readable"),
        (["pinning", "abc"], "is not a process id"),
        (["pinning", "0"], "is not a process id"),
        (["sandbox", "../etc", "--proc-root", str(PROC)], "not a sandbox id"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_exit_2_never_a_traceback(args, message):
    done = cli(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 or done.stderr.startswith("usage:")


def test_answers_on_this_machines_own_proc_and_sys():
    done = cli("host", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["nodes"]
    assert cli("pinning", str(os.getpid())).returncode == 0
