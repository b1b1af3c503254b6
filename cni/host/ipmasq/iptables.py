"""The iptables half of masquerading: the reference's chains in table nat, one batch per family.

Where it sits: `cni.host.ipmasq` calls `setup()` when the backend is
iptables, and `teardown()`/`owners()` for DEL and GC whatever the backend
(with the `iptables-save -t nat` text it read). The counterpart of the
reference's pkg/ip/ipmasq_iptables_linux.go.

Format owned here (table nat, one chain per (network, container), ifname
ignored as in the reference):
    chain    CNI-<first 24 hex of sha512(name + containerID)>
    comment  name: "<name>" id: "<containerID>"
    :CNI-x                 -d <ip net/prefix> -j ACCEPT, then
                           ! -d 224.0.0.0/4 (v6: ff00::/8) -j MASQUERADE
    POSTROUTING            -s <ip>/32 (v6 /128) -j CNI-x
  each rule carrying the comment. The reference needs the container addresses
  to find its POSTROUTING jumps; we find them by their target chain, whose
  name depends only on (name, containerID), so DEL works when the netns and
  the interface are gone (the reference leaks the chain then).

Why batches: the reference execs iptables once per rule; here a family costs
one `iptables-save -t nat` and one `iptables-restore --noflush --wait`, whose
batch is applied atomically.
"""

from cni.errors import FirewallFailure
from cni.host.ipmasq import MULTICAST, sha512_hex, split_cidr
from cni.process import find_tool, run_tool

TOOLS = {4: ("iptables-save", "iptables-restore"), 6: ("ip6tables-save", "ip6tables-restore")}


def chain_name(network: str, container_id: str) -> str:
    return "CNI-" + sha512_hex(network + container_id)[:24]


def comment(network: str, container_id: str) -> str:
    """The comment as Go's %q prints it (names and IDs are validated: no escapes needed)."""
    return f'name: "{network}" id: "{container_id}"'


def _quoted(text: str) -> str:
    """A comment as iptables-save prints it (and iptables-restore reads it)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def setup(addresses: "list[str]", network: str, container_id: str) -> None:
    chain = chain_name(network, container_id)
    quoted = _quoted(comment(network, container_id))
    by_family: "dict[int, list[tuple[str, str]]]" = {4: [], 6: []}
    for cidr in addresses:
        family, ip, net = split_cidr(cidr)
        by_family[family].append((ip, net))
    for family, pairs in by_family.items():
        if not pairs:
            continue
        saved = run_tool([_tool(TOOLS[family][0]), "-t", "nat"], what=TOOLS[family][0]).splitlines()
        # Declaring the chain creates it, or (with --noflush) empties it: its content is
        # rewritten whole, which makes a repeated ADD converge like AppendUnique does.
        lines = ["*nat", f":{chain} - [0:0]"]
        lines += [f"-A {chain} -d {net} -m comment --comment {quoted} -j ACCEPT"
                  for _, net in pairs]
        lines.append(f"-A {chain} ! -d {MULTICAST[family]} -m comment --comment {quoted} "
                     f"-j MASQUERADE")
        host = 32 if family == 4 else 128
        for ip, _ in pairs:
            jump = f"-A POSTROUTING -s {ip}/{host} -m comment --comment {quoted} -j {chain}"
            if jump not in saved:
                lines.append(jump)
        _restore(family, lines)


def teardown(family: int, saved: str, *chains: str) -> None:
    """Delete every rule jumping to each chain, then flush and delete it (one batch)."""
    lines = ["*nat"]
    for chain in chains:
        lines += ["-D" + line[2:] for line in saved.splitlines()
                  if line.startswith("-A ") and line.endswith(f" -j {chain}")]
    for chain in chains:
        if f"\n:{chain} " in "\n" + saved:
            lines += [f"-F {chain}", f"-X {chain}"]
    if len(lines) > 1:
        _restore(family, lines)


def owners(saved: str, network: str) -> "set[str]":
    """Container IDs of this network's chains, read back from the rule comments."""
    marker = f'--comment "name: \\"{network}\\" id: \\"'
    found = set()
    for line in saved.splitlines():
        start = line.find(marker)
        if not line.startswith("-A ") or start < 0:
            continue
        rest = line[start + len(marker):]
        cid = rest[:rest.find('\\"')] if '\\"' in rest else ""
        # Trust a comment only if the chain it sits in (or jumps to) is the one its
        # (network, id) hashes to: a foreign rule cannot make us delete other chains.
        chain = chain_name(network, cid)
        if line.startswith(f"-A {chain} ") or line.endswith(f" -j {chain}"):
            found.add(cid)
    return found


def _restore(family: int, lines: "list[str]") -> None:
    script = ("\n".join([*lines, "COMMIT"]) + "\n").encode()
    run_tool([_tool(TOOLS[family][1]), "--noflush", "--wait"], script, what=TOOLS[family][1])


def _tool(name: str) -> str:
    path = find_tool(name)
    if path is None:
        raise FirewallFailure(f"{name} not found", "install iptables, or set ipMasqBackend "
                              "to nftables")
    return path
