"""bridge: attach a container to a Linux bridge on the host through a veth pair.

A drop-in replacement for the reference `bridge` plugin (containernetworking/
plugins): same configuration fields, same kernel state, same result shape, same
masquerade and macspoofchk rule names, so a node can switch implementations.
Where it differs, it is on purpose: typed error codes, a failed ADD undoes
everything it did, DEL cleans up without the netns, GC and STATUS exist.

ADD, top to bottom (each change registers its undo at once; a failure rolls back
every earlier change, but never the bridge, its address or forwarding, which
concurrent ADDs share, and the error names the step):
  1. parse the config (`BridgeConf`), refuse impossible combinations;
  2. open CNI_NETNS; CNI_IFNAME must not exist there;
  3. IPAM ADD (L3 only; undo = IPAM DEL), before any host change, so that a
     refused allocation (pool exhausted, store unusable) leaves nothing at all;
  4. ensure the bridge (create or reuse; EEXIST from a racing ADD is normal),
     promisc, accept_ra=0, up;
  5. the veth pair, its container end created directly in the netns as
     CNI_IFNAME, host end `veth` + 8 random hex (undo = delete it);
  6. host end: accept_ra=0, master = bridge, up, hairpin, isolation, VLANs;
     macspoofchk rules (undo = remove them);
  7. L3: container sysctls, addresses, up, DAD wait, routes; gateway address on
     the bridge (or on `<bridge>.<vlan>`), MAC pinned, forwarding on; ipMasq
     (undo = remove the rules). L2: container end up (unless disabled);
  8. wait for the host port to be operationally up, re-read the MACs, build
     the result: interfaces [bridge, host veth, container], ips on index 2.
DEL: idempotent; deletes the container end (only if it is ours), then IPAM DEL,
macspoofchk and masquerade removal, each attempted even when another failed
or the netns is gone. CHECK: the reference's checks against prevResult.
GC: IPAM GC plus masquerade rules of attachments not in the valid list.
STATUS: delegated to the IPAM.
"""

import errno
import os

from cni import delegate, faults, log, validate
from cni import version as _version
from cni.errors import (
    BridgeConflict,
    CheckFailed,
    CNIError,
    DelegateFailure,
    IncompatibleVersion,
    InterfaceExists,
    InvalidConfig,
    InvalidEnvironment,
    NetlinkFailure,
    NetnsNotFound,
    NotANetns,
)
from cni.host import netns, sysctl
from cni.host.netlink import (
    AF_INET,
    AF_INET6,
    BRIDGE_VLAN_INFO_PVID,
    BRIDGE_VLAN_INFO_UNTAGGED,
    KernelError,
    Link,
    Netlink,
)
from cni.netconf import NetConf
from cni.plugins import LEAVES
from cni.request import Request
from cni.schema import Config, key
from cni.types import Interface, IPConfig, Result, Route

TYPE_CHECKING = False  # type checkers read this as True; typing costs ~3 ms per exec
if TYPE_CHECKING:
    from collections.abc import Callable

NAME = "bridge"
DEFAULT_BRIDGE = "cni0"
VETH_NAME_TRIES = 10
# Seconds between looks at the host port's operstate (the reference sleeps
# 0, 50, 500, 1000, 1000 ms; it is usually up within a millisecond).
PORT_WAIT = (0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 1.0)
DAD_TIMEOUT = 5.0
ZERO_MAC = "00:00:00:00:00:00"


# -- configuration --------------------------------------------------------------

def _bridge_name(value: str) -> str:
    return validate.ifname(value or DEFAULT_BRIDGE, InvalidConfig)


def _masq_backend(value: str) -> str:
    if value not in ("iptables", "nftables"):
        raise InvalidConfig(f'unknown ipmasq backend "{value}"')
    return value


def _mtu(value: int) -> int:
    if not 0 <= value <= 65535:
        raise InvalidConfig(f"invalid MTU {value}", "mtu must be 0 (kernel default) or a link MTU "
                            "up to 65535")
    return value


def _vlan(value: int) -> int:
    if not 0 <= value <= 4094:
        raise InvalidConfig(f"invalid VLAN ID {value} (must be between 0 and 4094)")
    return value


def _ipam_type(value: str) -> str:
    if value:  # it becomes an exec path: refuse '../x' before anything changes
        validate.plugin_type(value, "ipam.type")
    return value


def mac_address(value: str, error: type = InvalidConfig, where: str = "MAC address") -> str:
    """'0A-58-...' -> '0a:58:...'; '' stays '' (unset)."""
    text = value.replace("-", ":").lower()
    parts = text.split(":")
    if text and (len(parts) != 6 or not all(
            len(p) == 2 and all(c in "0123456789abcdef" for c in p) for p in parts)):
        raise error(f"invalid {where} {value!r}", "a MAC address looks like 0a:58:0a:f4:00:02")
    return text


