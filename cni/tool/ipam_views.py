"""Read-only views of the host-local store, and the classification of leaks.

Where it sits: behind `pycni ipam ls|leaks|release` (cni/tool/cli.py), never on a
plugin's exec path. It reads the store through `ipam.disk.DiskStore` (under
the network's lock, briefly) and the network's config through the runtime's
lookup (`cni.tool.libcni`), for the ranges and the dataDir. Evidence about live
namespaces is gathered by the caller (`cni.tool.netns_scan`, the libcni result cache)
and passed in: ipam never enters a namespace or imports netlink.

An allocation (a file `<dataDir>/<network>/<ip>`) is classified as:
  live     its address is configured on an interface in a live namespace, or
           the libcni cache holds its attachment and that namespace is alive
  young    newer than `min_age`: an ADD may still be in flight, so no verdict
  stale    cached attachment whose namespace is gone (its runtime never DELed)
  leak     no cache entry and the address is configured nowhere
  corrupt  as leak, for a file that is not a readable reservation
  unsure   would be one of the three above, but host veths exist whose peer is
           in a namespace we cannot see, or a namespace could not be inspected
           (the owner might be there)
`release` is the only writer: through the store API, under the lock, and only
for files unchanged (same owner, same mtime) since they were examined.
"""

import ipaddress
import os
import time

from cni import validate
from cni.errors import CNIError, StoreFailure
from ipam import config as _config
from ipam.disk import DiskStore
from ipam.store import Allocation

TYPE_CHECKING = False  # type checkers read this as True; nothing below runs
if TYPE_CHECKING:
    from cni.netconf import NetConf
    from cni.tool.libcni import NetworkList
    from cni.tool.netns_scan import Scan
    from ipam.ranges import RangeSet

    # (network, container ID, ifname) -> (netns path, netns alive), from the libcni cache
    Cached = dict[tuple[str, str, str], tuple[str, bool]]

LEAKED = ("stale", "leak", "corrupt", "unsure")


class RangeUse:
    """How full one range of the network's config is."""

    __slots__ = ("set_index", "subnet", "range", "gateway", "size", "used")

    def __init__(self, set_index: int, subnet: str, range_: str, gateway: str, size: int,
                 used: int) -> None:
        self.set_index = set_index
        self.subnet = subnet
        self.range = range_
        self.gateway = gateway
        self.size = size
        self.used = used

    @property
    def percent(self) -> float:
        return 100.0 * self.used / self.size if self.size else 0.0

    def to_dict(self) -> "dict[str, object]":
        return {"set": self.set_index, "subnet": self.subnet, "range": self.range,
                "gateway": self.gateway, "size": self.size, "used": self.used}


class NetworkView:
    """One network's store: its allocations and (when its config is known) range use."""

    __slots__ = ("name", "data_dir", "source", "allocations", "ranges", "bridge",
                 "lock_timeout", "note")

    def __init__(self, name: str, data_dir: str) -> None:
        self.name = name
        self.data_dir = data_dir
        self.source = ""  # the config file, when found
        self.allocations: "list[Allocation]" = []
        self.ranges: "list[RangeUse] | None" = None
        self.bridge = ""  # the bridge plugin's bridge, when the network has one
        self.lock_timeout = _config.DEFAULT_LOCK_TIMEOUT
        self.note = ""

    def to_dict(self, now: "float | None" = None) -> "dict[str, object]":
        now = time.time() if now is None else now
        return {"name": self.name, "dataDir": self.data_dir, "config": self.source or None,
                "allocations": [_allocation_dict(a, now) for a in self.allocations],
                "ranges": None if self.ranges is None else [r.to_dict() for r in self.ranges],
                **({"note": self.note} if self.note else {})}


def _allocation_dict(a: Allocation, now: float) -> "dict[str, object]":
    return {"ip": a.ip, "containerID": a.container_id, "ifname": a.ifname,
            "mtime": a.mtime, "ageSeconds": int(max(0, now - a.mtime)), "problem": a.problem}


# -- views --------------------------------------------------------------------------


