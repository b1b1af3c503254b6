"""Allocation decisions: the reference's allocator_test.go tables, on an in-memory store.

`get()` below is the reference's `IPAllocator.Get`: one range set, one
attachment, optionally a requested address; it runs our plugin's own
`reserve_one` against `fakes.FakeStore`, never against files.
"""

import ipaddress

import pytest
from fakes import FakeStore

from cni.errors import AddressUnavailable, PoolExhausted, StoreFailure
from cni.plugins.host_local import reserve_all, reserve_one
from ipam import allocator
from ipam.ranges import Range, RangeSet

ip = ipaddress.ip_address


def rset(*subnets, **kw) -> RangeSet:
    return RangeSet([Range.create(s, kw.get("start"), kw.get("end"), kw.get("gateway"))
                     for s in subnets])


def get(store, range_set, container_id="ID", ifname="eth0", requested=None, index=0):
    with store.session():
        address, rng = reserve_one(store, index, range_set, requested, container_id, ifname)
    return f"{address}/{rng.prefixlen}"


def walked(range_set, last=None, taken=()):
    return [str(a) for a, _ in allocator.candidates(range_set, ip(last) if last else None, taken)]


# -- RangeIter ---------------------------------------------------------------------

def test_iterator_from_the_beginning():
    assert walked(rset("192.168.1.0/29")) == [f"192.168.1.{n}" for n in (2, 3, 4, 5, 6)]


def test_iterator_from_the_end():
    assert walked(rset("192.168.1.0/29"), "192.168.1.6") == [f"192.168.1.{n}" for n in (2, 3, 4, 5, 6)]


def test_iterator_from_the_middle_tries_last_reserved_last():
    assert walked(rset("192.168.1.0/29"), "192.168.1.3") == [f"192.168.1.{n}" for n in (4, 5, 6, 2, 3)]


def test_iterator_skips_taken_addresses_and_accepts_a_predicate():
    s = rset("192.168.1.0/29")
    assert walked(s, taken={"192.168.1.2", "192.168.1.5"}) == ["192.168.1.3", "192.168.1.4", "192.168.1.6"]
    assert walked(s, taken=lambda a: int(a) % 2 == 0) == ["192.168.1.3", "192.168.1.5"]


def test_iterator_with_a_non_default_gateway_hands_out_dot_one():
    assert walked(rset("10.0.0.0/29", gateway="10.0.0.6")) == [f"10.0.0.{n}" for n in (1, 2, 3, 4, 5)]


def test_iterator_is_lazy_on_huge_v6_ranges():
    first = next(allocator.candidates(rset("2001:db8::/32")))
    assert str(first[0]) == "2001:db8::2"


# -- round-robin table -------------------------------------------------------------------

ROUND_ROBIN = [
    # subnets, taken, last reserved, expected
    (["10.0.0.0/29"], [], None, "10.0.0.2"),
    (["2001:db8:1::0/64"], [], None, "2001:db8:1::2"),
    (["10.0.0.0/30"], [], None, "10.0.0.2"),
    (["10.0.0.0/29"], ["10.0.0.2"], None, "10.0.0.3"),
    (["10.0.0.0/29"], [], "10.0.0.5", "10.0.0.6"),
    (["10.0.0.0/29"], ["10.0.0.4", "10.0.0.5"], "10.0.0.3", "10.0.0.6"),
    (["10.0.0.0/29"], ["10.0.0.6"], "10.0.0.5", "10.0.0.2"),
    (["10.0.0.0/29"], ["10.0.0.2"], "10.0.0.128", "10.0.0.3"),  # last out of range
    (["10.0.0.0/29"], ["10.0.0.2", "10.0.0.4", "10.0.0.5", "10.0.0.6"], "10.0.0.3", "10.0.0.3"),
    (["10.0.0.0/30", "10.0.1.0/30"], [], None, "10.0.0.2"),
    (["10.0.0.0/30", "10.0.1.0/30"], [], "10.0.0.2", "10.0.1.2"),
    (["10.0.0.0/30", "10.0.1.0/30", "10.0.2.0/30"], [], "10.0.2.2", "10.0.0.2"),
]