def _trunk_entry(entry: "TrunkEntry") -> None:
    """The reference's checks of one vlanTrunk entry (a single id, or minID..maxID)."""
    low, high = entry.min_id, entry.max_id
    if low is not None and high is not None:
        if not 0 < low <= 4094:
            raise InvalidConfig("incorrect trunk minID parameter", field=entry.path("minID"))
        if not 0 < high <= 4094:
            raise InvalidConfig("incorrect trunk maxID parameter", field=entry.path("maxID"))
        if high < low:
            raise InvalidConfig("minID is greater than maxID in trunk parameter",
                                field=entry.path("minID"))
    elif low is None and high is not None:
        raise InvalidConfig("minID and maxID should be configured simultaneously, minID is "
                            "missing", field=entry.path("minID"))
    elif low is not None:
        raise InvalidConfig("minID and maxID should be configured simultaneously, maxID is "
                            "missing", field=entry.path("maxID"))
    if entry.id is not None and not 0 < entry.id <= 4094:
        raise InvalidConfig("incorrect trunk id parameter", field=entry.path("id"))


class TrunkEntry(Config):
    """One vlanTrunk entry: a single `id`, or a `minID`..`maxID` range (1..4094)."""

    id: int | None = key("id")
    min_id: int | None = key("minID")
    max_id: int | None = key("maxID")
    RULES = (_trunk_entry,)


class BridgeIPAM(Config):
    type: str = key("type", "", check=_ipam_type)


class MacArg(Config):
    """runtimeConfig (the `mac` capability) and args.cni: the container's MAC."""

    mac: str = key("mac", "", check=mac_address)


class BridgeArgs(Config):
    cni: MacArg = key("cni")


def _derive(conf: "BridgeConf") -> None:
    conf.is_gateway = conf.is_gateway or conf.is_default_gateway
    vids: "set[int]" = set()
    for entry in conf.trunk or ():
        if entry.min_id is not None and entry.max_id is not None:
            vids.update(range(entry.min_id, entry.max_id + 1))
        if entry.id is not None:
            vids.add(entry.id)
    conf.vlan_trunk = sorted(vids) or None if conf.trunk is not None else None


def _no_hairpin_with_promisc(conf: "BridgeConf") -> None:
    if conf.hairpin and conf.promisc:
        raise InvalidConfig("cannot set hairpin mode and promiscuous mode at the same time",
                            field="promiscMode")


def _no_ipam_without_interface(conf: "BridgeConf") -> None:
    if conf.disable_container_iface and conf.layer3:
        raise InvalidConfig("cannot use IPAM when DisableContainerInterface flag is set",
                            field="disableContainerInterface")


def _result_fits_version(conf: "BridgeConf") -> None:
    """A result before 0.3.0 cannot carry one without an address: refused before any
    change (the reference sets everything up, then fails to print)."""
    if not conf.layer3 and not _version.has_interfaces(conf.net.cni_version):
        raise IncompatibleVersion("cannot convert: no valid IP addresses",
                                  f"a {conf.net.cni_version} result needs an IP address: "
                                  "configure an ipam, or use cniVersion 0.3.0 or later",
                                  field="ipam")


class BridgeConf(Config):
    """Every key of the reference bridge (containernetworking/plugins 1.9), same names,
    defaults and ranges; the spec's own keys are in `net` (cni.netconf.NetConf)."""

    bridge: str = key("bridge", DEFAULT_BRIDGE, check=_bridge_name)
    is_gateway: bool = key("isGateway", False)
    is_default_gateway: bool = key("isDefaultGateway", False)
    force_address: bool = key("forceAddress", False)
    ip_masq_backend: str | None = key("ipMasqBackend", None, check=_masq_backend)
    mtu: int = key("mtu", 0, check=_mtu)
    hairpin: bool = key("hairpinMode", False)
    promisc: bool = key("promiscMode", False)
    vlan: int = key("vlan", 0, check=_vlan)
    trunk: list[TrunkEntry] | None = key("vlanTrunk", None)
    preserve_default_vlan: bool = key("preserveDefaultVlan", False)
    enable_dad: bool = key("enabledad", False)
    macspoofchk: bool = key("macspoofchk", False)
    disable_container_iface: bool = key("disableContainerInterface", False)
    port_isolation: bool = key("portIsolation", False)
    ipam: BridgeIPAM = key("ipam")
    args: BridgeArgs = key("args")
    runtime_config: MacArg = key("runtimeConfig")
    RULES = (_derive,)
    ADD_RULES = (_no_hairpin_with_promisc, _no_ipam_without_interface, _result_fits_version)

    net: NetConf
    vlan_trunk: "list[int] | None"  # the VIDs of `trunk`, sorted, deduplicated (None: unset)
    mac: str  # the container's MAC: runtimeConfig.mac > args.cni.mac > CNI_ARGS MAC

    @property
    def ip_masq(self) -> bool:
        return self.net.ip_masq

    @property
    def ipam_type(self) -> str:
        return self.ipam.type

    @property
    def layer3(self) -> bool:
        return bool(self.ipam.type)

    @property
    def vlan_filtering(self) -> bool:
        return bool(self.vlan) or self.vlan_trunk is not None


