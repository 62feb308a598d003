"""Runtime configuration drop-ins, written so that the node is always left as found.

The runtime merges every file of ``config.d/`` next to its active
configuration file at each sandbox start, so a leaked, broken or backup file
there changes or breaks every pod on the node. Hence: temp files go next to
``config.d/`` (never inside it) and are renamed into place after the TOML is
validated; a file of the same name that was there before is kept, bytes and
mode, outside ``config.d/`` and put back on restore; only a ``.toml`` regular
file directly inside the resolved ``config.d/`` is ever removed; and what the
suite writes carries a header naming the run, so a later run recognises a
file left behind by a crashed one.
"""

from __future__ import annotations

import glob
import posixpath
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import tomli_w

from .cpuset import parse_cpulist
from .errors import InputError
from .hostaccess import HostAccess, check_node_path

BASE_DIR = "/opt/kata/share/defaults/kata-containers"
STAMP = "# kata-numa-suite drop-in"
BACKUP_DIR_NAME = ".kata-numa-suite-backup"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\.toml$")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
_WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class ActiveConfig:
    """The configuration file the runtime uses for one RuntimeClass handler."""

    directory: str
    file: str
    layout: str
    text: str

    @property
    def config_d(self) -> str:
        """The drop-in directory next to the file."""
        return posixpath.join(self.directory, "config.d")

    @property
    def backup_dir(self) -> str:
        """Where replaced drop-ins are kept while the suite's own is in place (outside config.d)."""
        return posixpath.join(self.directory, BACKUP_DIR_NAME)


def config_candidates(shim: str, handler: str | None = None, base: str = BASE_DIR) -> list[tuple[str, str]]:
    """(layout, directory) pairs in the runtime's probe order."""
    _check_word(shim, "shim")
    candidates = []
    if handler:
        _check_word(handler, "runtime class handler")
        candidates.append(("custom-runtimes", f"{base}/custom-runtimes/{handler}"))
    candidates += [
        ("runtime-rs", f"{base}/runtime-rs/runtimes/{shim}"),
        ("runtimes", f"{base}/runtimes/{shim}"),
        ("base", base),
    ]
    return candidates


def select_active_config(
    files: Mapping[str, str], shim: str, handler: str | None = None, base: str = BASE_DIR
) -> ActiveConfig:
    """Picks the first candidate whose ``configuration-<shim>.toml`` was found in ``files``."""
    tried = []
    for layout, directory in config_candidates(shim, handler, base):
        path = f"{directory}/configuration-{shim}.toml"
        tried.append(path)
        if path in files:
            return ActiveConfig(directory, path, layout, files[path])
    raise InputError(f"no configuration for shim {shim!r}; tried: {', '.join(tried)}")


def find_active_config(access: HostAccess, shim: str, handler: str | None = None, base: str = BASE_DIR) -> ActiveConfig:
    """Probes every candidate location in one host round trip."""
    paths = [f"{d}/configuration-{shim}.toml" for _, d in config_candidates(shim, handler, base)]
    return select_active_config(access.read_files([glob.escape(p) for p in paths]), shim, handler, base)


def merge_config(base: Mapping, *dropins: Mapping) -> dict:
    """Merges drop-in documents over the base, table by table, as the runtime does."""
    merged = _deep_copy(base)
    for dropin in dropins:
        _merge_into(merged, dropin)
    return merged


def _deep_copy(value: Mapping) -> dict:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in value.items()}


def _merge_into(target: dict, source: Mapping) -> None:
    for key, value in source.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge_into(target[key], value)
        else:
            target[key] = _deep_copy(value) if isinstance(value, Mapping) else value


def read_effective_config(access: HostAccess, config: ActiveConfig) -> tuple[dict, list[tuple[str, str]]]:
    """The active file merged with every ``config.d/*.toml`` in name order, as the runtime reads them.

    Returns the merged document and the (path, text) of every file, in order.
    A malformed file is an InputError naming it.
    """
    files = [(config.file, config.text)]
    files += sorted(access.read_files([glob.escape(config.config_d) + "/*.toml"]).items())
    documents = [validate_toml(text, where=path) for path, text in files]
    return merge_config(*documents), files


def hypervisor_table(text: str, *, where: str = "configuration") -> str:
    """The name of the one ``[hypervisor.<name>]`` table of a configuration file."""
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"{where} is not valid TOML: {error}") from error
    tables = parsed.get("hypervisor")
    if not isinstance(tables, dict) or not tables:
        raise InputError(f"{where} has no [hypervisor.<name>] table")
    if len(tables) != 1:
        raise InputError(f"{where} has several hypervisor tables: {', '.join(sorted(tables))}")
    return next(iter(tables))


