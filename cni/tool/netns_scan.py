"""Evidence of live attachments: which network namespaces exist and what they hold.

Where it sits: the operator side only. `pycni gc` asks `alive(netns)` to tell a
cached attachment of a running container from a stale one; `pycni ipam leaks`
asks `scan()` which namespace holds which address, so a reservation that no
live attachment explains can be told apart from one a container still uses.
Read-only: it enters namespaces (setns, and always back) and dumps links and
addresses; it never changes anything. Needs root (CAP_SYS_ADMIN for setns).

Namespaces are found where runtimes keep them: the bind mounts in /run/netns
(ip netns, containerd, podman, CRI-O), every other nsfs mount in our mount
table (docker's /run/docker/netns, kubelet-style paths), and the namespace of
every process (/proc/<pid>/ns/net). Each is visited once (by inode).
"""

import os

from cni.errors import CNIError, NetnsNotFound, NotANetns
from cni.host import netns as _netns

TYPE_CHECKING = False  # type checkers read this as True; nothing below runs
if TYPE_CHECKING:
    from cni.host.netlink import Link

RUN_NETNS = "/run/netns"


class Holder:
    """An address seen on an interface inside a namespace."""

    __slots__ = ("netns", "ifname", "address")

    def __init__(self, netns: str, ifname: str, address: str) -> None:
        self.netns = netns
        self.ifname = ifname
        self.address = address

    def __repr__(self) -> str:
        return f"Holder({self.netns!r}, {self.ifname!r}, {self.address!r})"


def can_probe() -> bool:
    """Entering namespaces needs root; without it no evidence can be trusted."""
    return os.geteuid() == 0


def alive(path: str) -> bool:
    """Whether `path` is (still) a network namespace."""
    if not path:
        return False
    try:
        fd = _netns.open_netns(path)
    except (NetnsNotFound, NotANetns):
        return False
    os.close(fd)
    return True


def namespace_paths(extra: "list[str] | None" = None) -> "list[str]":
    """One path per distinct live network namespace (extra paths first, e.g. from a cache)."""
    seen: "set[tuple[int, int]]" = set()
    paths = []
    for path in [*(extra or []), *_run_netns(), *_nsfs_mounts(), *_process_namespaces()]:
        try:
            st = os.stat(path)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        paths.append(path)
    return paths


def _run_netns() -> "list[str]":
    try:
        return [os.path.join(RUN_NETNS, n) for n in sorted(os.listdir(RUN_NETNS))]
    except OSError:
        return []


def _nsfs_mounts() -> "list[str]":
    """Mount points of nsfs files (bind-mounted namespaces) from our mount table."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        left, _, right = line.partition(" - ")
        fields = left.split()
        if right.split()[:1] == ["nsfs"] and len(fields) > 4:
            out.append(fields[4].replace("\\040", " "))
    return out


def _process_namespaces() -> "list[str]":
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return []
    return [f"/proc/{pid}/ns/net" for pid in pids]


class Scan:
    """What the live namespaces hold: addresses, and host veths we cannot explain.

    `held`: address -> where it is configured. `hidden_peers`: host-side veths
    (in our own namespace; with `bridge`, only that bridge's ports) whose peer
    is in no namespace we could visit. `unreadable`: namespaces that exist but
    could not be inspected. Either way a container we cannot see may own an
    address, so nothing should be called a leak while there are any.
    """

    __slots__ = ("held", "hidden_peers", "unreadable", "namespaces")

    def __init__(self) -> None:
        self.held: "dict[str, list[Holder]]" = {}
        self.hidden_peers: "list[str]" = []
        self.unreadable: "list[str]" = []
        self.namespaces = 0


def scan(extra: "list[str] | None" = None, bridge: str = "") -> Scan:
    """Visit every live namespace once and collect the evidence."""
    import ipaddress
    result = Scan()
    own = os.stat("/proc/self/ns/net")
    host_links: "list[Link]" = []
    peers: "set[tuple[int, int]]" = set()  # (index, peer index) of every veth seen
    for path in namespace_paths(extra):
        try:
            st = os.stat(path)
            links, holders = _visit(path)
        except (OSError, CNIError):
            if alive(path):  # not merely gone while we looked
                result.unreadable.append(path)
            continue
        result.namespaces += 1
        if (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino):
            host_links = links
        peers.update((link.index, link.peer_index) for link in links if link.kind == "veth")
        for holder in holders:
            canonical = str(ipaddress.ip_address(holder.address))
            result.held.setdefault(canonical, []).append(holder)
    master = next((link.index for link in host_links if link.name == bridge), -1) if bridge else None
    result.hidden_peers = [
        link.name for link in host_links
        if link.kind == "veth" and (master is None or link.master == master)
        and (link.peer_index, link.index) not in peers]
    return result


def _visit(path: str) -> "tuple[list[Link], list[Holder]]":
    """The links of the namespace at `path` and every address on them."""
    from cni.host.netlink import Netlink
    fd = _netns.open_netns(path)
    try:
        with _netns.inside(fd), Netlink() as nl:
            links = nl.links()
            holders = [Holder(path, link.name, cidr.split("/")[0])
                       for link in links for cidr, _, _ in nl.addresses(link.index)]
    finally:
        os.close(fd)
    return links, holders