CONFIG = BridgeConf


def ipam_call(command: str, conf: BridgeConf, req: Request) -> "Result | None":
    """The verb on the configured IPAM (ours in-process when it is ours)."""
    return delegate.call(command, conf.ipam_type, req, LEAVES)


def load(req: Request) -> BridgeConf:
    """The request's config as a BridgeConf (the ADD rules only for ADD)."""
    conf = BridgeConf.parse(req.conf.raw, req.command, net=req.conf)
    conf.mac = conf.runtime_config.mac or conf.args.cni.mac or \
        mac_address(req.args.get("MAC", ""), InvalidEnvironment, "CNI_ARGS MAC")
    return conf


# -- ADD ---------------------------------------------------------------------------

class Undo:
    """The undo stack of one ADD: push right after each change, roll back on failure."""

    __slots__ = ("steps", "step")

    def __init__(self) -> None:
        self.steps: "list[tuple[str, Callable[..., object], tuple[object, ...]]]" = []
        self.step = "parse config"

    def at(self, step: str) -> None:
        self.step = step

    def push(self, what: str, fn: "Callable[..., object]", *args: object) -> None:
        self.steps.append((what, fn, args))

    def rollback(self) -> "list[str]":
        """Run every undo, newest first; one failing does not stop the others."""
        done = []
        while self.steps:
            what, fn, args = self.steps.pop()
            try:
                fn(*args)
                done.append(what)
            except Exception as exc:  # keep undoing: leave as little as possible behind
                log.error("undo of %s failed: %s", what, exc)
                done.append(f"{what} (undo failed: {exc})")
        return done


def add(req: Request) -> Result:
    conf = load(req)
    undo = Undo()
    host = Netlink()
    ctx = _Attachment(req, conf, host)
    try:
        return _add(ctx, undo)
    except BaseException as exc:
        undone = undo.rollback()
        if isinstance(exc, CNIError):
            note = f"ADD failed at step: {undo.step}"
            if undone:
                note += f"; rolled back: {', '.join(reversed(undone))}"
            exc.details = f"{exc.details}; {note}" if exc.details else note
        raise
    finally:
        ctx.close()
        host.close()


class _Attachment:
    """What one ADD works on: the host socket, the container namespace and socket, and
    the links as the steps make them (`bridge`, `veth`, `container`: each is set by its
    step, and no step reads one before that)."""

    __slots__ = ("req", "conf", "host", "fd", "ctr", "bridge", "bridge_mac", "veth", "container")

    bridge: "Link"
    veth: "Link"
    container: "Link"

    def __init__(self, req: Request, conf: BridgeConf, host: Netlink) -> None:
        self.req, self.conf, self.host = req, conf, host
        self.fd = -1
        self.ctr: "Netlink | None" = None  # for close(); the steps get it from open_container()
        self.bridge_mac = ""

    def open_container(self) -> Netlink:
        """Open CNI_NETNS, and a netlink socket bound to it (it stays bound after we leave)."""
        self.fd = open_netns(self.req.netns)
        with netns.inside(self.fd):
            self.ctr = ctr = Netlink()
        return ctr

    def close(self) -> None:
        if self.ctr is not None:
            self.ctr.close()
        if self.fd >= 0:
            os.close(self.fd)