def views(network: "str | None", data_dir: "str | None", conf_dir: str) -> "list[NetworkView]":
    """The view of `network` (or of every network found), read from the store."""
    configs = _configs(conf_dir)
    if network:
        validate.network_name(network)
        places = {network: data_dir or _data_dir_of(configs.get(network))}
    else:
        places = {}
        roots = [data_dir] if data_dir else sorted(
            {_config.DEFAULT_DATA_DIR} | {_data_dir_of(c) for c in configs.values()})
        for root in roots:
            for name in _store_names(root):
                places.setdefault(name, root)
    return [_view(name, root, configs.get(name)) for name, root in sorted(places.items())]


def _configs(conf_dir: str) -> "dict[str, NetworkList]":
    """network name -> NetworkList, first file wins; unreadable files are skipped here."""
    from cni.tool import libcni
    found: "dict[str, NetworkList]" = {}
    for path in libcni.conf_files(conf_dir):
        try:
            network = libcni.load_file(path, conf_dir)
        except CNIError:
            continue  # `pycni lint` is the place to hear about it
        found.setdefault(network.name, network)
    return found


def _store_names(root: str) -> "list[str]":
    try:
        names = os.listdir(root)
    except OSError:
        return []
    return sorted(n for n in names if validate.is_name(n) and os.path.isdir(os.path.join(root, n))
                  and not os.path.islink(os.path.join(root, n)))


def _host_local(network: "NetworkList") -> "NetConf | None":
    """The host-local plugin's config as it would receive it (NetConf), or None (none,
    or a config that does not parse: `pycni lint` is the place to hear about it)."""
    import json

    from cni.netconf import NetConf
    from cni.tool.libcni import plugin_config
    for plugin in network.plugins:
        ipam = plugin.get("ipam")
        if isinstance(ipam, dict) and ipam.get("type") == "host-local":
            try:
                return NetConf.parse(json.loads(plugin_config(network, plugin)))
            except CNIError:
                return None
    return None


def _data_dir_of(network: "NetworkList | None") -> str:
    conf = _host_local(network) if network is not None else None
    if conf is None:
        return _config.DEFAULT_DATA_DIR
    try:
        return _config.load_store(conf).data_dir
    except CNIError:
        return _config.DEFAULT_DATA_DIR


def _view(name: str, data_dir: str, network: "NetworkList | None") -> NetworkView:
    view = NetworkView(name, data_dir)
    conf = _host_local(network) if network is not None else None
    if network is not None:
        view.source = network.source
        view.bridge = next((p.get("bridge") or "cni0" for p in network.plugins
                            if p.get("type") == "bridge"), "")
    if conf is not None:
        try:
            view.lock_timeout = _config.load_store(conf).lock_timeout
        except CNIError:
            pass
    store = DiskStore(data_dir, name, view.lock_timeout)
    with store.session(create=False):
        view.allocations = store.allocations()
    if conf is not None:
        try:
            range_sets = _config.HostLocalConf.parse(conf.raw, "STATUS", net=conf).range_sets
            view.ranges = _utilisation(range_sets, view.allocations)
        except CNIError as exc:
            view.note = f"ranges unknown: {exc}"
    return view


def _utilisation(range_sets: "list[RangeSet]", allocations: "list[Allocation]") -> "list[RangeUse]":
    addresses = []
    for a in allocations:
        try:
            addresses.append(ipaddress.ip_address(a.ip))
        except ValueError:
            continue
    return [RangeUse(i, str(r.network), str(r), str(r.gateway), r.size(),
                     sum(1 for ip in addresses if r.contains(ip) and ip != r.gateway))
            for i, range_set in enumerate(range_sets) for r in range_set]


# -- leaks ----------------------------------------------------------------------------


class Finding:
    """The verdict on one allocation, with the evidence that led to it."""

    __slots__ = ("network", "data_dir", "lock_timeout", "allocation", "kind", "evidence")

    def __init__(self, view: NetworkView, allocation: Allocation, kind: str,
                 evidence: "list[str]") -> None:
        self.network = view.name
        self.data_dir = view.data_dir
        self.lock_timeout = view.lock_timeout
        self.allocation = allocation
        self.kind = kind
        self.evidence = evidence

    @property
    def leaked(self) -> bool:
        return self.kind in LEAKED

    def to_dict(self) -> "dict[str, object]":
        return {"network": self.network, **_allocation_dict(self.allocation, time.time()),
                "kind": self.kind, "evidence": list(self.evidence)}


