"""The bridge suite's toolkit: configs, a node to run the plugin on, state readers.

A `Node` is one test's host: a namespace made by the test (the plugin runs
inside it, so the bridge, veths, sysctls and NAT rules all land there), a
dataDir for IPAM state, and a factory of container namespaces. Readers return
plain data (link dicts from `ip -j`, rule lines, file names) for assertions; a
reader whose tool fails fails the test (support.read_state), so a
missing or broken iptables-save or nft never reads as "no rules".

IPAM: `OURS` finds our host-local first on CNI_PATH (run in-process), `GO` the
reference host-local (exec'd); configs default to ours.
"""

import json
import os
import sys
import threading
import time
from pathlib import Path

from support import BIN, GO_BIN, NFT_ABSENT, Netns, Outcome, read_state, run_plugin

OURS = [BIN]
GO = [GO_BIN]
VERSIONS = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
BRIDGE = "br-test"
HERE = Path(__file__).resolve().parent


def conf(data_dir: Path, version: str = "1.0.0", name: str = "testnet",
         subnets: "tuple[str, ...]" = ("10.77.0.0/24",), routes: "list | None" = None,
         **fields: object) -> dict:
    """A bridge config with a host-local IPAM over `subnets` (one range set each)."""
    ipam: dict = {"type": "host-local", "dataDir": str(data_dir),
                  "ranges": [[{"subnet": s}] for s in subnets]}
    if routes is not None:
        ipam["routes"] = routes
    out: dict = {"cniVersion": version, "name": name, "type": "bridge", "bridge": BRIDGE,
                 "isGateway": True, "ipam": ipam}
    out.update(fields)
    return out


def l2_conf(version: str = "1.0.0", **fields: object) -> dict:
    out: dict = {"cniVersion": version, "name": "l2net", "type": "bridge", "bridge": BRIDGE}
    out.update(fields)
    return out


def with_prev(config: dict, result: dict) -> dict:
    out = dict(config)
    out["prevResult"] = result
    return out


def install_fake_ipam(directory: Path, name: str = "fake-ipam") -> Path:
    """fake_ipam.py as an executable named `name` in `directory` (put it on CNI_PATH)."""
    path = directory / name
    path.write_text(f"#!{sys.executable} -I\n" + (HERE / "fake_ipam.py").read_text())
    path.chmod(0o755)
    return path


def fake_calls(log: Path) -> "list[dict]":
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


