"""macspoofchk (B15): the reference's nftables rules, removed on DEL, and they do drop."""

from support import GO_BIN

from bridge.kit import conf, with_prev


def _rules(node) -> "dict[str, list[dict]]":
    by_chain: "dict[str, list[dict]]" = {}
    for item in node.nft_json("list", "table", "bridge", "nat"):
        if "rule" in item:
            by_chain.setdefault(item["rule"]["chain"], []).append(item["rule"])
    return by_chain


def test_rules_after_add_and_gone_after_del(node):
    ctr = node.container()
    config = conf(node.data_dir, macspoofchk=True)
    result = node.add(config, ctr, "dummy-0")
    rules = _rules(node)
    iface, mac = "cni-br-iface-dummy-0-eth0", "cni-br-iface-dummy-0-eth0-mac"
    assert [len(rules.get(c, [])) for c in ("PREROUTING", iface, mac)] == [1, 1, 2]
    assert {r["comment"] for c in rules.values() for r in c} == {"macspoofchk-dummy-0-eth0"}
    listing = node.nft("list", "table", "bridge", "nat")
    assert f'iifname "{result["interfaces"][1]["name"]}" jump {iface}' in listing
    assert f"ether saddr {result['interfaces'][2]['mac']} return" in listing
    assert "type filter hook prerouting priority dstnat; policy accept;" in listing  # -300
    assert node.run("DEL", with_prev(config, result), ctr, "dummy-0").ok
    assert _rules(node) == {}
    assert iface not in node.nft("list", "table", "bridge", "nat")


def test_a_spoofed_source_mac_is_dropped(node):
    ctr = node.container()
    node.add(conf(node.data_dir, macspoofchk=True), ctr)
    assert node.ping(ctr, "10.77.0.1")
    ctr.sh("ip", "link", "set", "eth0", "address", "0a:00:00:00:0b:ad")
    ctr.sh("ip", "neigh", "flush", "all")
    node.host.sh("ip", "neigh", "flush", "all")
    assert not node.ping(ctr, "10.77.0.1")


def test_del_without_netns_removes_the_rules(node):
    """The reference returns before spoofchk teardown when CNI_NETNS is empty."""
    ctr = node.container()
    config = conf(node.data_dir, macspoofchk=True)
    node.add(config, ctr)
    assert node.run("DEL", config, "").ok
    assert _rules(node) == {}


def test_reference_del_removes_our_rules(node):
    ctr = node.container()
    config = conf(node.data_dir, macspoofchk=True)
    result = node.add(config, ctr)
    out = node.run("DEL", with_prev(config, result), ctr, path=[GO_BIN], bin_dir=GO_BIN)
    assert out.ok, out
    assert _rules(node) == {}
