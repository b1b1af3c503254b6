"""ipMasq: the reference's rule names byte for byte, both backends, and cross-cleanup with Go.

OBS "state after two 1.0.0 ADDs" is the golden iptables output; the nftables
golden is the reference's pkg/ip/ipmasq_nftables_linux_test.go.
"""

import shutil

import pytest
from support import GO_BIN

from bridge.kit import GO, conf, with_prev

C1_CHAIN = "CNI-d95186b6887c66443d3c0147"  # sha512("rcnet" + "c1"), from OBS
C1_COMMENT = '"name: \\"rcnet\\" id: \\"c1\\""'


def _rcnet(node, subnets=("10.250.1.0/24",), name="rcnet", **fields):
    return conf(node.data_dir, name=name, subnets=subnets, ipMasq=True,
                routes=[{"dst": "0.0.0.0/0"}], **fields)


def test_iptables_rules_match_the_reference_golden(node):
    node.add(_rcnet(node), node.container(), "c1")
    assert node.nat(4) == [
        f":{C1_CHAIN} - [0:0]",
        f"-A POSTROUTING -s 10.250.1.2/32 -m comment --comment {C1_COMMENT} -j {C1_CHAIN}",
        f"-A {C1_CHAIN} -d 10.250.1.0/24 -m comment --comment {C1_COMMENT} -j ACCEPT",
        f"-A {C1_CHAIN} ! -d 224.0.0.0/4 -m comment --comment {C1_COMMENT} -j MASQUERADE",
    ]


def test_iptables_dual_stack_uses_one_chain_name_per_family(node):
    node.add(_rcnet(node, subnets=("10.250.1.0/24", "fd77::/64")), node.container(), "c1")
    six = node.nat(6)
    assert f":{C1_CHAIN} - [0:0]" in six
    assert f"-A POSTROUTING -s fd77::2/128 -m comment --comment {C1_COMMENT} -j {C1_CHAIN}" in six
    assert f"-A {C1_CHAIN} ! -d ff00::/8 -m comment --comment {C1_COMMENT} -j MASQUERADE" in six


def test_repeated_add_does_not_duplicate_rules(node):
    """AppendUnique semantics: an ADD replayed without DEL converges to the same rules."""
    config = _rcnet(node)
    ctr = node.container()
    same_ip = "IgnoreUnknown=1;IP=10.250.1.7"
    node.add(config, ctr, "c1", args=same_ip)
    before = node.nat(4)
    # Release the address and the interface but not the rules, then ADD the same again.
    assert node.run("DEL", dict(config, ipMasq=False), ctr, "c1").ok
    node.add(config, ctr, "c1", args=same_ip)
    assert node.nat(4) == before and len(before) == 4


def test_nftables_rule_matches_the_reference_golden(node):
    node.add(_rcnet(node, name="unit-test", ipMasqBackend="nftables"), node.container(), "one")
    rules = node.masq_rules()
    assert len(rules) == 1
    assert rules[0]["comment"] == ("6fd94d501e58f0aa-287fc69eff0574a2, net: unit-test, if: eth0, "
                                   "id: one")
    listing = node.nft("list", "table", "inet", "cni_plugins_masquerade")
    assert "ip saddr 10.250.1.2 ip daddr != 10.250.1.0/24 masquerade" in listing
    assert "type nat hook postrouting priority srcnat; policy accept;" in listing
    for rule in ("ip daddr 224.0.0.0/4 return", "ip6 daddr ff00::/8 return", "goto masq_checks"):
        assert rule in listing
    assert node.nat(4) == []


def test_nftables_dual_stack_and_del(node):
    config = _rcnet(node, subnets=("10.250.1.0/24", "fd77::/64"), ipMasqBackend="nftables")
    ctr = node.container()
    node.add(config, ctr, "c1")
    assert len(node.masq_rules()) == 2
    assert "ip6 saddr fd77::2 ip6 daddr != fd77::/64 masquerade" in node.nft()
    assert node.run("DEL", config, ctr, "c1").ok
    assert node.masq_rules() == []


def test_nftables_del_only_removes_its_own_rules(node):
    config = _rcnet(node, ipMasqBackend="nftables")
    c1, c2 = node.container(), node.container()
    node.add(config, c1, "c1")
    node.add(config, c2, "c2")
    assert node.run("DEL", config, c1, "c1").ok
    assert [r["comment"].split(", ")[-1] for r in node.masq_rules()] == ["id: c2"]


