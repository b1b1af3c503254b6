"""rtnetlink: the only module that imports pyroute2.

Where it sits: plugins open a `Netlink` socket (inside a namespace with
`cni.host.netns.inside` when the work is in the container) and call its typed
methods; nothing else speaks netlink.

Why not `pyroute2.IPRoute`: importing any pyroute2 module runs the package
`__init__`, which imports every subsystem (asyncio, NDB, nftables...) for
~120 ms per exec, and `IPRoute(netns=...)` forks a helper. We use pyroute2's
message classes (ifinfmsg, ifaddrmsg, rtmsg: the encoding and decoding of
every attribute) with the package `__init__` bypassed (`_load`), over one plain
NETLINK_ROUTE socket of our own.

Errors: the kernel's errno comes back as `KernelError` (a NetlinkFailure,
code 107) with `.errno`, so callers branch on ENODEV/EEXIST without matching
strings. Lookups of absent links return None instead of raising.
"""

import _socket as socket  # the C module: socket.py adds ~4 ms of imports and nothing used here
import errno as _errno
import os
import struct

from cni.errors import NetlinkFailure

TYPE_CHECKING = False  # type checkers read this as True; typing costs ~3 ms per exec
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any, Protocol

    class Message(Protocol):
        """A pyroute2 rtnl message (ifinfmsg, ifaddrmsg, rtmsg), as far as this module uses it.

        pyroute2 has no type hints, and the type of a field or attribute depends on
        its name: values are Any here, at the boundary, and typed where read (Link)."""

        data: bytes

        def __getitem__(self, key: str) -> Any: ...
        def __setitem__(self, key: str, value: object) -> None: ...
        def get_attr(self, name: str) -> Any: ...
        def get_attrs(self, name: str) -> "list[Any]": ...
        def encode(self) -> object: ...
        def decode(self) -> object: ...

    # A request's netlink attributes: [name, value] pairs, a value being a nested
    # {"attrs": [...]} for a nested attribute.
    Attrs = Sequence[Sequence[object]]

NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_DUMP = 0x300
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
AF_INET = socket.AF_INET
AF_INET6 = socket.AF_INET6
IFF_UP = 0x1
IFF_PROMISC = 0x100
AF_BRIDGE = 7
RTEXT_FILTER_BRVLAN = 1 << 1
BRIDGE_FLAGS_MASTER = 1
BRIDGE_VLAN_INFO_PVID = 0x2
BRIDGE_VLAN_INFO_UNTAGGED = 0x4
SOL_NETLINK = 270
NETLINK_EXT_ACK = 11
IFA_F_TENTATIVE = 0x40
IFA_F_DADFAILED = 0x08
IFA_F_NODAD = 0x02

_classes: "dict[str, Callable[..., Message]]" = {}


def _load() -> "dict[str, Callable[..., Message]]":
    """pyroute2's rtnl message classes (ifinfmsg, ifaddrmsg, rtmsg), once per exec.

    Why not a plain import: pyroute2/__init__.py imports every subsystem
    (asyncio, NDB...: ~120 ms per exec). Even with it skipped, the message
    modules cost ~25 ms, ~16 ms of it in modules the plugin path must not
    import (pyroute2.config's multiprocessing and platform, pyroute2.netlink's
    logging, typing and traceback), all for paths a plugin never takes.
    `cni.host.pyroute2_lean` loads the same classes with each of those deferred to
    its first real use (~9 ms); its docstring has the measured breakdown.
    """
    if not _classes:
        from cni.host.pyroute2_lean import message_classes
        _classes.update(message_classes())
    return _classes


class KernelError(NetlinkFailure):
    """The kernel answered a request with an errno."""

    def __init__(self, err: int, what: str, ext: str = "") -> None:
        detail = os.strerror(err) + (f" ({ext})" if ext else "")
        super().__init__(f"{what}: {detail}")
        self.errno = err


