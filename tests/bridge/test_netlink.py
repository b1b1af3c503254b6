"""cni.host.netlink's bridge-plugin operations, in-process, in test-made namespaces."""

import os
import socket

import pytest

from cni.errors import NetlinkFailure
from cni.host import netns
from cni.host.netlink import KernelError, Netlink


def _sockets(host, ctr):
    """Netlink sockets bound to the two namespaces (they stay bound after we leave)."""
    with netns.entered(host.path):
        h = Netlink()
    with netns.entered(ctr.path):
        c = Netlink()
    return h, c


def test_veth_peer_is_created_directly_in_the_other_namespace(host, container):
    h, c = _sockets(host, container)
    fd = netns.open_netns(container.path)
    try:
        h.create_veth("vethtest0", "eth7", fd, mtu=1400, peer_mac="0a:00:00:00:00:07")
    finally:
        os.close(fd)
    here, there = h.link("vethtest0"), c.link("eth7")
    assert h.link("eth7") is None and c.link("vethtest0") is None
    assert (here.kind, there.kind) == ("veth", "veth")
    assert here.peer_index == there.index and there.peer_index == here.index
    assert there.mac == "0a:00:00:00:00:07" and here.mtu == there.mtu == 1400


def test_create_veth_name_clash_is_eexist(host):
    with netns.entered(host.path), Netlink() as h:
        h.create_veth("vethA", "vethB")
        with pytest.raises(KernelError) as exc:
            h.create_veth("vethC", "vethB")
        assert exc.value.errno == 17 and h.link("vethC") is None


def test_bridge_create_is_idempotent_and_ports_take_flags(host):
    with netns.entered(host.path), Netlink() as h:
        assert h.create_bridge("brx", mtu=1400) is True
        assert h.create_bridge("brx") is False
        br = h.link("brx")
        h.create_veth("vethP", "vethQ")
        port = h.link("vethP")
        h.set_master(port.index, br.index)
        h.set_port(port.index, hairpin=True, isolated=True)
        h.set_promisc(br.index)
        h.set_mac(br.index, "0a:00:00:00:0b:0b")
        assert h.link("vethP").master == br.index and h.link("vethP").up
        assert h.link("brx").promisc and h.link("brx").mac == "0a:00:00:00:0b:0b"
    detail = host.sh("ip", "-d", "link", "show", "vethP").stdout
    assert "hairpin on" in detail and "isolated on" in detail


def test_ecmp_routes_coexist_and_are_listed(container):
    with netns.entered(container.path), Netlink() as c:
        c.create_veth("v0", "v1")
        v0 = c.link("v0")
        c.add_address(v0.index, "10.5.0.2/24")
        c.set_up(v0.index)
        c.set_up(c.link("v1").index)
        c.add_route("10.6.0.0/16", v0.index, gw="10.5.0.3")
        c.add_route("10.6.0.0/16", v0.index, gw="10.5.0.4")
        c.add_route("10.6.0.0/16", v0.index, gw="10.5.0.4")  # identical: not an error
        routes = [r for r in c.route_list(socket.AF_INET) if r.dst == "10.6.0.0/16"]
    assert sorted(r.gw for r in routes) == ["10.5.0.3", "10.5.0.4"]
    assert {r.table for r in routes} == {254}


def test_wait_dad_reports_a_duplicate_address(make_netns):
    """Two namespaces claim the same IPv6 address on one link: DAD fails, and says so."""
    a, b = make_netns(), make_netns()
    a.sh("ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1", "netns", b.name)
    for ns, dev in ((a, "d0"), (b, "d1")):
        ns.sh("sysctl", "-qw", f"net.ipv6.conf.{dev}.accept_dad=1")
        ns.sh("ip", "link", "set", dev, "up")
    b.sh("ip", "addr", "add", "fd55::1/64", "dev", "d1", "nodad")
    with netns.entered(a.path), Netlink() as c:
        index = c.link("d0").index
        c.add_address(index, "fd55::1/64")
        with pytest.raises(NetlinkFailure, match="duplicate address detection failed"):
            c.wait_dad(index, timeout=10)


def test_wait_dad_returns_once_addresses_settle(make_netns):
    a = make_netns()
    a.sh("ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1")
    a.sh("sysctl", "-qw", "net.ipv6.conf.d0.accept_dad=1")
    for dev in ("d0", "d1"):
        a.sh("ip", "link", "set", dev, "up")
    with netns.entered(a.path), Netlink() as c:
        index = c.link("d0").index
        c.add_address(index, "fd56::1/64")
        c.wait_dad(index, timeout=10)
        assert all(not flags & 0x40 for _, _, flags in c.addresses(index, socket.AF_INET6))
