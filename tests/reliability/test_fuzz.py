"""Hostile input: random and mutated configs, every verb and version, random CNI_* values.

The invariant, for every input: the plugin answers with exit 0 and a valid
answer for the verb (ADD: a result in the config's version; VERSION: the
version object; others: nothing on stdout), or with exit 1 and exactly one CNI
error object on stdout (integer `code`, string `msg`, and never 999: every
failure here is the input's fault, so it has a specific code). Never a
traceback on stdout. A failed ADD changes nothing: host links, container links,
the nftables ruleset (iptables-nft included) and every file under the test's
directories are as before. A successful ADD is DELeted at once, and the node
is back where it was (a bridge and the NAT table skeleton may stay).

Most examples run in-process in a worker living in a test host namespace
(`worker.py`: thousands a minute); a smaller number exec the real plugins.
Mutations start from valid bridge (L3 and L2), host-local and loopback
configs: dropped keys, wrong types, huge and negative numbers, unicode, NUL,
deep nesting, truncated or corrupted JSON. Paths the configs carry (dataDir,
logFile) stay under the test's temp tree; CNI_PATH holds only our plugins, so
no mutated type can exec anything else.

PYCNI_LONG=1 raises the example counts (and draws new examples each run, as
PYCNI_FUZZ_RANDOM=1 does at CI counts).
"""

import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import BIN, Netns, run_plugin, sh, unique

from cni import version as _version
from cni.types import Result
from reliability import harness
from reliability.worker import Worker

VERBS = ("ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION")
VERSIONS = (*_version.SUPPORTED, "", "0.0.1", "2.0.0", "1.1", "x.y.z", "1.0.0-rc1")
IN_PROCESS_EXAMPLES = harness.scaled(2000, 30000)
EXEC_EXAMPLES = harness.scaled(100, 2000)
PATH_KEYS = ("datadir", "logfile", "log_file_path", "resolvconf")


