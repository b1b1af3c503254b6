"""DEL in every degraded situation: it succeeds and cleans up everything it can.

Spec checklist 44-53 and security-ecosystem.md section 6 items 6-7. Every case
runs with ipMasq on, so that the masquerade chain is part of "nothing left":
the reference leaks it whenever the container interface is gone.
"""

from bridge.kit import BRIDGE, conf, l2_conf, with_prev

NAT_CHAIN = "CNI-"


def _masq_conf(node, **fields):
    return conf(node.data_dir, ipMasq=True, **fields)


def test_del_after_add_removes_everything(node):
    ctr = node.container()
    config = _masq_conf(node)
    result = node.add(config, ctr)
    assert node.leftovers() != {}
    out = node.run("DEL", with_prev(config, result), ctr)
    assert out.ok and out.stdout == ""
    assert node.leftovers(ctr=ctr) == {}
    assert node.link(BRIDGE) is not None  # the bridge is shared: never deleted


def test_del_twice(node):
    ctr = node.container()
    config = _masq_conf(node)
    node.add(config, ctr)
    assert node.run("DEL", config, ctr).ok
    assert node.run("DEL", config, ctr).ok
    assert node.leftovers(ctr=ctr) == {}


def test_del_of_something_never_added(node):
    """B7."""
    assert node.run("DEL", _masq_conf(node), node.container(), "never").ok
    assert node.run("DEL", l2_conf(), node.container(), "never").ok


def test_del_after_the_netns_was_deleted_removes_the_chain(node, make_netns):
    """OBS v100-DEL-c3-netns-gone: the reference leaks CNI-<hash>; we remove it."""
    ctr = node.container()
    config = _masq_conf(node)
    node.add(config, ctr)
    assert any(NAT_CHAIN in line for line in node.nat())
    node.delete_netns(ctr)
    assert node.run("DEL", config, ctr).ok
    assert node.leftovers() == {}


def test_del_with_empty_netns_releases_and_removes_rules(node):
    """OBS v100-DEL-no-netns; checklist 47: the host veth goes too when prevResult names it."""
    ctr = node.container()
    config = _masq_conf(node)
    result = node.add(config, ctr)
    assert node.run("DEL", with_prev(config, result), "").ok
    assert node.leftovers(ctr=ctr) == {}


def test_del_with_empty_netns_and_no_prev_result(node):
    ctr = node.container()
    config = _masq_conf(node)
    result = node.add(config, ctr)
    assert node.run("DEL", config, "").ok
    # Without the netns or prevResult the veth cannot be found; everything else is gone.
    assert node.leftovers() == {"veths": [result["interfaces"][1]["name"]]}
    assert node.run("DEL", config, ctr).ok  # the runtime's next DEL with the netns finishes it
    assert node.leftovers(ctr=ctr) == {}


def test_del_with_netns_unset(node):
    ctr = node.container()
    config = _masq_conf(node)
    result = node.add(config, ctr)
    assert node.run("DEL", with_prev(config, result), None).ok
    assert node.leftovers(ctr=ctr) == {}


def test_del_with_netns_a_regular_file(node, tmp_path):
    """plugins#507: a stale path that is not a namespace; the reference fails and leaks."""
    ctr = node.container()
    config = _masq_conf(node)
    result = node.add(config, ctr)
    stale = tmp_path / "stale-netns"
    stale.write_text("")
    assert node.run("DEL", with_prev(config, result), str(stale)).ok
    assert node.leftovers(ctr=ctr) == {}


def test_del_without_prev_result(node):
    """Checklist 49: state must not depend on prevResult."""
    ctr = node.container()
    config = _masq_conf(node, subnets=("10.77.0.0/24", "fd77::/64"))
    node.add(config, ctr)
    assert node.run("DEL", config, ctr).ok
    assert node.leftovers(ctr=ctr) == {}


def test_del_when_the_interface_is_already_gone(node):
    ctr = node.container()
    config = _masq_conf(node)
    node.add(config, ctr)
    ctr.sh("ip", "link", "del", "eth0")
    assert node.run("DEL", config, ctr).ok
    assert node.leftovers(ctr=ctr) == {}


def test_del_with_prev_result_of_another_version(node):
    """Checklist 50: a 1.0.0 prevResult under a 1.1.0 config."""
    ctr = node.container()
    result = node.add(conf(node.data_dir, "1.0.0"), ctr)
    assert node.run("DEL", with_prev(conf(node.data_dir, "1.1.0"), result), ctr).ok
    assert node.leftovers(ctr=ctr) == {}


def test_del_leaves_a_foreign_interface_alone(node):
    """security-ecosystem.md 6.7: a reused netns path holding someone else's eth0 (here a
    veth whose peer is not in our namespace) is not deleted; our state is still released."""
    ctr = node.container()
    ctr.sh("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "other0")
    config = _masq_conf(node)
    assert node.run("DEL", config, ctr).ok
    assert node.link("eth0", ctr) is not None


def test_del_leaves_an_interface_with_another_mac_alone(node):
    """Our veth on our bridge, but prevResult says another MAC: not the one we made."""
    ctr = node.container()
    config = _masq_conf(node)
    result = node.add(config, ctr)
    result["interfaces"][2]["mac"] = "0a:0b:0c:0d:0e:0f"
    assert node.run("DEL", with_prev(config, result), ctr).ok
    assert node.link("eth0", ctr) is not None
    assert node.reservations() == []  # our reservation is released all the same


def test_del_releases_only_its_own_ifname(node):
    """Checklist 42: one container on eth0 and net1; DEL of eth0 keeps net1's address."""
    ctr = node.container()
    config = conf(node.data_dir)
    node.add(config, ctr, "c1", ifname="eth0")
    node.add(dict(config, bridge="br-test2"), ctr, "c1", ifname="net1")
    assert len(node.reservations()) == 2
    assert node.run("DEL", config, ctr, "c1", ifname="eth0").ok
    assert node.reservations() == ["10.77.0.3"]
    assert node.link("net1", ctr) is not None and node.link("eth0", ctr) is None


def test_del_l2(node):
    ctr = node.container()
    node.add(l2_conf(), ctr)
    assert node.run("DEL", l2_conf(), ctr).ok
    assert node.veths() == [] and node.link("eth0", ctr) is None


def test_del_prints_nothing(node):
    ctr = node.container()
    config = conf(node.data_dir)
    node.add(config, ctr)
    out = node.run("DEL", config, ctr)
    assert out.ok and out.stdout == ""
