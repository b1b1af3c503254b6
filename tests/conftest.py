"""Shared fixtures: namespaces made and removed by the tests, and the leak guard.

Rules every test here follows (see DEVELOPERS.md):
- kernel work happens only in namespaces the test created (`make_netns`,
  names `pycni-t-<random>`); plugins run with their "host" side inside a
  test-made namespace (`host` fixture; `support.run_plugin(..., host=host)`);
- IPAM state lives in a temp dir (`data_dir`);
- everything is removed on any outcome, and the session fails if `ip netns`,
  the root namespace's links or /var/lib/cni differ at the end.
Helpers (Netns, run_plugin, sh, unique) live in `support.py`.
"""

import subprocess
from pathlib import Path

import pytest
from support import Netns, sh, unique


@pytest.fixture
def make_netns():
    """Factory: `make_netns()` -> a fresh Netns, removed at teardown whatever happens."""
    made: list[Netns] = []

    def make() -> Netns:
        ns = Netns(unique())
        sh("ip", "netns", "add", ns.name)
        made.append(ns)
        sh("ip", "link", "set", "lo", "up", ns=ns.name)
        return ns

    yield make
    for ns in reversed(made):
        ns.delete()


@pytest.fixture
def host(make_netns) -> Netns:
    """The namespace that plays the host: plugins run inside it."""
    return make_netns()


@pytest.fixture
def container(make_netns) -> Netns:
    return make_netns()


@pytest.fixture
def data_dir(tmp_path) -> Path:
    d = tmp_path / "networks"
    d.mkdir()
    return d


def _read(*cmd: str) -> str:
    """A state reader's stdout; a failing `ip` fails the session (it would read as "nothing")."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}"
    return proc.stdout


def _host_snapshot() -> dict:
    links = _read("ip", "-o", "link", "show")
    names = sorted(line.split(": ")[1].split("@")[0] for line in links.splitlines() if ": " in line)
    netns = sorted(_read("ip", "netns", "list").split("\n"))
    # Paths with their mtimes: a write into an entry that already existed counts too.
    state = Path("/var/lib/cni")
    cni = sorted(f"{p} @{p.lstat().st_mtime_ns}" for p in [state, *state.rglob("*")]
                 if p.exists() or p.is_symlink()) if state.exists() else []
    return {"links": names, "netns": [n.split()[0] for n in netns if n.strip()], "var_lib_cni": cni}


@pytest.fixture(scope="session", autouse=True)
def host_untouched():
    """The suite must leave the machine's namespaces, links and /var/lib/cni as found."""
    before = _host_snapshot()
    yield
    after = _host_snapshot()
    leaked = {k: sorted(set(after[k]) - set(before[k])) for k in before}
    leaked = {k: v for k, v in leaked.items() if v}
    assert not leaked, f"the test suite leaked host state: {leaked}"
