"""Counts how often files are opened, with Linux inotify, so the simulated node can react to reads.

The runtime places vCPU threads a moment after the sandbox starts; the
simulated node models that as "after the N-th read of a vCPU thread's
status", which makes the suite's polling deterministic. inotify sees every
open, whatever reads the tree: Python, ``cat`` through SSH, ``sudo``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass

IN_OPEN = 0x00000020
IN_IGNORED = 0x00008000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")


@dataclass
class _Watch:
    name: str
    remaining: int
    callback: Callable[[], None]


class OpenCounter:
    """Calls back once a file of a directory has been opened a given number of times."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self._watches: dict[int, _Watch] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sim-open-counter", daemon=True)
        self._thread.start()

    def after_opens(self, directory: str, name: str, count: int, callback: Callable[[], None]) -> int:
        """Calls ``callback`` (from the counter's thread) at the ``count``-th open of ``directory/name``."""
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(directory), IN_OPEN)
        if wd < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {directory} failed")
        with self._lock:
            self._watches[wd] = _Watch(name, count, callback)
        return wd

    def cancel(self, wd: int) -> None:
        """Forgets a watch (its callback will not run)."""
        with self._lock:
            if self._watches.pop(wd, None) is not None:
                self._libc.inotify_rm_watch(self._fd, wd)

    def close(self) -> None:
        """Stops the counter's thread and closes the inotify descriptor."""
        self._stop.set()
        self._thread.join(timeout=2)
        with contextlib.suppress(OSError):
            os.close(self._fd)

    def _loop(self) -> None:
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        while not self._stop.is_set():
            if not poller.poll(50):
                continue
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                continue
            except OSError:
                return
            for wd, name in _events(data):
                self._count(wd, name)

    def _count(self, wd: int, name: str) -> None:
        with self._lock:
            watch = self._watches.get(wd)
            if watch is None or name != watch.name:
                return
            watch.remaining -= 1
            if watch.remaining > 0:
                return
            del self._watches[wd]
            self._libc.inotify_rm_watch(self._fd, wd)
        watch.callback()


def _events(data: bytes) -> list[tuple[int, str]]:
    events = []
    offset = 0
    while offset + _EVENT.size <= len(data):
        wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
        raw = data[offset + _EVENT.size : offset + _EVENT.size + length]
        offset += _EVENT.size + length
        if not mask & IN_IGNORED:
            events.append((wd, raw.split(b"\0", 1)[0].decode("utf-8", "replace")))
    return events