class Node:
    """The fuzz node: host and container namespaces, temp tree, CNI_PATH, worker."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.logs = root / "logs"
        self.cwd = root / "cwd"
        self.path = root / "cni-bin"
        for d in (self.data, self.logs, self.cwd, self.path, root / "outside"):
            d.mkdir()
        for plugin in ("host-local", "loopback"):
            (self.path / plugin).symlink_to(BIN / plugin)
        self.canary = root / "outside" / "canary"
        self.canary.write_text(f"#!/bin/sh\ntouch {root}/canary-ran\n")
        self.canary.chmod(0o755)
        self.resolv_conf = root / "resolv.conf"
        self.resolv_conf.write_text("nameserver 10.0.0.53\nsearch example.test\noptions ndots:2\n")
        self.regular = root / "regular-file"
        self.regular.write_text("not a namespace\n")
        self.host = Netns(unique())
        self.container = Netns(unique())
        for ns in (self.host, self.container):
            sh("ip", "netns", "add", ns.name)
            sh("ip", "link", "set", "lo", "up", ns=ns.name)
        self.worker = Worker(self.host.name, str(self.cwd))

    def close(self) -> None:
        try:
            self.worker.close()
        finally:
            self.host.delete()
            self.container.delete()

    def watch(self) -> "list[str]":
        return [str(self.data), str(self.cwd), str(self.root / "outside")]


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    n = Node(tmp_path_factory.mktemp("fuzz"))
    yield n
    n.close()


# -- inputs -----------------------------------------------------------------------------


def bases(node: Node) -> "dict[str, tuple[str, dict]]":
    """Valid configs, one per plugin shape: name -> (plugin executable, config)."""
    ranges = [[{"subnet": "10.77.0.0/24", "rangeStart": "10.77.0.10", "rangeEnd": "10.77.0.40"}]]
    dual = [*ranges, [{"subnet": "fd77::/64"}]]
    ipam = {"type": "host-local", "dataDir": str(node.data), "ranges": ranges,
            "routes": [{"dst": "0.0.0.0/0"}]}
    return {
        "bridge-l3": ("bridge", {"cniVersion": "1.1.0", "name": "fuzz-br", "type": "bridge",
                                 "bridge": "fzbr0", "isGateway": True, "ipMasq": True,
                                 "ipMasqBackend": "nftables", "ipam": ipam}),
        "bridge-dual": ("bridge", {"cniVersion": "1.0.0", "name": "fuzz-dual", "type": "bridge",
                                   "bridge": "fzbr1", "isDefaultGateway": True, "ipMasq": True,
                                   "ipMasqBackend": "iptables", "hairpinMode": True,
                                   "ipam": dict(ipam, ranges=dual, routes=[])}),
        "bridge-l2": ("bridge", {"cniVersion": "0.4.0", "name": "fuzz-l2", "type": "bridge",
                                 "bridge": "fzbr2", "vlan": 7, "macspoofchk": True, "mtu": 1400}),
        "host-local": ("host-local", {"cniVersion": "1.1.0", "name": "fuzz-hl", "type": "host-local",
                                      "ipam": dict(ipam, ranges=dual)}),
        "host-local-legacy": ("host-local", {"cniVersion": "0.2.0", "name": "fuzz-hl2",
                                             "type": "host-local",
                                             "ipam": {"type": "host-local", "subnet": "10.78.0.0/28",
                                                      "dataDir": str(node.data)}}),
        "loopback": ("loopback", {"cniVersion": "0.3.1", "name": "fuzz-lo", "type": "loopback"}),
        "bridge-gc": ("bridge", {"cniVersion": "1.1.0", "name": "fuzz-br", "type": "bridge",
                                 "bridge": "fzbr0", "ipMasq": True, "ipam": ipam,
                                 "cni.dev/valid-attachments": [
                                     {"containerID": "fuzz-ctr-1", "ifname": "eth0"},
                                     {"containerID": "fuzz-ctr-2", "ifname": "net1"}]}),
        "host-local-runtime": ("host-local", {
            "cniVersion": "1.0.0", "name": "fuzz-rt", "type": "host-local",
            "runtimeConfig": {"ips": ["10.79.0.15/24"], "ipRanges": [[{"subnet": "10.79.0.0/24"}]]},
            "args": {"cni": {"ips": ["10.79.0.16"]}},
            "ipam": {"type": "host-local", "dataDir": str(node.data), "resolvConf": str(node.resolv_conf),
                     "ranges": [[{"subnet": "10.80.0.0/24", "gateway": "10.80.0.254"}]]}}),
    }


def deep(depth: int, leaf: object = 1) -> object:
    value = leaf
    for k in range(depth):
        value = [value] if k % 2 else {"a": value}
    return value


WEIRD_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
    st.sampled_from(["", " ", "\x00", "a\x00b", "..", "../..", "/", "\\", "-x", "-", ".", "\u202e",
                     "\ud800", "eth0\n", "10.77.0.5", "fd77::5", "10.77.0.0/24", "0.0.0.0/0",
                     "host-local", "loopback", "../outside/canary", "/bin/true",
                     "host-local/../loopback", "iptables", "nftables", "ﬀ" * 20, "A" * 300,
                     "1.1.0", "0.1.0", "null", "true", "{}", "[]"]),
)
WEIRD = st.recursive(
    st.one_of(st.none(), st.booleans(), WEIRD_TEXT,
              st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
              st.sampled_from([0, -1, 1, 4094, 4095, 65535, 65536, 2 ** 31, 2 ** 63, 10 ** 30]),
              st.floats(allow_nan=True, allow_infinity=True)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(WEIRD_TEXT, inner, max_size=4)),
    max_leaves=8,
) | st.integers(min_value=20, max_value=400).map(deep)


def paths_of(value: object, prefix: tuple = ()) -> "list[tuple]":
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths_of(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths_of(v, (*prefix, i))
    return out


def _parent(doc: object, path: tuple) -> object:
    for step in path[:-1]:
        doc = doc[step]
    return doc


@st.composite
def mutated_config(draw, node: Node) -> "tuple[str, bytes, dict | None]":
    """(plugin, stdin bytes, the config dict when stdin is its JSON)."""
    name = draw(st.sampled_from(sorted(bases(node))))
    plugin, conf = bases(node)[name]
    conf = json.loads(json.dumps(conf))
    conf["cniVersion"] = draw(st.sampled_from(VERSIONS + (conf["cniVersion"],) * 4))
    if conf["cniVersion"] == "":
        del conf["cniVersion"]
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3, 4]))):
        paths = [p for p in paths_of(conf) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _parent(conf, path)
        op = draw(st.sampled_from(["drop", "replace", "replace", "add", "wrap"]))
        if op == "drop":
            del parent[path[-1]]
        elif op == "replace":
            parent[path[-1]] = draw(WEIRD)
        elif op == "wrap":
            parent[path[-1]] = [parent[path[-1]]]
        elif isinstance(parent, dict):
            parent[draw(WEIRD_TEXT)] = draw(WEIRD)
    confine_paths(conf, node)
    pin_data_dir(conf, node)
    if draw(st.booleans()) and plugin == "bridge":
        conf["prevResult"] = draw(st.one_of(WEIRD, st.just({"cniVersion": "1.0.0", "ips": [
            {"address": "10.77.0.12/24", "interface": 2}], "interfaces": [{"name": "eth0"}]})))
        confine_paths(conf, node)
        pin_data_dir(conf, node)
    deep_value = draw(st.booleans()) and draw(st.integers(0, 9)) == 0
    if deep_value:  # a value nested deeper than any Python structure we could build
        path = draw(st.sampled_from([p for p in paths_of(conf) if p] or [("name",)]))
        _parent(conf, path)[path[-1]] = "__DEEP__"
    text = json.dumps(conf, allow_nan=True).encode()
    if deep_value:
        depth = draw(st.integers(500, 5000))
        text = text.replace(b'"__DEEP__"', b"[" * depth + b"]" * depth)
        return plugin, text, None
    damage = draw(st.sampled_from(["none"] * 6 + ["truncate", "byte", "prefix", "utf8", "dupkey",
                                                  "empty", "nest"]))
    if damage == "none":
        return plugin, text, conf
    if damage == "truncate":
        text = text[:draw(st.integers(0, max(len(text) - 1, 0)))]
    elif damage == "byte":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + bytes([draw(st.integers(0, 255))]) + text[at:]
    elif damage == "prefix":
        text = draw(st.sampled_from([b"\xef\xbb\xbf", b"  \n", b"[", b"{\"a\":"])) + text
    elif damage == "utf8":
        text = text.replace(b"fuzz", b"f\xff\xfez", 1)
    elif damage == "dupkey":
        text = text[:-1] + b', "name": ["dup"]}'
    elif damage == "empty":
        text = draw(st.sampled_from([b"", b" ", b"null", b"[]", b"\"x\"", b"1e999", b"{}"]))
    else:
        depth = draw(st.integers(100, 200000))
        text = b"[" * depth + b"]" * draw(st.sampled_from([0, depth]))
    return plugin, text, None


def pin_data_dir(conf: object, node: Node) -> None:
    """An absent, null or empty ipam.dataDir means the real /var/lib/cni/networks: keep it in the tree."""
    ipam = conf.get("ipam") if isinstance(conf, dict) else None
    if isinstance(ipam, dict) and ipam.get("dataDir") in (None, ""):
        ipam["dataDir"] = str(node.data)


def confine_paths(conf: object, node: Node) -> None:
    """Absolute strings under a path key point inside the temp tree (never the real fs), and
    an ipam section never lacks its dataDir (host-local would fall back to /var/lib/cni)."""
    if isinstance(conf, dict) and isinstance(conf.get("ipam"), dict) and \
            not isinstance(conf["ipam"].get("dataDir"), str):
        conf["ipam"]["dataDir"] = str(node.data)
    if isinstance(conf, dict):
        for k, v in list(conf.items()):
            if isinstance(k, str) and k.lower() in PATH_KEYS and isinstance(v, str) and \
                    v.startswith("/") and not v.startswith(str(node.root) + "/"):
                where = node.logs if "log" in k.lower() else node.data
                conf[k] = str(where) + "/" + v.lstrip("/").replace("..", "__")
            else:
                confine_paths(v, node)
    elif isinstance(conf, list):
        for v in conf:
            confine_paths(v, node)


def _mostly(common, rare):
    """`common` nine times in ten, else `rare` (hypothesis has no weighted one_of)."""
    return st.integers(0, 9).flatmap(lambda n: rare if n == 0 else common)


@st.composite
def cni_env(draw, node: Node, allow_nul: bool) -> dict:
    text = st.text(max_size=30) if allow_nul else st.text(
        alphabet=st.characters(blacklist_characters="\x00", codec="utf-8"), max_size=30)
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
    choices = {
        "CNI_COMMAND": _mostly(st.sampled_from(VERBS * 3 + ("add", "", "DELETE")), text),
        "CNI_CONTAINERID": st.sampled_from(["fuzz-ctr-1", "fuzz-ctr-2", "", "-rf", "../x", "a/b",
                                            "x" * 2000]) | text,
        "CNI_IFNAME": st.sampled_from(["eth0", "eth1", "lo", "", "a" * 16, "x/y", "..", "eth 0",
                                       "é" * 8]) | text,
        "CNI_NETNS": st.sampled_from([node.container.path, node.container.path, "",
                                      "/nonexistent/netns", str(node.regular), str(node.root),
                                      "/proc/self/ns/net", "relative/netns"]),
        "CNI_ARGS": st.sampled_from(["", "IgnoreUnknown=1", "IP=10.77.0.20", "IP=garbage",
                                     "IgnoreUnknown=1;K8S_POD_NAME=p", "a=b=c", ";", "=",
                                     "IgnoreUnknown=maybe", "MAC=zz"]) | text,
        "CNI_PATH": st.sampled_from([str(node.path), str(node.path), "", "/nonexistent",
                                     f"/nonexistent:{node.path}", "::"]),
    }
    if draw(st.integers(0, 2)) == 0:  # a runtime's well-formed request, one variable perturbed
        env.update(CNI_COMMAND=draw(st.sampled_from(VERBS)), CNI_CONTAINERID="fuzz-ctr-1",
                   CNI_IFNAME="eth0", CNI_NETNS=node.container.path, CNI_PATH=str(node.path))
        if draw(st.booleans()):
            key = draw(st.sampled_from(sorted(choices)))
            env[key] = draw(choices[key])
        return env
    for key, strategy in choices.items():
        if draw(st.integers(0, 9)) > 0:  # each variable absent one time in ten
            env[key] = draw(strategy)
    return env


# -- the invariant -------------------------------------------------------------------------


def assert_answer(env: dict, run: dict, conf: "dict | None") -> None:
    """Exit 0 with the verb's answer, or exit 1 with exactly one specific CNI error."""
    assert run["exception"] == "", run["exception"]
    stdout = run["stdout"]
    assert "Traceback" not in stdout, stdout
    command = env.get("CNI_COMMAND", "")
    if run["rc"] == 0:
        if command == "ADD":
            data = json.loads(stdout)
            version = data.get("cniVersion")
            assert version in _version.SUPPORTED, data
            Result.from_dict(data, version)
            if conf is not None:
                assert version == (conf.get("cniVersion") or _version.DEFAULT), data
        elif command == "VERSION":
            data = json.loads(stdout)
            assert set(data) == {"cniVersion", "supportedVersions"}, data
        else:
            assert stdout == "", f"{command} printed {stdout!r}"
        return
    assert run["rc"] == 1, run
    error = json.loads(stdout)  # one object: trailing data would raise
    assert isinstance(error, dict), error
    assert isinstance(error.get("code"), int) and not isinstance(error["code"], bool), error
    assert isinstance(error.get("msg"), str) and error["msg"], error
    assert error["code"] != 999, f"input error reported as 999: {error}\n{run['stderr'][-3000:]}"


