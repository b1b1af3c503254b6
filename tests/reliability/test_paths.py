"""Hostile input: names built to escape directories, delegation exploits, logs.

Every value that becomes a path or an interface name (network name, container
ID, ifname, ipam.type, ipam.dataDir) is tried with payloads meant to leave its
directory: '..', '/', NUL, '\\', a leading '-' or '.', over-long and
non-ASCII names, absolute paths pointing back into the test's tree, symlinks
planted in the store and as dataDir parents. The proof: every payload that is
not a plain valid name is refused with its specific code, and nothing is
created, changed or executed outside the test's dataDir (the whole temp tree
is snapshotted before and after, with canary executables standing where an
escaped delegation would land). Logs: created 0600, never through a symlink,
and a canary secret placed in stdin, CNI_ARGS and runtimeConfig never appears
in any log line, at debug level, on any verb, on success or failure.
"""

import json
import os
import secrets
import stat

import pytest
from support import BIN, run_plugin, unique

from reliability import harness

NAME_PAYLOADS = ["..", ".", "../escape", "../../escape", "a/../../escape", "/abs", "a/b", "a\\b",
                 "..\\..\\escape", "-rf", "-", ".hidden", "..hidden", "a\x00b", "\x00", "",
                 " ", "a b", "a\nb", "a\tb", "x" * 1025, "n\u00e4me", "\u202eevil", "a:b",
                 "%2e%2e", "~root", "*", "a;b", "$(reboot)", "`id`", "a'b", 'a"b', "ﬀ"]
IFNAME_PAYLOADS = ["a" * 16, "a" * 100, "\u00e9" * 8, "../eth0", "eth0/..", "..", ".", "a/b",
                   "a:b", "a b", "eth0\n", "\teth0", "a\x00b", "", "lo/x", "/", "x" * 15 + "\u00e9"]
# Not here: '\\' and a leading '-' are valid Linux interface names (the kernel takes them, the
# reference plugins too) and separate nothing in /proc/sys/net paths.
# A plugin type is a file name in CNI_PATH (CVE-2021-20206: '../' reached any binary).
TYPE_PAYLOADS = ["../outside/canary", "../../outside/canary", "..", ".", "/", "{outside}/canary",
                 "host-local/../../outside/canary", "..\\outside\\canary", "canary\x00",
                 "\x00", "./canary", "a/b", "x" * 300, "\\"]
# dataDir must be an absolute path without '..' (it names the store directory, created as root).
DATA_DIR_PAYLOADS = ["relative/data", "data", "./data", "../data", "{root}/data/../outside",
                     "{root}/data/../../escape", "{root}/data\x00x", "{root}/data/./../outside"]


class Tree:
    """The test's temp tree: dataDir, an 'outside' with canaries, a CNI_PATH of our plugins."""

    def __init__(self, root) -> None:
        self.root = root
        self.data = root / "data"
        self.outside = root / "outside"
        self.path = root / "cni-bin"
        for d in (self.data, self.outside, self.path):
            d.mkdir()
        for plugin in ("host-local", "loopback"):
            (self.path / plugin).symlink_to(BIN / plugin)
        self.ran = root / "CANARY-RAN"
        for where in (self.outside / "canary", self.path / "canary", root / "canary"):
            where.write_text(f"#!/bin/sh\necho $0 >> {self.ran}\n")
            where.chmod(0o755)

    def snapshot(self, exclude_data: bool = True) -> dict:
        out = {}
        for path in sorted(self.root.rglob("*")):
            if exclude_data and (path == self.data or self.data in path.parents):
                continue
            st = os.lstat(path)
            out[str(path)] = (stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns)
        return out


@pytest.fixture
def tree(tmp_path) -> Tree:
    return Tree(tmp_path)


def _bridge_conf(tree: Tree, **overrides) -> dict:
    conf = {"cniVersion": "1.1.0", "name": "paths", "type": "bridge", "bridge": "pbr0",
            "ipMasq": True, "ipam": {"type": "host-local", "dataDir": str(tree.data),
                                     "ranges": [[{"subnet": "10.66.0.0/24"}]]}}
    conf.update(overrides)
    return conf


def _attempt(plugin: str, conf: dict, tree: Tree, host, container, **kw):
    return run_plugin(plugin, kw.pop("command", "ADD"), conf, netns=container, host=host,
                      path=[tree.path], **kw)


