"""Ranges and range sets: the reference's range_test.go and range_set_test.go tables.

Every message is compared with the reference's exact text (host-local 1.1.1),
since users grep for them.
"""

import ipaddress

import pytest

from ipam.ranges import Range, RangeError, RangeSet, parse_cidr, parse_ip

ip = ipaddress.ip_address


def rng(subnet, start=None, end=None, gateway=None):
    return Range.create(subnet, start, end, gateway)


# -- defaults ---------------------------------------------------------------------

@pytest.mark.parametrize("subnet, start, end, gateway", [
    ("192.0.2.0/24", "192.0.2.1", "192.0.2.254", "192.0.2.1"),
    ("192.0.2.0/25", "192.0.2.1", "192.0.2.126", "192.0.2.1"),
    ("10.0.0.0/30", "10.0.0.1", "10.0.0.2", "10.0.0.1"),
    ("2001:DB8:1::/64", "2001:db8:1::1", "2001:db8:1:0:ffff:ffff:ffff:ffff", "2001:db8:1::1"),
    ("2001:db8::/126", "2001:db8::1", "2001:db8::3", "2001:db8::1"),
])
def test_defaults_start_at_network_plus_one_and_end_before_broadcast_for_v4_only(
        subnet, start, end, gateway):
    r = rng(subnet)
    assert (str(r.start), str(r.end), str(r.gateway)) == (start, end, gateway)
    assert str(r) == f"{start}-{end}"


def test_all_fields_parsed():
    r = rng("192.0.2.0/24", "192.0.2.40", "192.0.2.50", "192.0.2.254")
    assert r == Range(ipaddress.ip_network("192.0.2.0/24"), ip("192.0.2.40"), ip("192.0.2.50"),
                      ip("192.0.2.254"))
    assert r.prefixlen == 24 and r.version == 4


def test_explicit_gateway_inside_the_subnet_is_kept():
    assert str(rng("10.0.0.0/24", gateway="10.0.0.254").gateway) == "10.0.0.254"


def test_gateway_outside_the_subnet_is_accepted_like_the_reference_1_1_1():
    assert str(rng("10.1.2.0/24", gateway="10.9.9.9").gateway) == "10.9.9.9"


def test_gateway_of_the_other_family_is_refused():
    with pytest.raises(RangeError, match=r"^gateway 2001:db8::1 not in network 10.0.0.0/24$") as exc:
        rng("10.0.0.0/24", gateway="2001:db8::1")
    assert exc.value.field == "gateway"


def test_start_and_end_may_be_network_and_broadcast_when_explicit():
    r = rng("192.168.1.0/30", "192.168.1.0", "192.168.1.3")
    assert (str(r.start), str(r.end)) == ("192.168.1.0", "192.168.1.3")


# -- refusals, exact texts -----------------------------------------------------------

@pytest.mark.parametrize("subnet, message", [
    ("192.0.2.12/24",
     "Network has host bits set. For a subnet mask of length 24 the network address is 192.0.2.0"),
    ("2001:DB8:1::24:19ff:fee1:c44a/64",
     "Network has host bits set. For a subnet mask of length 64 the network address is 2001:db8:1::"),
    ("2001:DB8:24:19ff::/63",
     "Network has host bits set. For a subnet mask of length 63 the network address is 2001:db8:24:19fe::"),
    ("192.168.127.0/23",
     "Network has host bits set. For a subnet mask of length 23 the network address is 192.168.126.0"),
    ("192.0.2.0/31", "Network 192.0.2.0/31 too small to allocate from"),
    ("192.0.2.7/32", "Network 192.0.2.7/32 too small to allocate from"),
    ("2001:db8::/127", "Network 2001:db8::/127 too small to allocate from"),
    ("2001:db8::1/128", "Network 2001:db8::1/128 too small to allocate from"),
    ("::ffff:10.1.2.0/120", "IPNet IP and Mask version mismatch"),
])
def test_bad_subnets_get_the_reference_message(subnet, message):
    with pytest.raises(RangeError) as exc:
        rng(subnet)
    assert str(exc.value) == message
    assert exc.value.field == "subnet"


@pytest.mark.parametrize("start, end, message, field", [
    ("192.0.3.0", None, "RangeStart 192.0.3.0 not in network 192.0.2.0/24", "rangeStart"),
    (None, "192.0.4.0", "RangeEnd 192.0.4.0 not in network 192.0.2.0/24", "rangeEnd"),
    # inverted: the reference reports the start, because Contains already uses the end
    ("192.0.2.50", "192.0.2.40", "RangeStart 192.0.2.50 not in network 192.0.2.0/24", "rangeStart"),
    ("2001:db8::5", None, "RangeStart 2001:db8::5 not in network 192.0.2.0/24", "rangeStart"),
])
def test_start_and_end_outside_the_subnet_are_refused(start, end, message, field):
    with pytest.raises(RangeError) as exc:
        rng("192.0.2.0/24", start, end)
    assert (str(exc.value), exc.value.field) == (message, field)


