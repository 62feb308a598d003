"""A real Linux guest for the tests: Debian's cloud kernel and busybox, booted under TCG.

The kit (kernel + static busybox) is fetched with ``apt-get download`` and
unpacked with ``dpkg-deb -x`` into a cache directory outside the repository,
so nothing is installed on the machine. The initramfs is written here (cpio
``newc``), holding busybox, the suite's probe and an ``/init`` that prints
the probe's output between two markers and powers the guest off.

A Kata command line from the simulated node's rules is made bootable by
swapping only what a test machine cannot provide (accelerator, CPU model,
kernel, console, pid file, VFIO devices); everything that shapes the
guest's NUMA view (-m, memory backends, -numa, -smp, pxb-pcie, root ports)
is passed through untouched.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kata_numa.qemu import parse_option_value, split_options

QEMU = shutil.which("qemu-system-x86_64")
KERNEL_METAPACKAGE = "linux-image-cloud-amd64"
BUSYBOX_PACKAGE = "busybox-static"
BEGIN_MARKER = "numa-probe: begin"
END_MARKER = "numa-probe: end"
# The stand-in for a passed-through GPU: a virtio RNG (vendor 0x1af4, device 0x1044, class 0x00ff00).
STAND_IN_DRIVER = "virtio-rng-pci"
STAND_IN_CLASS = "0x00ff00"
STAND_IN_VENDOR_DEVICE = ("0x1af4", "0x1044")
CONSOLE_TAIL_LINES = 40


class GuestKitUnavailable(Exception):
    """The kernel or busybox could not be fetched; the message says why."""


class GuestBootFailed(AssertionError):
    """The guest panicked, exited early or never printed the end marker; the message holds the console's tail."""

    def __init__(self, message: str, pid: int) -> None:
        super().__init__(message)
        self.pid = pid  # QEMU's pid, already reaped


@dataclass(frozen=True)
class GuestKit:
    """A bootable kernel and a static busybox, unpacked in the cache."""

    kernel: Path
    busybox: Path
    kernel_package: str