def _assert_confined(tree: Tree, before: dict, host, container, host_links, container_links) -> None:
    assert tree.snapshot() == before, "a file outside dataDir was created or changed"
    assert not tree.ran.exists(), f"a canary executed: {tree.ran.read_text()}"
    assert harness.host_links(host) == host_links
    assert harness.link_names(container) == container_links


@pytest.mark.parametrize("field", ["network name", "container ID"])
def test_name_payloads_are_refused_before_any_change(field, tree, host, container, record):
    """Path-escaping network names and container IDs (33 payloads each, none a valid name),
    on ADD/DEL/CHECK of bridge and host-local: refused (7 for the name, 4 for the ID),
    no file and no link created."""
    host_links = harness.host_links(host)
    before = tree.snapshot(exclude_data=False)
    for payload in NAME_PAYLOADS:
        for plugin in ("bridge", "host-local"):
            for command in ("ADD", "DEL", "CHECK"):
                conf = _bridge_conf(tree)
                if plugin == "host-local":
                    conf["type"] = "host-local"
                kw = {"command": command}
                if field == "network name":
                    conf["name"] = payload
                    expected = 7
                else:
                    kw["container_id"] = payload
                    expected = 4
                if "\x00" in payload and field == "container ID":
                    continue  # exec cannot carry NUL in the environment (fuzz covers it in-process)
                out = _attempt(plugin, conf, tree, host, container, **kw)
                record.add(cases=1)
                assert out.code == (4 if payload == "" and field == "container ID" else expected), \
                    (field, payload, plugin, command, out)
    assert tree.snapshot(exclude_data=False) == before, "a refused request created a file"
    assert not tree.ran.exists()
    assert harness.host_links(host) == host_links, "a refused request created a link"
    assert harness.link_names(container) == ["lo"]


def test_ifname_payloads_are_refused_before_any_change(tree, host, container, record):
    """Interface names: 16+ bytes (also in UTF-8), '.', '..', '/', ':', whitespace, NUL:
    code 4 on ADD, DEL and CHECK; no link created on the host or in the container."""
    run_plugin("bridge", "ADD", _bridge_conf(tree), netns=container, host=host,
               path=[tree.path], container_id="warm-up")  # the bridge exists from here on
    assert run_plugin("bridge", "DEL", _bridge_conf(tree), netns=container, host=host,
                      path=[tree.path], container_id="warm-up").ok
    host_links = harness.host_links(host)
    before = tree.snapshot()
    for payload in IFNAME_PAYLOADS:
        if "\x00" in payload:
            continue  # not expressible in an exec environment
        for plugin in ("bridge", "host-local", "loopback"):
            for command in ("ADD", "DEL", "CHECK"):
                conf = _bridge_conf(tree, type=plugin)
                out = _attempt(plugin, conf, tree, host, container, command=command, ifname=payload)
                record.add(cases=1)
                assert out.code == 4, (payload, plugin, command, out)
    _assert_confined(tree, before, host, container, host_links, ["lo"])
    assert harness.reservations(tree.data, "paths") == {}


def test_ipam_type_cannot_escape_cni_path(tree, host, container, record):
    """CVE-2021-20206 and relatives in ipam.type (14 payloads), on every verb: code 7,
    nothing executed (canaries wait where each escape would land), nothing created."""
    host_links = harness.host_links(host)
    before = tree.snapshot()
    for payload in TYPE_PAYLOADS:
        payload = payload.format(outside=tree.outside)
        if "\x00" in payload:
            continue  # JSON can carry it, and does: see below
        for command in ("ADD", "DEL", "CHECK", "GC", "STATUS"):
            conf = _bridge_conf(tree, cniVersion="1.1.0")
            conf["ipam"]["type"] = payload
            out = _attempt("bridge", conf, tree, host, container, command=command)
            record.add(cases=1)
            assert out.code == 7, (payload, command, out)
    for payload in ("canary\x00", "\x00", "host-local\x00../outside/canary"):
        conf = _bridge_conf(tree)
        conf["ipam"]["type"] = payload
        out = _attempt("bridge", conf, tree, host, container)
        record.add(cases=1)
        assert out.code == 7, (payload, out)
    _assert_confined(tree, before, host, container, host_links, ["lo"])