def dropin_content(
    hypervisor: str,
    *,
    enable_numa: bool = True,
    numa_mapping: Sequence[str] | None = None,
    enable_vcpus_pinning: bool | None = None,
) -> dict:
    """The TOML document of a NUMA drop-in; each ``numa_mapping`` entry is a host node list."""
    _check_word(hypervisor, "hypervisor table")
    table: dict[str, object] = {"enable_numa": enable_numa}
    if numa_mapping is not None:
        mapping = [str(entry).strip() for entry in numa_mapping]
        for index, entry in enumerate(mapping):
            if not parse_cpulist(entry, what=f"numa_mapping entry {index}"):
                raise InputError(f"numa_mapping entry {index} is empty: each guest node needs host nodes")
        table["numa_mapping"] = mapping
    document: dict[str, object] = {"hypervisor": {hypervisor: table}}
    if enable_vcpus_pinning is not None:
        document["runtime"] = {"enable_vcpus_pinning": enable_vcpus_pinning}
    return document


def render_dropin(document: Mapping[str, object], run_id: str) -> str:
    """Renders the document with the header that names the run, and checks it parses back equal."""
    if not _RUN_ID.match(run_id or ""):
        raise InputError(f"run id {run_id!r} must be letters, digits and . _ : -")
    text = f"{STAMP}; run={run_id}; removed when that run ends\n" + tomli_w.dumps(dict(document))
    if validate_toml(text, where="rendered drop-in") != document:
        raise InputError("rendered drop-in does not parse back to the same values")
    return text


def validate_toml(text: str, *, where: str) -> dict:
    """Parses TOML; a syntax error is an InputError naming ``where``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"{where} is not valid TOML: {error}") from error


def stamp_run_id(text: str) -> str | None:
    """The run id of a file the suite wrote (its first line), else None."""
    first = text.split("\n", 1)[0]
    if not first.startswith(STAMP + ";"):
        return None
    for field in first[len(STAMP) + 1 :].split(";"):
        key, _, value = field.strip().partition("=")
        if key == "run" and value:
            return value
    return None


def check_removable(config_d: str, path: str, kind: str | None) -> None:
    """Refuses any removal but a ``.toml`` regular file directly inside ``config_d``."""
    target = check_node_path(path)
    directory = check_node_path(config_d)
    if posixpath.dirname(target) != directory:
        raise InputError(f"refusing to remove {path}: not directly inside {config_d}")
    if not _NAME.match(posixpath.basename(target)):
        raise InputError(f"refusing to remove {path}: not a .toml drop-in name")
    if kind != "file":
        raise InputError(f"refusing to remove {path}: it is a {kind or 'missing file'}, not a regular file")


def remove_dropin(access: HostAccess, config: ActiveConfig, path: str) -> None:
    """Removes one drop-in after ``check_removable``."""
    info = access.stat(path)
    if info is None:
        return
    check_removable(config.config_d, path, info.kind)
    access.remove(path)


@dataclass(frozen=True)
class SavedFile:
    """Exact bytes and mode of a file the suite replaced."""

    data: bytes
    mode: int


class DropIn:
    """One drop-in file of the suite: install, then restore exactly what was there."""

    def __init__(self, access: HostAccess, config: ActiveConfig, name: str, run_id: str) -> None:
        if not _NAME.match(name or ""):
            raise InputError(f"drop-in name {name!r} must be a plain file name ending in .toml")
        self.access = access
        self.config = config
        self.name = name
        self.run_id = run_id
        self.path = posixpath.join(config.config_d, name)
        self.backup_path = posixpath.join(config.backup_dir, name)
        self.saved: SavedFile | None = None
        self.installed = False
        self.created_dirs: list[str] = []

    def install(self, text: str) -> None:
        """Validates ``text`` and puts it in place atomically, keeping any file it replaces."""
        validate_toml(text, where=f"drop-in {self.name}")
        if stamp_run_id(text) is None:
            raise InputError(f"drop-in {self.name} lacks the suite's header line; render it with render_dropin")
        if not self.installed:
            self.created_dirs = [
                d for d in (self.config.backup_dir, self.config.config_d) if access_lacks(self.access, d)
            ]
            self.saved = self._save_existing()
        self.access.write_file(self.path, text.encode(), mode=0o644, temp_dir=self.config.directory)
        self.installed = True

    def _save_existing(self) -> SavedFile | None:
        info = self.access.stat(self.path)
        if info is None:
            return None
        if info.kind != "file":
            raise InputError(f"{self.path} exists and is a {info.kind}: refusing to replace it")
        data = self.access.read_bytes(self.path)
        backup = self.access.stat(self.backup_path)
        if stamp_run_id(data.decode("utf-8", "replace")) is not None and backup is not None:
            # Left by a crashed run: the original is the backup that run kept.
            return SavedFile(self.access.read_bytes(self.backup_path), backup.mode)
        saved = SavedFile(data, info.mode)
        self.access.write_file(self.backup_path, data, mode=info.mode, temp_dir=self.config.backup_dir)
        return saved

    def restore(self) -> None:
        """Puts back the replaced file byte for byte, or removes the suite's file. Idempotent."""
        if self.saved is not None:
            self.access.write_file(self.path, self.saved.data, mode=self.saved.mode, temp_dir=self.config.directory)
            if self.access.stat(self.backup_path) is not None:
                self.access.remove(self.backup_path)
            self.access.remove_empty_dir(self.config.backup_dir)
            self.saved = None
        elif self.installed:
            remove_dropin(self.access, self.config, self.path)
        for directory in self.created_dirs:
            self.access.remove_empty_dir(directory)  # only if nobody else put a file there meanwhile
        self.created_dirs = []
        self.installed = False


