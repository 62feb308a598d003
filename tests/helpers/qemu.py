"""A real, paused QEMU with a Kata-like NUMA command line, for tests and benchmarks."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

QEMU = shutil.which("qemu-system-x86_64")


def kvm_usable() -> bool:
    """True when /dev/kvm can be opened for reading and writing."""
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
    except OSError:
        return False
    return True


def kata_like_argv(sandbox_id: str, vcpus: int, qmp: Path, *, named: bool, kvm: bool) -> list[str]:
    """Two guest nodes of ``vcpus / 2`` vCPUs, backends bound to host node 0, a pxb-pcie with a root port."""
    half = vcpus // 2
    name = f"sandbox-{sandbox_id}" + (",debug-threads=on" if named else "")
    return [
        QEMU or "qemu-system-x86_64",
        "-name",
        name,
        "-S",
        "-machine",
        "q35",
        "-accel",
        "kvm" if kvm else "tcg,thread=multi",
        "-cpu",
        "host" if kvm else "max",
        "-display",
        "none",
        "-serial",
        "none",
        "-monitor",
        "none",
        "-nodefaults",
        "-no-user-config",
        "-qmp",
        f"unix:{qmp},server=on,wait=off",
        "-m",
        "256M",
        "-smp",
        f"{vcpus},sockets=2,cores={half},threads=1,maxcpus={vcpus}",
        "-object",
        "memory-backend-ram,id=numa-mem0,size=128M,host-nodes=0,policy=bind",
        "-numa",
        f"node,nodeid=0,memdev=numa-mem0,cpus=0-{half - 1}",
        "-object",
        "memory-backend-ram,id=numa-mem1,size=128M,host-nodes=0,policy=bind",
        "-numa",
        f"node,nodeid=1,memdev=numa-mem1,cpus={half}-{vcpus - 1}",
        "-numa",
        "dist,src=0,dst=1,val=21",
        "-numa",
        "dist,src=1,dst=0,val=21",
        "-device",
        "pxb-pcie,id=pxb-numa1,bus=pcie.0,bus_nr=64,numa_node=1",
        "-device",
        "pcie-root-port,id=rp-numa1-0,bus=pxb-numa1,chassis=11,slot=0",
    ]


@dataclass
class PausedQemu:
    """A running QEMU: its pid, sandbox id and vCPU thread ids (from QMP)."""

    process: subprocess.Popen
    sandbox_id: str
    vcpu_tids: list[int]
    kvm: bool

    def stop(self) -> None:
        """Kills QEMU."""
        self.process.kill()
        self.process.wait(timeout=10)


def _qmp(path: Path, command: str) -> object:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(path))
        stream = sock.makefile("rw")
        json.loads(stream.readline())  # greeting
        for request in ({"execute": "qmp_capabilities"}, {"execute": command}):
            stream.write(json.dumps(request) + "\n")
            stream.flush()
            while True:
                answer = json.loads(stream.readline())
                if "return" in answer or "error" in answer:
                    break
        return answer.get("return")


def start_paused_qemu(
    directory: Path, vcpus: int = 4, *, named: bool = True, backends: tuple[str, str] | None = None
) -> PausedQemu:
    """Starts QEMU paused (KVM when usable, else TCG) and learns its vCPU thread ids through QMP.

    ``backends`` replaces the options of the two memory backends (after ``id=numa-memN,``).
    """
    if kvm_usable():
        try:
            return _start(directory, vcpus, named=named, kvm=True, backends=backends)
        except (RuntimeError, OSError):
            pass  # some nested hosts refuse a KVM vCPU setting: TCG still shows the same threads
    return _start(directory, vcpus, named=named, kvm=False, backends=backends)


def _start(directory: Path, vcpus: int, *, named: bool, kvm: bool, backends: tuple[str, str] | None) -> PausedQemu:
    sandbox_id = uuid.uuid4().hex + uuid.uuid4().hex
    qmp = directory / f"qmp-{sandbox_id[:8]}.sock"
    argv = kata_like_argv(sandbox_id, vcpus, qmp, named=named, kvm=kvm)
    if backends is not None:
        for index, options in enumerate(backends):
            position = argv.index(f"memory-backend-ram,id=numa-mem{index},size=128M,host-nodes=0,policy=bind")
            argv[position] = f"memory-backend-ram,id=numa-mem{index},{options}"
        argv[argv.index("256M")] = "512M"
    process = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"QEMU exited: {process.stderr.read()}")
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("QEMU did not answer on its QMP socket within 30 s")
        try:
            cpus = _qmp(qmp, "query-cpus-fast")
            break
        except (OSError, ValueError):
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("QEMU did not answer on its QMP socket within 30 s") from None
            time.sleep(0.05)
    return PausedQemu(process, sandbox_id, [cpu["thread-id"] for cpu in cpus], kvm)


def pin_vcpus_like_kata(qemu: PausedQemu, cpus: list[int]) -> None:
    """Pins each vCPU thread to one CPU with taskset, round-robin over ``cpus`` (static policy style)."""
    for index, tid in enumerate(qemu.vcpu_tids):
        subprocess.run(["taskset", "-pc", str(cpus[index % len(cpus)]), str(tid)], check=True, capture_output=True)
