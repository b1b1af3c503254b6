"""The host-local configuration: its keys, declared once, and what ADD needs of them.

Where it sits: `cni.plugins.host_local` calls `load(req)` (ADD, CHECK, STATUS)
or `load_store(net)` (DEL and GC, which only need to find the store: a DEL
must release even when the ranges were since edited into something invalid).
The keys are declared by the config classes below (`cni.schema`); `pycni lint`
derives its models from the same classes. Every problem is InvalidConfig
(code 7) naming the field, except a bad CNI_ARGS `IP=` (InvalidEnvironment,
code 4); messages are the reference's.

Keys read (host-local reads the *whole* network config):
  name                              the network (validated by cni.netconf)
  ipam.ranges                       [[{subnet, rangeStart, rangeEnd, gateway}, ...], ...]
  ipam.subnet/rangeStart/rangeEnd/gateway   legacy single range
  runtimeConfig.ipRanges            capability; same shape as ipam.ranges
  ipam.routes, ipam.dataDir, ipam.resolvConf
  ipam.lockTimeout                  ours: seconds to wait for the store lock (10)
  CNI_ARGS IP=, args.cni.ips, runtimeConfig.ips   requested addresses
Final range order (it fixes each set's index, i.e. `last_reserved_ip.<n>`):
runtimeConfig.ipRanges, then the legacy range, then ipam.ranges.
"""

import os

from cni import log
from cni import version as _version
from cni.errors import DecodingFailure, InvalidConfig, InvalidEnvironment
from cni.netconf import NetConf
from cni.schema import Config, key
from cni.types import DNS, Result, Route
from ipam.ranges import Range, RangeError, RangeSet, parse_ip

TYPE_CHECKING = False  # type checkers read this as True; nothing below runs
if TYPE_CHECKING:
    from cni.request import Request
    from ipam.ranges import IPAddress

DEFAULT_DATA_DIR = "/var/lib/cni/networks"
DEFAULT_LOCK_TIMEOUT = 10.0
MAX_LOCK_TIMEOUT = 3600.0
MAX_RESOLV_CONF = 1024 * 1024


# -- the keys ----------------------------------------------------------------------

def _data_dir(value: str) -> str:
    value = value or DEFAULT_DATA_DIR
    if not os.path.isabs(value) or "\0" in value or len(value) > 4096 or \
            ".." in value.split("/"):
        raise InvalidConfig("invalid field ipam.dataDir",
                            f"ipam.dataDir must be an absolute path without '..', got {value[:80]!r}")
    return value


def _lock_timeout(value: float) -> float:
    if not 0 < value <= MAX_LOCK_TIMEOUT:
        raise InvalidConfig("invalid field ipam.lockTimeout",
                            f"ipam.lockTimeout must be between 0 and {MAX_LOCK_TIMEOUT:g} seconds")
    return float(value)


def _addresses(values: "list[str]") -> "list[str]":
    """Each item an address, bare or with a prefix (which the range decides)."""
    for text in values:
        try:
            ip_maybe_prefix(text)
        except ValueError:
            raise InvalidConfig(f"invalid IP address {text[:80]!r}",
                                "an address is written a.b.c.d or a.b.c.d/len") from None
    return values


def _routes(ipam: "HostLocalIPAM") -> None:
    """ipam.routes, returned verbatim in the result (dst, gw and the 1.1.0 fields)."""
    try:
        ipam.route_list = Result.from_dict({"cniVersion": _version.CURRENT, "routes": ipam.routes},
                                           where="ipam").routes
    except DecodingFailure as exc:
        raise InvalidConfig(f"invalid field ipam.routes: {exc.msg}", exc.details,
                            field=ipam.path("routes")) from None


class RangeConf(Config):
    """One range: a subnet, the part of it handed out, its gateway."""

    subnet: str | None = key("subnet")
    range_start: str | None = key("rangeStart")
    range_end: str | None = key("rangeEnd")
    gateway: str | None = key("gateway")


class StoreIPAM(Config):
    """Where the store is: all that DEL and GC need."""

    data_dir: str = key("dataDir", DEFAULT_DATA_DIR, check=_data_dir)
    lock_timeout: float = key("lockTimeout", DEFAULT_LOCK_TIMEOUT, check=_lock_timeout)


