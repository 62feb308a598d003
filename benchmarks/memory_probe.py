"""Times the memory probe (maps + numa_maps, backends matched, both checks) on a real paused QEMU.

The QEMU has 8 memory backends of 64 GiB each, as a large Kata sandbox would
(``share=on``, bound to host node 0; ``reserve=off`` so that 512 GiB of
address space needs no swap). Prints the median time locally and over a
loopback sshd, and the host round trips of one probe (must be 1).

Run: ``make benchmark`` (or ``PYTHONPATH=libraries:tests .venv/bin/python benchmarks/memory_probe.py``).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "libraries"), str(ROOT / "tests"), str(ROOT / "benchmarks")]

from helpers.qemu import QEMU, kvm_usable  # noqa: E402
from helpers.sshd import start_sshd  # noqa: E402
from kata_numa.hostaccess import LocalHostAccess  # noqa: E402
from kata_numa.memory import (  # noqa: E402
    check_memory_bound_in_kernel,
    check_pages_on_bound_nodes,
    match_backends,
    read_process_memory,
)
from kata_numa.qemu import parse_qemu_argv  # noqa: E402
from ssh_host_access import SshHostAccess  # noqa: E402
from timing import median_seconds  # noqa: E402

RUNS = 9
BACKENDS = 8


def qemu_argv(kvm: bool) -> list[str]:
    argv = [QEMU or "qemu-system-x86_64", "-name", "sandbox-memory-benchmark", "-S", "-machine", "q35"]
    argv += ["-accel", "kvm" if kvm else "tcg", "-display", "none", "-nodefaults", "-no-user-config"]
    argv += ["-m", f"{64 * BACKENDS}G", "-smp", f"{BACKENDS},sockets={BACKENDS},cores=1,threads=1"]
    for index in range(BACKENDS):
        argv += [
            "-object",
            f"memory-backend-ram,id=numa-mem{index},size=64G,host-nodes=0,policy=bind,share=on,reserve=off",
        ]
        argv += ["-numa", f"node,nodeid={index},memdev=numa-mem{index},cpus={index}"]
    return argv


def start(kvm: bool) -> tuple[subprocess.Popen, list[str]]:
    argv = qemu_argv(kvm)
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    cmdline = parse_qemu_argv(argv)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"QEMU exited: {process.stderr.read()}")
        memory = read_process_memory(LocalHostAccess("/"), process.pid)
        if all(item.mapping for item in match_backends(cmdline, memory)):
            return process, argv
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("QEMU did not map its 8 backends within 30 s")


def median_ms(action) -> float:
    return median_seconds(action, RUNS) * 1000


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="kata-numa-memory-bench-"))
    server = start_sshd(work / "sshd")
    kvm = kvm_usable()
    try:
        try:
            process, argv = start(kvm)
        except RuntimeError:
            if not kvm:
                raise
            kvm = False
            process, argv = start(kvm)
    except BaseException:
        server.stop()
        raise
    cmdline = parse_qemu_argv(argv)
    local = LocalHostAccess("/")
    ssh = SshHostAccess("127.0.0.1", port=server.port, user=server.user, key_file=str(server.key))
    try:

        def probe(access) -> None:
            placements = match_backends(cmdline, read_process_memory(access, process.pid))
            assert check_memory_bound_in_kernel(placements).ok
            assert check_pages_on_bound_nodes(placements).ok

        local_ms, ssh_ms = median_ms(lambda: probe(local)), median_ms(lambda: probe(ssh))
        before = (local.stats.round_trips, ssh.stats.round_trips)
        probe(local)
        probe(ssh)
        trips = (local.stats.round_trips - before[0], ssh.stats.round_trips - before[1])
        mappings = len(read_process_memory(local, process.pid).mappings)
    finally:
        ssh.close()
        process.kill()
        process.wait(timeout=10)
        server.stop()
    print(
        f"QEMU with {BACKENDS} memory backends of 64 GiB ({'KVM' if kvm else 'TCG'}, paused, "
        f"{mappings} mappings), median of {RUNS} probes"
    )
    print(f"  local memory probe:    {local_ms:7.1f} ms  ({trips[0]} host round trip)")
    print(f"  memory probe over SSH: {ssh_ms:7.1f} ms  ({trips[1]} SSH round trip)")
    return 0 if trips == (1, 1) else 1


if __name__ == "__main__":
    sys.exit(main())