def assert_unchanged(before: dict, after: dict) -> None:
    """A failed ADD may have created the store's directory, lock and cursor: nothing else."""
    for key in ("links", "container", "nft"):
        assert after[key] == before[key], f"failed ADD changed {key}: {_diff(before[key], after[key])}"
    changed = {p: w for p, w in after["files"].items() if before["files"].get(p) != w}
    changed.update({p: "<removed>" for p in before["files"] if p not in after["files"]})
    changed = {p: w for p, w in changed.items()
               if not (w == "dir" or harness.STORE_KEEPS.match(os.path.basename(p)))}
    assert changed == {}, f"failed ADD changed files: {changed}"


def assert_back_to_start(before: dict, after: dict) -> None:
    """After ADD then DEL: only shared infrastructure may remain."""
    new_links = {n: k for n, k in after["links"].items() if before["links"].get(n) != k}
    assert all(k == "bridge" or "." in n for n, k in new_links.items()), new_links
    assert after["container"] == before["container"]
    for line in set(after["nft"]) - set(before["nft"]):
        kind = line.split(" ", 1)[0]
        obj = json.loads(line.split(" ", 1)[1])
        per_container = str(obj.get("name", "")).startswith(("CNI-", "cni-br-iface-"))
        skeleton = kind in ("table", "chain") or obj.get("chain") == "postrouting"
        assert skeleton and not per_container, f"ADD+DEL left {line}"
    for path, what in after["files"].items():
        if before["files"].get(path) != what:
            leaf = os.path.basename(path)
            assert what == "dir" or harness.STORE_KEEPS.match(leaf), f"ADD+DEL left {path} = {what}"