def _add(ctx: _Attachment, undo: Undo) -> Result:
    req, conf = ctx.req, ctx.conf
    undo.at("open netns")
    ctr = ctx.open_container()
    if ctr.link(req.ifname) is not None:
        raise InterfaceExists(f"container veth name provided ({req.ifname}) already exists")
    ipam = None
    if conf.layer3:  # before the bridge: a refused allocation leaves no host state at all
        undo.at("IPAM ADD")
        ipam = ipam_call("ADD", conf, req)
        undo.push("IPAM reservation", ipam_call, "DEL", conf, req)
        faults.point("add.ipam-reserved")
        if ipam is None or not ipam.ips:
            raise DelegateFailure("IPAM plugin returned missing IP config")
    undo.at("ensure bridge")
    ctx.bridge, ctx.bridge_mac = _ensure_bridge(ctx.host, conf)
    undo.at("create veth")
    ctx.veth = _create_container_veth(ctx, undo)
    faults.point("add.veth-created")
    undo.at("attach to bridge")
    _attach_port(ctx.host, ctx.veth, ctx.bridge, conf, vlan=conf.vlan, trunk=conf.vlan_trunk,
                 hairpin=conf.hairpin, isolated=conf.port_isolation)
    faults.point("add.bridge-attached")
    container = ctr.link(req.ifname)
    if container is None:
        raise NetlinkFailure(f"failed to lookup {req.ifname!r}: Link not found")
    ctx.container = container
    if conf.macspoofchk:
        undo.at("macspoofchk")
        _spoofcheck_setup(ctx, undo)
    result = _skeleton(ctx, ipam)
    if conf.layer3:
        _add_layer3(ctx, ctr, result, undo)
    elif not conf.disable_container_iface:
        undo.at("set container interface up")
        ctr.set_up(ctx.container.index)
    undo.at("wait for bridge port")
    _finish(ctx, result)
    result.to_dict(conf.net.cni_version)  # fails here, inside the undo scope, if not convertible
    return result


def _add_layer3(ctx: _Attachment, ctr: Netlink, result: Result, undo: Undo) -> None:
    conf = ctx.conf
    gateways = _calc_gateways(result, conf)
    undo.at("configure container interface")
    _configure_container(ctx, ctr, result)
    faults.point("add.addresses-configured")
    if conf.is_gateway and any(gateways.values()):
        undo.at("gateway address")
        _ensure_gateways(ctx, result, gateways)
    if conf.ip_masq:
        undo.at("ipMasq")
        from cni.host import ipmasq
        backend = ipmasq.choose_backend(conf.ip_masq_backend)
        name, cid, ifname = conf.net.name, ctx.req.container_id, ctx.req.ifname
        undo.push("masquerade rules", ipmasq.teardown, name, ifname, cid)
        ipmasq.setup(backend, [ip.address for ip in result.ips], name, ifname, cid)
        faults.point("add.masq-added")


def open_netns(path: str) -> int:
    """cni.host.netns.open_netns with the reference's wording for a missing path."""
    try:
        return netns.open_netns(path)
    except NetnsNotFound as exc:
        raise NetnsNotFound(f'failed to open netns "{path}": failed to Statfs "{path}": '
                            "no such file or directory") from exc


# -- ADD steps ------------------------------------------------------------------------

def _ensure_bridge(host: Netlink, conf: BridgeConf) -> "tuple[Link, str]":
    """Create or reuse the bridge; never change an existing one's MTU or VLAN filtering."""
    name = conf.bridge
    try:
        host.create_bridge(name, conf.mtu, conf.vlan_filtering)
    except KernelError as exc:
        detail = ("the kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING), "
                  "which vlan and vlanTrunk need") if exc.errno == errno.EOPNOTSUPP and \
            conf.vlan_filtering else ""
        raise NetlinkFailure(f'failed to create bridge "{name}": could not add "{name}": '
                             f"{os.strerror(exc.errno)}", detail) from exc
    bridge = host.link(name)
    if bridge is None:
        raise NetlinkFailure(f'failed to create bridge "{name}": could not lookup "{name}": '
                             "Link not found")
    if bridge.kind != "bridge":
        raise BridgeConflict(f'failed to create bridge "{name}": "{name}" already exists but '
                             "is not a bridge")
    if conf.promisc and not bridge.promisc:
        host.set_promisc(bridge.index)
    sysctl.refuse_router_advertisements(name)
    if not bridge.up:
        host.set_up(bridge.index)
    return bridge, bridge.mac


def _new_veth(host: Netlink, peer: str, peer_fd: int, mtu: int, mac: str) -> "Link | None":
    """A veth pair `veth<8 hex>` (here) + `peer`; None when `peer` is taken."""
    for _ in range(VETH_NAME_TRIES):
        name = "veth" + os.urandom(4).hex()
        try:
            host.create_veth(name, peer, peer_fd, mtu, mac)
        except KernelError as exc:
            if exc.errno != errno.EEXIST:
                raise NetlinkFailure(f"failed to create veth pair for {peer!r}: {exc}") from exc
            if host.link(name) is not None:
                continue  # our random host name clashed: draw another
            return None
        link = host.link(name)
        if link is None:
            raise NetlinkFailure(f"failed to lookup {name!r}: Link not found")
        return link
    raise NetlinkFailure(f"failed to find a free host veth name in {VETH_NAME_TRIES} tries")


def _create_container_veth(ctx: _Attachment, undo: Undo) -> Link:
    req, conf = ctx.req, ctx.conf
    veth = _new_veth(ctx.host, req.ifname, ctx.fd, conf.mtu, conf.mac)
    if veth is None:
        raise InterfaceExists(f"container veth name provided ({req.ifname}) already exists")
    undo.push(f"veth {veth.name}", ctx.host.delete_link, veth.index)
    return veth


