"""Times the pinning probe on a real paused QEMU with 64 vCPU threads, locally and over loopback SSH.

Also counts the SSH round trips of one probe (must be 1) and of one whole
scenario run over SSH against the simulated node.

Run: ``make benchmark`` (or ``PYTHONPATH=libraries:tests .venv/bin/python benchmarks/ssh_probe.py``).
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "libraries"), str(ROOT / "tests"), str(ROOT / "tests" / "suites"), str(ROOT / "benchmarks")]

from helpers.qemu import pin_vcpus_like_kata, start_paused_qemu  # noqa: E402
from helpers.sshd import start_sshd  # noqa: E402
from kata_numa.hostaccess import LocalHostAccess  # noqa: E402
from kata_numa.placement import analyse_pinning  # noqa: E402
from kata_numa.procfs import read_threads  # noqa: E402
from kata_numa.sysfs import read_host_topology  # noqa: E402
from robotrun import run_suites  # noqa: E402
from ssh_host_access import SshHostAccess  # noqa: E402
from timing import median_seconds  # noqa: E402

RUNS = 9


def median_ms(action) -> float:
    return median_seconds(action, RUNS) * 1000


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="kata-numa-bench-"))
    server = start_sshd(work / "sshd")
    try:
        qemu = start_paused_qemu(work, 64)
    except BaseException:
        server.stop()
        raise
    try:
        pin_vcpus_like_kata(qemu, [0, 1])
        local = LocalHostAccess("/")
        ssh = SshHostAccess("127.0.0.1", port=server.port, user=server.user, key_file=str(server.key))
        topology = read_host_topology(local)
        pid = qemu.process.pid

        def probe(access) -> None:
            assert len(analyse_pinning(read_threads(access, pid), topology).vcpus) == 64

        local_ms, ssh_ms = median_ms(lambda: probe(local)), median_ms(lambda: probe(ssh))
        before = ssh.stats.round_trips
        probe(ssh)
        probe_trips = ssh.stats.round_trips - before
        ssh.close()
    finally:
        qemu.stop()
    try:
        run_suites(work / "suite", log=True, **server.suite_variables())
    finally:
        server.stop()
    output = (work / "suite" / "output.xml").read_text()
    per_scenario = [
        int(m)
        for m in re.findall(
            r"host round trips of the scenario.*?<td>\d+</td><td>\d+</td>"
            r"<td>\d+</td><td>(\d+)</td>",
            output.replace("&lt;", "<").replace("&gt;", ">"),
        )
    ]
    print(f"QEMU with 64 vCPU threads ({'KVM' if qemu.kvm else 'TCG'}), median of {RUNS} probes")
    print(f"  local probe:       {local_ms:7.1f} ms")
    print(f"  probe over SSH:    {ssh_ms:7.1f} ms  ({probe_trips} SSH round trip)")
    print(f"  SSH round trips per scenario (all scenarios, over the simulated node): {per_scenario}")
    ok = probe_trips == 1
    print(
        "goal met: one probe over SSH is one round trip" if ok else "goal MISSED: a probe took more than one round trip"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
