"""Fixtures of the daemon suite: a running daemon and shims for it, per test."""

import pytest

from daemon.kit import Daemon, shims


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(tmp_path / "run" / "pycni.sock", tmp_path / "daemon.log", "--read-timeout", "3",
               "--write-timeout", "3")
    d.start()
    yield d
    d.stop()
    assert d.late_imports() == []


@pytest.fixture
def shim_bin(tmp_path, daemon):
    return shims(tmp_path / "bin", daemon.socket)