def test_masquerade_is_applied_to_traffic_leaving_the_subnet(node, make_netns):
    """A packet from the container to an outside address leaves with the host's address."""
    outside = make_netns()
    node.host.sh("ip", "link", "add", "uplink", "type", "veth", "peer", "name", "wan",
                 "netns", outside.name)
    node.host.sh("ip", "addr", "add", "192.0.2.1/24", "dev", "uplink")
    node.host.sh("ip", "link", "set", "uplink", "up")
    outside.sh("ip", "addr", "add", "192.0.2.2/24", "dev", "wan")
    outside.sh("ip", "link", "set", "wan", "up")
    ctr = node.container()
    node.add(_rcnet(node), ctr, "c1")
    assert node.ping(ctr, "192.0.2.2")
    # The outside namespace has no route back to 10.250.1.0/24: the reply only arrives
    # because the request came from 192.0.2.1. Its neighbour table proves who asked.
    neigh = outside.sh("ip", "neigh").stdout
    assert "192.0.2.1" in neigh and "10.250.1.2" not in neigh


def test_go_del_removes_our_iptables_rules(node):
    """A node switched back to the reference: its DEL finds our chain and our reservation."""
    config = _rcnet(node)
    ctr = node.container()
    result = node.add(config, ctr, "c1")
    out = node.run("DEL", with_prev(config, result), ctr, "c1", path=GO, bin_dir=GO_BIN)
    assert out.ok, out
    assert node.leftovers("rcnet", ctr) == {}


def test_our_del_removes_go_iptables_rules(node):
    config = _rcnet(node)
    ctr = node.container()
    go = node.add(config, ctr, "c1", path=GO, bin_dir=GO_BIN)
    assert any(C1_CHAIN in line for line in node.nat(4))
    assert node.run("DEL", with_prev(config, go), ctr, "c1").ok
    assert node.leftovers("rcnet", ctr) == {}


def test_our_del_removes_go_rules_after_the_netns_is_gone(node):
    """The reference cannot (it reads the addresses off eth0); we find the chain by name."""
    config = _rcnet(node)
    ctr = node.container()
    node.add(config, ctr, "c1", path=GO, bin_dir=GO_BIN)
    node.delete_netns(ctr)
    assert node.run("DEL", config, ctr, "c1").ok
    assert node.leftovers("rcnet") == {}


def test_a_leaked_jump_no_longer_blocks_del(node):
    """OBS leak-reuse-DEL: after a reference DEL without netns leaked the chain, a re-ADD of
    the same ID made the next reference DEL fail with CHAIN_DEL busy. Ours removes all jumps."""
    config = _rcnet(node)
    ctr = node.container()
    node.add(config, ctr, "c1", path=GO, bin_dir=GO_BIN)
    assert node.run("DEL", config, "", "c1", path=GO, bin_dir=GO_BIN).ok  # leaks the chain
    ctr.sh("ip", "link", "del", "eth0")
    node.add(config, ctr, "c1", path=GO, bin_dir=GO_BIN)  # a second jump to the same chain
    assert len([line for line in node.nat(4) if line.startswith("-A POSTROUTING")]) == 2
    assert node.run("DEL", config, ctr, "c1").ok
    assert node.leftovers("rcnet", ctr) == {}


@pytest.mark.parametrize("backend", ["iptables", "nftables"])
def test_ipv6_masquerade_rules_removed_on_del(node, backend):
    config = _rcnet(node, subnets=("fd77::/64",), ipMasqBackend=backend)
    ctr = node.container()
    node.add(config, ctr, "c1")
    assert node.leftovers("rcnet") != {}
    assert node.run("DEL", config, ctr, "c1").ok
    assert node.leftovers("rcnet", ctr) == {}


def _path_with(tmp_path, *tools):
    """A PATH directory holding only `ip` (the test runner's) and the given tools."""
    directory = tmp_path / "bin"
    directory.mkdir()
    for tool in ("ip", *tools):
        (directory / tool).symlink_to(shutil.which(tool))
    return directory


def test_unset_backend_falls_back_to_nftables_without_iptables(node, tmp_path):
    """ipMasqBackend unset: iptables when usable, else nftables (reference 1.6+)."""
    only_nft = _path_with(tmp_path, "nft")
    config = _rcnet(node)
    ctr = node.container()
    node.add(config, ctr, "c1", env={"PATH": str(only_nft)})
    assert node.nat(4) == [] and len(node.masq_rules()) == 1
    assert node.run("DEL", config, ctr, "c1", env={"PATH": str(only_nft)}).ok
    assert node.masq_rules() == []


def test_requested_backend_missing_is_a_firewall_error(node, tmp_path):
    empty = _path_with(tmp_path)
    ctr = node.container()
    out = node.run("ADD", _rcnet(node), ctr, "c1", env={"PATH": str(empty)})
    assert out.code == 109 and "iptables-save not found" in out.json["msg"]
    assert node.leftovers("rcnet", ctr) == {}
