"""Robot Framework library: the runtime's active configuration and the suite's drop-ins."""

from __future__ import annotations

import datetime
import glob
import os
import socket
import time

from robot.api import logger
from robot.api.deco import keyword, library
from robot.utils import timestr_to_secs

from kata_numa import __version__
from kata_numa.dropin import (
    BASE_DIR,
    ActiveConfig,
    DropIn,
    acquire_node_lock,
    clean_leftover,
    dropin_content,
    find_active_config,
    find_leftovers,
    hypervisor_table,
    read_effective_config,
    release_node_lock,
    render_dropin,
)
from keyword_support import core_call, log_debug, log_table, node_access

DEFAULT_NAME = "90-kata-numa-suite.toml"


@library(scope="GLOBAL", version=__version__, doc_format="ROBOT")
class RuntimeConfig:
    """Finds the runtime configuration a RuntimeClass uses and manages the suite's drop-ins safely.

    = Safety =

    A drop-in is validated as TOML before it is renamed into ``config.d/``; a
    file of the same name is kept and put back byte for byte; `Restore Drop-Ins`
    (test and suite teardown) removes what the suite wrote and nothing else.
    Every file written carries a header naming the run, so
    `Clean Drop-Ins Left By Earlier Runs` recognises leftovers of a crashed run.
    """

    def __init__(self, base: str = BASE_DIR) -> None:
        self.base = base
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        self.run_id = f"{stamp}-{os.getpid()}"
        self._config: ActiveConfig | None = None
        self._dropins: list[DropIn] = []
        self._snapshot: dict[str, tuple[bytes, int]] | None = None
        self._locked = False

    @property
    def config(self) -> ActiveConfig:
        """The active configuration found last."""
        if self._config is None:
            raise AssertionError("no runtime configuration found yet: call `Find Active Runtime Configuration`")
        return self._config

    @keyword("Find Active Runtime Configuration")
    def find_active_runtime_configuration(self, shim: str, handler: str = "") -> str:
        """Finds the configuration file of ``shim`` (and RuntimeClass ``handler``) in the runtime's probe order."""
        self._config = core_call(find_active_config, node_access(), shim, handler or None, self.base)
        table = core_call(hypervisor_table, self._config.text, where=self._config.file)
        log_table(("file", "layout", "hypervisor table"), [(self._config.file, self._config.layout, table)])
        log_debug(self._config.file, self._config.text)
        return self._config.file

    @keyword("Log Effective Runtime Configuration")
    def log_effective_runtime_configuration(self) -> None:
        """Logs the files the runtime merges (the active file, then every drop-in in name order) and the result."""
        merged, files = core_call(read_effective_config, node_access(), self.config)
        table = merged.get("hypervisor", {})
        name, values = next(iter(table.items())) if table else ("-", {})
        runtime = merged.get("runtime", {})
        rows = [
            ("files, in order", " -> ".join(path for path, _ in files)),
            (f"[hypervisor.{name}] enable_numa", values.get("enable_numa")),
            (f"[hypervisor.{name}] numa_mapping", values.get("numa_mapping")),
            (f"[hypervisor.{name}] default_vcpus", values.get("default_vcpus")),
            (f"[hypervisor.{name}] default_memory", values.get("default_memory")),
            ("[runtime] enable_vcpus_pinning", runtime.get("enable_vcpus_pinning")),
            ("[runtime] static_sandbox_resource_mgmt", runtime.get("static_sandbox_resource_mgmt")),
        ]
        log_table(("effective setting", "value"), rows, "effective runtime configuration")
        for path, text in files:
            log_debug(path, text)

    @keyword("Get Default vCPUs")
    def get_default_vcpus(self) -> int:
        """Returns ``default_vcpus`` of the effective configuration (the vCPUs added to a pod's CPU limit)."""
        merged, _ = core_call(read_effective_config, node_access(), self.config)
        table = next(iter((merged.get("hypervisor") or {"-": {}}).values()))
        return int(table.get("default_vcpus", 1) or 0)

    @keyword("Get Drop-Ins Present")
    def get_drop_ins_present(self) -> list[str]:
        """Returns the names of the files in ``config.d/`` (what every sandbox on the node also reads)."""
        files = node_access().read_files([glob.escape(self.config.config_d) + "/*"])
        return sorted(path.rsplit("/", 1)[-1] for path in files)

    @keyword("Remember Runtime Configuration")
    def remember_runtime_configuration(self) -> None:
        """Notes the exact bytes and mode of every file in ``config.d/``, to compare at the end of the run."""
        self._snapshot = self._config_d_state()
        log_table(
            ("file", "mode", "bytes"),
            [(p, oct(m), len(d)) for p, (d, m) in self._snapshot.items()],
            f"{self.config.config_d} at the start",
        )

    @keyword("Runtime Configuration Should Be As Found")
    def runtime_configuration_should_be_as_found(self) -> None:
        """Fails unless ``config.d/`` holds exactly the files, bytes and modes `Remember Runtime Configuration` saw."""
        before = self._snapshot
        if before is None:
            logger.info("the runtime configuration was never remembered (the run stopped before preflight)")
            return
        now = self._config_d_state()
        changed = sorted(p for p in set(before) | set(now) if before.get(p) != now.get(p))
        if changed:
            raise AssertionError(f"{self.config.config_d} differs from the start of the run: {', '.join(changed)}")
        logger.info(f"{self.config.config_d} is exactly as found ({len(now)} files)")

    def _config_d_state(self) -> dict[str, tuple[bytes, int]]:
        access = node_access()
        names = access.read_files([glob.escape(self.config.config_d) + "/*"])
        state = {}
        for path in sorted(names):
            info = access.stat(path)
            if info is not None and info.kind == "file":
                state[path] = (access.read_bytes(path), info.mode)
        return state

    @keyword("Lock The Node For This Run")
    def lock_the_node_for_this_run(self, stale_after: str = "6h") -> None:
        """Takes the per-node lock (next to ``config.d/``) so that two runs never share one node."""
        holder = f"{socket.gethostname()}:{os.getpid()}"
        message = core_call(
            acquire_node_lock,
            node_access(),
            self.config,
            self.run_id,
            holder=holder,
            now=time.time(),
            stale_after=timestr_to_secs(stale_after),
        )
        self._locked = True
        logger.info(message)

    @keyword("Release The Node")
    def release_the_node(self) -> None:
        """Removes this run's lock (another run's lock is left alone)."""
        if self._config is None or not self._locked:
            return
        if release_node_lock(node_access(), self.config, self.run_id):
            logger.info("released the node lock")
        self._locked = False

    @keyword("Get Hypervisor Table")
    def get_hypervisor_table(self) -> str:
        """Returns the name of the ``[hypervisor.<name>]`` table of the active file."""
        return core_call(hypervisor_table, self.config.text, where=self.config.file)

    @keyword("Install NUMA Drop-In")
    def install_numa_drop_in(
        self,
        enable_numa: bool = True,
        numa_mapping: list[str] | None = None,
        enable_vcpus_pinning: bool | None = True,
        name: str = DEFAULT_NAME,
    ) -> str:
        """Writes a NUMA drop-in and returns its path.

        It sets ``enable_numa``, ``numa_mapping`` when given (one host node list
        per guest node, e.g. ``1`` or ``0-1``) and ``enable_vcpus_pinning``.
        """
        document = core_call(
            dropin_content,
            self.get_hypervisor_table(),
            enable_numa=enable_numa,
            numa_mapping=numa_mapping or None,
            enable_vcpus_pinning=enable_vcpus_pinning,
        )
        text = core_call(render_dropin, document, self.run_id)
        existing = next((d for d in self._dropins if d.name == name), None)
        dropin = existing or core_call(DropIn, node_access(), self.config, name, self.run_id)
        core_call(dropin.install, text)
        if existing is None:
            self._dropins.append(dropin)
        log_table(("drop-in", "replaced a file"), [(dropin.path, dropin.saved is not None)])
        log_debug(dropin.path, text)
        return dropin.path

    @keyword("Restore Drop-Ins")
    def restore_drop_ins(self) -> None:
        """Puts back every file the suite replaced and removes every drop-in it wrote. Safe to call twice."""
        errors = []
        for dropin in reversed(self._dropins):
            try:
                dropin.restore()
                logger.info(f"restored {dropin.path}")
            except Exception as error:  # noqa: BLE001 - restore the others, then report
                errors.append(f"{dropin.path}: {error}")
        self._dropins = [d for d in self._dropins if d.installed]
        if errors:
            raise AssertionError("could not restore drop-ins: " + "; ".join(errors))

    @keyword("Clean Drop-Ins Left By Earlier Runs")
    def clean_drop_ins_left_by_earlier_runs(self) -> None:
        """Restores or removes drop-ins that carry another run's header (left by a crashed run)."""
        for path, run_id in core_call(find_leftovers, node_access(), self.config):
            if run_id != self.run_id:
                logger.warn(
                    f"drop-in {path} was left by run {run_id}: " + clean_leftover(node_access(), self.config, path)
                )

    @keyword("Suite Drop-Ins Should Be Gone")
    def suite_drop_ins_should_be_gone(self) -> None:
        """Fails when ``config.d/`` still holds a file carrying the suite's header (after `Restore Drop-Ins`)."""
        left = core_call(find_leftovers, node_access(), self.config)
        log_table(("drop-in left", "run"), left, f"suite drop-ins in {self.config.config_d}")
        if left:
            raise AssertionError(f"suite drop-ins still in {self.config.config_d}: {', '.join(p for p, _ in left)}")
