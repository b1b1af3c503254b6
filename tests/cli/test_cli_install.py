"""`pycni install`: plugins where runtimes exec them, replaced atomically, never
over another vendor's files without --force; sample configs at 0600.

In-process (CliRunner) for the venv source and, with sys.frozen faked, for the
bundle source; one exec-level test runs the `pycni` under test (the venv's, or
the release bundle's under PYCNI_BIN) end to end.
"""

import json
import os
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import GO_BIN, ROOT

from cli.kit import PYCNI, ok
from cni.tool.cli import cli

PLUGINS = ("bridge", "host-local", "loopback")


def install(*args: str):
    return CliRunner().invoke(cli, ["install", *args], prog_name="pycni")


def version_of(executable: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(executable)], env={"CNI_COMMAND": "VERSION", "PATH": "/usr/bin:/bin"},
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)


@pytest.fixture
def bin_dir(tmp_path) -> Path:
    return tmp_path / "opt-cni-bin"


# -- from the venv ----------------------------------------------------------------------


def test_installs_isolated_launchers_that_answer_as_plugins(bin_dir):
    out = install("--bin-dir", str(bin_dir))
    assert out.exit_code == 0, out.stderr
    assert sorted(p.name for p in bin_dir.iterdir()) == sorted(PLUGINS)  # no temp file left
    for name in PLUGINS:
        path = bin_dir / name
        lines = path.read_text().splitlines()
        assert lines[0] == f"#!{sys.executable} -I"
        assert f"# pycni-plugin: {name}" in lines  # cni.delegate runs it in-process
        assert stat.S_IMODE(path.stat().st_mode) == 0o755
        answer = version_of(path)
        assert answer.returncode == 0 and "1.1.0" in json.loads(answer.stdout)["supportedVersions"]


def test_reinstall_replaces_by_rename_not_in_place(bin_dir):
    assert install("--bin-dir", str(bin_dir)).exit_code == 0
    before = {n: (bin_dir / n).stat().st_ino for n in PLUGINS}
    assert install("--bin-dir", str(bin_dir)).exit_code == 0
    after = {n: (bin_dir / n).stat().st_ino for n in PLUGINS}
    assert all(before[n] != after[n] for n in PLUGINS)  # a new inode: the running one untouched
    assert sorted(p.name for p in bin_dir.iterdir()) == sorted(PLUGINS)


def test_refuses_another_vendors_plugin_and_changes_nothing(bin_dir):
    bin_dir.mkdir()
    shutil.copy(GO_BIN / "bridge", bin_dir / "bridge")
    foreign = (bin_dir / "bridge").read_bytes()
    out = install("--bin-dir", str(bin_dir))
    assert out.exit_code == 1
    assert f"not pycni's, left alone: {bin_dir / 'bridge'}" in out.stderr and "--force" in out.stderr
    assert (bin_dir / "bridge").read_bytes() == foreign
    assert sorted(p.name for p in bin_dir.iterdir()) == ["bridge"]  # refused before any change


def test_a_symlink_to_someone_elses_binary_is_foreign_too(bin_dir):
    bin_dir.mkdir()
    (bin_dir / "loopback").symlink_to(GO_BIN / "loopback")
    assert install("--bin-dir", str(bin_dir)).exit_code == 1
    assert os.readlink(bin_dir / "loopback") == str(GO_BIN / "loopback")


def test_force_replaces_the_foreign_file(bin_dir):
    bin_dir.mkdir()
    shutil.copy(GO_BIN / "bridge", bin_dir / "bridge")
    out = install("--bin-dir", str(bin_dir), "--force")
    assert out.exit_code == 0, out.stderr
    assert "# pycni-plugin: bridge" in (bin_dir / "bridge").read_text()


def test_execs_during_reinstalls_never_see_a_missing_or_torn_plugin(bin_dir):
    """A runtime exec'ing the plugin while it is replaced gets the old or the new file."""
    assert install("--bin-dir", str(bin_dir)).exit_code == 0
    results: "list[int]" = []
    stop = threading.Event()

    def runtime() -> None:
        while not stop.is_set():
            results.append(version_of(bin_dir / "loopback").returncode)

    thread = threading.Thread(target=runtime)
    thread.start()
    try:
        while len(results) < 20:
            assert install("--bin-dir", str(bin_dir)).exit_code == 0
    finally:
        stop.set()
        thread.join()
    assert results and set(results) == {0}