def classify(view: NetworkView, cached: "Cached", scan: "Scan", min_age: float = 60.0,
             now: "float | None" = None) -> "list[Finding]":
    """A verdict per allocation of `view`.

    `cached`: (network, container ID, ifname) -> (netns path, netns alive), from
    the libcni result cache. `scan`: a `cni.tool.netns_scan.Scan` (`held`: address ->
    holders with .netns/.ifname; `hidden_peers`; `namespaces`).
    """
    now = time.time() if now is None else now
    attachments = {(cid, ifname): state for (net, cid, ifname), state in cached.items()
                   if net == view.name}
    return [_verdict(view, a, _cache_state(a, attachments), scan, now - a.mtime < min_age)
            for a in view.allocations]


def _cache_state(a: Allocation,
                 attachments: "dict[tuple[str, str], tuple[str, bool]]") -> "tuple[str, bool] | None":
    """The cached attachment that owns `a` (a legacy file: any of its container's)."""
    if a.problem:
        return None
    if a.ifname is not None:
        return attachments.get((a.container_id, a.ifname))
    return next((s for (cid, _), s in sorted(attachments.items()) if cid == a.container_id), None)


def _verdict(view: NetworkView, a: Allocation, cache: "tuple[str, bool] | None", scan: "Scan",
             young: bool) -> Finding:
    holders = scan.held.get(a.ip, [])
    if holders:
        return Finding(view, a, "live", [f"configured on {h.ifname} in {h.netns}" for h in holders])
    if cache is not None and cache[1]:
        return Finding(view, a, "live", [f"cached attachment; netns {cache[0]} is alive"])
    if young:
        return Finding(view, a, "young", ["reserved moments ago; an ADD may be in flight"])
    if cache is not None:
        kind, evidence = "stale", [f"cached attachment, but netns {cache[0] or '(none)'} is gone"]
    else:
        kind = "corrupt" if a.problem else "leak"
        evidence = ([f"file is {a.problem}"] if a.problem else []) + ["no cache entry"]
    evidence.append(f"address on no interface in {scan.namespaces} live namespaces")
    if scan.hidden_peers or scan.unreadable:
        kind = "unsure"
        if scan.hidden_peers:
            evidence.append("host veths with peers in namespaces pycni cannot see: "
                            + ", ".join(scan.hidden_peers[:5]))
        if scan.unreadable:
            evidence.append("namespaces that could not be inspected: "
                            + ", ".join(scan.unreadable[:5]))
    else:
        evidence.append("no host veth with an unseen peer")
    return Finding(view, a, kind, evidence)


def release(findings: "list[Finding]") -> "list[tuple[Finding, str]]":
    """Release each finding's file if it is unchanged; (finding, outcome) for each."""
    outcomes = []
    groups: "dict[tuple[str, str, float], list[Finding]]" = {}
    for f in findings:
        groups.setdefault((f.data_dir, f.network, f.lock_timeout), []).append(f)
    for (data_dir, network, timeout), group in groups.items():
        with DiskStore(data_dir, network, timeout).session(create=False) as store:
            outcomes += [(f, _release_one(store, f)) for f in group]
    return outcomes


def _release_one(store: DiskStore, f: Finding) -> str:
    if f.kind == "unsure" or not f.leaked:
        return "kept (not a leak)"
    current = store.owner_of(f.allocation.ip)
    if current is None:
        return "already gone"
    before = f.allocation
    if (current.container_id, current.ifname, current.problem, current.mtime) != \
            (before.container_id, before.ifname, before.problem, before.mtime):
        return "kept (changed since it was examined)"
    try:
        store.release(before.ip)
    except StoreFailure as exc:
        return f"failed: {exc}"
    return "released"