def _attach_port(host: Netlink, veth: Link, bridge: Link, conf: BridgeConf, vlan: int,
                 trunk: "list[int] | None", hairpin: bool, isolated: bool) -> None:
    """Host end: accept_ra=0, enslave and up, port flags, VLANs (reference setupVeth).
    Hairpin and isolation are always written, as the reference does."""
    sysctl.refuse_router_advertisements(veth.name)
    host.set_master(veth.index, bridge.index)
    host.set_port(veth.index, hairpin=hairpin, isolated=isolated)
    if not vlan and trunk is None:
        return
    try:
        if not conf.preserve_default_vlan:
            present = host.bridge_vlans(veth.index)
            if present:
                host.bridge_vlan(veth.index, present, add=False)
        entries = [(vid, 0) for vid in trunk or []]
        native = vlan or (1 if trunk is not None else 0)
        entries.insert(0, (native, BRIDGE_VLAN_INFO_PVID | BRIDGE_VLAN_INFO_UNTAGGED))
        host.bridge_vlan(veth.index, entries)
    except KernelError as exc:
        detail = ("the kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING)"
                  if exc.errno == errno.EOPNOTSUPP else "")
        raise NetlinkFailure(f"failed to setup vlan tag on interface {veth.name!r}: "
                             f"{os.strerror(exc.errno)}", detail) from exc


def _spoofcheck_setup(ctx: _Attachment, undo: Undo) -> None:
    from cni.host import spoofcheck
    ref = spoofcheck.ref_id(ctx.req.container_id, ctx.req.ifname)
    undo.push("macspoofchk rules", spoofcheck.teardown, ref)
    spoofcheck.setup(ctx.veth.name, ctx.container.mac, ref)


def _skeleton(ctx: _Attachment, ipam: "Result | None") -> Result:
    """The result before L3 details: [bridge, host veth, container] plus the IPAM's part."""
    interfaces = [Interface(ctx.conf.bridge, mac=ctx.bridge_mac),
                  Interface(ctx.veth.name, mac=ctx.veth.mac),
                  Interface(ctx.req.ifname, mac=ctx.container.mac, sandbox=ctx.req.netns)]
    if ipam is None:
        return Result(interfaces=interfaces)
    return Result(interfaces=interfaces, ips=[IPConfig(ip.address, ip.gateway) for ip in ipam.ips],
                  routes=list(ipam.routes), dns=ipam.dns)


def _calc_gateways(result: Result, conf: BridgeConf) -> "dict[int, list[str]]":
    """Point every IP at interface 2, fill gateways (network+1), add default routes;
    return the gateway CIDRs to put on the bridge, per family (reference calcGateways)."""
    import ipaddress
    gateways: "dict[int, list[str]]" = {4: [], 6: []}
    default_found = {4: False, 6: False}
    for ip in result.ips:
        iface = ipaddress.ip_interface(ip.address)
        family = iface.version
        ip.interface = 2
        if not ip.gateway and conf.is_gateway:
            ip.gateway = str(iface.network.network_address + 1)
        if conf.is_default_gateway and not default_found[family]:
            default = "0.0.0.0/0" if family == 4 else "::/0"
            if not any(r.gw and r.dst == default for r in result.routes):
                result.routes.append(Route(default, gw=ip.gateway))
            default_found[family] = True
        if conf.is_gateway:
            gateways[family].append(f"{ip.gateway}/{iface.network.prefixlen}")
    return gateways


def _configure_container(ctx: _Attachment, ctr: Netlink, result: Result) -> None:
    """Sysctls, addresses, up, DAD settle, routes in the container (reference ConfigureIface)."""
    ifname, index = ctx.req.ifname, ctx.container.index
    has_v6 = any(ip.family == 6 for ip in result.ips)
    with netns.inside(ctx.fd):  # /proc/sys/net follows the caller's namespace
        sysctl.set_dad(ifname, ctx.conf.enable_dad)
        sysctl.set_arp_notify(ifname)
        if has_v6:
            sysctl.enable_ipv6(ifname)
            sysctl.keep_addr_on_down(ifname)
    for ip in result.ips:
        try:
            ctr.add_address(index, ip.address)
        except KernelError as exc:
            raise NetlinkFailure(f"failed to add IP addr {ip.address} to {ifname!r}: "
                                 f"{os.strerror(exc.errno)}") from exc
    ctr.set_up(index)
    first_gw = {f: next((ip.gateway for ip in result.ips if ip.family == f and ip.gateway), "")
                for f in (4, 6)}
    if first_gw[6]:
        ctr.wait_dad(index, DAD_TIMEOUT)
    for route in result.routes:
        gw = route.gw or first_gw[route.family]
        try:
            ctr.add_route(route.dst, index, gw=gw, priority=route.priority, table=route.table,
                          scope=route.scope, mtu=route.mtu, advmss=route.advmss)
        except KernelError as exc:
            raise NetlinkFailure(f"failed to add route '{route.dst} via {gw or '<nil>'} dev "
                                 f"{ifname}': {os.strerror(exc.errno)}") from exc


