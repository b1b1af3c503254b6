"""The reliability suite's machinery: a bridge network in a test-made host, the
runtime's recovery moves, and the proof that nothing is left behind.

Where it sits: every test in tests/reliability/ builds on this. A `Bench` is
one node: a namespace playing the host (the plugins run inside it), a temp
dataDir, a bridge name and subnets of its own. `Bench.state()` captures what a
plugin can leave behind on that node (host links, NAT rules of both backends,
the store's files) and `leaks(baseline, now)` names every difference that is
not allowed (a bridge and the store's cursor/lock files may stay; a veth, a
reservation, a temp file or a NAT rule may not). Every reader of kernel state
goes through `read_state`, which fails the test when the tool fails: a missing
or broken iptables-save must not read as "no rules" and pass a leak check.

Scale: `scaled(ci, long)` picks the CI count, or the long one when
PYCNI_LONG=1.
"""

import ipaddress
import json
import os
import re
import secrets
import signal
import subprocess
import time
from pathlib import Path

from support import BIN, ROOT, Netns, read_state, run_plugin, sh

LONG = os.environ.get("PYCNI_LONG", "") == "1"
PLUGIN_SOURCES = ("cni", "ipam")
POINT_CALL = re.compile(r"""faults\.point\(\s*["']([^"']+)["']\s*\)""")
KILLED = (-signal.SIGKILL, 128 + signal.SIGKILL)  # direct child / through a shell
STORE_KEEPS = re.compile(r"(lock|last_reserved_ip\.\d+)\Z")
TEMP_FILE = re.compile(r"\.pycni-.*\.tmp\Z")


def scaled(ci: int, long: int) -> int:
    return long if LONG else ci


# -- fault points ------------------------------------------------------------------


def fault_points() -> "list[str]":
    """Every literal `faults.point("...")` in the plugin sources, sorted."""
    found = set()
    for package in PLUGIN_SOURCES:
        for path in (ROOT / package).rglob("*.py"):
            found.update(POINT_CALL.findall(path.read_text()))
    return sorted(found)


def dynamic_point_calls() -> "list[str]":
    """`faults.point(...)` calls whose name is not a literal (the suite could not enumerate them)."""
    odd = []
    for package in PLUGIN_SOURCES:
        for path in (ROOT / package).rglob("*.py"):
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if "faults.point(" in line and not POINT_CALL.search(line):
                    odd.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    return odd


def read_trace(path: Path) -> "list[str]":
    if not path.exists():
        return []
    return [line.split(" ", 1)[1] for line in path.read_text().splitlines() if " " in line]


# -- one node ----------------------------------------------------------------------