def _diff(before: object, after: object) -> str:
    if isinstance(before, dict):
        keys = set(before) | set(after)
        return str({k: (before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)})
    return f"added {sorted(set(after) - set(before))}, removed {sorted(set(before) - set(after))}"


# -- the tests -------------------------------------------------------------------------------


# CI runs a fixed sequence (a failure reproduces); PYCNI_LONG=1 or PYCNI_FUZZ_RANDOM=1 explore.
RANDOM = harness.LONG or os.environ.get("PYCNI_FUZZ_RANDOM", "") == "1"
SETTINGS = {"deadline": None, "derandomize": not RANDOM, "database": None,
            "suppress_health_check": list(HealthCheck)}


def test_in_process_fuzz(node, record):
    """Random and mutated configs x random CNI_* env, every verb and version, in-process
    (skel.run in a worker inside the test host namespace), with full state snapshots."""
    count = {"examples": 0, "ok": 0}

    @settings(max_examples=IN_PROCESS_EXAMPLES, **SETTINGS)
    @given(data=st.data())
    def run(data):
        plugin, stdin, conf = data.draw(mutated_config(node))
        env = data.draw(cni_env(node, allow_nul=True))
        is_add = env.get("CNI_COMMAND") == "ADD"
        reply = node.worker.call(plugin, env, stdin, snapshot=is_add, undo=True,
                                 container=node.container.name, watch=node.watch())
        count["examples"] += 1
        assert reply["netns_kept"], "a verb left the process in another network namespace"
        assert_answer(env, reply["run"], conf)
        if is_add and reply["run"]["rc"] != 0:
            assert_unchanged(reply["before"], reply["after"])
        if "undo" in reply:
            count["ok"] += 1
            assert reply["undo"]["rc"] == 0, reply["undo"]
            assert_back_to_start(reply["before"], reply["after_undo"])

    try:
        run()
    finally:
        record.add(examples=count["examples"], cases=count["examples"])
    assert count["ok"] > 0, "no example ever succeeded: the bases are not valid configs"