class HostLocalIPAM(StoreIPAM):
    type: str = key("type", "")
    subnet: str | None = key("subnet")
    range_start: str | None = key("rangeStart")
    range_end: str | None = key("rangeEnd")
    gateway: str | None = key("gateway")
    ranges: list[list[RangeConf]] = key("ranges", [])
    routes: list[dict[str, object]] = key("routes", [])
    resolv_conf: str = key("resolvConf", "")
    RULES = (_routes,)

    route_list: "list[Route]"


class RuntimeIPs(Config):
    """runtimeConfig: the ipRanges and ips capabilities."""

    ip_ranges: list[list[RangeConf]] | None = key("ipRanges")
    ips: list[str] = key("ips", [], check=_addresses)


class CNIArgIPs(Config):
    ips: list[str] = key("ips", [], check=_addresses)


class ArgsIPs(Config):
    cni: CNIArgIPs = key("cni")


class StoreConf(Config):
    ipam: StoreIPAM = key("ipam", missing="IPAM config missing 'ipam' key")

    net: NetConf


def _range_sets(conf: "HostLocalConf") -> None:
    """The final range sets, in the order that fixes their indexes; then the reference's
    checks across them (families for old result versions, overlaps)."""
    ipam = conf.ipam
    sources = [[(r, f"runtimeConfig.ipRanges[{k}][{j}]") for j, r in enumerate(items)]
               for k, items in enumerate(conf.runtime_config.ip_ranges or [])]
    if ipam.subnet is not None:
        sources.append([(RangeConf.parse(ipam.raw, where="ipam."), "ipam")])  # its keys are ipam's
    else:
        stray = [k for k, v in (("rangeStart", ipam.range_start), ("rangeEnd", ipam.range_end),
                                ("gateway", ipam.gateway)) if v]
        if stray:
            log.warning("ignoring ipam.%s: no ipam.subnet (as the reference does)", stray[0])
    sources += [[(r, f"ipam.ranges[{k}][{j}]") for j, r in enumerate(items)]
                for k, items in enumerate(ipam.ranges)]
    if not sources:
        raise InvalidConfig("no IP ranges specified",
                            "set ipam.ranges (a list of range sets) or ipam.subnet",
                            field="ipam.ranges")
    conf.range_sets = [_range_set(index, items) for index, items in enumerate(sources)]
    check_families(conf.range_sets, conf.net.cni_version)
    check_overlaps(conf.range_sets)


def _range_set(index: int, items: "list[tuple[RangeConf, str]]") -> RangeSet:
    ranges = [_range(index, item, where) for item, where in items]
    try:
        return RangeSet(ranges)
    except RangeError as exc:
        where = items[0][1].rsplit("[", 1)[0] if items else f"range set {index}"
        raise InvalidConfig(f"invalid range set {index}: {exc}", f"at {where}",
                            field=where) from None


def _range(index: int, item: RangeConf, where: str) -> Range:
    prefix = where + "."
    if item.subnet is None:
        raise InvalidConfig(f"invalid range set {index}: missing subnet",
                            f"{prefix}subnet is required", field=prefix + "subnet")
    try:
        return Range.create(item.subnet, item.range_start, item.range_end, item.gateway)
    except RangeError as exc:
        raise InvalidConfig(f"invalid range set {index}: {exc}", f"at {prefix}{exc.field}",
                            field=prefix + exc.field) from None
    except ValueError as exc:  # unparseable text: the reference fails while decoding
        raise InvalidConfig(str(exc), f"at {prefix}subnet", field=prefix + "subnet") from None


class HostLocalConf(StoreConf):
    """Every key host-local reads, as the reference reads them."""

    ipam: HostLocalIPAM = key("ipam", missing="IPAM config missing 'ipam' key")
    runtime_config: RuntimeIPs = key("runtimeConfig")
    args: ArgsIPs = key("args")
    RULES = (_range_sets,)

    range_sets: "list[RangeSet]"


# -- what the plugin works with ----------------------------------------------------