def _ensure_gateways(ctx: _Attachment, result: Result, gateways: "dict[int, list[str]]") -> None:
    """Gateway CIDRs on the bridge (or the vlan gateway veth), then forwarding per family."""
    target, mac = ctx.bridge, ctx.bridge_mac
    if ctx.conf.vlan:
        target = _vlan_gateway(ctx)
        mac = target.mac
        result.interfaces.append(Interface(target.name, mac=target.mac))
    for family, cidrs in gateways.items():
        for cidr in cidrs:
            _ensure_addr(ctx.host, target, family, cidr, mac, ctx.conf.force_address)
        if cidrs:
            sysctl.enable_forwarding(family)


def _ensure_addr(host: Netlink, link: Link, family: int, cidr: str, mac: str,
                 force: bool) -> None:
    """The reference ensureAddr: one IPv4 address per bridge; IPv6 ones may coexist unless
    their subnets overlap. Adding pins the MAC, so it no longer follows the lowest port's."""
    import ipaddress
    wanted = ipaddress.ip_interface(cidr)
    for present, _, _ in host.addresses(link.index, AF_INET if family == 4
                                        else AF_INET6):
        if present == cidr:
            return
        have = ipaddress.ip_interface(present)
        if family == 4 or wanted.ip in have.network or have.ip in wanted.network:
            if not force:
                raise BridgeConflict(f'failed to set bridge addr: "{link.name}" already has an '
                                     f"IP address different from {cidr}",
                                     "set forceAddress to replace it")
            host.delete_address(link.index, present)
    # No DAD for the gateway: the subnet is ours by the IPAM's word, and a tentative
    # gateway would leave new IPv6 containers without a router for a second or two.
    host.add_address(link.index, cidr, exclusive=False, nodad=True)
    if mac == ZERO_MAC:
        # A bridge that lost its last port reads 00:00:00:00:00:00 (the kernel's doing);
        # pin what it has now that our port is attached.
        current = host.link(index=link.index)
        mac = current.mac if current is not None else ZERO_MAC
    if mac != ZERO_MAC:
        host.set_mac(link.index, mac)


def _vlan_gateway(ctx: _Attachment) -> Link:
    """`<bridge>.<vlan>`: a veth whose other end is a port of the bridge in that VLAN,
    created once and shared (never undone, like the bridge)."""
    host, conf = ctx.host, ctx.conf
    name = f"{conf.bridge}.{conf.vlan}"
    gateway = host.link(name)
    if gateway is None:
        port = _new_veth(host, name, -1, ctx.bridge.mtu, "")
        if port is not None:  # None: a racing ADD created it first
            # Never isolated: isolated container ports must still reach their gateway.
            _attach_port(host, port, ctx.bridge, conf, vlan=conf.vlan, trunk=None,
                         hairpin=False, isolated=False)
        gateway = host.link(name)
        if gateway is None:
            raise NetlinkFailure(f"failed to create vlan gateway {name!r}")
        sysctl.refuse_router_advertisements(name)
        host.set_up(gateway.index)
    return gateway


def _finish(ctx: _Attachment, result: Result) -> None:
    """Wait for the host port to forward, then report the MACs as they are now."""
    if not ctx.conf.disable_container_iface:
        ctx.veth = _wait_port(ctx.host, ctx.veth)
    result.interfaces[1].mac = ctx.veth.mac
    bridge = ctx.host.link(index=ctx.bridge.index)
    if bridge is not None:
        result.interfaces[0].mac = bridge.mac
    dns = ctx.conf.net.dns.to_dns()
    if dns:
        result.dns = dns


def _wait_port(host: Netlink, veth: Link) -> Link:
    import time
    state = veth.operstate
    for delay in PORT_WAIT:
        time.sleep(delay)
        link = host.link(index=veth.index)
        if link is None:
            raise NetlinkFailure(f"host veth {veth.name!r} vanished")
        if link.operstate == "UP":
            return link
        state = link.operstate
    raise NetlinkFailure(f"bridge port in error state: {state.lower()}")


# -- DEL -------------------------------------------------------------------------------

