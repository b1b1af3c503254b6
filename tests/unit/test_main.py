"""cni.main: the entry points that bin/<plugin> and the frozen bundle call."""

import gc
import importlib.util
import sys

import pytest
from support import ROOT

from cni import main, skel
from cni.plugins import MODULES


@pytest.fixture(autouse=True)
def no_freeze(monkeypatch):
    """main.run freezes the heap before exit: harmless in an exec, not in pytest."""
    monkeypatch.setattr(gc, "freeze", lambda: None)


@pytest.mark.parametrize("name", ["bridge", "host-local", "loopback"])
def test_every_plugin_has_an_executable_naming_its_entry(name):
    text = (ROOT / "bin" / name).read_text()
    assert f"# pycni-plugin: {name}\n" in text
    assert f'run("{name}")' in text
    assert MODULES[name] == main.module_of(name)


def test_loopback_module_exists_with_every_verb():
    assert importlib.util.find_spec(MODULES["loopback"]) is not None
    module = __import__(MODULES["loopback"], fromlist=["NAME"])
    assert module.NAME == "loopback"
    assert all(callable(getattr(module, verb)) for verb in skel.VERBS.values())


def test_run_exits_with_the_skel_status(monkeypatch):
    seen = []
    monkeypatch.setattr(skel, "run", lambda plugin: seen.append(plugin) or 7)
    with pytest.raises(SystemExit) as exit_:
        main.run("loopback")
    assert exit_.value.code == 7 and seen == ["cni.plugins.loopback"]
    assert gc.isenabled()  # the collector is back on whatever the verb did


@pytest.mark.parametrize("argv0, plugin", [("/opt/cni/bin/loopback", "cni.plugins.loopback"),
                                           ("bridge", "cni.plugins.bridge"),
                                           ("/usr/lib/cni/host-local", "cni.plugins.host_local")])
def test_multicall_dispatches_on_the_program_name(monkeypatch, argv0, plugin):
    seen = []
    monkeypatch.setattr(skel, "run", lambda p: seen.append(p) or 0)
    monkeypatch.setattr(sys, "argv", [argv0])
    with pytest.raises(SystemExit):
        main.multicall()
    assert seen == [plugin]