def test_ipam_type_leading_back_to_the_bridge_is_a_bounded_loop(tree, host, container, record):
    """ipam.type naming an executable that is the bridge itself (a link or wrapper in
    CNI_PATH): the exec chain stops after a few levels with code 7 on ADD and DEL, instead
    of exec'ing until the node runs out of memory. A wrapper counts the levels and brakes
    at 30 itself, so a regression fails this test instead of the machine."""
    count = tree.root / "levels"
    wrapper = tree.path / "loop-ipam"
    wrapper.write_text(f"#!/bin/sh\nn=$(cat {count} 2>/dev/null || echo 0); n=$((n+1)); "
                       f"echo $n > {count}\n[ $n -gt 30 ] && {{ echo '{{\"code\": 999, "
                       f"\"msg\": \"brake\"}}'; exit 1; }}\nexec {BIN / 'bridge'}\n")
    wrapper.chmod(0o755)
    host_links = harness.host_links(host)
    for command in ("ADD", "DEL"):
        count.unlink(missing_ok=True)
        conf = _bridge_conf(tree)
        conf["ipam"]["type"] = "loop-ipam"
        out = _attempt("bridge", conf, tree, host, container, command=command)
        levels = int(count.read_text())
        record.add(cases=1)
        assert out.code == 7 and "delegation loop" in out.json["msg"], (command, levels, out)
        assert levels <= 10, f"{levels} nested execs before the loop was refused"
    assert harness.host_links(host) == host_links
    assert harness.link_names(container) == ["lo"]


def test_data_dir_payloads_are_refused(tree, host, container, record):
    """Relative dataDirs, '..' components and NUL in ipam.dataDir, through bridge and
    host-local: code 7 on ADD, DEL, CHECK, GC and STATUS; no store made anywhere."""
    before = tree.snapshot(exclude_data=False)
    cwd_before = sorted(os.listdir("/")), sorted(os.listdir(os.getcwd()))
    for payload in DATA_DIR_PAYLOADS:
        payload = payload.format(root=tree.root)
        for plugin in ("bridge", "host-local"):
            for command in ("ADD", "DEL", "CHECK", "GC", "STATUS"):
                conf = _bridge_conf(tree, type=plugin)
                conf["ipam"]["dataDir"] = payload
                out = _attempt(plugin, conf, tree, host, container, command=command)
                record.add(cases=1)
                assert out.code == 7, (payload, plugin, command, out)
    assert tree.snapshot(exclude_data=False) == before
    assert (sorted(os.listdir("/")), sorted(os.listdir(os.getcwd()))) == cwd_before


def test_symlinks_in_the_store_path_are_never_followed(tree, host, container, record):
    """A symlink as the network's store directory, as dataDir itself and as a dataDir
    parent (all pointing at 'outside'): ADD refused (108), DEL/GC touch nothing there."""
    target = tree.outside / "target"
    target.mkdir()
    (tree.data / "paths").symlink_to(target)  # the network's directory
    (tree.outside / "linked-data").mkdir()
    (tree.root / "data-link").symlink_to(tree.outside / "linked-data")  # dataDir itself
    (tree.root / "parent-link").symlink_to(tree.outside)  # a parent of dataDir
    (tree.outside / "data").mkdir()
    cases = [str(tree.data), str(tree.root / "data-link"), str(tree.root / "parent-link" / "data")]
    host_links = harness.host_links(host)
    before = tree.snapshot(exclude_data=False)
    for data_dir in cases:
        for plugin in ("bridge", "host-local"):
            conf = _bridge_conf(tree, type=plugin)
            conf["ipam"]["dataDir"] = data_dir
            out = _attempt(plugin, conf, tree, host, container, container_id=unique("sym-"))
            record.add(cases=1)
            assert out.code == 108, (data_dir, plugin, out)
            for command in ("DEL", "GC"):
                again = _attempt(plugin, dict(conf, **({"cni.dev/valid-attachments": []}
                                                      if command == "GC" else {})),
                                 tree, host, container, command=command)
                record.add(cases=1)
                assert again.code in (None, 108), (data_dir, plugin, command, again)
    assert tree.snapshot(exclude_data=False) == before, "something was written through a symlink"
    for where in (target, tree.outside / "data", tree.outside / "linked-data"):
        assert list(where.iterdir()) == [], f"written through a symlink: {list(where.iterdir())}"
    assert harness.host_links(host) == host_links
    assert harness.link_names(container) == ["lo"]


