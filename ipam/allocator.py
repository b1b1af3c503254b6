"""Which address to hand out: the reference's round-robin, as pure decisions.

Where it sits: `cni.plugins.host_local` holds the store lock, asks these
functions what to try, and lets the store commit (a reservation can still lose
to a file nobody listed; then the next candidate is tried). Nothing here reads
or writes files, so the rules are tested against plain sets.

- `candidates(range_set, last, taken)`: start right after `last` when the set
  contains it, else at the first range's start; walk to each range's end, go
  on with the next range of the set (wrapping), skip every range's gateway and
  every taken address, stop when the walk comes back to where it started.
  `last` itself is therefore tried last.
- `assign_requested(sets, requested)`: each set takes the first requested
  address it contains; an address no set contains fails the whole ADD before
  anything is written (the reference allocates first and then rolls back).
- `check_requested`, `refuse_duplicate`, `exhausted`: the reference's errors,
  with their exact texts, as typed CNI errors.
"""

from cni.errors import AddressUnavailable, PoolExhausted
from ipam.ranges import Range, RangeSet

TYPE_CHECKING = False  # type checkers read this as True; typing costs ~3 ms per exec
if TYPE_CHECKING:
    from collections.abc import Callable, Container, Iterable, Iterator

    from ipam.ranges import IPAddress


def candidates(range_set: RangeSet, last: "IPAddress | None" = None,
               taken: "Container[str] | Callable[[IPAddress], bool]" = ()
               ) -> "Iterator[tuple[IPAddress, Range]]":
    """Yield (address, range) in round-robin order, untaken addresses only.

    `taken` is anything supporting `str(address) in taken` (a set of file
    names) or a predicate called with the address.
    """
    is_taken = taken if callable(taken) else (lambda address: str(address) in taken)
    for address, rng in walk(range_set, last):
        if not is_taken(address):
            yield address, rng


def walk(range_set: RangeSet, last: "IPAddress | None" = None) -> "Iterator[tuple[IPAddress, Range]]":
    """Every address of the set once, gateways skipped, starting after `last`."""
    ranges = range_set.ranges
    index = 0
    current: "IPAddress | None" = None
    origin: "IPAddress | None" = None
    if last is not None and range_set.contains(last):
        index = next(i for i, r in enumerate(ranges) if r.contains(last))
        current = last
    while True:
        rng = ranges[index]
        if current is None:
            current = origin = rng.start
        else:
            if current == rng.end:
                index = (index + 1) % len(ranges)
                rng = ranges[index]
                current = rng.start
            else:
                current = current + 1
            if origin is None:
                origin = current
            elif current == origin:
                return
        if current != rng.gateway:
            yield current, rng


def assign_requested(sets: "list[RangeSet]",
                     requested: "Iterable[IPAddress]") -> "list[IPAddress | None]":
    """For each set, the requested address it serves (or None); all must be used."""
    left = list(requested)
    chosen = []
    for range_set in sets:
        pick = next((ip for ip in left if range_set.contains(ip)), None)
        if pick is not None:
            left.remove(pick)
        chosen.append(pick)
    if left:
        raise AddressUnavailable("failed to allocate all requested IPs: "
                                 + " ".join(str(ip) for ip in left),
                                 "a requested address must lie inside one of the ranges "
                                 "(rangeStart..rangeEnd), one address per range set")
    return chosen


def check_requested(range_set: RangeSet, address: "IPAddress") -> Range:
    """The range serving a requested address; its gateway is refused."""
    rng = range_set.range_for(address)
    if rng is None:
        raise AddressUnavailable(f"{address} not in range set {range_set}")
    if address == rng.gateway:
        raise AddressUnavailable(f"requested ip {address} is subnet's gateway")
    return rng


def unavailable(range_set: RangeSet, address: object) -> AddressUnavailable:
    return AddressUnavailable(
        f"requested IP address {address} is not available in range set {range_set}")


def refuse_duplicate(range_set: RangeSet, held: "Iterable[IPAddress | None]", container_id: str) -> None:
    """An attachment gets one address per set: refuse a second one (spec: no ADD twice)."""
    for address in held:
        if address is not None and range_set.contains(address):
            raise AddressUnavailable(
                f"{address} has been allocated to {container_id}, duplicate allocation is not allowed",
                "the runtime must DEL this attachment (container ID and ifname) before adding it again")


def exhausted(range_set: RangeSet) -> PoolExhausted:
    return PoolExhausted(f"no IP addresses available in range set: {range_set}")