@pytest.mark.parametrize("subnets, taken, last, expected", ROUND_ROBIN)
def test_round_robin(subnets, taken, last, expected):
    store = FakeStore({t: "id" for t in taken}, {0: last} if last else {})
    address = get(store, rset(*subnets)).split("/")[0]
    assert address == expected
    assert store.cursors[0] == expected  # the cursor follows every reservation


def test_broadcast_is_never_allocated_then_exhausted():
    store, s = FakeStore(), rset("192.168.1.0/29")
    got = [get(store, s, f"ID{n}") for n in range(2, 7)]
    assert got == [f"192.168.1.{n}/29" for n in range(2, 7)]
    with pytest.raises(PoolExhausted) as exc:
        get(store, s, "ID8")
    assert exc.value.msg == ("failed to allocate for range 0: no IP addresses available in range set: "
                             "192.168.1.1-192.168.1.6")
    assert exc.value.code == 104


def test_release_then_get_moves_on_round_robin():
    store, s = FakeStore(), rset("192.168.1.0/29")
    assert get(store, s) == "192.168.1.2/29"
    assert store.release_by_owner("ID", "eth0") == ["192.168.1.2"]
    assert get(store, s) == "192.168.1.3/29"


@pytest.mark.parametrize("subnets, taken", [
    (["10.0.0.0/30"], ["10.0.0.2"]),
    (["10.0.0.0/29"], [f"10.0.0.{n}" for n in range(2, 7)]),
    (["10.0.0.0/30", "10.0.1.0/30"], ["10.0.0.2", "10.0.1.2"]),
])
def test_out_of_addresses_is_a_meaningful_error(subnets, taken):
    with pytest.raises(PoolExhausted) as exc:
        get(FakeStore({t: "id" for t in taken}), rset(*subnets))
    assert "no IP addresses available in range set" in exc.value.msg


# -- multi-range start point -------------------------------------------------------------------

def multi():
    return RangeSet([Range.create("192.168.1.0/30", "192.168.1.0", "192.168.1.3"),
                     Range.create("192.168.2.0/30", "192.168.2.0", "192.168.2.3")])


def test_last_at_the_end_of_one_range_starts_at_the_next_range():
    assert walked(multi(), "192.168.1.3")[0] == "192.168.2.0"
    assert walked(multi(), "192.168.1.3") == ["192.168.2.0", "192.168.2.2", "192.168.2.3",
                                              "192.168.1.0", "192.168.1.2", "192.168.1.3"]


def test_no_last_starts_at_the_first_range_start():
    assert walked(multi())[0] == "192.168.1.0"


# -- requested addresses -------------------------------------------------------------------------

def test_requested_address_is_granted():
    assert get(FakeStore(), rset("192.168.1.0/29"), requested=ip("192.168.1.5")) == "192.168.1.5/29"


def test_requested_address_taken_gets_the_exact_message():
    store, s = FakeStore(), rset("192.168.1.0/29")
    get(store, s, requested=ip("192.168.1.5"))
    with pytest.raises(AddressUnavailable) as exc:
        get(store, s, requested=ip("192.168.1.5"))
    assert exc.value.msg.endswith(
        "requested IP address 192.168.1.5 is not available in range set 192.168.1.1-192.168.1.6")
    assert exc.value.code == 105


@pytest.mark.parametrize("kw, requested", [({"end": "192.168.1.4"}, "192.168.1.5"),
                                           ({"start": "192.168.1.3"}, "192.168.1.2")])
def test_requested_address_outside_start_end_is_refused(kw, requested):
    with pytest.raises(AddressUnavailable, match="not in range set"):
        get(FakeStore(), rset("192.168.1.0/29", **kw), requested=ip(requested))


def test_requested_gateway_is_refused():
    with pytest.raises(AddressUnavailable) as exc:
        get(FakeStore(), rset("10.1.2.0/24"), requested=ip("10.1.2.1"))
    assert exc.value.msg == "failed to allocate for range 0: requested ip 10.1.2.1 is subnet's gateway"


def test_requested_address_skips_the_duplicate_rule_and_moves_the_cursor():
    store = FakeStore({"10.1.2.2": "ID\r\neth0"})
    assert get(store, rset("10.1.2.0/24"), requested=ip("10.1.2.88")) == "10.1.2.88/24"
    assert store.cursors[0] == "10.1.2.88"


