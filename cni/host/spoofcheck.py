"""macspoofchk: only the container's own MAC may enter the bridge from its veth.

Where it sits: `cni.plugins.bridge` calls `setup()` once the veth exists (and
registers `teardown()` as its undo), and `teardown()` on DEL. It execs `nft`
(through `cni.process`) in the plugin's network namespace, with JSON in and
out (`nft -j`), so that any interface name is safe without nft quoting rules.

Format owned here, the reference's (pkg/link/spoofcheck.go), so that either
implementation removes the other's rules:
    table bridge nat
      chain PREROUTING     type filter hook prerouting priority -300; policy accept
          iifname "<host veth>" jump cni-br-iface-<containerID>-<ifname>
      chain cni-br-iface-<ref>        jump cni-br-iface-<ref>-mac
      chain cni-br-iface-<ref>-mac    ether saddr <container MAC> return; drop
    every rule commented "macspoofchk-<containerID>-<ifname>"

It filters the L2 source MAC only: IP and ARP contents are not checked.
Teardown needs no interface name or MAC: the PREROUTING rule is found by its
comment, the chains by their names.
"""

import json

from cni.errors import FirewallFailure
from cni.process import find_tool, run_tool, run_tools

FAMILY, TABLE, BASE = "bridge", "nat", "PREROUTING"


def ref_id(container_id: str, ifname: str) -> str:
    return f"{container_id}-{ifname}"


def _chains(ref: str) -> "tuple[str, str]":
    iface = "cni-br-iface-" + ref
    return iface, iface + "-mac"


def _nft() -> str:
    nft = find_tool("nft")
    if nft is None:
        raise FirewallFailure("macspoofchk needs the nft command", "install nftables")
    return nft


def _state(nft: str) -> "tuple[set[str], list[tuple[str, int, str]]]":
    """Chain names and (chain, handle, comment) of rules in table bridge nat."""
    status, stdout, stderr = run_tools([([nft, "-j", "list", "table", FAMILY, TABLE], None)])[0]
    if status != 0:
        if "No such file or directory" in stderr:
            return set(), []
        raise FirewallFailure(f"failed to read nftables table {FAMILY} {TABLE}", stderr)
    try:
        items = json.loads(stdout).get("nftables", [])
    except (ValueError, AttributeError) as exc:
        raise FirewallFailure("failed to parse nft -j output", str(exc)) from exc
    chains = {i["chain"]["name"] for i in items if isinstance(i, dict) and "chain" in i}
    rules = [(i["rule"]["chain"], i["rule"]["handle"], i["rule"].get("comment") or "")
             for i in items if isinstance(i, dict) and "rule" in i]
    return chains, rules


def _apply(nft: str, commands: "list[dict[str, object]]") -> None:
    run_tool([nft, "-j", "-f", "-"], json.dumps({"nftables": commands}).encode(),
             what="nft (macspoofchk)")


def _rule(chain: str, comment: str, *expr: "dict[str, object]") -> "dict[str, object]":
    return {"add": {"rule": {"family": FAMILY, "table": TABLE, "chain": chain,
                             "comment": comment, "expr": list(expr)}}}


def _base_rules_removal(ref: str,
                        rules: "list[tuple[str, int, str]]") -> "list[dict[str, object]]":
    """Commands deleting this attachment's rule(s) in the base chain."""
    comment = "macspoofchk-" + ref
    return [{"delete": {"rule": {"family": FAMILY, "table": TABLE, "chain": chain,
                                 "handle": handle}}}
            for chain, handle, c in rules if chain == BASE and c == comment]


def _removal(ref: str, chains: "set[str]",
             rules: "list[tuple[str, int, str]]") -> "list[dict[str, object]]":
    """Commands deleting this attachment's base-chain rule(s) and its two chains."""
    iface, mac = _chains(ref)
    out = _base_rules_removal(ref, rules)
    present = [name for name in (iface, mac) if name in chains]
    out += [{"flush": {"chain": {"family": FAMILY, "table": TABLE, "name": n}}} for n in present]
    out += [{"delete": {"chain": {"family": FAMILY, "table": TABLE, "name": n}}} for n in present]
    return out


def setup(host_ifname: str, mac: str, ref: str) -> None:
    """Install the rules in one transaction (replacing any left by an earlier ADD)."""
    nft = _nft()
    _, rules = _state(nft)
    comment = "macspoofchk-" + ref
    iface, mac_chain = _chains(ref)
    chain = {"family": FAMILY, "table": TABLE}
    _apply(nft, [
        {"add": {"table": {"family": FAMILY, "name": TABLE}}},
        {"add": {"chain": dict(chain, name=BASE, type="filter", hook="prerouting", prio=-300,
                               policy="accept")}},
        {"add": {"chain": dict(chain, name=iface)}},
        {"add": {"chain": dict(chain, name=mac_chain)}},
        {"flush": {"chain": dict(chain, name=iface)}},
        {"flush": {"chain": dict(chain, name=mac_chain)}},
        *_base_rules_removal(ref, rules),  # replaced: an earlier ADD may have left one
        _rule(BASE, comment, {"match": {"op": "==", "left": {"meta": {"key": "iifname"}},
                                        "right": host_ifname}}, {"jump": {"target": iface}}),
        _rule(iface, comment, {"jump": {"target": mac_chain}}),
        _rule(mac_chain, comment, {"match": {"op": "==", "left": {"payload": {
            "protocol": "ether", "field": "saddr"}}, "right": mac}}, {"return": None}),
        _rule(mac_chain, comment, {"drop": None}),
    ])


def teardown(ref: str) -> None:
    """Remove this attachment's rules and chains; nothing there is success."""
    if find_tool("nft") is None:
        return  # without nft no rule of ours can exist
    nft = _nft()
    chains, rules = _state(nft)
    commands = _removal(ref, chains, rules)
    if commands:
        _apply(nft, commands)