class IPAMConfig:
    """What host-local needs, canonical: range sets, requests, routes, store location."""

    __slots__ = ("network", "cni_version", "data_dir", "lock_timeout", "range_sets",
                 "requested", "routes", "resolv_conf")

    def __init__(self, network: str, cni_version: str, data_dir: str = DEFAULT_DATA_DIR,
                 lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self.network = network
        self.cni_version = cni_version
        self.data_dir = data_dir
        self.lock_timeout = lock_timeout
        self.range_sets: "list[RangeSet]" = []
        self.requested: "list[IPAddress]" = []
        self.routes: "list[Route]" = []
        self.resolv_conf = ""


def load_store(net: NetConf, command: str = "DEL") -> IPAMConfig:
    """Only where the store is: network name, dataDir, lockTimeout."""
    ipam = StoreConf.parse(net.raw, command, net=net).ipam
    return IPAMConfig(net.name, net.cni_version, ipam.data_dir, ipam.lock_timeout)


def load(req: "Request") -> IPAMConfig:
    """The full configuration of this request, validated."""
    net = req.conf
    conf = HostLocalConf.parse(net.raw, req.command, net=net)
    cfg = IPAMConfig(net.name, net.cni_version, conf.ipam.data_dir, conf.ipam.lock_timeout)
    cfg.requested = requested_ips(conf, req.args)
    cfg.range_sets = conf.range_sets
    cfg.routes = conf.ipam.route_list
    cfg.resolv_conf = conf.ipam.resolv_conf
    return cfg


def requested_ips(conf: HostLocalConf, args: "dict[str, str]") -> "list[IPAddress]":
    """CNI_ARGS IP= (comma-separated), then args.cni.ips, then runtimeConfig.ips; deduplicated."""
    found = []
    env = args.get("IP", "")
    for part in env.split(",") if env else ():
        try:
            found.append(ip_maybe_prefix(part))
        except ValueError:
            raise InvalidEnvironment(f'ARGS: error parsing value of pair "IP={env}": '
                                     f"invalid IP address {part}") from None
    found += [ip_maybe_prefix(text) for text in conf.args.cni.ips + conf.runtime_config.ips]
    unique: "list[IPAddress]" = []
    for ip in found:
        if ip not in unique:
            unique.append(ip)
    return unique


def ip_maybe_prefix(text: str) -> "IPAddress":
    """'10.1.2.3' or '10.1.2.3/24' -> the address (the prefix comes from the range)."""
    if text.count("/") == 1:
        address, prefix = text.split("/")
        ip = parse_ip(address)
        if not (prefix.isdigit() and prefix.isascii() and int(prefix) <= ip.max_prefixlen):
            raise ValueError(text)
        return ip
    return parse_ip(text)


def check_families(sets: "list[RangeSet]", cni_version: str) -> None:
    """Results before 0.3.0 hold one address per family (ip4/ip6)."""
    v4 = sum(1 for s in sets if s.version == 4)
    if (v4 > 1 or len(sets) - v4 > 1) and not _version.has_interfaces(cni_version):
        raise InvalidConfig(f"CNI version {cni_version} does not support more than 1 address per family",
                            "use cniVersion 0.3.0 or later for several range sets of one family",
                            field="cniVersion")


def check_overlaps(sets: "list[RangeSet]") -> None:
    for i, first in enumerate(sets):
        for j in range(i + 1, len(sets)):
            if first.overlaps(sets[j]):
                raise InvalidConfig(f"range set {i} overlaps with {j}",
                                    "two range sets may not share an address", field="ipam.ranges")


# -- DNS ----------------------------------------------------------------------------

def read_resolv_conf(path: str) -> DNS:
    """ipam.resolvConf read into a DNS block; unreadable -> code 7 before anything is reserved."""
    from cni import files
    data = files.read_limited(path, MAX_RESOLV_CONF, f"ipam.resolvConf {path}")
    return parse_resolv_conf(data.decode("utf-8", "replace"))


def parse_resolv_conf(text: str) -> DNS:
    """As the reference: nameserver appends, domain last wins, search/options accumulate;
    lines starting with '#' or ';' and lines of one field are skipped."""
    dns = DNS()
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        fields = line.split()
        if len(fields) < 2:
            continue
        if fields[0] == "nameserver":
            dns.nameservers.append(fields[1])
        elif fields[0] == "domain":
            dns.domain = fields[1]
        elif fields[0] == "search":
            dns.search.extend(fields[1:])
        elif fields[0] == "options":
            dns.options.extend(fields[1:])
    return dns
