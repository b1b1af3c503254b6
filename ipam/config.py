"""The host-local configuration, built once per exec from the request.

Where it sits: `cni.plugins.host_local` calls `load(req)` (ADD, CHECK, STATUS)
or `load_store(conf)` (DEL and GC, which only need to find the store: a DEL
must release even when the ranges were since edited into something invalid).
Every problem is InvalidConfig (code 7) naming the field, except a bad
CNI_ARGS `IP=` (InvalidEnvironment, code 4); messages are the reference's.

Keys read (host-local reads the *whole* network config):
  name                              the network (validated by the skel)
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
from cni.netconf import get
from cni.types import DNS, Result
from ipam.ranges import Range, RangeError, RangeSet, parse_ip

DEFAULT_DATA_DIR = "/var/lib/cni/networks"
DEFAULT_LOCK_TIMEOUT = 10.0
MAX_LOCK_TIMEOUT = 3600.0
MAX_RESOLV_CONF = 1024 * 1024


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
        self.requested: list = []
        self.routes: list = []
        self.resolv_conf = ""


def ipam_section(conf: object) -> dict:
    raw = conf.raw.get("ipam")
    if raw is None:
        raise InvalidConfig("IPAM config missing 'ipam' key")
    return conf.ipam


def load_store(conf: object) -> IPAMConfig:
    """Only where the store is: network name, dataDir, lockTimeout."""
    ipam = ipam_section(conf)
    data_dir = get(ipam, "dataDir", str, "", "ipam.") or DEFAULT_DATA_DIR
    if not os.path.isabs(data_dir) or "\0" in data_dir or len(data_dir) > 4096 or \
            ".." in data_dir.split("/"):
        raise InvalidConfig("invalid field ipam.dataDir",
                            f"ipam.dataDir must be an absolute path without '..', got {data_dir[:80]!r}")
    timeout = get(ipam, "lockTimeout", float, DEFAULT_LOCK_TIMEOUT, "ipam.")
    if not 0 < timeout <= MAX_LOCK_TIMEOUT:
        raise InvalidConfig("invalid field ipam.lockTimeout",
                            f"ipam.lockTimeout must be between 0 and {MAX_LOCK_TIMEOUT:g} seconds")
    return IPAMConfig(conf.name, conf.cni_version, data_dir, float(timeout))


def load(req: object) -> IPAMConfig:
    """The full configuration, validated in the reference's order."""
    conf = req.conf
    cfg = load_store(conf)
    ipam = conf.ipam
    cfg.requested = requested_ips(conf, req.args)
    cfg.range_sets = range_sets(conf, ipam)
    check_families(cfg.range_sets, conf.cni_version)
    check_overlaps(cfg.range_sets)
    cfg.routes = routes(ipam)
    cfg.resolv_conf = get(ipam, "resolvConf", str, "", "ipam.")
    return cfg


# -- requested addresses -------------------------------------------------------

def requested_ips(conf: object, args: "dict[str, str]") -> list:
    """CNI_ARGS IP= (comma-separated), then args.cni.ips, then runtimeConfig.ips; deduplicated."""
    found = []
    env = args.get("IP", "")
    for part in env.split(",") if env else ():
        try:
            found.append(_ip_maybe_prefix(part))
        except ValueError:
            raise InvalidEnvironment(f'ARGS: error parsing value of pair "IP={env}": '
                                     f"invalid IP address {part}") from None
    found += _ip_list(conf.cni_arg("ips"), "args.cni.ips")
    found += _ip_list(conf.runtime("ips"), "runtimeConfig.ips")
    unique = []
    for ip in found:
        if ip not in unique:
            unique.append(ip)
    return unique


