import os
import tomllib
from pathlib import Path

import pytest

from conftest import FIXTURES
from kata_numa.dropin import (
    BASE_DIR,
    LOCK_NAME,
    DropIn,
    acquire_node_lock,
    check_removable,
    clean_leftover,
    dropin_content,
    find_active_config,
    find_leftovers,
    hypervisor_table,
    release_node_lock,
    remove_dropin,
    render_dropin,
    stamp_run_id,
)
from kata_numa.errors import InputError
from kata_numa.hostaccess import LocalHostAccess

SHIM = "qemu-nvidia-gpu"
BASE_TEXT = (FIXTURES / "config/configuration-qemu-nvidia-gpu.toml").read_text()


def install_config(root: Path, directory: str) -> Path:
    path = root / (BASE_DIR + "/" + directory).strip("/").replace("//", "/") / f"configuration-{SHIM}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(BASE_TEXT)
    return path


@pytest.fixture
def node(tmp_path):
    install_config(tmp_path, f"runtimes/{SHIM}")
    return LocalHostAccess(str(tmp_path))


def listing(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize(
    ("present", "expected_layout"),
    [
        ([f"custom-runtimes/kata-{SHIM}", f"runtimes/{SHIM}", ""], "custom-runtimes"),
        ([f"runtime-rs/runtimes/{SHIM}", f"runtimes/{SHIM}"], "runtime-rs"),
        ([f"runtimes/{SHIM}", ""], "runtimes"),
        ([""], "base"),
    ],
)
def test_config_dir_probe_order(tmp_path, present, expected_layout):
    for directory in present:
        install_config(tmp_path, directory)
    access = LocalHostAccess(str(tmp_path))
    config = find_active_config(access, SHIM, f"kata-{SHIM}")
    assert config.layout == expected_layout
    assert config.file.endswith(f"configuration-{SHIM}.toml")
    assert access.stats.reads == 1


def test_missing_config_lists_every_path_tried(tmp_path):
    with pytest.raises(InputError, match=r"tried: .*custom-runtimes/kata-x/.*runtimes/x/configuration-x.toml"):
        find_active_config(LocalHostAccess(str(tmp_path)), "x", "kata-x")


def test_hypervisor_table_from_the_active_file():
    assert hypervisor_table(BASE_TEXT) == "qemu"
    with pytest.raises(InputError, match="no \\[hypervisor"):
        hypervisor_table("[runtime]\n")
    with pytest.raises(InputError, match="several hypervisor tables: clh, qemu"):
        hypervisor_table("[hypervisor.qemu]\n[hypervisor.clh]\n")
    with pytest.raises(InputError, match="not valid TOML"):
        hypervisor_table("[hypervisor.qemu\n")


def test_renders_a_stamped_fragment_that_parses_back():
    text = render_dropin(dropin_content("qemu", numa_mapping=["1"], enable_vcpus_pinning=True), "run-42")
    assert stamp_run_id(text) == "run-42"
    assert tomllib.loads(text) == {
        "hypervisor": {"qemu": {"enable_numa": True, "numa_mapping": ["1"]}},
        "runtime": {"enable_vcpus_pinning": True},
    }


@pytest.mark.parametrize("mapping", [["0-1", "2-3"], ["0,2"], ["1"]])
def test_accepts_cpuset_style_mappings(mapping):
    assert dropin_content("qemu", numa_mapping=mapping)["hypervisor"]["qemu"]["numa_mapping"] == mapping


@pytest.mark.parametrize(("mapping", "message"), [(["x"], "entry 0"), (["0", ""], "entry 1 is empty")])
def test_refuses_bad_mappings(mapping, message):
    with pytest.raises(InputError, match=message):
        dropin_content("qemu", numa_mapping=mapping)


@pytest.mark.parametrize("bad", ["qemu]\n[x", "", "a b"])
def test_refuses_a_hypervisor_name_that_would_break_the_toml(bad):
    with pytest.raises(InputError, match="hypervisor table"):
        dropin_content(bad)


def test_install_then_restore_leaves_the_tree_as_found(node, tmp_path):
    before = listing(tmp_path)
    config = find_active_config(node, SHIM)
    dropin = DropIn(node, config, "90-kata-numa-suite.toml", "run-1")
    text = render_dropin(dropin_content(hypervisor_table(config.text), enable_vcpus_pinning=True), "run-1")
    dropin.install(text)
    written = tmp_path / config.config_d.lstrip("/") / "90-kata-numa-suite.toml"
    assert written.read_text() == text
    assert [p.name for p in written.parent.iterdir()] == ["90-kata-numa-suite.toml"]  # no temp or backup inside
    dropin.restore()
    dropin.restore()  # idempotent
    assert listing(tmp_path) == before


def test_a_file_of_the_same_name_is_put_back_byte_for_byte_with_its_mode(node, tmp_path):
    config = find_active_config(node, SHIM)
    original = tmp_path / config.config_d.lstrip("/") / "90-kata-numa-suite.toml"
    original.parent.mkdir(parents=True)
    original.write_bytes(b"# theirs\r\n[hypervisor.qemu]\nenable_numa = true \n")
    os.chmod(original, 0o640)
    dropin = DropIn(node, config, "90-kata-numa-suite.toml", "run-2")
    dropin.install(render_dropin(dropin_content("qemu"), "run-2"))
    assert stamp_run_id(original.read_text()) == "run-2"
    backup = tmp_path / config.backup_dir.lstrip("/") / "90-kata-numa-suite.toml"
    assert backup.read_bytes() == b"# theirs\r\n[hypervisor.qemu]\nenable_numa = true \n"
    dropin.restore()
    assert original.read_bytes() == b"# theirs\r\n[hypervisor.qemu]\nenable_numa = true \n"
    assert original.stat().st_mode & 0o777 == 0o640
    assert not backup.exists()


def test_install_refuses_invalid_toml_and_unstamped_text_leaving_nothing(node, tmp_path):
    before = listing(tmp_path)
    config = find_active_config(node, SHIM)
    dropin = DropIn(node, config, "90-x.toml", "run-3")
    with pytest.raises(InputError, match="not valid TOML"):
        dropin.install("[hypervisor.qemu\n")
    with pytest.raises(InputError, match="header"):
        dropin.install("[hypervisor.qemu]\nenable_numa = true\n")
    assert listing(tmp_path) == before


@pytest.mark.parametrize("name", ["../x.toml", "x.conf", "sub/x.toml", "", ".hidden.toml"])
def test_refuses_names_that_are_not_plain_toml_files(node, name):
    with pytest.raises(InputError, match="drop-in name"):
        DropIn(node, find_active_config(node, SHIM), name, "run")


def test_refuses_to_replace_a_symlink(node, tmp_path):
    config = find_active_config(node, SHIM)
    link = tmp_path / config.config_d.lstrip("/") / "90-x.toml"
    link.parent.mkdir(parents=True)
    os.symlink("/etc/passwd", link)
    with pytest.raises(InputError, match="is a symlink"):
        DropIn(node, config, "90-x.toml", "run").install(render_dropin(dropin_content("qemu"), "run"))


@pytest.mark.parametrize(
    ("path", "kind", "message"),
    [
        ("/c/config.d/sub/x.toml", "file", "not directly inside"),
        ("/c/x.toml", "file", "not directly inside"),
        ("/c/config.d/x.bak", "file", "not a .toml"),
        ("/c/config.d/x.toml", "symlink", "symlink, not a regular file"),
        ("/c/config.d/x.toml", "dir", "dir, not a regular file"),
        ("/c/config.d/../config.d/x.toml", "file", "must not contain"),
    ],
)
def test_check_removable_refuses_all_but_toml_files_directly_inside(path, kind, message):
    with pytest.raises(InputError, match=message):
        check_removable("/c/config.d", path, kind)


def test_remove_dropin_refuses_a_file_outside_config_d(node, tmp_path):
    config = find_active_config(node, SHIM)
    with pytest.raises(InputError, match="not directly inside"):
        remove_dropin(node, config, config.file)
    assert Path(tmp_path / config.file.lstrip("/")).exists()


def test_leftover_of_a_crashed_run_is_recognised_and_cleaned(node, tmp_path):
    config = find_active_config(node, SHIM)
    theirs = tmp_path / config.config_d.lstrip("/") / "90-kata-numa-suite.toml"
    theirs.parent.mkdir(parents=True)
    theirs.write_bytes(b"[hypervisor.qemu]\nenable_debug = true\n")
    (theirs.parent / "10-other.toml").write_text("[runtime]\n")
    crashed = DropIn(node, config, "90-kata-numa-suite.toml", "crashed-run")
    crashed.install(render_dropin(dropin_content("qemu"), "crashed-run"))
    # the run dies here; a later run looks around
    assert find_leftovers(node, config) == [(config.config_d + "/90-kata-numa-suite.toml", "crashed-run")]
    # a new run installing the same name keeps the ORIGINAL, not the leftover
    later = DropIn(node, config, "90-kata-numa-suite.toml", "later-run")
    later.install(render_dropin(dropin_content("qemu"), "later-run"))
    later.restore()
    assert theirs.read_bytes() == b"[hypervisor.qemu]\nenable_debug = true\n"
    assert (theirs.parent / "10-other.toml").read_text() == "[runtime]\n"


def test_clean_leftover_removes_a_stamped_file_without_backup(node, tmp_path):
    config = find_active_config(node, SHIM)
    DropIn(node, config, "90-a.toml", "dead").install(render_dropin(dropin_content("qemu"), "dead"))
    (path,) = [p for p, _ in find_leftovers(node, config)]
    assert clean_leftover(node, config, path) == f"removed {path}"
    assert find_leftovers(node, config) == []


def test_stamp_is_read_from_the_first_line_only():
    assert stamp_run_id("[x]\n# kata-numa-suite drop-in; run=a\n") is None
    assert stamp_run_id("# kata-numa-suite drop-in; run=a; removed when that run ends\n") == "a"


def test_refuses_a_run_id_that_would_break_the_header():
    with pytest.raises(InputError, match="run id"):
        render_dropin(dropin_content("qemu"), "a\nb")


def test_restore_keeps_a_config_d_that_existed_and_one_someone_else_filled(node, tmp_path):
    config = find_active_config(node, SHIM)
    dropin = DropIn(node, config, "90-a.toml", "r")
    dropin.install(render_dropin(dropin_content("qemu"), "r"))
    (tmp_path / config.config_d.lstrip("/") / "20-admin.toml").write_text("[runtime]\n")
    dropin.restore()
    assert [p.name for p in (tmp_path / config.config_d.lstrip("/")).iterdir()] == ["20-admin.toml"]
    assert not (tmp_path / config.backup_dir.lstrip("/")).exists()


def test_node_lock_is_exclusive_and_taken_over_when_stale(node, tmp_path):
    config = find_active_config(node, SHIM)
    assert acquire_node_lock(node, config, "run-a", holder="h:1", now=1000.0, stale_after=60).startswith("locked")
    with pytest.raises(InputError, match="node is in use by run run-a"):
        acquire_node_lock(node, config, "run-b", holder="h:2", now=1030.0, stale_after=60)
    assert "stale lock" in acquire_node_lock(node, config, "run-b", holder="h:2", now=2000.0, stale_after=60)
    assert not release_node_lock(node, config, "run-a")  # no longer its lock
    assert release_node_lock(node, config, "run-b")
    assert not (tmp_path / config.directory.lstrip("/") / LOCK_NAME).exists()
    assert "config.d" not in str(LOCK_NAME)