def access_lacks(access: HostAccess, path: str) -> bool:
    """True when ``path`` does not exist on the node."""
    return access.stat(path) is None


def find_leftovers(access: HostAccess, config: ActiveConfig) -> list[tuple[str, str]]:
    """(path, run id) of every drop-in in ``config.d/`` that carries the suite's header."""
    files = access.read_files([glob.escape(config.config_d) + "/*.toml"])
    found = []
    for path, text in sorted(files.items()):
        run_id = stamp_run_id(text)
        if run_id is not None:
            found.append((path, run_id))
    return found


def clean_leftover(access: HostAccess, config: ActiveConfig, path: str) -> str:
    """Puts back the original kept for a leftover drop-in, or removes it; says which."""
    name = posixpath.basename(path)
    backup_path = posixpath.join(config.backup_dir, name)
    backup = access.stat(backup_path)
    if backup is not None and backup.kind == "file":
        access.write_file(path, access.read_bytes(backup_path), mode=backup.mode, temp_dir=config.directory)
        access.remove(backup_path)
        access.remove_empty_dir(config.backup_dir)
        return f"restored {path} from {backup_path}"
    remove_dropin(access, config, path)
    return f"removed {path}"


def _check_word(value: str, what: str) -> None:
    if not _WORD.match(value or ""):
        raise InputError(f"{what} {value!r} must be letters, digits and . _ -")


LOCK_NAME = ".kata-numa-suite.lock"


@dataclass(frozen=True)
class NodeLock:
    """Who holds the node: the run id and when it started (seconds since the epoch)."""

    path: str
    run_id: str
    started: float


def lock_text(run_id: str, started: float, holder: str) -> str:
    """The lock file's content: ``run=<id> started=<epoch> holder=<host:pid>``."""
    return f"run={run_id} started={started:.0f} holder={holder}\n"


def parse_lock(path: str, text: str) -> NodeLock | None:
    """Reads a lock file; None when it is not one of the suite's."""
    fields = dict(item.partition("=")[::2] for item in text.split())
    try:
        return NodeLock(path, fields["run"], float(fields["started"]))
    except (KeyError, ValueError):
        return None


def acquire_node_lock(
    access: HostAccess, config: ActiveConfig, run_id: str, *, holder: str, now: float, stale_after: float
) -> str:
    """Takes the per-node lock next to ``config.d/``; a lock older than ``stale_after`` seconds is taken over.

    Returns what happened; a live lock of another run is an InputError naming it.
    """
    path = posixpath.join(config.directory, LOCK_NAME)
    text = lock_text(run_id, now, holder).encode()
    if access.create_exclusive(path, text):
        return f"locked {path}"
    held = parse_lock(path, access.read_bytes(path).decode("utf-8", "replace"))
    if held is not None and held.run_id == run_id:
        return f"{path} is already held by this run"
    if held is not None and now - held.started < stale_after:
        raise InputError(
            f"node is in use by run {held.run_id} (lock {path}, taken {now - held.started:.0f} s ago); "
            "wait for it, or remove the lock if that run is gone"
        )
    access.write_file(path, text, mode=0o644, temp_dir=config.directory)
    return f"took over the stale lock {path} of run {held.run_id if held else '(unreadable)'}"


def release_node_lock(access: HostAccess, config: ActiveConfig, run_id: str) -> bool:
    """Removes the lock if this run holds it; returns whether it did."""
    path = posixpath.join(config.directory, LOCK_NAME)
    if access.stat(path) is None:
        return False
    held = parse_lock(path, access.read_bytes(path).decode("utf-8", "replace"))
    if held is None or held.run_id != run_id:
        return False
    access.remove(path)
    return True
