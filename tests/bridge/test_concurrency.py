"""Concurrent ADDs racing to create one bridge (checklist 41; the reference has no such test)."""

import pytest

from bridge.kit import BRIDGE, GO, conf, container_ip


@pytest.mark.parametrize("ipam", ["ours", "go"])
def test_ten_concurrent_adds_create_one_bridge(node, ipam):
    config = conf(node.data_dir, ipMasq=True)
    ctrs = [node.container() for _ in range(10)]
    outs = node.parallel([dict(command="ADD", config=config, ctr=c, cid=f"c{i}",
                               path=GO if ipam == "go" else None) for i, c in enumerate(ctrs)])
    assert all(o.ok for o in outs), [o for o in outs if not o.ok]
    ips = [container_ip(o.json) for o in outs]
    assert len(set(ips)) == 10
    assert len([link for link in node.links() if link["ifname"] == BRIDGE]) == 1
    assert len(node.veths()) == 10 and len(node.reservations()) == 10
    assert len([line for line in node.nat(4) if line.startswith("-A POSTROUTING")]) == 10
    assert len({o.json["interfaces"][0]["mac"] for o in outs}) == 1
    dels = node.parallel([dict(command="DEL", config=config, ctr=c, cid=f"c{i}",
                               path=GO if ipam == "go" else None) for i, c in enumerate(ctrs)])
    assert all(o.ok for o in dels)
    assert node.leftovers() == {}


def test_one_container_on_two_networks_in_parallel(node):
    """containerd attaches eth0 and net1 of one sandbox concurrently."""
    ctr = node.container()
    a = conf(node.data_dir, name="net-a", subnets=("10.77.0.0/24",), bridge="br-a")
    b = conf(node.data_dir, name="net-b", subnets=("10.78.0.0/24",), bridge="br-b")
    outs = node.parallel([dict(command="ADD", config=a, ctr=ctr, ifname="eth0"),
                          dict(command="ADD", config=b, ctr=ctr, ifname="net1")])
    assert all(o.ok for o in outs), outs
    assert node.addrs("eth0", ctr) and node.addrs("net1", ctr)