def test_exec_fuzz(node, record):
    """The same inputs through the real executables (ip netns exec <host> bin/<plugin>),
    NUL-free env as a runtime can pass it: exit status, stdout framing, no partial ADD."""
    count = {"examples": 0}

    @settings(max_examples=EXEC_EXAMPLES, **SETTINGS)
    @given(data=st.data())
    def run(data):
        plugin, stdin, conf = data.draw(mutated_config(node))
        env = data.draw(cni_env(node, allow_nul=False))
        is_add = env.get("CNI_COMMAND") == "ADD"
        before = _exec_state(node) if is_add else None
        out = run_plugin(plugin, env.get("CNI_COMMAND", ""), stdin, host=node.host,
                         netns=env.get("CNI_NETNS"), ifname=env.get("CNI_IFNAME"),
                         container_id=env.get("CNI_CONTAINERID"), args=env.get("CNI_ARGS", ""),
                         path=[env.get("CNI_PATH", "")], env=_exec_env(env))
        count["examples"] += 1
        assert_answer(env, {"rc": out.rc, "stdout": out.stdout, "stderr": out.stderr,
                            "exception": ""}, conf)
        if is_add and out.rc != 0:
            after = _exec_state(node)
            assert after == before, _diff(before, after)
        if is_add and out.rc == 0:
            undo = run_plugin(plugin, "DEL", stdin, host=node.host, netns=env.get("CNI_NETNS"),
                              ifname=env.get("CNI_IFNAME"), container_id=env.get("CNI_CONTAINERID"),
                              args=env.get("CNI_ARGS", ""), path=[env.get("CNI_PATH", "")],
                              env=_exec_env(env))
            assert undo.ok, undo

    try:
        run()
    finally:
        record.add(examples=count["examples"], cases=count["examples"])