def cache_directory() -> Path:
    """Where the kit is kept between runs: ``$KATA_NUMA_GUEST_CACHE`` or ``~/.cache/kata-numa-guest``."""
    configured = os.environ.get("KATA_NUMA_GUEST_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "kata-numa-guest"


def kernel_package_of(apt_show_output: str) -> str:
    """The versioned image package a ``linux-image-cloud-amd64`` stanza depends on."""
    for line in apt_show_output.splitlines():
        if line.startswith("Depends:"):
            for alternative in line.split(":", 1)[1].split(","):
                name = alternative.split("|")[0].split("(")[0].strip()
                if re.fullmatch(r"linux-image-[0-9][\w.+-]*-cloud-amd64", name):
                    return name
    raise GuestKitUnavailable(f"{KERNEL_METAPACKAGE} names no linux-image-*-cloud-amd64 package in its Depends")


def fetch_guest_kit(cache: Path | None = None) -> GuestKit:
    """Returns the cached kit, fetching and unpacking it first when missing."""
    cache = cache or cache_directory()
    for tool in ("apt-cache", "apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise GuestKitUnavailable(f"{tool} is not on PATH: the Debian kernel cannot be fetched")
    shown = _run(["apt-cache", "show", "--no-all-versions", KERNEL_METAPACKAGE], "apt-cache show")
    package = kernel_package_of(shown)
    kit_dir = cache / package
    kernel = next(iter(sorted((kit_dir / "boot").glob("vmlinuz-*"))), None) if kit_dir.is_dir() else None
    busybox = cache / "busybox" / "bin" / "busybox"
    if kernel is None:
        _download_and_unpack(package, kit_dir, keep=("boot",))
        kernel = next(iter(sorted((kit_dir / "boot").glob("vmlinuz-*"))), None)
        if kernel is None:
            raise GuestKitUnavailable(f"{package} holds no boot/vmlinuz-*")
    if not busybox.is_file():
        _download_and_unpack(BUSYBOX_PACKAGE, cache / "busybox", keep=("bin",))
        if not busybox.is_file():
            raise GuestKitUnavailable(f"{BUSYBOX_PACKAGE} holds no bin/busybox")
    return GuestKit(kernel, busybox, package)


def _download_and_unpack(package: str, target: Path, *, keep: Sequence[str]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        _run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", package], "apt-get download", cwd=scratch)
        debs = sorted(Path(scratch).glob("*.deb"))
        if not debs:
            raise GuestKitUnavailable(f"apt-get download {package} left no .deb file")
        unpacked = Path(scratch) / "root"
        _run(["dpkg-deb", "-x", str(debs[0]), str(unpacked)], "dpkg-deb -x")
        staging = Path(scratch) / "kit"
        staging.mkdir()
        for part in keep:
            if (unpacked / part).exists():
                shutil.move(str(unpacked / part), str(staging / part))
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)  # whole or not at all: a half-fetched kit is never taken for a cached one


def _run(argv: Sequence[str], what: str, cwd: str | None = None) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise GuestKitUnavailable(f"{what} failed: {error}") from error
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise GuestKitUnavailable(f"{what} failed (exit {done.returncode}): {last}")
    return done.stdout


# -- initramfs ---------------------------------------------------------------------------

CpioEntry = tuple[str, int, bytes]  # path inside the archive, mode (with file type), content


def newc_archive(entries: Sequence[CpioEntry]) -> bytes:
    """A cpio archive in the ``newc`` format the kernel unpacks as its initramfs."""
    out = io.BytesIO()
    for inode, (name, mode, data) in enumerate([*entries, ("TRAILER!!!", 0, b"")], start=1):
        encoded = name.encode() + b"\0"
        fields = (inode, mode, 0, 0, 2 if mode & 0o040000 else 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0)
        out.write(b"070701" + "".join(f"{value:08X}" for value in fields).encode() + encoded)
        out.write(b"\0" * (-(110 + len(encoded)) % 4))
        out.write(data)
        out.write(b"\0" * (-len(data) % 4))
    return out.getvalue()


def init_script(probe_classes: str = "all") -> bytes:
    """``/init``: mount /proc and /sys, run the probe once between the markers, power off."""
    return (
        "#!/bin/busybox sh\n"
        "/bin/busybox mkdir -p /proc /sys /dev /usr/bin /sbin\n"
        "/bin/busybox mount -t proc proc /proc\n"
        "/bin/busybox mount -t sysfs sysfs /sys\n"
        "/bin/busybox --install -s\n"
        f"echo '{BEGIN_MARKER}'\n"
        f"PROBE_ONCE=1 PROBE_PCI_CLASSES='{probe_classes}' sh /numa-probe.sh\n"
        f"echo '{END_MARKER}'\n"
        "poweroff -f\n"
    ).encode()


def build_initramfs(kit: GuestKit, probe: Path, init: bytes | None = None) -> bytes:
    """busybox, the probe and ``init`` (default: :func:`init_script`) as one archive."""
    return newc_archive(
        [
            ("bin", 0o040755, b""),
            ("bin/busybox", 0o100755, kit.busybox.read_bytes()),
            ("numa-probe.sh", 0o100755, probe.read_bytes()),
            ("init", 0o100755, init if init is not None else init_script()),
        ]
    )


# -- the command line ------------------------------------------------------------------------


def bootable_argv(kata_argv: Sequence[str], kit: GuestKit, initrd: Path, console: Path, pidfile: Path) -> list[str]:
    """The Kata argv with only what a test machine cannot provide swapped; one stand-in device added on pcie.0.

    ``accel=kvm`` becomes TCG, ``-cpu host`` becomes ``max``, the Kata guest
    kernel becomes the Debian kernel plus ``initrd``, the console goes to
    ``console`` on the first serial port, each ``vfio-pci`` becomes a
    stand-in device on the same bus. ``quiet`` is dropped, so that a failing
    boot's console tail says where it stopped. A device directly on
    ``pcie.0`` is added, as Kata's own virtio devices sit there.
    """
    argv = [QEMU or "qemu-system-x86_64"]
    for option in split_options(kata_argv):
        name, value = option.name, option.raw
        if name == "machine" and value is not None:
            pairs = parse_option_value(value, "type").pairs
            argv += ["-machine", ",".join(k + "=" + ("tcg" if k == "accel" else v or "") for k, v in pairs)]
        elif name == "cpu":
            argv += ["-cpu", "max"]
        elif name == "kernel":
            argv += ["-kernel", str(kit.kernel), "-initrd", str(initrd)]
        elif name == "append" and value is not None:
            words = [w for w in value.split() if w != "quiet" and not w.startswith(("console=", "systemd."))]
            argv += ["-append", " ".join([*words, "console=ttyS0", "rdinit=/init"])]
        elif name == "pidfile":
            argv += ["-pidfile", str(pidfile)]
        elif name == "device" and value is not None and parse_option_value(value, "driver").get("driver") == "vfio-pci":
            argv += ["-device", f"{STAND_IN_DRIVER},bus={parse_option_value(value, 'driver').get('bus')}"]
        elif name == "nographic":
            argv += ["-display", "none", "-serial", f"file:{console}"]
        elif not name:
            argv.append(value or "")  # a positional argument
        else:
            argv += [f"-{name}"] if value is None else [f"-{name}", value]
    return [*argv, "-device", f"{STAND_IN_DRIVER},bus=pcie.0"]


# -- booting ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GuestBoot:
    """What one boot printed: the probe's output and the whole console, with the boot's duration."""

    argv: tuple[str, ...]
    probe_output: str
    console: str
    seconds: float


def console_tail(console: str, lines: int = CONSOLE_TAIL_LINES) -> str:
    """The last ``lines`` lines of the console, for a failure message."""
    return "\n".join(console.splitlines()[-lines:])


def probe_output_of(console: str) -> str | None:
    """The lines between the begin and end markers, or None while the end marker is missing."""
    lines = [line.rstrip("\r") for line in console.splitlines()]
    if END_MARKER not in lines or BEGIN_MARKER not in lines:
        return None
    begin = lines.index(BEGIN_MARKER)
    end = lines.index(END_MARKER, begin)
    return "\n".join(lines[begin + 1 : end]) + "\n"


PANIC_LINE = re.compile(r"^(?:\[\s*\d+\.\d+\]\s+)?(Kernel panic - not syncing: .*)$")


def kernel_panic_line(console: str) -> str | None:
    """The kernel's panic line (timestamp taken off), if the console holds one."""
    for line in console.splitlines():
        found = PANIC_LINE.match(line.rstrip("\r"))
        if found:
            return found.group(1)
    return None


def boot_guest(argv: Sequence[str], console: Path, *, timeout: float = 30.0) -> GuestBoot:
    """Boots until the end marker, QEMU's exit or ``timeout``; QEMU never outlives the call."""
    console.unlink(missing_ok=True)
    qemu_log = console.with_name(console.name + ".qemu")  # QEMU's own messages, kept out of a pipe that could fill
    started = time.monotonic()
    with qemu_log.open("wb") as log:
        process = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            reason = _wait_for_marker(process, console, started + timeout)
        finally:
            _stop(process)
    text = console.read_text(errors="replace") if console.exists() else ""
    output = probe_output_of(text)
    qemu_said = qemu_log.read_text(errors="replace").strip()
    if reason is not None or output is None:
        why = reason or "the guest stopped without printing the probe's end marker"
        extra = f"\nQEMU said: {qemu_said}" if qemu_said else ""
        raise GuestBootFailed(
            f"{why}{extra}\n--- last {CONSOLE_TAIL_LINES} lines of the serial console ---\n{console_tail(text)}",
            process.pid,
        )
    return GuestBoot(tuple(argv), output, text, time.monotonic() - started)


def _wait_for_marker(process: subprocess.Popen, console: Path, deadline: float) -> str | None:
    while True:
        text = console.read_text(errors="replace") if console.exists() else ""
        if probe_output_of(text) is not None:
            return None
        if process.poll() is not None:
            panic = kernel_panic_line(text)
            if panic is not None:
                return f"the guest kernel panicked ({panic}); QEMU exited with {process.returncode}"
            return None if probe_output_of(text) is not None else f"QEMU exited with {process.returncode} early"
        if time.monotonic() > deadline:
            return "no probe end marker before the boot's timeout"
        time.sleep(0.1)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