def _ip_list(value: object, where: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidConfig(f"invalid field {where}", f"{where} must be a list of IP addresses")
    out = []
    for k, text in enumerate(value):
        try:
            out.append(_ip_maybe_prefix(text))
        except ValueError:
            raise InvalidConfig(f"invalid field {where}[{k}]",
                                f"{where}[{k}] must be an IP address (a.b.c.d or a.b.c.d/len), "
                                f"got {str(text)[:80]!r}") from None
    return out


def _ip_maybe_prefix(text: object) -> object:
    """'10.1.2.3' or '10.1.2.3/24' -> the address (the prefix comes from the range)."""
    if isinstance(text, str) and text.count("/") == 1:
        address, prefix = text.split("/")
        ip = parse_ip(address)
        if not (prefix.isdigit() and prefix.isascii() and int(prefix) <= ip.max_prefixlen):
            raise ValueError(text)
        return ip
    return parse_ip(text)


# -- ranges ---------------------------------------------------------------------

def range_sets(conf: object, ipam: dict) -> "list[RangeSet]":
    sources = []
    runtime = conf.runtime("ipRanges")
    if runtime is not None:
        sources += _set_sources(runtime, "runtimeConfig.ipRanges")
    if ipam.get("subnet") is not None:
        sources.append([(ipam, "ipam")])
    else:
        stray = [k for k in ("rangeStart", "rangeEnd", "gateway") if ipam.get(k)]
        if stray:
            log.warning("ignoring ipam.%s: no ipam.subnet (as the reference does)", stray[0])
    sources += _set_sources(get(ipam, "ranges", list, [], "ipam."), "ipam.ranges")
    if not sources:
        raise InvalidConfig("no IP ranges specified",
                            "set ipam.ranges (a list of range sets) or ipam.subnet")
    return [_range_set(index, items) for index, items in enumerate(sources)]


def _set_sources(value: object, where: str) -> "list[list[tuple[object, str]]]":
    if not isinstance(value, list):
        raise InvalidConfig(f"invalid field {where}", f"{where} must be a list of range sets")
    sources = []
    for k, items in enumerate(value):
        if not isinstance(items, list):
            raise InvalidConfig(f"invalid field {where}[{k}]",
                                f"{where}[{k}] must be a list of ranges ({{subnet, rangeStart, ...}})")
        sources.append([(item, f"{where}[{k}][{j}]") for j, item in enumerate(items)])
    return sources


def _range_set(index: int, items: "list[tuple[object, str]]") -> RangeSet:
    ranges = [_range(index, item, where) for item, where in items]
    try:
        return RangeSet(ranges)
    except RangeError as exc:
        where = items[0][1].rsplit("[", 1)[0] if items else f"range set {index}"
        raise InvalidConfig(f"invalid range set {index}: {exc}", f"at {where}") from None


def _range(index: int, item: object, where: str) -> Range:
    if not isinstance(item, dict):
        raise InvalidConfig(f"invalid field {where}", f"{where} must be an object with a subnet")
    prefix = where + "."
    subnet = get(item, "subnet", str, None, prefix)
    if subnet is None:
        raise InvalidConfig(f"invalid range set {index}: missing subnet", f"{prefix}subnet is required")
    fields = [get(item, key, str, None, prefix) for key in ("rangeStart", "rangeEnd", "gateway")]
    try:
        return Range.create(subnet, *fields)
    except RangeError as exc:
        raise InvalidConfig(f"invalid range set {index}: {exc}", f"at {prefix}{exc.field}") from None
    except ValueError as exc:  # unparseable text: the reference fails while decoding
        raise InvalidConfig(str(exc), f"at {prefix}subnet") from None


def check_families(sets: "list[RangeSet]", cni_version: str) -> None:
    """Results before 0.3.0 hold one address per family (ip4/ip6)."""
    v4 = sum(1 for s in sets if s.version == 4)
    if (v4 > 1 or len(sets) - v4 > 1) and not _version.at_least(cni_version, "0.3.0"):
        raise InvalidConfig(f"CNI version {cni_version} does not support more than 1 address per family",
                            "use cniVersion 0.3.0 or later for several range sets of one family")


def check_overlaps(sets: "list[RangeSet]") -> None:
    for i, first in enumerate(sets):
        for j in range(i + 1, len(sets)):
            if first.overlaps(sets[j]):
                raise InvalidConfig(f"range set {i} overlaps with {j}",
                                    "two range sets may not share an address")


# -- routes and DNS ---------------------------------------------------------------

def routes(ipam: dict) -> list:
    """ipam.routes, returned verbatim in the result (dst, gw and the 1.1.0 fields)."""
    value = get(ipam, "routes", list, [], "ipam.")
    try:
        return Result.from_dict({"cniVersion": _version.CURRENT, "routes": value}, where="ipam").routes
    except DecodingFailure as exc:
        raise InvalidConfig(f"invalid field ipam.routes: {exc.msg}", exc.details) from None


def read_resolv_conf(path: str) -> DNS:
    """ipam.resolvConf read into a DNS block; unreadable -> code 7 before anything is reserved."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_RESOLV_CONF + 1)
    except OSError as exc:
        raise InvalidConfig(f"cannot read ipam.resolvConf {path}: {exc.strerror}") from None
    if len(data) > MAX_RESOLV_CONF:
        raise InvalidConfig(f"ipam.resolvConf {path} is larger than {MAX_RESOLV_CONF} bytes")
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