class Link:
    """The facts about one interface that the plugins use."""

    __slots__ = ("index", "name", "kind", "mac", "flags", "mtu", "master", "operstate",
                 "peer_index", "msg")

    def __init__(self, msg: "Message") -> None:
        get = msg.get_attr
        info = get("IFLA_LINKINFO")
        self.index: int = msg["index"]
        self.name: str = get("IFLA_IFNAME") or ""
        self.kind: str = (info.get_attr("IFLA_INFO_KIND") if info else None) or ""
        self.mac: str = get("IFLA_ADDRESS") or ""
        self.flags: int = msg["flags"]
        self.mtu: int = get("IFLA_MTU") or 0
        self.master: int = get("IFLA_MASTER") or 0
        self.operstate: str = get("IFLA_OPERSTATE") or ""
        self.peer_index: int = get("IFLA_LINK") or 0
        self.msg = msg

    @property
    def up(self) -> bool:
        return bool(self.flags & IFF_UP)

    @property
    def promisc(self) -> bool:
        return bool(self.flags & IFF_PROMISC)

    def __repr__(self) -> str:
        return f"Link({self.index}, {self.name!r}, kind={self.kind!r})"


class Netlink:
    """One NETLINK_ROUTE socket, bound to the namespace it was opened in."""

    def __init__(self) -> None:
        _load()
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                  socket.NETLINK_ROUTE)
        try:
            self.sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        except OSError:
            pass
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "Netlink":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ------------------------------------------------------------

    def request(self, kind: str, msg_type: int, fields: "Mapping[str, object]", attrs: "Attrs",
                flags: int = NLM_F_ACK, what: str = "netlink request") -> "list[Message]":
        """Send one message; return the decoded replies (a dump) or [] (an ack)."""
        msg = _classes[kind]()
        for key, value in fields.items():
            msg[key] = value
        msg["attrs"] = attrs
        self.seq += 1
        msg["header"]["type"] = msg_type
        msg["header"]["flags"] = NLM_F_REQUEST | flags
        msg["header"]["sequence_number"] = self.seq
        msg.encode()
        self.sock.send(msg.data)
        return self._receive(kind, what)

    def _receive(self, kind: str, what: str) -> "list[Message]":
        replies: "list[Message]" = []
        while True:
            data = self.sock.recv(1 << 20)
            offset = 0
            while offset + 16 <= len(data):
                length, msg_type, flags, seq = struct.unpack_from("=IHHI", data, offset)
                if length < 16:
                    raise NetlinkFailure(f"{what}: malformed netlink reply")
                chunk = data[offset:offset + length]
                offset += (length + 3) & ~3
                if seq != self.seq:
                    continue
                if msg_type == NLMSG_DONE:
                    return replies
                if msg_type == NLMSG_ERROR:
                    code = struct.unpack_from("=i", chunk, 16)[0]
                    if code == 0:
                        return replies
                    raise KernelError(-code, what, _ext_ack(chunk))
                reply = _classes[kind](chunk)
                reply.decode()
                replies.append(reply)
                if not flags & 0x2:  # NLM_F_MULTI unset: a single reply
                    return replies

    # -- links ----------------------------------------------------------------

    def link(self, name: str = "", index: int = 0) -> "Link | None":
        """The link by name or index, or None when there is no such link."""
        attrs = [["IFLA_IFNAME", name]] if name else []
        try:
            replies = self.request("link", RTM_GETLINK, {"index": index}, attrs, flags=0,
                                   what=f"get link {name or index}")
        except KernelError as exc:
            if exc.errno in (_errno.ENODEV, _errno.ENOENT, _errno.EINVAL):
                return None
            raise
        return Link(replies[0]) if replies else None

    def links(self) -> "list[Link]":
        return [Link(m) for m in self.request("link", RTM_GETLINK, {}, [], flags=NLM_F_DUMP,
                                              what="dump links")]

    def set_link(self, index: int, what: str, flags: int = 0, change: int = 0,
                 attrs: "Attrs | None" = None) -> None:
        self.request("link", RTM_NEWLINK, {"index": index, "flags": flags, "change": change},
                     attrs or [], what=what)

    def set_up(self, index: int) -> None:
        self.set_link(index, f"set link {index} up", IFF_UP, IFF_UP)

    def set_down(self, index: int) -> None:
        self.set_link(index, f"set link {index} down", 0, IFF_UP)

    def delete_link(self, index: int) -> bool:
        """Delete a link; False when it was already gone."""
        try:
            self.request("link", RTM_DELLINK, {"index": index}, [], what=f"delete link {index}")
        except KernelError as exc:
            if exc.errno in (_errno.ENODEV, _errno.ENOENT):
                return False
            raise
        return True

    def create_bridge(self, name: str, mtu: int = 0, vlan_filtering: bool = False) -> bool:
        """Create a bridge; False when a link of that name already exists (EEXIST)."""
        data = [["IFLA_BR_VLAN_FILTERING", 1]] if vlan_filtering else []
        attrs: "list[list[object]]" = [["IFLA_IFNAME", name],
                                       ["IFLA_LINKINFO", {"attrs": [["IFLA_INFO_KIND", "bridge"],
                                                                    ["IFLA_INFO_DATA", {"attrs": data}]]}]]
        if mtu:
            attrs.append(["IFLA_MTU", mtu])
        try:
            self.request("link", RTM_NEWLINK, {}, attrs,
                         flags=NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, what=f"create bridge {name!r}")
        except KernelError as exc:
            if exc.errno == _errno.EEXIST:
                return False
            raise
        return True

    def create_veth(self, name: str, peer: str, peer_netns_fd: int = -1, mtu: int = 0,
                    peer_mac: str = "") -> None:
        """Create the pair `name` (here) + `peer` (in the namespace of `peer_netns_fd`,
        or here when -1) in one request. EEXIST (either name taken) raises KernelError."""
        peer_attrs: "list[list[object]]" = [["IFLA_IFNAME", peer]]
        if peer_netns_fd >= 0:
            peer_attrs.append(["IFLA_NET_NS_FD", peer_netns_fd])
        if peer_mac:
            peer_attrs.append(["IFLA_ADDRESS", peer_mac])
        if mtu:
            peer_attrs.append(["IFLA_MTU", mtu])
        info = {"attrs": [["IFLA_INFO_KIND", "veth"],
                          ["IFLA_INFO_DATA", {"attrs": [["VETH_INFO_PEER", {"attrs": peer_attrs}]]}]]}
        attrs: "list[list[object]]" = [["IFLA_IFNAME", name], ["IFLA_LINKINFO", info]]
        if mtu:
            attrs.append(["IFLA_MTU", mtu])
        self.request("link", RTM_NEWLINK, {}, attrs, flags=NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                     what=f"create veth pair {name!r}/{peer!r}")

    def set_master(self, index: int, master: int, up: bool = True) -> None:
        """Enslave a link to a bridge (and set it up in the same request)."""
        self.set_link(index, f"attach link {index} to bridge {master}", IFF_UP if up else 0,
                      IFF_UP if up else 0, [["IFLA_MASTER", master]])

    def set_port(self, index: int, **flags: bool) -> None:
        """Bridge-port flags of an enslaved link: hairpin=, isolated= (IFLA_BRPORT_*)."""
        names = {"hairpin": "IFLA_BRPORT_MODE", "isolated": "IFLA_BRPORT_ISOLATED"}
        data = [[names[k], int(v)] for k, v in flags.items()]
        info = {"attrs": [["IFLA_INFO_SLAVE_KIND", "bridge"],
                          ["IFLA_INFO_SLAVE_DATA", {"attrs": data}]]}
        self.set_link(index, f"set bridge port flags of link {index}",
                      attrs=[["IFLA_LINKINFO", info]])

    def set_promisc(self, index: int, on: bool = True) -> None:
        self.set_link(index, f"set promiscuous mode on link {index}", IFF_PROMISC if on else 0,
                      IFF_PROMISC)

    def set_mac(self, index: int, mac: str) -> None:
        self.set_link(index, f"set MAC {mac} on link {index}", attrs=[["IFLA_ADDRESS", mac]])

    # -- bridge VLANs (AF_BRIDGE) -----------------------------------------------

    def bridge_vlans(self, index: int) -> "list[tuple[int, int]]":
        """(vid, flags) entries of one bridge port (flags: PVID 0x2, UNTAGGED 0x4)."""
        out = []
        for m in self.request("link", RTM_GETLINK, {"family": AF_BRIDGE},
                              [["IFLA_EXT_MASK", RTEXT_FILTER_BRVLAN]], flags=NLM_F_DUMP,
                              what="dump bridge VLANs"):
            if m["index"] != index:
                continue
            spec = m.get_attr("IFLA_AF_SPEC")
            for info in spec.get_attrs("IFLA_BRIDGE_VLAN_INFO") if spec is not None else []:
                out.append((info["vid"], info["flags"]))
        return out

    def bridge_vlan(self, index: int, entries: "list[tuple[int, int]]", add: bool = True) -> None:
        """Add (or delete) (vid, flags) entries on a bridge port, in one request."""
        attrs: "list[list[object]]" = [["IFLA_BRIDGE_FLAGS", BRIDGE_FLAGS_MASTER]]
        attrs += [["IFLA_BRIDGE_VLAN_INFO", {"flags": flags, "vid": vid}] for vid, flags in entries]
        self.request("link", RTM_SETLINK if add else RTM_DELLINK,
                     {"family": AF_BRIDGE, "index": index}, [["IFLA_AF_SPEC", {"attrs": attrs}]],
                     what=f"{'add' if add else 'delete'} VLANs {[v for v, _ in entries]} "
                          f"on link {index}")

    # -- addresses ------------------------------------------------------------

    def addresses(self, index: int = 0, family: int = 0) -> "list[tuple[str, int, int]]":
        """(address/prefix, scope, flags) of one link (or all when index is 0)."""
        out = []
        for m in self.request("addr", RTM_GETADDR, {"family": family}, [], flags=NLM_F_DUMP,
                              what="dump addresses"):
            if index and m["index"] != index:
                continue
            address = m.get_attr("IFA_ADDRESS") or m.get_attr("IFA_LOCAL")
            flags = m.get_attr("IFA_FLAGS")
            out.append((f"{address}/{m['prefixlen']}", m["scope"],
                        flags if flags is not None else m["flags"]))
        return out

    def add_address(self, index: int, cidr: str, exclusive: bool = True,
                    nodad: bool = False) -> None:
        """Add `ip/prefix` to a link (EEXIST raises unless exclusive=False); `nodad`
        makes an IPv6 address usable at once instead of tentative during DAD."""
        address, prefix = cidr.split("/")
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        attrs: "list[list[object]]" = [["IFA_LOCAL", address], ["IFA_ADDRESS", address]]
        if family == socket.AF_INET:
            attrs.append(["IFA_BROADCAST", _broadcast(address, int(prefix))])
        elif nodad:
            attrs.append(["IFA_FLAGS", IFA_F_NODAD])
        try:
            self.request("addr", RTM_NEWADDR,
                         {"family": family, "prefixlen": int(prefix), "index": index},
                         attrs, flags=NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                         what=f"add address {cidr}")
        except KernelError as exc:
            if exclusive or exc.errno != _errno.EEXIST:
                raise

    def delete_address(self, index: int, cidr: str) -> None:
        address, prefix = cidr.split("/")
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.request("addr", RTM_DELADDR, {"family": family, "prefixlen": int(prefix),
                                           "index": index},
                     [["IFA_LOCAL", address], ["IFA_ADDRESS", address]],
                     what=f"delete address {cidr}")

    # -- routes ---------------------------------------------------------------

    def add_route(self, dst: str, index: int, gw: str = "", priority: int = 0,
                  table: "int | None" = None, scope: "int | None" = None, mtu: int = 0,
                  advmss: int = 0) -> None:
        """Add a route, ECMP-style as the reference does (create without exclusive:
        several routes per prefix may coexist; an identical one is not an error)."""
        net, prefix = dst.split("/")
        family = socket.AF_INET6 if ":" in net else socket.AF_INET
        attrs: "list[list[object]]" = [["RTA_OIF", index]]
        if int(prefix) or (net not in ("0.0.0.0", "::")):
            attrs.append(["RTA_DST", net])
        if gw:
            attrs.append(["RTA_GATEWAY", gw])
        if priority:
            attrs.append(["RTA_PRIORITY", priority])
        if table is not None:
            attrs.append(["RTA_TABLE", table])
        metrics = [[k, v] for k, v in (("RTAX_MTU", mtu), ("RTAX_ADVMSS", advmss)) if v]
        if metrics:
            attrs.append(["RTA_METRICS", {"attrs": metrics}])
        if scope is None:
            scope = 0 if gw else 253  # universe via a gateway, link scope otherwise
        fields = {"family": family, "dst_len": int(prefix), "table": min(table or 254, 255),
                  "proto": 3, "scope": scope, "type": 1}  # proto boot, unicast
        try:
            self.request("route", RTM_NEWROUTE, fields, attrs, flags=NLM_F_ACK | NLM_F_CREATE,
                         what=f"add route {dst}" + (f" via {gw}" if gw else ""))
        except KernelError as exc:
            if exc.errno != _errno.EEXIST:
                raise


    def route_list(self, family: int) -> "list[RouteInfo]":
        """Every route of one family in every table, as plain RouteInfo values."""
        out = []
        for m in self.request("route", RTM_GETROUTE, {"family": family}, [], flags=NLM_F_DUMP,
                              what="dump routes"):
            dst = m.get_attr("RTA_DST") or ("::" if family == socket.AF_INET6 else "0.0.0.0")
            out.append(RouteInfo(f"{dst}/{m['dst_len']}", m.get_attr("RTA_GATEWAY") or "",
                                 m.get_attr("RTA_OIF") or 0, m.get_attr("RTA_TABLE") or m["table"],
                                 m.get_attr("RTA_PRIORITY") or 0, m["scope"]))
        return out

    def wait_dad(self, index: int, timeout: float = 5.0) -> None:
        """Wait until no IPv6 address of the link is tentative (bounded).

        Raises NetlinkFailure when DAD failed, or when an address is still
        tentative at the deadline while the link is operationally up (a link
        that is down never finishes DAD, and that is not an error here)."""
        import time
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            flags = [(a, f) for a, _, f in self.addresses(index, socket.AF_INET6)]
            failed = [a for a, f in flags if f & IFA_F_DADFAILED]
            if failed:
                raise NetlinkFailure(f"IPv6 duplicate address detection failed for {failed[0]}")
            tentative = [a for a, f in flags if f & IFA_F_TENTATIVE]
            if not tentative:
                return
            if time.monotonic() >= deadline:
                link = self.link(index=index)
                if link is not None and link.operstate == "UP":
                    raise NetlinkFailure(f"IPv6 address {tentative[0]} still tentative after "
                                         f"{timeout:g} s of duplicate address detection")
                return
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


