"""The nftables half of masquerading: the reference's table, chains and rule comments.

Where it sits: `cni.host.ipmasq` calls `setup()` when the backend is
nftables, and `parse()`/`delete()` for DEL and GC whatever the backend (with
the chain listing it read). The counterpart of the reference's
pkg/ip/ipmasq_nftables_linux.go.

Format owned here (table inet cni_plugins_masquerade):
    chain masq_checks      one rule per address:
        ip saddr == IP ip daddr != NET/LEN masquerade
        comment "<16 hex sha512(name)>-<16 hex sha512(ifname:containerID)>,
                 net: <name>, if: <ifname>, id: <containerID>"   (cut to 128)
    chain postrouting      nat hook postrouting priority 100, rebuilt on each ADD:
        ip daddr == 224.0.0.0/4 return; ip6 daddr == ff00::/8 return; goto masq_checks
  Rules are found again by the hash prefix of their comment.

Why one transaction: an ADD costs one `nft -j list chain` and one `nft -f -`,
which applies the table, the chains and the rules (and drops the rules an
earlier ADD of the same attachment left) atomically.

In the daemon's workers the same command texts go to libnftables in-process
(`use_library`, given by cni.daemon.libnft) instead of to an exec'd nft.
"""

from cni.errors import FirewallFailure
from cni.host.ipmasq import sha512_hex, split_cidr
from cni.process import find_tool, run_tool, run_tools

TABLE = "cni_plugins_masquerade"
CHAIN = "masq_checks"
COMMENT_MAX = 128
MISSING = "No such file or directory"  # nft's complaint when the table does not exist yet

TYPE_CHECKING = False  # type checkers read this as True; typing costs ~3 ms per exec
if TYPE_CHECKING:
    from collections.abc import Callable

    Library = Callable[[str, bool], "tuple[int, str, str]"]  # (text, json) -> (status, out, err)
_library: "Library | None" = None


def use_library(library: "Library | None") -> None:
    """Run nft's commands through `library` (libnftables) from now on; None: exec nft."""
    global _library
    _library = library


def in_process() -> bool:
    return _library is not None


def listing() -> "tuple[int, str, str]":
    """(status, JSON listing of our chain, stderr), through libnftables or nft."""
    if _library is not None:
        return _library(f"list chain inet {TABLE} {CHAIN}", True)
    return run_tools([(list_argv(find_tool("nft") or "nft"), None)])[0]


def apply(script: str) -> None:
    """One nft transaction (a script of commands)."""
    if _library is not None:
        status, _, stderr = _library(script, False)
        if status != 0:
            raise FirewallFailure(f"nft failed (status {status})", stderr)
        return
    run_tool([find_tool("nft") or "nft", "-f", "-"], script.encode(), what="nft")


def network_hash(network: str) -> str:
    return sha512_hex(network)[:16]


def instance_hash(network: str, ifname: str, container_id: str) -> str:
    return network_hash(network) + "-" + sha512_hex(f"{ifname}:{container_id}")[:16]


def comment(network: str, ifname: str, container_id: str) -> str:
    text = (f"{instance_hash(network, ifname, container_id)}, net: {network.replace(chr(34), '')}, "
            f"if: {ifname.replace(chr(34), '')}, id: {container_id.replace(chr(34), '')}")
    return text[:COMMENT_MAX]


def list_argv(nft: str) -> "list[str]":
    """The command listing the rules of our chain, as JSON."""
    return [nft, "-j", "list", "chain", "inet", TABLE, CHAIN]


def setup(addresses: "list[str]", network: str, ifname: str, container_id: str) -> None:
    if find_tool("nft") is None:
        raise FirewallFailure("nft not found", "install nftables, or set ipMasqBackend to iptables")
    status, text, stderr = listing()
    if status != 0 and MISSING not in stderr:
        raise FirewallFailure(f"failed to read nftables state (exit status {status})", stderr)
    prefix = instance_hash(network, ifname, container_id)
    stale = [h for h, c in parse(text if status == 0 else "") if c.startswith(prefix)]
    text = comment(network, ifname, container_id)
    t = f"inet {TABLE}"
    lines = [
        f'add table {t} {{ comment "Masquerading for plugins from '
        f'github.com/containernetworking/plugins" ; }}',
        f'add chain {t} {CHAIN} {{ comment "Masquerade traffic from certain IPs to any '
        f'(non-multicast) IP outside their subnet" ; }}',
        f"add chain {t} postrouting {{ type nat hook postrouting priority 100 ; }}",
        f"flush chain {t} postrouting",
        f"add rule {t} postrouting ip daddr == 224.0.0.0/4  return",
        f"add rule {t} postrouting ip6 daddr == ff00::/8  return",
        f"add rule {t} postrouting goto {CHAIN}",
    ]
    lines += [f"delete rule {t} {CHAIN} handle {h}" for h in stale]
    for cidr in addresses:
        family, ip, net = split_cidr(cidr)
        proto = "ip" if family == 4 else "ip6"
        lines.append(f'add rule {t} {CHAIN} {proto} saddr == {ip} {proto} daddr != {net} '
                     f'masquerade comment "{text}"')
    apply("\n".join(lines) + "\n")


def parse(listing: str) -> "list[tuple[int, str]]":
    """(handle, comment) of each rule in an `nft -j list chain` output."""
    if not listing.strip():
        return []
    import json
    try:
        items = json.loads(listing).get("nftables", [])
    except (ValueError, AttributeError) as exc:
        raise FirewallFailure("failed to parse nft -j output", str(exc)) from exc
    return [(i["rule"]["handle"], i["rule"].get("comment") or "") for i in items
            if isinstance(i, dict) and "rule" in i]


def delete(handles: "list[int]") -> None:
    if not handles:
        return
    t = f"inet {TABLE}"
    apply("".join(f"delete rule {t} {CHAIN} handle {h}\n" for h in handles))
