"""Packets: two containers on one bridge reach each other and the gateway (v4 and v6).

Every address is in test-made namespaces; no packet leaves them.
"""

import pytest

from bridge.kit import conf, container_ip

FAMILIES = {4: ("10.77.0.0/24",), 6: ("fd77::/64",)}


@pytest.mark.parametrize("family", [4, 6])
def test_two_containers_and_the_gateway(node, family):
    config = conf(node.data_dir, subnets=FAMILIES[family], isDefaultGateway=True)
    c1, c2 = node.container(), node.container()
    r1, r2 = node.add(config, c1, "c1"), node.add(config, c2, "c2")
    ip1, ip2 = container_ip(r1, family), container_ip(r2, family)
    gateway = r1["ips"][0]["gateway"]
    assert node.ping(c1, ip2)
    assert node.ping(c2, ip1)
    assert node.ping(c1, gateway) and node.ping(c2, gateway)
    assert node.host.sh("ping", "-c1", "-W2", ip1, check=False).returncode == 0


def test_dual_stack_both_ways(node):
    config = conf(node.data_dir, subnets=("10.77.0.0/24", "fd77::/64"))
    c1, c2 = node.container(), node.container()
    r1, r2 = node.add(config, c1, "c1"), node.add(config, c2, "c2")
    for family in (4, 6):
        assert node.ping(c1, container_ip(r2, family)), family
        assert node.ping(c2, container_ip(r1, family)), family


def test_isolated_ports_cannot_talk_but_reach_the_gateway(node):
    config = conf(node.data_dir, portIsolation=True)
    c1, c2 = node.container(), node.container()
    node.add(config, c1, "c1")
    r2 = node.add(config, c2, "c2")
    assert node.ping(c1, "10.77.0.1")
    assert not node.ping(c1, container_ip(r2))


def test_l2_containers_talk_with_their_own_addresses(node):
    from bridge.kit import l2_conf
    c1, c2 = node.container(), node.container()
    node.add(l2_conf(), c1, "c1")
    node.add(l2_conf(), c2, "c2")
    c1.sh("ip", "addr", "add", "192.0.2.1/24", "dev", "eth0")
    c2.sh("ip", "addr", "add", "192.0.2.2/24", "dev", "eth0")
    assert node.ping(c1, "192.0.2.2")