class RouteInfo:
    """One route as the plugins compare it (dst always in CIDR form)."""

    __slots__ = ("dst", "gw", "oif", "table", "priority", "scope")

    def __init__(self, dst: str, gw: str, oif: int, table: int, priority: int, scope: int) -> None:
        self.dst = dst
        self.gw = gw
        self.oif = oif
        self.table = table
        self.priority = priority
        self.scope = scope

    def __repr__(self) -> str:
        return f"RouteInfo({self.dst!r}, gw={self.gw!r}, oif={self.oif}, table={self.table})"


def _broadcast(address: str, prefix: int) -> str:
    value = struct.unpack("!I", socket.inet_aton(address))[0]
    host_mask = (1 << (32 - prefix)) - 1 if prefix < 32 else 0
    return socket.inet_ntoa(struct.pack("!I", value | host_mask))


def _ext_ack(chunk: bytes) -> str:
    """The kernel's extended-ack message text (NLMSGERR_ATTR_MSG), if any."""
    length = struct.unpack_from("=I", chunk, 0)[0]
    offset = 16 + 4 + 16  # error code + the echoed request header
    while offset + 4 <= length:
        nla_len, nla_type = struct.unpack_from("=HH", chunk, offset)
        if nla_len < 4:
            break
        if nla_type == 1:
            return chunk[offset + 4:offset + nla_len].rstrip(b"\0").decode("utf-8", "replace")
        offset += (nla_len + 3) & ~3
    return ""
