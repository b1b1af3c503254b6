"""cni.process.child_env: what a process spawned from the release bundle inherits.

The bootloader's variables are faked here; the same property is checked end to
end by test_cli_runner.py::test_plugins_get_the_callers_library_path_not_the_bundles
when PYCNI_BIN points at the unpacked bundle.
"""

import sys

import pytest

from cni.process import child_env

BUNDLE = {"_PYI_ARCHIVE_FILE": "/opt/cni/bin/pycni-1/pycni", "_PYI_PARENT_PROCESS_LEVEL": "1",
          "_PYI_LINUX_PROCESS_NAME": "bridge", "LD_LIBRARY_PATH": "/opt/cni/bin/pycni-1/_internal",
          "PATH": "/usr/bin", "CNI_COMMAND": "ADD"}


@pytest.fixture
def frozen(monkeypatch, tmp_path):
    exe = tmp_path / "pycni"
    exe.write_text("")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(exe))
    return exe


def test_outside_the_bundle_the_environment_is_passed_as_is():
    assert child_env(dict(BUNDLE)) == BUNDLE


def test_a_foreign_child_loses_the_bootloaders_variables(frozen):
    assert child_env(dict(BUNDLE), "/usr/sbin/iptables") == {"PATH": "/usr/bin", "CNI_COMMAND": "ADD"}


def test_the_callers_own_library_path_is_restored(frozen):
    env = dict(BUNDLE, LD_LIBRARY_PATH_ORIG="/opt/vendor/lib")
    assert child_env(env, "/usr/lib/cni/portmap")["LD_LIBRARY_PATH"] == "/opt/vendor/lib"
    assert "LD_LIBRARY_PATH_ORIG" not in child_env(env, "/usr/lib/cni/portmap")


def test_a_child_of_the_same_bundle_inherits_and_skips_the_restart(frozen, tmp_path):
    link = tmp_path / "host-local"
    link.symlink_to(frozen)
    assert child_env(dict(BUNDLE), str(link)) == BUNDLE