@pytest.mark.parametrize("text", ["foo", "10.1.2.0", "10.1.2.0/33", "10.1.2.0/-1", "10.1.2.0/ 24",
                                  "10.1.2.0/24/1", "fe80::/64%eth0", "10.1.2.0/255.255.255.0",
                                  "010.1.2.0/24", "", None, 5])
def test_unparseable_subnets_fail_like_go_parse_cidr(text):
    with pytest.raises(ValueError, match=r"^invalid CIDR address: "):
        parse_cidr(text)


@pytest.mark.parametrize("text", ["bar", "10.1.2", "10.1.2.3/24", "fe80::1%eth0", "", None, "1.2.3.04"])
def test_unparseable_addresses_fail(text):
    with pytest.raises(ValueError, match=r"^invalid IP address: "):
        parse_ip(text)


def test_ipv4_mapped_ipv6_reads_as_ipv4():
    assert parse_ip("::ffff:10.1.2.3") == ip("10.1.2.3")
    assert str(rng("10.1.2.0/24", "::ffff:10.1.2.9").start) == "10.1.2.9"


# -- contains ---------------------------------------------------------------------------

def test_contains_v4_boundaries():
    r = rng("192.0.2.0/24", "192.0.2.40", "192.0.2.50", "192.0.2.254")
    assert [r.contains(ip(f"192.0.2.{n}")) for n in (39, 40, 50, 51)] == [False, True, True, False]
    assert not r.contains(ip("192.0.3.0"))
    assert not r.contains(ip("::1"))


def test_contains_v6_boundaries():
    r = rng("2001:DB8:1::/64", "2001:db8:1::40", "2001:db8:1::50")
    got = [r.contains(ip(f"2001:db8:1::{n}")) for n in ("39", "40", "50", "51")]
    assert got == [False, True, True, False]
    assert not r.contains(ip("2001:db8:2::"))
    assert not r.contains(ip("10.0.0.1"))


# -- overlap table (commutative) -----------------------------------------------------------

@pytest.mark.parametrize("first, second, expected", [
    (("10.0.0.0/24",), ("10.0.1.0/24",), False),
    (("0.0.0.0/24",), ("::/24",), False),  # the bits overlap, the families do not
    (("10.0.0.0/24",), ("10.0.0.0/24",), True),
    (("10.0.0.0/20",), ("10.0.1.0/24",), True),
    (("10.0.0.0/24", None, "10.0.0.127"), ("10.0.0.0/24", "10.0.0.128"), False),
    (("10.0.0.0/24", None, "10.0.0.127"), ("10.0.0.0/24", "10.0.0.127"), True),
], ids=["disjoint", "families", "identical", "containing", "split", "touching"])
def test_overlap(first, second, expected):
    a, b = rng(*first), rng(*second)
    assert a.overlaps(b) is expected
    assert b.overlaps(a) is expected


# -- range sets -------------------------------------------------------------------------------

def test_range_set_membership_and_text():
    s = RangeSet([rng("192.168.0.0/24"), rng("172.16.1.0/24")])
    assert s.contains(ip("192.168.0.55"))
    assert s.range_for(ip("192.168.0.55")) is s.ranges[0]
    assert s.range_for(ip("192.168.99.99")) is None
    assert str(s) == "192.168.0.1-192.168.0.254,172.16.1.1-172.16.1.254"


def test_overlap_inside_a_set_is_refused_with_the_reference_text():
    with pytest.raises(RangeError) as exc:
        RangeSet([rng("192.168.0.0/20"), rng("192.168.2.0/24")])
    assert str(exc.value) == "subnets 192.168.0.1-192.168.15.254 and 192.168.2.1-192.168.2.254 overlap"


def test_overlap_across_sets_is_detected_both_ways():
    p1, p2 = RangeSet([rng("192.168.0.0/20")]), RangeSet([rng("192.168.2.0/24")])
    assert p1.overlaps(p2) and p2.overlaps(p1)


def test_a_set_has_one_family_and_at_least_one_range():
    with pytest.raises(RangeError, match=r"^mixed address families$"):
        RangeSet([rng("10.1.2.0/24"), rng("2001:db8::/64")])
    with pytest.raises(RangeError, match=r"^empty range set$"):
        RangeSet([])


@pytest.mark.parametrize("ranges, size", [
    ([("10.0.0.0/30",)], 1),                      # .1 is the gateway: only .2
    ([("10.0.0.0/29",)], 5),                      # .2-.6
    ([("10.0.0.0/24",)], 253),
    ([("10.0.0.0/24", None, None, "10.0.0.254")], 253),  # .1 allocatable, .254 not
    ([("10.0.0.0/24", "10.0.0.10", "10.0.0.20")], 11),   # gateway .1 outside start-end
    ([("10.0.0.0/30",), ("10.0.1.0/30",)], 2),
    ([("2001:db8::/126",)], 2),
])
def test_size_counts_allocatable_addresses(ranges, size):
    assert RangeSet([rng(*r) for r in ranges]).size() == size