class Node:
    """One test's host namespace, with the plugin and the state readers."""

    def __init__(self, host: Netns, make_netns: object, data_dir: Path) -> None:
        self.host = host
        self.make_netns = make_netns
        self.data_dir = data_dir

    def container(self) -> Netns:
        return self.make_netns()

    # -- plugin calls ---------------------------------------------------------

    def run(self, command: str, config: dict, ctr: "Netns | str | None" = None,
            cid: str = "c1", ifname: str = "eth0", path: "list | None" = None,
            env: "dict | None" = None, args: str = "", plugin: str = "bridge",
            bin_dir: "Path | None" = None) -> Outcome:
        return run_plugin(plugin, command, config, netns=ctr, ifname=ifname, container_id=cid,
                          args=args, host=self.host, path=path or OURS, env=env,
                          bin_dir=bin_dir)

    def add(self, config: dict, ctr: Netns, cid: str = "c1", **kw: object) -> dict:
        out = self.run("ADD", config, ctr, cid, **kw)
        assert out.ok, out
        return out.json

    def parallel(self, calls: "list[dict]") -> "list[Outcome]":
        """Run several plugin calls at once (kwargs of `run` each), in threads."""
        results: "list[Outcome | None]" = [None] * len(calls)

        def one(i: int) -> None:
            results[i] = self.run(**calls[i])

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(calls))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results  # type: ignore[return-value]

    # -- state readers --------------------------------------------------------

    def links(self, where: "Netns | None" = None) -> "list[dict]":
        return (where or self.host).links()

    def link(self, name: str, where: "Netns | None" = None) -> "dict | None":
        """The link's `ip -j -d` dict, None when ip says it does not exist."""
        out = read_state(where or self.host, "ip", "-j", "-d", "link", "show", "dev", name,
                         absent=f'Device "{name}" does not exist.')
        return None if out is None else json.loads(out)[0]

    def delete_netns(self, ctr: Netns, timeout: float = 10.0) -> None:
        """Delete a container netns as a runtime does, then wait for the kernel to finish
        tearing it down: the namespace dies asynchronously (a workqueue), and its veth
        peers on the host go with it only then."""
        peers = {link.get("link_index") for link in ctr.links() if link.get("link_index")}
        ctr.delete()
        deadline = time.monotonic() + timeout
        while peers & {link["ifindex"] for link in self.links()} and time.monotonic() < deadline:
            time.sleep(0.05)

    def veths(self) -> "list[str]":
        return sorted(link["ifname"] for link in self.links()
                      if link.get("linkinfo", {}).get("info_kind") == "veth")

    def addrs(self, name: str, where: "Netns | None" = None) -> "list[str]":
        return (where or self.host).addrs(name)

    def sysctl(self, key: str, where: "Netns | None" = None) -> str:
        path = "/proc/sys/" + key
        return (where or self.host).sh("cat", path).stdout.strip()

    def nat(self, family: int = 4) -> "list[str]":
        """Rule and chain lines of the nat table (iptables-save, comments dropped)."""
        tool = "iptables-save" if family == 4 else "ip6tables-save"
        out = read_state(self.host, tool, "-t", "nat")
        return [line for line in out.splitlines() if line.startswith(("-A", ":CNI-"))]

    def nft(self, *what: str) -> str:
        """nft's listing; "" when the listed table or chain does not exist."""
        out = read_state(self.host, "nft", *(what or ("list", "ruleset")), absent=NFT_ABSENT)
        return out or ""

    def nft_json(self, *what: str) -> "list[dict]":
        """nft -j's items; [] when the listed table or chain does not exist."""
        out = read_state(self.host, "nft", "-j", *what, absent=NFT_ABSENT)
        return [] if out is None else json.loads(out)["nftables"]

    def masq_rules(self) -> "list[dict]":
        """Rules in inet cni_plugins_masquerade masq_checks."""
        return [i["rule"] for i in self.nft_json("list", "chain", "inet", "cni_plugins_masquerade",
                                                 "masq_checks") if "rule" in i]

    def reservations(self, network: str = "testnet") -> "list[str]":
        """Reserved IPs in the dataDir (not the lock or round-robin cursors)."""
        d = self.data_dir / network
        if not d.exists():
            return []
        return sorted(p.name for p in d.iterdir()
                      if p.name != "lock" and not p.name.startswith(("last_reserved_ip", ".")))

    def leftovers(self, network: str = "testnet", ctr: "Netns | None" = None) -> dict:
        """Everything an attachment may leave behind; all empty means clean."""
        out = {"veths": self.veths(), "reservations": self.reservations(network),
               "nat4": [line for line in self.nat(4) if "CNI-" in line],
               "nat6": [line for line in self.nat(6) if "CNI-" in line],
               "nft_masq": self.masq_rules(),
               "spoofchk": [c for c in self.nft("list", "table", "bridge", "nat").splitlines()
                            if "cni-br-iface" in c]}
        if ctr is not None and os.path.exists(ctr.path):
            out["container_links"] = [link["ifname"] for link in ctr.links() if link["ifname"] != "lo"]
        return {k: v for k, v in out.items() if v}

    def ping(self, ctr: Netns, address: str) -> bool:
        return ctr.sh("ping", "-c1", "-W2", address, check=False).returncode == 0


def container_ip(result: dict, family: int = 4) -> str:
    for ip in result["ips"]:
        if (":" in ip["address"]) == (family == 6):
            return ip["address"].split("/")[0]
    raise AssertionError(f"no IPv{family} address in {result}")


def shape(value: object) -> object:
    """The structure of a JSON value: keys and list lengths, not the values."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return type(value).__name__
