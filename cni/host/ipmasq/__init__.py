"""Masquerade (ipMasq) for bridge attachments: the backend choice and the operations.

Where it sits: `cni.plugins.bridge` calls `setup()` at the end of an L3 ADD,
`teardown()` on DEL (and to undo a failed ADD) and `gc()` on GC. Everything
runs in the plugin's own network namespace (the host), by exec'ing the
firewall tools found on PATH (through `cni.process`); nothing here is
imported unless ipMasq is on. Split as the reference splits pkg/ip: this
module dispatches (ipmasq_linux.go), `iptables` and `nftables` each own their
format, byte for byte the reference's (ipmasq_iptables_linux.go,
ipmasq_nftables_linux.go), so that a node can switch implementations and
either one cleans up the other's rules.

Backend: the configured one (ipMasqBackend), else iptables when its tools are
there, else nftables. Teardown and GC clean both, whichever set up the rules.

Speed: the reference execs iptables once per rule and per check. Here each
family costs one `iptables-save -t nat` (to read) and one
`iptables-restore --noflush --wait` (one atomic batch); nftables one listing
and one `nft -f -` transaction; the reads of teardown and GC (both iptables
families and nftables) run concurrently.
"""

from cni.errors import FirewallFailure
from cni.process import find_tool, run_tools

TYPE_CHECKING = False  # type checkers read this as True; typing costs ~3 ms per exec

MULTICAST = {4: "224.0.0.0/4", 6: "ff00::/8"}


# -- shared by both formats (pure) ------------------------------------------------

def sha512_hex(text: str) -> str:
    # The builtin module, not hashlib: hashlib loads OpenSSL (~3 ms per exec).
    if TYPE_CHECKING:  # typeshed has no stub for _sha512; hashlib's sha512 is the same API
        from hashlib import sha512
    else:
        try:
            from _sha512 import sha512  # Python 3.11
        except ImportError:  # pragma: no cover - 3.12+ renamed it
            from hashlib import sha512
    return sha512(text.encode()).hexdigest()


def split_cidr(cidr: str) -> "tuple[int, str, str]":
    """'10.1.2.3/24' -> (4, '10.1.2.3', '10.1.2.0/24')."""
    import ipaddress
    iface = ipaddress.ip_interface(cidr)
    return iface.version, str(iface.ip), str(iface.network)


# -- backend choice ----------------------------------------------------------------

def iptables_usable(family: int = 4) -> bool:
    from cni.host.ipmasq.iptables import TOOLS
    return all(find_tool(t) for t in TOOLS[family])


def nftables_usable() -> bool:
    """nft on PATH, as the reference decides; in the daemon libnftables then runs its
    commands, but the choice (and the refusal without nft) stays the exec path's."""
    return find_tool("nft") is not None


def choose_backend(configured: "str | None") -> str:
    """The configured backend, else iptables when usable, else nftables (as the reference)."""
    if configured:
        return configured
    if not iptables_usable() and nftables_usable():
        return "nftables"
    return "iptables"


# -- public operations ---------------------------------------------------------------

def setup(backend: str, addresses: "list[str]", network: str, ifname: str,
          container_id: str) -> None:
    """Masquerade traffic from each `ip/prefix` to anything outside its subnet."""
    if backend == "nftables":
        from cni.host.ipmasq import nftables
        nftables.setup(addresses, network, ifname, container_id)
    else:
        from cni.host.ipmasq import iptables
        iptables.setup(addresses, network, container_id)


def teardown(network: str, ifname: str, container_id: str) -> None:
    """Remove this attachment's rules from both backends (as the reference does: the
    attachment may date from another configuration). A backend's failure only counts
    when its tools are there."""
    from cni.host.ipmasq import iptables, nftables
    errors = []
    reads = _reads(nft=nftables_usable())
    for family in (4, 6):
        if family in reads:
            try:
                iptables.teardown(family, reads[family], iptables.chain_name(network, container_id))
            except FirewallFailure as exc:
                errors.append(str(exc))
    if "nft" in reads:
        prefix = nftables.instance_hash(network, ifname, container_id)
        try:
            nftables.delete([h for h, c in nftables.parse(reads["nft"]) if c.startswith(prefix)])
        except FirewallFailure as exc:
            errors.append(str(exc))
    if errors:
        raise FirewallFailure("failed to remove masquerade rules", "; ".join(errors))


def gc(network: str, valid: "list[tuple[str, str]]") -> None:
    """Remove the rules of this network whose (containerID, ifname) is not valid.

    iptables chains carry no ifname: a chain stays while its container ID has any
    valid attachment. nftables rules are matched by their full comment."""
    from cni.host.ipmasq import iptables, nftables
    errors = []
    reads = _reads(nft=nftables_usable())
    valid_ids = {cid for cid, _ in valid}
    for family in (4, 6):
        if family not in reads:
            continue
        stale = sorted(iptables.owners(reads[family], network) - valid_ids)
        try:
            iptables.teardown(family, reads[family],
                              *(iptables.chain_name(network, cid) for cid in stale))
        except FirewallFailure as exc:
            errors.append(str(exc))
    if "nft" in reads:
        keep = {nftables.comment(network, ifname, cid) for cid, ifname in valid}
        prefix = nftables.network_hash(network) + "-"
        try:
            nftables.delete([h for h, c in nftables.parse(reads["nft"])
                             if c.startswith(prefix) and c not in keep])
        except FirewallFailure as exc:
            errors.append(str(exc))
    if errors:
        raise FirewallFailure("failed to garbage-collect masquerade rules", "; ".join(errors))


def _reads(nft: bool) -> "dict[int | str, str]":
    """Concurrently: iptables-save -t nat per family (where usable), the nft chain listing.
    Returns {4: text, 6: text, "nft": json text}; a missing table reads as empty."""
    from cni.host.ipmasq import iptables, nftables
    jobs: "list[tuple[list[str], bytes | None]]" = []
    keys: "list[int | str]" = []  # 4, 6 (iptables-save of that family), "nft"
    for family in (4, 6):
        save = find_tool(iptables.TOOLS[family][0])
        if save and find_tool(iptables.TOOLS[family][1]):
            jobs.append(([save, "-t", "nat"], None))
            keys.append(family)
    if nft and not nftables.in_process():
        jobs.append((nftables.list_argv(find_tool("nft") or "nft"), None))
        keys.append("nft")
    results = run_tools(jobs) if jobs else []
    if nft and nftables.in_process():
        keys.append("nft")
        results.append(nftables.listing())
    out: "dict[int | str, str]" = {}
    for key, (status, stdout, stderr) in zip(keys, results, strict=True):
        if status != 0 and not (key == "nft" and nftables.MISSING in stderr):
            raise FirewallFailure(f"failed to read {'nftables' if key == 'nft' else 'iptables'} "
                                  f"state (exit status {status})", stderr)
        out[key] = stdout if status == 0 else ""
    return out
