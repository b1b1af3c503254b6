"""host-local: addresses from the configured range sets, recorded in files on this node.

Where it sits: run directly (`bin/host-local`) or in-process by a main plugin
through `cni.delegate`. `ipam.config` reads the config, `ipam.allocator`
decides, `ipam.disk` (behind `ipam.store.Store`) commits; the on-disk format is
the reference's, so Go and Python host-local can share a dataDir.

- ADD: one address per range set under the store lock (a requested address
  when one falls in the set, else round-robin after the set's last
  reservation). Any failure releases what this ADD reserved. The result holds
  `ips` (no interface index), `routes` and the `dns` of ipam.resolvConf.
- DEL: release everything (container ID, ifname) holds, legacy id-only files
  too. Idempotent, never needs the netns, and only needs the store's location
  from the config.
- CHECK: fails unless the attachment holds a reservation, and every address of
  prevResult inside our ranges is one of them.
- GC (1.1.0): release every reservation whose attachment is not in
  `cni.dev/valid-attachments` (or `cni.dev/attachments`). Key absent: release
  nothing; `[]` or null: release everything. Errors are collected, not fatal.
- STATUS (1.1.0): NotAvailable (50) when ADD could not be served: the store
  cannot be written, or a range set has no free address. Writes nothing.
"""

from cni import log
from cni.errors import CheckFailed, CNIError, NotAvailable, StoreFailure
from cni.request import Request
from cni.types import DNS, IPConfig, Result
from ipam import allocator, config
from ipam.disk import DiskStore
from ipam.ranges import parse_ip_or_none
from ipam.store import Store, release_all

TYPE_CHECKING = False  # type checkers read this as True; typing costs ~3 ms per exec
if TYPE_CHECKING:
    from ipam.ranges import IPAddress, Range, RangeSet

NAME = "host-local"
CONFIG = config.HostLocalConf


def add(req: Request) -> Result:
    cfg = config.load(req)
    dns = config.read_resolv_conf(cfg.resolv_conf) if cfg.resolv_conf else DNS()
    wanted = allocator.assign_requested(cfg.range_sets, cfg.requested)
    with _store(cfg).session() as store:
        ips = reserve_all(store, cfg.range_sets, wanted, req.container_id, req.ifname)
    return Result(cfg.cni_version, ips=ips, routes=cfg.routes, dns=dns)


def reserve_all(store: Store, range_sets: "list[RangeSet]", wanted: "list[IPAddress | None]",
                container_id: str, ifname: str) -> "list[IPConfig]":
    """One address per set, made durable; on any failure none of them stays reserved."""
    reserved: "list[str]" = []
    ips = []
    try:
        for index, (range_set, want) in enumerate(zip(range_sets, wanted, strict=True)):
            address, rng = reserve_one(store, index, range_set, want, container_id, ifname)
            reserved.append(str(address))
            ips.append(IPConfig(f"{address}/{rng.prefixlen}", str(rng.gateway)))
        store.flush()
    except BaseException:
        _roll_back(store, reserved)
        raise
    return ips


def reserve_one(store: Store, index: int, range_set: "RangeSet", want: "IPAddress | None",
                container_id: str, ifname: str) -> "tuple[IPAddress, Range]":
    """The address of set `index` for this attachment, as (address, range)."""
    try:
        if want is not None:
            rng = allocator.check_requested(range_set, want)
            if not store.reserve(str(want), container_id, ifname, index):
                raise allocator.unavailable(range_set, want)
            return want, rng
        held = [parse_ip_or_none(ip) for ip in store.find_by_owner(container_id, ifname)]
        allocator.refuse_duplicate(range_set, held, container_id)
        last = parse_ip_or_none(store.last_reserved(index))
        for address, rng in allocator.candidates(range_set, last, store.taken()):
            if store.reserve(str(address), container_id, ifname, index):
                return address, rng
        raise allocator.exhausted(range_set)
    except CNIError as exc:  # the reference's wording: which set failed
        raise type(exc)(f"failed to allocate for range {index}: {exc.msg}", exc.details,
                        exc.code) from exc


def _roll_back(store: Store, reserved: "list[str]") -> None:
    try:
        release_all(store, reserved)
    except StoreFailure as exc:  # keep the original error; log what stays behind
        log.error("rolling back the reservations of a failed ADD: %s", exc)


def delete(req: Request) -> None:
    cfg = config.load_store(req.conf, req.command)
    store = _store(cfg)
    if not store.exists():
        return  # nothing was ever reserved on this network: nothing to release
    with store.session(create=False):
        released = store.release_by_owner(req.container_id, req.ifname)
    if released:
        log.debug("released %s for %s/%s", ",".join(released), req.container_id, req.ifname)


def check(req: Request) -> None:
    cfg = config.load(req)
    with _store(cfg).session(create=False) as store:
        held = store.find_by_owner(req.container_id, req.ifname)
    if not held:
        raise CheckFailed(f"host-local: Failed to find address added by container {req.container_id}")
    prev = req.conf.prev_result()
    for ip in prev.ips if prev is not None else ():
        address = parse_ip_or_none(ip.address.split("/")[0])
        ours = any(s.contains(address) for s in cfg.range_sets) if address else False
        if ours and str(address) not in held:
            raise CheckFailed(f"host-local: address {address} of prevResult is not reserved for "
                              f"container {req.container_id} ({req.ifname})",
                              f"reserved for this attachment: {', '.join(held)}")


def gc(req: Request) -> None:
    cfg = config.load_store(req.conf, req.command)
    valid = req.conf.valid_attachments()
    store = _store(cfg)
    if valid is None or not store.exists():
        return  # no list (cnitool gc): nobody told us what is stale
    pairs = set(valid)
    ids = {cid for cid, _ in pairs}
    with store.session(create=False):
        stale = [a.ip for a in store.allocations()
                 if a.problem or ((a.container_id, a.ifname) not in pairs
                                  and not (a.ifname is None and a.container_id in ids))]
        if stale:
            log.info("GC releases %s", ",".join(stale))
        release_all(store, stale)


def status(req: Request) -> None:
    cfg = config.load(req)
    store = _store(cfg)
    problem = store.status_problem()
    if problem:
        raise NotAvailable(f"host-local cannot serve ADD: {problem}")
    # only canonical names: exactly the files the allocator would collide with
    taken = [ip for name in store.taken() if (ip := parse_ip_or_none(name)) is not None and str(ip) == name]
    for index, range_set in enumerate(cfg.range_sets):
        used = sum(1 for ip in taken if (r := range_set.range_for(ip)) is not None and ip != r.gateway)
        if used >= range_set.size():
            raise NotAvailable(f"host-local cannot serve ADD: no IP addresses available in "
                               f"range set {index}: {range_set}",
                               f"{used} of {range_set.size()} addresses are reserved; "
                               "release some (DEL or GC) or widen the range")


def _store(cfg: config.IPAMConfig) -> DiskStore:
    return DiskStore(cfg.data_dir, cfg.network, cfg.lock_timeout)