class Bench:
    """A node for bridge + host-local: host namespace, dataDir, bridge, subnets."""

    def __init__(self, host: Netns, data_dir: Path, *, backend: str = "iptables",
                 dual_stack: bool = False, name: "str | None" = None,
                 ip_masq: bool = True, subnet_index: "int | None" = None) -> None:
        self.host = host
        self.data_dir = data_dir
        self.backend = backend
        self.dual_stack = dual_stack
        self.ip_masq = ip_masq
        self.name = name or "rel-" + secrets.token_hex(3)
        self.bridge = "rbr" + secrets.token_hex(4)  # 11 bytes: a valid ifname
        k = subnet_index if subnet_index is not None else secrets.randbelow(200)
        self.subnet4 = ipaddress.ip_network(f"10.{k + 20}.0.0/24")
        self.subnet6 = ipaddress.ip_network(f"fd00:{k + 20:x}::/64")

    # The network configuration the runtime would send.
    def conf(self, cni_version: str = "1.1.0", **extra) -> dict:
        ranges = [[{"subnet": str(self.subnet4)}]]
        if self.dual_stack:
            ranges.append([{"subnet": str(self.subnet6)}])
        conf = {"cniVersion": cni_version, "name": self.name, "type": "bridge",
                "bridge": self.bridge, "isGateway": True, "ipMasq": self.ip_masq,
                "ipMasqBackend": self.backend,
                "ipam": {"type": "host-local", "dataDir": str(self.data_dir), "ranges": ranges}}
        conf.update(extra)
        return conf

    @property
    def store(self) -> Path:
        return self.data_dir / self.name

    def run(self, command: str, container: "Netns | str | None", container_id: str,
            ifname: str = "eth0", conf: "dict | None" = None, env: "dict | None" = None,
            timeout: float = 60):
        netns = container if container is not None else ""
        return run_plugin("bridge", command, conf or self.conf(), netns=netns, ifname=ifname,
                          container_id=container_id, host=self.host, env=env, timeout=timeout)

    def add(self, container, container_id: str, ifname: str = "eth0", **kw):
        return self.run("ADD", container, container_id, ifname, **kw)

    def delete(self, container, container_id: str, ifname: str = "eth0", **kw):
        return self.run("DEL", container, container_id, ifname, **kw)

    def check(self, container, container_id: str, prev: dict, ifname: str = "eth0", **kw):
        return self.run("CHECK", container, container_id, ifname,
                        conf=self.conf(prevResult=prev), **kw)

    def gc(self, valid: "list[tuple[str, str]] | None", **kw):
        extra = {} if valid is None else {
            "cni.dev/valid-attachments": [{"containerID": c, "ifname": i} for c, i in valid]}
        return run_plugin("bridge", "GC", self.conf(**extra), netns=None, ifname=None,
                          container_id=None, host=self.host, **kw)

    def spawn(self, command: str, container: "Netns | str | None", container_id: str,
              ifname: str = "eth0", env: "dict | None" = None) -> subprocess.Popen:
        """Start the plugin without waiting (for kills at random instants)."""
        full = plugin_env(command, container, container_id, ifname)
        full.update(env or {})
        argv = ["ip", "netns", "exec", self.host.name, str(BIN / "bridge")]
        proc = subprocess.Popen(argv, env=full, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        proc.stdin.write(json.dumps(self.conf()).encode())
        proc.stdin.close()
        return proc

    # What the node holds now.
    def state(self) -> dict:
        return {"links": host_links(self.host), "nat": nat_rules(self.host),
                "store": store_files(self.data_dir)}

    def check_result(self, result: dict) -> "list[str]":
        """The addresses of an ADD result, asserted to be inside this node's subnets."""
        addresses = [ip["address"] for ip in result.get("ips", [])]
        families = sorted(ipaddress.ip_interface(a).version for a in addresses)
        assert families == ([4, 6] if self.dual_stack else [4]), result
        for text in addresses:
            iface = ipaddress.ip_interface(text)
            subnet = self.subnet4 if iface.version == 4 else self.subnet6
            assert iface.network == subnet, f"{text} outside {subnet}"
            assert iface.ip not in (subnet.network_address, subnet.network_address + 1), text
            if iface.version == 4:
                assert iface.ip != subnet.broadcast_address, text
        return [str(ipaddress.ip_interface(a).ip) for a in addresses]


def plugin_env(command: str, container: "Netns | str | None", container_id: str,
               ifname: str) -> dict:
    netns = container.path if isinstance(container, Netns) else (container or "")
    return {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "CNI_COMMAND": command, "CNI_CONTAINERID": container_id, "CNI_IFNAME": ifname,
            "CNI_NETNS": netns, "CNI_PATH": str(BIN)}


# -- what a node holds ---------------------------------------------------------------


# nft's whole answer (first stderr line) when the listed table or chain does not exist.
# `ip netns exec` says "exec of "nft" failed: No such file or directory" for a missing
# tool, so only nft's own "Error: " form counts.
def links_of(ns: Netns) -> "list[dict]":
    """`ip -j -d link` of a namespace, read leniently: ip prints control characters in
    interface names raw (the kernel allows them), which strict JSON refuses."""
    return json.loads(read_state(ns, "ip", "-j", "-d", "link", "show"), strict=False)


def link_names(ns: Netns) -> "list[str]":
    return [link["ifname"] for link in links_of(ns)]


def host_links(host: Netns) -> "dict[str, str]":
    """name -> kind (veth, bridge, dummy...; '' for plain links) in the host namespace."""
    out = {}
    for link in links_of(host):
        kind = link.get("linkinfo", {}).get("info_kind", "")
        out[link["ifname"]] = kind
    return out


def nat_rules(host: Netns) -> "list[str]":
    """Every NAT rule and non-builtin chain, in both iptables and nftables views.

    iptables-save gives `-A`/chain lines of the nat tables (v4 and v6); the nft
    ruleset gives each rule as table/chain/expression with handles and
    counters removed, so the same rule compares equal across listings. A tool that
    fails raises StateReadError (the rules are unknown, not absent).
    """
    rules = []
    for tool in ("iptables-save", "ip6tables-save"):
        out = read_state(host, tool, "-t", "nat")
        for line in out.splitlines():
            if line.startswith("-A ") or (line.startswith(":") and not re.match(
                    r":(PREROUTING|INPUT|OUTPUT|POSTROUTING) ", line)):
                rules.append(f"{tool}: {line.split(' [')[0] if line.startswith(':') else line}")
    out = read_state(host, "nft", "-j", "list", "ruleset")
    for item in json.loads(out)["nftables"]:
        if "rule" in item:
            rule = item["rule"]
            exprs = [e for e in rule.get("expr", []) if "counter" not in e]
            rules.append(f"nft: {rule['family']} {rule['table']} {rule['chain']} "
                         f"{json.dumps(exprs, sort_keys=True)} {rule.get('comment', '')}")
        elif "chain" in item:
            chain = item["chain"]
            rules.append(f"nft: chain {chain['family']} {chain['table']} {chain['name']}")
    return sorted(rules)


def store_files(data_dir: Path) -> "dict[str, str]":
    """relative path -> kind:content (first 200 bytes) of everything under dataDir."""
    out = {}
    if not data_dir.exists():
        return out
    for path in sorted(data_dir.rglob("*")):
        rel = str(path.relative_to(data_dir))
        if path.is_symlink():
            out[rel] = "symlink:" + os.readlink(path)
        elif path.is_dir():
            out[rel] = "dir:"
        else:
            out[rel] = "file:" + path.read_bytes()[:200].decode("utf-8", "replace")
    return out


def leaks(baseline: dict, now: dict) -> "list[str]":
    """What `now` holds that `baseline` did not, except what may stay (bridge, lock, cursor)."""
    found = []
    for name, kind in now["links"].items():
        if name not in baseline["links"] and kind != "bridge":
            found.append(f"host link {name} ({kind or 'plain'})")
    for rule in sorted(set(now["nat"]) - set(baseline["nat"])):
        found.append(f"NAT rule {rule}")
    for rel, what in now["store"].items():
        leaf = rel.rsplit("/", 1)[-1]
        if TEMP_FILE.match(leaf):
            found.append(f"temp file {rel}")
        elif rel not in baseline["store"] and not STORE_KEEPS.match(leaf) and not what.startswith("dir:"):
            found.append(f"store entry {rel} = {what!r}")
    return found


def reservations(data_dir: Path, network: str) -> "dict[str, str]":
    """address -> 'containerID/ifname' of every reservation file of a network."""
    out = {}
    store = data_dir / network
    if not store.is_dir():
        return out
    for path in store.iterdir():
        try:
            ipaddress.ip_address(path.name)
        except ValueError:
            continue
        cid, _, ifname = path.read_bytes().decode().partition("\r\n")  # no newline translation
        out[path.name] = f"{cid.strip()}/{ifname}"
    return out


# -- the store, read the way an operator would ----------------------------------------


def operator_listing(data_dir: Path, network: str) -> "list[dict]":
    """The store as `pycni ipam ls --json` shows it (or ipam.disk's listing without the CLI).

    Either way the listing must succeed: a store that cannot be listed after a
    crash is itself a failure.
    """
    cli = BIN / "pycni"
    if cli.exists() and _cli_has_ipam(cli):
        proc = subprocess.run([str(cli), "ipam", "ls", "--json", "--data-dir", str(data_dir)],
                              capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0, f"pycni ipam ls failed: {proc.stdout}{proc.stderr}"
        data = json.loads(proc.stdout)
        return _entries_of(data, network)
    from ipam.disk import DiskStore
    store = DiskStore(str(data_dir), network, 5.0)
    if not store.exists():
        return []
    with store.session(create=False):
        return [{"ip": a.ip, "containerID": a.container_id, "ifname": a.ifname,
                 "problem": a.problem} for a in store.allocations()]


_CLI_CHECKED: dict = {}


def _cli_has_ipam(cli: Path) -> bool:
    if cli not in _CLI_CHECKED:
        proc = subprocess.run([str(cli), "ipam", "ls", "--help"], capture_output=True, text=True,
                              check=False)
        _CLI_CHECKED[cli] = proc.returncode == 0 and "--json" in proc.stdout
    return _CLI_CHECKED[cli]


def _entries_of(data: dict, network: str) -> "list[dict]":
    """The CLI's allocations of one network ({"networks": [{"name", "allocations"}, ...]})."""
    for net in data["networks"]:
        if net["name"] == network:
            return list(net["allocations"])
    return []


def wait_gone(predicate, seconds: float = 10.0) -> bool:
    """Poll an asynchronous kernel clean-up (netns teardown frees veths later)."""
    deadline = time.monotonic() + seconds
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def ns_exists(name: str) -> bool:
    return name in sh("ip", "netns", "list").stdout.split()