# -- logs ---------------------------------------------------------------------------------


def test_log_file_is_0600_and_never_through_a_symlink(tree, host, container, record):
    """logFile is created 0600 (whatever the umask); a symlink planted at its path is not
    followed (its target stays untouched) and the verb still answers."""
    log = tree.root / "logs" / "pycni.log"
    log.parent.mkdir()
    conf = _bridge_conf(tree, type="host-local", logFile=str(log), logLevel="debug")
    umask = os.umask(0)  # the plugin inherits it: the mode must not depend on it
    try:
        out = _attempt("host-local", conf, tree, host, container, container_id="log-1")
    finally:
        os.umask(umask)
    assert out.ok, out
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    out = _attempt("host-local", conf, tree, host, container, command="DEL", container_id="log-1")
    assert out.ok, out
    assert "released" in log.read_text(), "the DEL's debug line is missing: the file is not the log"
    victim = tree.outside / "victim"
    victim.write_text("untouched\n")
    trap = tree.root / "logs" / "trap.log"
    trap.symlink_to(victim)
    conf["logFile"] = str(trap)
    out = _attempt("host-local", conf, tree, host, container, container_id="log-2")
    record.add(cases=3)
    assert out.ok, out
    assert victim.read_text() == "untouched\n"
    assert trap.is_symlink()


def test_canary_secret_never_logged(tree, host, container, record):
    """A secret in stdin (top level, ipam, args), CNI_ARGS and runtimeConfig, every verb,
    success and failure, logLevel debug to a file and PYCNI_LOG_LEVEL=debug on stderr:
    the secret appears in no log line (nor on stdout)."""
    secret = "canary-" + secrets.token_hex(12)
    log = tree.root / "secret.log"
    conf = _bridge_conf(tree, logFile=str(log), logLevel="debug", password=secret,
                        runtimeConfig={"secret": secret, "mac": "", "token": secret},
                        args={"cni": {"secret": secret}}, capabilities={"secret": True})
    conf["ipam"]["token"] = secret
    env = {"PYCNI_LOG_LEVEL": "debug"}
    args = f"IgnoreUnknown=1;SECRET={secret};K8S_POD_NAME={secret}"
    outs = []
    add = _attempt("bridge", conf, tree, host, container, container_id="secret-1", args=args, env=env)
    assert add.ok, add
    outs.append(add)
    for command, extra in (("CHECK", {"prevResult": add.json}), ("GC", {"cni.dev/valid-attachments": [
            {"containerID": "secret-1", "ifname": "eth0"}]}), ("STATUS", {}), ("DEL", {}), ("DEL", {})):
        out = _attempt("bridge", dict(conf, **extra), tree, host, container, command=command,
                       container_id="secret-1", args=args, env=env)
        assert out.ok, (command, out)
        outs.append(out)
    broken = json.loads(json.dumps(conf))
    broken["ipam"]["ranges"] = [[{"subnet": "10.66.0.0/33"}]]
    outs.append(_attempt("bridge", broken, tree, host, container, container_id="secret-2",
                         args=args, env=env))
    outs.append(_attempt("bridge", conf, tree, host, "/nonexistent/netns", container_id="secret-3",
                         args=args, env=env))
    outs.append(_attempt("host-local", dict(conf, type="host-local"), tree, host, container,
                         container_id="secret-4", args=args, env=env))
    outs.append(_attempt("host-local", dict(conf, type="host-local"), tree, host, container,
                         command="DEL", container_id="secret-4", args=args, env=env))
    outs.append(_attempt("loopback", dict(conf, type="loopback"), tree, host, container,
                         container_id="secret-5", args=args, env=env))
    record.add(cases=len(outs))
    assert [o.code for o in outs[-5:-3]] == [7, 100], outs[-5:-3]
    text = log.read_text()
    assert "debug" in text, "debug logging is not on: the test would prove nothing"
    assert secret not in text, [line for line in text.splitlines() if secret in line]
    for out in outs:
        assert secret not in out.stderr, out.stderr
        assert secret not in out.stdout, out.stdout
