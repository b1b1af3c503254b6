"""The exec/daemon differential, byte for byte: the same call through the exec-mode
entry and through the shim with the daemon up gives the same stdout and exit status.

Each case runs twice on twin test-made nodes (a host namespace, a container
namespace and a dataDir each), once per path, so that state (addresses, links)
starts equal; only what is random by design (MAC addresses, veth names) and the paths that
name each node (netns, dataDir) are normalised before comparing. The whole
exec-level suite (tests/conformance, tests/bridge) also runs through the daemon
in CI (scripts/daemon-suite.sh); this file compares the two paths directly.
"""

import json
import re

import pytest
from support import run_plugin

from daemon.kit import Daemon, exec_entries, shims

VERSIONS = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
MAC = re.compile(r'"mac": "[0-9a-f:]{17}"')
VETH = re.compile(r'"veth[0-9a-f]{8}"')  # the host-side veth's random name


@pytest.fixture(scope="module")
def shim_bin(tmp_path_factory):
    """One daemon for the module (each case runs on its own namespaces anyway)."""
    tmp = tmp_path_factory.mktemp("daemon")
    daemon = Daemon(tmp / "run" / "pycni.sock", tmp / "daemon.log").start()
    try:
        yield shims(tmp / "bin", daemon.socket)
    finally:
        daemon.stop()
    assert daemon.late_imports() == []
    assert daemon.proc is not None and daemon.proc.returncode == 0


@pytest.fixture
def twins(make_netns, tmp_path):
    """Two nodes: {'host', 'container', 'data'} each."""
    out = []
    for side in ("exec", "daemon"):
        data = tmp_path / f"data-{side}"
        data.mkdir()
        out.append({"host": make_netns(), "container": make_netns(), "data": data})
    return out


def both(shim_bin, twins, plugin: str, command: str, config, **kw) -> "tuple[tuple, tuple]":
    """(rc, normalised stdout) through the exec entry and through the shim."""
    got = []
    for node, bin_dir in zip(twins, (exec_entries(shim_bin), shim_bin), strict=True):
        conf = config(node) if callable(config) else config
        kw_node = dict(kw)
        if kw_node.get("netns") == "container":
            kw_node["netns"] = node["container"]
        out = run_plugin(plugin, command, conf, host=node["host"], bin_dir=bin_dir,
                         path=[shim_bin], **kw_node)
        text = VETH.sub('"<veth>"', MAC.sub('"mac": "<mac>"', out.stdout))
        for key in ("host", "container", "data"):
            value = node[key].path if key != "data" else str(node[key])
            text = text.replace(value, f"<{key}>")
        got.append((out.rc, text))
    return got[0], got[1]


def lo_conf(version: "str | None") -> dict:
    out = {"name": "lo-net", "type": "loopback"}
    return {"cniVersion": version, **out} if version else out


def bridge_conf(version: str, **extra):
    def make(node: dict) -> dict:
        return {"cniVersion": version, "name": "diffnet", "type": "bridge", "bridge": "br-diff",
                "isGateway": True, "ipMasq": True, "ipam": {
                    "type": "host-local", "dataDir": str(node["data"]),
                    "ranges": [[{"subnet": "10.99.0.0/24"}], [{"subnet": "fd99::/64"}]]}, **extra}
    return make


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("plugin", ["loopback", "bridge", "host-local"])
def test_version(shim_bin, twins, plugin, version):
    a, b = both(shim_bin, twins, plugin, "VERSION", {"cniVersion": version})
    assert a == b and a[0] == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_loopback_add_check_del(shim_bin, twins, version):
    for command in ("ADD", "CHECK", "DEL", "DEL"):
        a, b = both(shim_bin, twins, "loopback", command, lo_conf(version), netns="container",
                    ifname="lo")
        assert a == b, command


@pytest.mark.parametrize("version", ["0.3.1", "0.4.0", "1.0.0", "1.1.0"])
def test_bridge_add_check_del(shim_bin, twins, version):
    a, b = both(shim_bin, twins, "bridge", "ADD", bridge_conf(version), netns="container")
    assert a == b and a[0] == 0, (a, b)
    prev = json.loads(a[1])
    for command in ("CHECK", "DEL", "DEL"):
        if command == "CHECK" and version < "0.4.0":
            continue

        def with_prev(node: dict, prev=prev) -> dict:
            conf = bridge_conf(version)(node)
            result = json.loads(json.dumps(prev).replace("<container>", node["container"].path))
            return {**conf, "prevResult": result}

        a2, b2 = both(shim_bin, twins, "bridge", command, with_prev if command == "CHECK"
                      else bridge_conf(version), netns="container")
        # CHECK compares the MACs it was given: each side gets its own run's result back.
        if command != "CHECK":
            assert a2 == b2, command


@pytest.mark.parametrize("case, env, stdin", [
    ("unknown command", {"CNI_COMMAND": "FROB"}, None),
    ("missing env", {"CNI_CONTAINERID": None, "CNI_IFNAME": None}, None),
    ("bad json", {}, b"{not json"),
    ("empty stdin", {}, b""),
    ("unknown version", {}, {"cniVersion": "9.9.9", "name": "n", "type": "bridge"}),
    ("no name", {}, {"cniVersion": "1.0.0", "type": "bridge"}),
    ("bad ifname", {"CNI_IFNAME": "a/b"}, None),
    ("bad mtu", {}, {"cniVersion": "1.0.0", "name": "n", "type": "bridge", "mtu": -1}),
    ("no ipam type", {}, {"cniVersion": "1.0.0", "name": "n", "type": "bridge", "ipam": {}}),
    ("gc below 1.1.0", {"CNI_COMMAND": "GC"}, {"cniVersion": "1.0.0", "name": "n", "type": "bridge"}),
    ("no command", {"CNI_COMMAND": ""}, None),
])
@pytest.mark.parametrize("plugin", ["bridge", "host-local", "loopback"])
def test_errors(shim_bin, twins, plugin, case, env, stdin):
    config = stdin if stdin is not None else {"cniVersion": "1.0.0", "name": "n", "type": plugin}
    kw: dict = {"netns": "container"}
    env = dict(env)
    command = env.pop("CNI_COMMAND", "ADD")
    for name in [k for k, v in env.items() if v is None]:
        kw[{"CNI_CONTAINERID": "container_id", "CNI_IFNAME": "ifname"}[name]] = None
        env.pop(name)
    if "CNI_IFNAME" in env:
        kw["ifname"] = env.pop("CNI_IFNAME")
    a, b = both(shim_bin, twins, plugin, command, config, env=env, **kw)
    assert a == b, case