def _exec_env(env: dict) -> dict:
    """run_plugin sets the CNI_* it is given; unset ones must stay unset."""
    return {k: v for k, v in env.items() if k.startswith("CNI_") and k != "CNI_COMMAND"}


def _exec_state(node: Node) -> dict:
    return {"links": harness.host_links(node.host), "nat": harness.nat_rules(node.host),
            "container": harness.link_names(node.container),
            "files": harness.store_files(node.data)}


@pytest.mark.parametrize("plugin", ["bridge", "host-local", "loopback"])
def test_nesting_deeper_than_the_parser(plugin, node, record):
    """Config JSON nested 100000 deep, and a typed field holding a value nested 900 deep
    (past Python's recursion limit for any recursive walk): codes 6 and 7, never 999."""
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "deep-1", "CNI_IFNAME": "eth0",
           "CNI_NETNS": node.container.path, "CNI_PATH": str(node.path)}
    _, conf = next(b for b in bases(node).values() if b[0] == plugin)
    deep_field = json.dumps(dict(conf, type="__DEEP__")).encode().replace(
        b'"__DEEP__"', b"[" * 900 + b"]" * 900)
    cases = [(b"[" * 100000, 6), (b"[" * 100000 + b"]" * 100000, 6), (deep_field, 7)]
    for stdin, code in cases:
        for command in ("ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION"):
            reply = node.worker.call(plugin, dict(env, CNI_COMMAND=command), stdin)
            assert_answer(env | {"CNI_COMMAND": command}, reply["run"], None)
            if command != "VERSION":
                assert json.loads(reply["run"]["stdout"])["code"] == code, reply["run"]
            record.add(examples=1)


def test_control_characters_in_names(node, record):
    """Interface names with control characters (valid for the kernel, printed raw by `ip -j`)
    attach and detach cleanly; container IDs and network names with them are refused."""
    _, conf = bases(node)["bridge-l3"]
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "ctl-1", "CNI_NETNS": node.container.path,
           "CNI_PATH": str(node.path)}
    for ifname in ("\x01a", "e\x1bth", "\x7f"):
        reply = node.worker.call("bridge", dict(env, CNI_IFNAME=ifname), json.dumps(conf).encode(),
                                 snapshot=True, undo=True, container=node.container.name,
                                 watch=node.watch())
        assert reply["run"]["rc"] == 0, reply["run"]
        assert reply["undo"]["rc"] == 0, reply["undo"]
        assert_back_to_start(reply["before"], reply["after_undo"])
        record.add(examples=1)
    for field, value, code in (("CNI_CONTAINERID", "a\x01b", 4), ("name", "n\x1bet", 7)):
        stdin = json.dumps(dict(conf, name=value) if field == "name" else conf).encode()
        run = node.worker.call("bridge", dict(env, CNI_IFNAME="eth0", **(
            {field: value} if field != "name" else {})), stdin)["run"]
        assert json.loads(run["stdout"])["code"] == code, run
        record.add(examples=1)


def test_after_fuzzing_nothing_escaped(node, record):
    """Nothing: runs after the fuzz tests above. No mutated type executed the canary outside
    CNI_PATH, nothing was written relative to the plugins' cwd, and the fixtures were
    sound (CNI_PATH holds only our plugins; the canary is executable and outside it)."""
    assert not (node.root / "canary-ran").exists(), "a mutated type executed a file outside CNI_PATH"
    assert list(node.cwd.iterdir()) == [], f"a plugin wrote relative to its cwd: {list(node.cwd.iterdir())}"
    assert sorted(p.name for p in node.path.iterdir()) == ["host-local", "loopback"]
    assert node.canary.stat().st_mode & stat.S_IXUSR
    assert node.canary.parent != node.path