def delete(req: Request) -> None:
    """Best effort and idempotent: every step runs; the first error (with its code) is
    raised at the end, the others are in its details."""
    conf = load(req)
    errors: "list[CNIError]" = []
    # A kernel refusal here stops DEL before the IPAM release: the interface may still
    # hold its address, and releasing it could hand it to another container while this
    # one uses it. The runtime retries DEL.
    _delete_container_link(req, conf)
    faults.point("del.link-deleted")
    if conf.layer3:
        _attempt(errors, ipam_call, "DEL", conf, req)
        faults.point("del.ipam-released")
    if conf.macspoofchk:
        from cni.host import spoofcheck
        _attempt(errors, spoofcheck.teardown, spoofcheck.ref_id(req.container_id, req.ifname))
    if conf.layer3 and conf.ip_masq:
        from cni.host import ipmasq
        _attempt(errors, ipmasq.teardown, conf.net.name, req.ifname, req.container_id)
        faults.point("del.masq-removed")
    _raise_all(errors)


def _attempt(errors: "list[CNIError]", fn: "Callable[..., object]", *args: object) -> None:
    try:
        fn(*args)
    except CNIError as exc:
        log.error("DEL: %s", exc)
        errors.append(exc)


def _raise_all(errors: "list[CNIError]") -> None:
    if not errors:
        return
    first = errors[0]
    if len(errors) > 1:
        others = "; ".join(str(e) for e in errors[1:])
        first.details = f"{first.details}; also: {others}" if first.details else f"also: {others}"
    raise first


def _delete_container_link(req: Request, conf: BridgeConf) -> None:
    """Delete CNI_IFNAME in the netns if it is ours. Without a usable netns (empty, deleted,
    not a namespace) the host end named in prevResult goes instead, if it is still there
    (the namespace may live on behind a stale path); a missing interface is nothing to do."""
    fd = -1
    if req.netns:
        try:
            fd = netns.open_netns(req.netns)
        except (NetnsNotFound, NotANetns) as exc:
            log.info("DEL %s/%s: %s; cleaning up host state only", req.container_id,
                     req.ifname, exc)
    if fd < 0:
        _delete_host_veth(req, conf)
        return
    try:
        with netns.inside(fd):
            ctr = Netlink()
        with ctr, Netlink() as host:
            link = ctr.link(req.ifname)
            if link is None:
                return
            if not _is_ours(link, host, conf, req):
                log.warning("DEL: %s in %s is not the veth this plugin created; left in place",
                            req.ifname, req.netns)
                return
            ctr.delete_link(link.index)
    finally:
        os.close(fd)


def _delete_host_veth(req: Request, conf: BridgeConf) -> None:
    """The host veth that prevResult reports, if it is still a port of our bridge with the
    reported MAC: deleting it removes the container end too."""
    try:
        prev = conf.net.prev_result()
    except CNIError:
        return
    entries = [i for i in (prev.interfaces if prev is not None else [])
               if not i.sandbox and i.name != conf.bridge and i.name.startswith("veth")]
    if not entries:
        return
    with Netlink() as host:
        bridge = host.link(conf.bridge)
        for entry in entries:
            veth = host.link(entry.name)
            if veth is None or veth.kind != "veth" or bridge is None or \
                    veth.master != bridge.index or (entry.mac and entry.mac.lower() != veth.mac):
                continue
            host.delete_link(veth.index)


def _is_ours(link: Link, host: Netlink, conf: BridgeConf, req: Request) -> bool:
    """A veth whose peer is in our namespace, a port of our bridge (or of none), and, when
    prevResult names it, with the MACs it reported (security: a reused netns path)."""
    if link.kind != "veth" or not link.peer_index:
        return False
    peer = host.link(index=link.peer_index)
    if peer is None or peer.kind != "veth" or peer.peer_index != link.index:
        return False
    if peer.master:
        master = host.link(index=peer.master)
        if master is None or master.name != conf.bridge:
            return False
    try:
        prev = conf.net.prev_result()
    except CNIError:
        return True  # an unreadable prevResult must not block cleanup
    for iface in prev.interfaces if prev is not None else []:
        if iface.name == req.ifname and iface.sandbox == req.netns and iface.mac:
            return iface.mac.lower() == link.mac.lower()
    return True


# -- CHECK ------------------------------------------------------------------------------

def check(req: Request) -> None:
    conf = load(req)
    prev = conf.net.prev_result()  # None exactly when prevResult is absent
    if prev is None:
        raise InvalidConfig("Required prevResult missing")
    fd = open_netns(req.netns)
    try:
        if conf.layer3:  # the reference also delegates in L2 mode and fails there
            ipam_call("CHECK", conf, req)
        with netns.inside(fd):
            ctr = Netlink()
        with ctr, Netlink() as host:
            _check_links(prev, conf, req, host, ctr)
            _check_addresses(prev, req.ifname, ctr)
            _check_routes(prev, ctr)
    finally:
        os.close(fd)