def test_assign_requested_gives_each_set_the_first_address_it_contains():
    sets = [rset("10.1.2.0/24"), rset("2001:db8:1::/48")]
    wanted = allocator.assign_requested(sets, [ip("2001:db8:1::999"), ip("10.1.2.88")])
    assert wanted == [ip("10.1.2.88"), ip("2001:db8:1::999")]
    assert allocator.assign_requested(sets, []) == [None, None]


def test_assign_requested_refuses_addresses_no_set_can_take():
    sets = [rset("10.1.2.0/24"), rset("10.1.3.0/24")]
    with pytest.raises(AddressUnavailable) as exc:
        allocator.assign_requested(sets, [ip("10.1.2.88"), ip("10.1.2.77")])
    assert exc.value.msg == "failed to allocate all requested IPs: 10.1.2.77"
    with pytest.raises(AddressUnavailable) as exc:
        allocator.assign_requested(sets, [ip("10.9.9.9")])
    assert exc.value.msg == "failed to allocate all requested IPs: 10.9.9.9"


# -- one address per set per attachment -----------------------------------------------------------

def test_second_allocation_for_the_same_attachment_is_refused():
    store, s = FakeStore(), rset("10.1.2.0/24")
    assert get(store, s, "dummy") == "10.1.2.2/24"
    with pytest.raises(AddressUnavailable) as exc:
        get(store, s, "dummy")
    assert exc.value.msg == ("failed to allocate for range 0: 10.1.2.2 has been allocated to dummy, "
                             "duplicate allocation is not allowed")
    assert get(store, s, "dummy1") == "10.1.2.3/24"
    assert get(store, s, "dummy", ifname="eth1") == "10.1.2.4/24"  # another attachment


def test_legacy_id_only_entry_counts_as_a_duplicate_like_the_reference():
    store = FakeStore({"10.1.2.7": "dummy"})
    with pytest.raises(AddressUnavailable, match=r"10.1.2.7 has been allocated to dummy"):
        get(store, rset("10.1.2.0/24"), "dummy")


def test_the_duplicate_rule_is_per_set():
    store = FakeStore({"10.1.2.2": "dummy\r\neth0"})
    assert get(store, rset("10.1.3.0/24"), "dummy", index=1) == "10.1.3.2/24"


# -- several sets: all or nothing --------------------------------------------------------------------

def test_reserve_all_takes_one_address_per_set_and_flushes():
    store = FakeStore()
    sets = [rset("10.1.2.0/24", "10.2.2.0/24"), rset("2001:db8:1::/64")]
    with store.session():
        ips = reserve_all(store, sets, [None, None], "dummy", "eth0")
    assert [(i.address, i.gateway, i.interface) for i in ips] == [
        ("10.1.2.2/24", "10.1.2.1", None), ("2001:db8:1::2/64", "2001:db8:1::1", None)]
    assert store.cursors == {0: "10.1.2.2", 1: "2001:db8:1::2"}
    assert store.flushed == 1


def test_a_later_set_failing_releases_the_earlier_ones():
    store = FakeStore({"10.1.3.2": "other\r\neth0"})
    sets = [rset("10.1.2.0/24"), rset("10.1.3.0/30")]
    with store.session(), pytest.raises(PoolExhausted, match=r"^failed to allocate for range 1: "):
        reserve_all(store, sets, [None, None], "dummy", "eth0")
    assert set(store.entries) == {"10.1.3.2"}
    assert ("release", "10.1.2.2") in store.calls


def test_a_store_failure_releases_the_earlier_sets_and_keeps_its_code():
    store = FakeStore()
    store.fail_reserve_at = 2
    sets = [rset("10.1.2.0/24"), rset("10.1.3.0/24")]
    with store.session(), pytest.raises(StoreFailure) as exc:
        reserve_all(store, sets, [None, None], "dummy", "eth0")
    assert exc.value.code == 108
    assert store.entries == {}
    assert store.flushed == 0


def test_tiny_pool_of_one_address():
    store, s = FakeStore(), rset("10.0.0.0/30")
    assert get(store, s, "a") == "10.0.0.2/30"
    with pytest.raises(PoolExhausted):
        get(store, s, "b")
    store.release_by_owner("a", "eth0")
    assert get(store, s, "b") == "10.0.0.2/30"