# -- from the frozen bundle (sys.frozen faked) --------------------------------------------


def fake_bundle(directory: Path) -> Path:
    directory.mkdir(parents=True)
    (directory / "PYCNI_BUNDLE").write_text("0.0.0\n")
    exe = directory / "pycni"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    return exe


@pytest.fixture
def frozen(monkeypatch):
    def freeze(executable: Path) -> None:
        monkeypatch.setattr(sys, "frozen", True, raising=False)
        monkeypatch.setattr(sys, "executable", str(executable))
    return freeze


def test_from_the_bundle_plugins_become_relative_links_when_it_lives_in_bin_dir(bin_dir, frozen):
    frozen(fake_bundle(bin_dir / "pycni-0.0.0"))
    assert install("--bin-dir", str(bin_dir)).exit_code == 0
    for name in PLUGINS:
        assert os.readlink(bin_dir / name) == "pycni-0.0.0/pycni"


def test_from_the_bundle_elsewhere_links_are_absolute(bin_dir, tmp_path, frozen):
    exe = fake_bundle(tmp_path / "elsewhere")
    frozen(exe)
    assert install("--bin-dir", str(bin_dir)).exit_code == 0
    assert os.readlink(bin_dir / "bridge") == str(exe)


def test_a_link_into_any_pycni_bundle_counts_as_ours(bin_dir, tmp_path, frozen):
    old = fake_bundle(bin_dir / "pycni-0.0.1")
    bin_dir.joinpath("bridge").symlink_to("pycni-0.0.1/pycni")
    frozen(fake_bundle(bin_dir / "pycni-0.0.2"))
    assert install("--bin-dir", str(bin_dir)).exit_code == 0  # the upgrade path
    assert os.readlink(bin_dir / "bridge") == "pycni-0.0.2/pycni"
    assert old.exists()  # the old bundle stays for execs still running from it


# -- sample configs -----------------------------------------------------------------------


def test_installs_a_sample_config_at_0600(bin_dir, tmp_path):
    conf_dir = tmp_path / "net.d"
    out = install("--bin-dir", str(bin_dir), "--conf-dir", str(conf_dir), "--conf", "10-pycni")
    assert out.exit_code == 0, out.stderr
    target = conf_dir / "10-pycni.conflist"
    assert target.read_bytes() == (ROOT / "conf" / "10-pycni.conflist").read_bytes()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_different_existing_config_needs_force(bin_dir, tmp_path):
    conf_dir = tmp_path / "net.d"
    conf_dir.mkdir()
    (conf_dir / "10-pycni.conflist").write_text('{"mine": true}')
    args = ["--bin-dir", str(bin_dir), "--conf-dir", str(conf_dir), "--conf", "10-pycni.conflist"]
    out = install(*args)
    assert out.exit_code == 1 and "exists and differs; --force replaces it" in out.stderr
    assert (conf_dir / "10-pycni.conflist").read_text() == '{"mine": true}'
    assert install(*args, "--force").exit_code == 0
    assert (conf_dir / "10-pycni.conflist").read_bytes() == \
        (ROOT / "conf" / "10-pycni.conflist").read_bytes()


def test_an_unknown_sample_lists_the_available_ones(bin_dir, tmp_path):
    out = install("--bin-dir", str(bin_dir), "--conf-dir", str(tmp_path), "--conf", "../../etc/passwd")
    assert out.exit_code == 1 and "no sample config" in out.stderr and "10-pycni.conflist" in out.stderr


# -- the command under test, end to end -----------------------------------------------------


def test_the_installed_command_installs_working_plugins(bin_dir):
    proc = ok(subprocess.run([str(PYCNI), "install", "--bin-dir", str(bin_dir)],
                             capture_output=True, text=True, check=False))
    assert len(proc.stdout.splitlines()) == len(PLUGINS)
    for name in PLUGINS:
        path = bin_dir / name
        if path.is_symlink():  # from the release bundle: a link to its executable
            assert (Path(os.path.realpath(path)).parent / "PYCNI_BUNDLE").is_file()
        else:
            assert f"# pycni-plugin: {name}" in path.read_text()
        answer = version_of(path)
        assert answer.returncode == 0 and json.loads(answer.stdout)["cniVersion"] == "1.1.0"
