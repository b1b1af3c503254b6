"""Address ranges and range sets: the pure arithmetic of host-local.

Where it sits: `ipam.config` builds `Range`s from the config (canonicalised
once, with the reference's exact error texts) and groups them into `RangeSet`s;
`ipam.allocator` walks them. No I/O here, only `ipaddress`.

A Range is `subnet` plus the inclusive `start`..`end` it hands out and its
`gateway`. Defaults, as the reference computes them (not as its docs say):
gateway = network+1, start = network+1 (the iterator skips the gateway, so
the first lease is .2), end = broadcast-1 for IPv4 and the last address for
IPv6. An explicit start/end may be the network or broadcast address. A subnet
must leave at least two host bits (/30, /126 or shorter). IPv4-mapped IPv6
addresses are read as IPv4 (Go's `To4`). A RangeSet holds ranges of one
family that do not overlap; the allocator takes one address per set.
"""

import ipaddress

TYPE_CHECKING = False  # type checkers read this as True; typing costs ~3 ms per exec
if TYPE_CHECKING:
    from collections.abc import Iterator

IPv4Address = ipaddress.IPv4Address
IPv6Address = ipaddress.IPv6Address
IPAddress = IPv4Address | IPv6Address


class RangeError(ValueError):
    """A range the reference would refuse; `field` names the offending key."""

    def __init__(self, msg: str, field: str = "subnet") -> None:
        super().__init__(msg)
        self.field = field


def parse_ip(text: object) -> "IPv4Address | IPv6Address":
    """An IP address as Go's net.ParseIP reads it (no zone, no prefix), mapped v6 -> v4."""
    if not isinstance(text, str) or "%" in text or "/" in text:
        raise ValueError(f"invalid IP address: {text}")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"invalid IP address: {text}") from None
    return _unmap(address)


def parse_ip_or_none(text: "str | None") -> "IPv4Address | IPv6Address | None":
    if not text:
        return None
    try:
        return parse_ip(text.strip())
    except ValueError:
        return None


def parse_cidr(text: object) -> "tuple[IPv4Address | IPv6Address, int, int]":
    """'a.b.c.d/n' -> (address as written, prefix length, address bits), like Go's ParseCIDR.

    The address bits stay 128 for an IPv4-mapped subnet, so canonicalize()
    can refuse it as the reference does (IP and mask of different versions).
    """
    if not isinstance(text, str) or text.count("/") != 1 or "%" in text:
        raise ValueError(f"invalid CIDR address: {text}")
    address_text, prefix_text = text.split("/")
    if not prefix_text.isdigit() or not prefix_text.isascii() or len(prefix_text) > 3:
        raise ValueError(f"invalid CIDR address: {text}")
    try:
        address = ipaddress.ip_address(address_text)
    except ValueError:
        raise ValueError(f"invalid CIDR address: {text}") from None
    prefix = int(prefix_text)
    if prefix > address.max_prefixlen:
        raise ValueError(f"invalid CIDR address: {text}")
    return address, prefix, address.max_prefixlen