def _check_links(prev: Result, conf: BridgeConf, req: Request, host: Netlink,
                 ctr: Netlink) -> None:
    bridge_entry = next((i for i in prev.interfaces if i.name == conf.bridge), None)
    container_entry = next((i for i in prev.interfaces
                            if i.name == req.ifname and i.sandbox == req.netns), None)
    bridge = _check_bridge(bridge_entry, conf, host)
    if container_entry is None:
        raise CheckFailed(f"Sandbox in prevResult  doesn't match configured netns: {req.netns}")
    container = ctr.link(req.ifname)
    if container is None:
        raise CheckFailed(f"Interface name {req.ifname} not found")
    if container.kind != "veth":
        raise CheckFailed(f"Error: Container interface {req.ifname} not of type veth")
    if container_entry.mac and container_entry.mac.lower() != container.mac:
        raise CheckFailed(f"Interface {req.ifname} Mac {container_entry.mac} doesn't match "
                          f"container Mac: {container.mac}")
    for entry in prev.interfaces:
        if entry.name in (conf.bridge, req.ifname) or entry.sandbox:
            continue
        veth = host.link(entry.name)
        if veth is None:
            raise CheckFailed(f"Interface name {entry.name} not found")
        if veth.kind != "veth" or veth.index != container.peer_index or \
                veth.peer_index != container.index or veth.master != bridge.index:
            continue  # not the peer of our container interface: something else's
        if entry.mac and entry.mac.lower() != veth.mac:
            raise CheckFailed(f"Interface {entry.name} Mac doesn't match: {entry.mac} not found")
        return
    raise CheckFailed(f"CNI veth created for bridge {conf.bridge} was not found")


def _check_bridge(entry: "Interface | None", conf: BridgeConf, host: Netlink) -> Link:
    if entry is None:
        raise CheckFailed(f"CNI created bridge {conf.bridge} in host namespace was not found")
    bridge = host.link(entry.name)
    if bridge is None:
        raise CheckFailed(f"Interface name {entry.name} not found")
    if bridge.kind != "bridge":
        raise CheckFailed(f"Interface {entry.name} does not have link type of bridge")
    if entry.mac and entry.mac.lower() != bridge.mac:
        raise CheckFailed(f"Bridge interface {entry.name} Mac doesn't match: {entry.mac}")
    if bridge.promisc != conf.promisc:
        raise CheckFailed(f"Bridge interface {entry.name} configured Promisc Mode "
                          f"{str(conf.promisc).lower()} doesn't match current state: "
                          f"{str(bridge.promisc).lower()} ")
    return bridge


def _check_addresses(prev: Result, ifname: str, ctr: Netlink) -> None:
    """Every prevResult address is on the interface, with a route to its subnet."""
    import ipaddress
    link = ctr.link(ifname)
    if link is None:  # _check_links found it; only a concurrent delete gets here
        raise CheckFailed(f"Interface name {ifname} not found")
    present = {a for a, _, _ in ctr.addresses(link.index)}
    for ip in prev.ips:
        if ip.address not in present:
            raise CheckFailed(f"Failed to match addr {ip.address} on interface {ifname}")
        subnet = str(ipaddress.ip_interface(ip.address).network)
        family = AF_INET if ip.family == 4 else AF_INET6
        if not any(r.dst == subnet and r.table == 254 for r in ctr.route_list(family)):
            raise CheckFailed(f"Failed to find Gateway {ip.gateway or '<nil>'} for interface "
                              f"{ifname}")


def _check_routes(prev: Result, ctr: Netlink) -> None:
    """Every prevResult route exists (a route without gw: any route to that dst)."""
    tables = {}
    for route in prev.routes:
        family = AF_INET if route.family == 4 else AF_INET6
        if family not in tables:
            tables[family] = ctr.route_list(family)
        if not any(r.dst == route.dst and (not route.gw or r.gw == route.gw)
                   for r in tables[family]):
            raise CheckFailed(f"Expected Route {{Dst:{route.dst} GW:{route.gw or '<nil>'}}} "
                              "not found in routing table")


# -- GC and STATUS -----------------------------------------------------------------------

def gc(req: Request) -> None:
    """IPAM GC, then masquerade rules of attachments not in cni.dev/valid-attachments.
    Without that key nothing is known to be stale, so no rule is touched."""
    conf = load(req)
    valid = conf.net.valid_attachments()
    errors: "list[CNIError]" = []
    if conf.layer3:
        _attempt(errors, ipam_call, "GC", conf, req)
    if valid is not None:
        from cni.host import ipmasq
        _attempt(errors, ipmasq.gc, conf.net.name, valid)
    _raise_all(errors)


def status(req: Request) -> None:
    """Ready when the IPAM says so (L2 needs nothing but the kernel)."""
    conf = load(req)
    if conf.layer3:
        ipam_call("STATUS", conf, req)