def _unmap(address: "IPv4Address | IPv6Address") -> "IPv4Address | IPv6Address":
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class Range:
    """One canonical range; build it with `Range.create` (checks and defaults)."""

    __slots__ = ("network", "start", "end", "gateway")

    def __init__(self, network: "ipaddress.IPv4Network | ipaddress.IPv6Network",
                 start: "IPv4Address | IPv6Address", end: "IPv4Address | IPv6Address",
                 gateway: "IPv4Address | IPv6Address") -> None:
        self.network = network
        self.start = start
        self.end = end
        self.gateway = gateway

    @classmethod
    def create(cls, subnet: str, range_start: "str | None" = None, range_end: "str | None" = None,
               gateway: "str | None" = None) -> "Range":
        """Parse and canonicalize, in the reference's order and with its messages."""
        address, prefix, bits = parse_cidr(subnet)
        written = f"{_unmap(address)}/{prefix}"
        if prefix > bits - 2:
            raise RangeError(f"Network {written} too small to allocate from")
        if address.version == 6 and address.ipv4_mapped is not None:
            raise RangeError("IPNet IP and Mask version mismatch")
        network = ipaddress.ip_network(written, strict=False)
        if network.network_address != address:
            raise RangeError(f"Network has host bits set. For a subnet mask of length {prefix} "
                             f"the network address is {network.network_address}")
        first = network.network_address + 1
        gw = _optional_ip(gateway, "gateway") or first
        if gw.version != network.version:
            # 1.1.1 accepts a gateway outside the subnet (kept: drop-in
            # compatibility) but one of the other family can never work.
            raise RangeError(f"gateway {gw} not in network {network}", "gateway")
        start = _optional_ip(range_start, "rangeStart")
        end = _optional_ip(range_end, "rangeEnd")
        bounds = cls(network, start or first, end or _last(network), gw)
        # The reference checks each bound against the subnet *and* the other
        # bound, so an inverted pair is reported as a bad start.
        if start is not None and not bounds.contains(start):
            raise RangeError(f"RangeStart {start} not in network {network}", "rangeStart")
        if end is not None and not bounds.contains(end):
            raise RangeError(f"RangeEnd {end} not in network {network}", "rangeEnd")
        return bounds

    @property
    def version(self) -> int:
        return self.network.version

    @property
    def prefixlen(self) -> int:
        return self.network.prefixlen

    def contains(self, address: "IPv4Address | IPv6Address") -> bool:
        """In the subnet and between start and end (inclusive); other family -> False."""
        return (address.version == self.network.version and address in self.network
                and int(self.start) <= int(address) <= int(self.end))  # one family (checked first)

    def overlaps(self, other: "Range") -> bool:
        if self.version != other.version:
            return False
        return (self.contains(other.start) or self.contains(other.end)
                or other.contains(self.start) or other.contains(self.end))

    def size(self) -> int:
        """How many addresses this range can hand out (its gateway excluded)."""
        count = int(self.end) - int(self.start) + 1
        return count - 1 if int(self.start) <= int(self.gateway) <= int(self.end) else count

    def __str__(self) -> str:
        return f"{self.start}-{self.end}"

    def __repr__(self) -> str:
        return f"Range({self.network}, {self}, gw={self.gateway})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Range) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__)


def _optional_ip(text: "str | None", field: str) -> "IPv4Address | IPv6Address | None":
    if text is None or text == "":
        return None
    try:
        return parse_ip(text)
    except ValueError as exc:
        raise RangeError(str(exc), field) from None


def _last(network: "ipaddress.IPv4Network | ipaddress.IPv6Network") -> "IPv4Address | IPv6Address":
    """The default rangeEnd: broadcast-1 for IPv4, the all-ones address for IPv6."""
    last = network.broadcast_address
    return last - 1 if network.version == 4 else last


class RangeSet:
    """Ranges of one family, without overlaps; one address is taken per set."""

    __slots__ = ("ranges",)

    def __init__(self, ranges: "list[Range]") -> None:
        if not ranges:
            raise RangeError("empty range set")
        if any(r.version != ranges[0].version for r in ranges):
            raise RangeError("mixed address families")
        for i, first in enumerate(ranges):
            for second in ranges[i + 1:]:
                if first.overlaps(second):
                    raise RangeError(f"subnets {first} and {second} overlap")
        self.ranges = list(ranges)

    @property
    def version(self) -> int:
        return self.ranges[0].version

    def range_for(self, address: "IPv4Address | IPv6Address") -> "Range | None":
        for r in self.ranges:
            if r.contains(address):
                return r
        return None

    def contains(self, address: "IPv4Address | IPv6Address") -> bool:
        return self.range_for(address) is not None

    def overlaps(self, other: "RangeSet") -> bool:
        return any(a.overlaps(b) for a in self.ranges for b in other.ranges)

    def size(self) -> int:
        return sum(r.size() for r in self.ranges)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.ranges)

    def __repr__(self) -> str:
        return f"RangeSet({self})"

    def __iter__(self) -> "Iterator[Range]":
        return iter(self.ranges)

    def __len__(self) -> int:
        return len(self.ranges)
