"""ADD: the result in every spec version, and the kernel state behind it.

Mirrors the reference suite's cmdAddTest (bridge_test.go) and spec checklist
items 23-35: interfaces [bridge, host veth, container], ips on index 2, the
gateway on the bridge, the container configured, the sysctls the reference writes.
"""

import pytest

from bridge.kit import BRIDGE, VERSIONS, conf, container_ip, l2_conf

DUAL = ("10.77.0.0/24", "fd77::/64")


@pytest.mark.parametrize("version", VERSIONS)
def test_result_shape_per_version(node, version):
    ctr = node.container()
    result = node.add(conf(node.data_dir, version, routes=[{"dst": "0.0.0.0/0"}]), ctr)
    assert result["cniVersion"] == version
    if version in ("0.1.0", "0.2.0"):
        assert set(result) == {"cniVersion", "ip4", "dns"}
        assert result["ip4"] == {"ip": "10.77.0.2/24", "gateway": "10.77.0.1",
                                 "routes": [{"dst": "0.0.0.0/0"}]}
        return
    assert set(result) == {"cniVersion", "interfaces", "ips", "routes", "dns"}
    bridge, veth, eth0 = result["interfaces"]
    assert bridge == {"name": BRIDGE, "mac": bridge["mac"]}
    assert veth["name"].startswith("veth") and len(veth["name"]) == 12 and "sandbox" not in veth
    assert eth0 == {"name": "eth0", "mac": eth0["mac"], "sandbox": ctr.path}
    assert all(len(i["mac"]) == 17 for i in result["interfaces"])
    ip = {"interface": 2, "address": "10.77.0.2/24", "gateway": "10.77.0.1"}
    if version < "1.0.0":
        ip = {"version": "4", **ip}
    assert result["ips"] == [ip]
    assert result["routes"] == [{"dst": "0.0.0.0/0"}]
    assert result["dns"] == {}


def test_kernel_state_matches_result(node):
    """cmdAddTest: bridge MAC = result, gateway on the bridge, 3 host links, the
    container end a veth that is UP with the address and a default route."""
    ctr = node.container()
    result = node.add(conf(node.data_dir, isDefaultGateway=True), ctr)
    bridge, veth, eth0 = result["interfaces"]
    br = node.link(BRIDGE)
    assert br["address"] == bridge["mac"] and br["linkinfo"]["info_kind"] == "bridge"
    assert "10.77.0.1/24" in node.addrs(BRIDGE)
    assert sorted(link["ifname"] for link in node.links()) == sorted(["lo", BRIDGE, veth["name"]])
    host_veth = node.link(veth["name"])
    assert host_veth["master"] == BRIDGE and host_veth["address"] == veth["mac"]
    assert host_veth["address"] != br["address"]
    assert host_veth["operstate"] == "UP"
    link = node.link("eth0", ctr)
    assert link["linkinfo"]["info_kind"] == "veth" and link["operstate"] == "UP"
    assert link["address"] == eth0["mac"]
    assert "10.77.0.2/24" in node.addrs("eth0", ctr)
    routes = ctr.sh("ip", "-j", "route").stdout
    assert '"dst":"default","gateway":"10.77.0.1","dev":"eth0"' in routes
    assert result["routes"] == [{"dst": "0.0.0.0/0", "gw": "10.77.0.1"}]


def test_second_add_reuses_the_bridge(node):
    """B2: same bridge ifindex; the second container gets the next address."""
    config = conf(node.data_dir)
    node.add(config, node.container(), "c1")
    index = node.link(BRIDGE)["ifindex"]
    second = node.add(config, node.container(), "c2")
    assert node.link(BRIDGE)["ifindex"] == index
    assert container_ip(second) == "10.77.0.3"
    assert len(node.veths()) == 2


def test_new_bridge_defaults(node):
    """B1: created with promisc off, accept_ra 0, up; no VLAN filtering without vlan."""
    node.add(conf(node.data_dir), node.container())
    br = node.link(BRIDGE)
    assert br["promiscuity"] == 0 and "UP" in br["flags"]
    assert br["linkinfo"]["info_data"]["vlan_filtering"] == 0
    assert node.sysctl(f"net/ipv6/conf/{BRIDGE}/accept_ra") == "0"


def test_host_veth_hardening_and_forwarding(node):
    """accept_ra=0 on the host veth (CVE-2020-10749); ip_forward on with a gateway."""
    assert node.sysctl("net/ipv4/ip_forward") == "0"
    result = node.add(conf(node.data_dir), node.container())
    assert node.sysctl(f"net/ipv6/conf/{result['interfaces'][1]['name']}/accept_ra") == "0"
    assert node.sysctl("net/ipv4/ip_forward") == "1"


def test_no_gateway_means_no_bridge_address_and_no_forwarding(node):
    result = node.add(conf(node.data_dir, isGateway=False), node.container())
    assert [a for a in node.addrs(BRIDGE) if not a.startswith("fe80")] == []
    assert node.sysctl("net/ipv4/ip_forward") == "0"
    assert result["ips"][0]["gateway"] == "10.77.0.1"  # the IPAM's, passed through


def test_gateway_pins_the_bridge_mac(node):
    """B10: with a gateway the bridge MAC is set explicitly (addr_assign_type 3) and stays
    the same across ADD/DEL churn instead of following the lowest port MAC."""
    config = conf(node.data_dir)
    ctr = node.container()
    mac = node.add(config, ctr)["interfaces"][0]["mac"]
    assert node.host.sh("cat", f"/sys/class/net/{BRIDGE}/addr_assign_type").stdout.strip() == "3"
    assert node.run("DEL", config, ctr).ok
    again = node.add(config, node.container(), "c2")
    assert again["interfaces"][0]["mac"] == mac == node.link(BRIDGE)["address"]


def test_ipv6(node):
    ctr = node.container()
    result = node.add(conf(node.data_dir, subnets=("fd77::/64",), isDefaultGateway=True), ctr)
    assert result["ips"] == [{"interface": 2, "address": "fd77::2/64", "gateway": "fd77::1"}]
    assert result["routes"] == [{"dst": "::/0", "gw": "fd77::1"}]
    assert "fd77::1/64" in node.addrs(BRIDGE)
    assert "fd77::2/64" in node.addrs("eth0", ctr)
    assert node.sysctl("net/ipv6/conf/all/forwarding") == "1"
    for key, value in (("disable_ipv6", "0"), ("keep_addr_on_down", "1"), ("accept_dad", "0")):
        assert node.sysctl(f"net/ipv6/conf/eth0/{key}", ctr) == value, key
    assert node.sysctl("net/ipv6/conf/lo/disable_ipv6", ctr) == "0"
    routes = ctr.sh("ip", "-j", "-6", "route").stdout
    assert '"dst":"default","gateway":"fd77::1"' in routes


def test_dual_stack(node):
    ctr = node.container()
    result = node.add(conf(node.data_dir, subnets=DUAL, isDefaultGateway=True), ctr)
    assert [ip["address"] for ip in result["ips"]] == ["10.77.0.2/24", "fd77::2/64"]
    assert {r["dst"] for r in result["routes"]} == {"0.0.0.0/0", "::/0"}
    assert {"10.77.0.1/24", "fd77::1/64"} <= set(node.addrs(BRIDGE))
    assert {"10.77.0.2/24", "fd77::2/64"} <= set(node.addrs("eth0", ctr))


def test_three_subnets(node):
    """B3: one IPv4 and two IPv6 range sets: three addresses, all on eth0."""
    ctr = node.container()
    result = node.add(conf(node.data_dir, subnets=("10.77.0.0/24", "fd77::/64", "fd78::/64")), ctr)
    assert len(result["ips"]) == 3 and {ip["interface"] for ip in result["ips"]} == {2}
    assert {"fd77::1/64", "fd78::1/64", "10.77.0.1/24"} <= set(node.addrs(BRIDGE))


def test_enabledad_sysctls(node):
    ctr = node.container()
    node.add(conf(node.data_dir, subnets=("fd77::/64",), enabledad=True), ctr)
    assert node.sysctl("net/ipv6/conf/eth0/accept_dad", ctr) == "1"
    assert node.sysctl("net/ipv6/conf/eth0/enhanced_dad", ctr) == "1"
    assert node.sysctl("net/ipv4/conf/eth0/arp_notify", ctr) == "1"


def test_mtu_on_new_bridge_and_both_veth_ends(node):
    ctr = node.container()
    result = node.add(conf(node.data_dir, mtu=1400), ctr)
    assert node.link(BRIDGE)["mtu"] == 1400
    assert node.link(result["interfaces"][1]["name"])["mtu"] == 1400
    assert node.link("eth0", ctr)["mtu"] == 1400


def test_mtu_of_an_existing_bridge_is_never_changed(node):
    """The plugin never sets an existing bridge's MTU (an MTU the admin set stays; one the
    kernel derives follows the ports, which is the kernel's doing)."""
    node.host.sh("ip", "link", "add", BRIDGE, "type", "bridge")
    node.host.sh("ip", "link", "set", BRIDGE, "mtu", "1300")
    node.add(conf(node.data_dir, mtu=1400), node.container())
    assert node.link(BRIDGE)["mtu"] == 1300


def test_existing_bridge_in_another_state_is_reused_and_set_up(node):
    node.host.sh("ip", "link", "add", BRIDGE, "type", "bridge")
    index = node.link(BRIDGE)["ifindex"]
    node.add(conf(node.data_dir), node.container())
    br = node.link(BRIDGE)
    assert br["ifindex"] == index and "UP" in br["flags"]


@pytest.mark.parametrize("hairpin", [False, True])
def test_hairpin_mode(node, hairpin):
    result = node.add(conf(node.data_dir, hairpinMode=hairpin), node.container())
    port = node.link(result["interfaces"][1]["name"])
    assert port["linkinfo"]["info_slave_data"]["hairpin"] is hairpin


@pytest.mark.parametrize("isolated", [False, True])
def test_port_isolation(node, isolated):
    """B18."""
    result = node.add(conf(node.data_dir, portIsolation=isolated), node.container())
    port = node.link(result["interfaces"][1]["name"])
    assert port["linkinfo"]["info_slave_data"]["isolated"] is isolated


def test_promisc_mode(node):
    """B9: promisc on the bridge; never turned off by a later ADD without it."""
    node.add(conf(node.data_dir, promiscMode=True), node.container(), "c1")
    assert node.link(BRIDGE)["promiscuity"] == 1
    node.add(conf(node.data_dir), node.container(), "c2")
    assert node.link(BRIDGE)["promiscuity"] == 1


def test_mac_precedence(node):
    """B11: CNI_ARGS MAC < args.cni.mac < runtimeConfig.mac."""
    ctr = node.container()
    base = conf(node.data_dir)
    env_mac = "IgnoreUnknown=1;MAC=0a:00:00:00:00:01"
    result = node.add(base, ctr, "c1", args=env_mac)
    assert result["interfaces"][2]["mac"] == "0a:00:00:00:00:01"
    assert node.link("eth0", ctr)["address"] == "0a:00:00:00:00:01"
    ctr2 = node.container()
    with_args = dict(base, args={"cni": {"mac": "0a:00:00:00:00:02"}})
    assert node.add(with_args, ctr2, "c2", args=env_mac)["interfaces"][2]["mac"] == \
        "0a:00:00:00:00:02"
    ctr3 = node.container()
    with_rc = dict(with_args, runtimeConfig={"mac": "02:00:00:00:00:00"})
    assert node.add(with_rc, ctr3, "c3", args=env_mac)["interfaces"][2]["mac"] == \
        "02:00:00:00:00:00"
    assert node.link("eth0", ctr3)["address"] == "02:00:00:00:00:00"


def test_dns_from_config_wins_over_ipam(node, tmp_path):
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 192.0.2.53\nsearch example.test\n")
    config = conf(node.data_dir)
    config["ipam"]["resolvConf"] = str(resolv)
    result = node.add(config, node.container(), "c1")
    assert result["dns"] == {"nameservers": ["192.0.2.53"], "search": ["example.test"]}
    config["dns"] = {"nameservers": ["198.51.100.1"]}
    assert node.add(config, node.container(), "c2")["dns"] == {"nameservers": ["198.51.100.1"]}


def test_routes_from_ipam_with_and_without_gw(node):
    ctr = node.container()
    routes = [{"dst": "192.0.2.0/24"}, {"dst": "198.51.100.0/24", "gw": "10.77.0.254"}]
    result = node.add(conf(node.data_dir, routes=routes), ctr)
    assert result["routes"] == routes
    table = ctr.sh("ip", "route").stdout
    assert "192.0.2.0/24 via 10.77.0.1 dev eth0" in table  # no gw: the family's gateway
    assert "198.51.100.0/24 via 10.77.0.254 dev eth0" in table


def test_is_default_gateway_keeps_an_ipam_default_route_with_gw(node):
    routes = [{"dst": "0.0.0.0/0", "gw": "10.77.0.254"}]
    result = node.add(conf(node.data_dir, routes=routes, isDefaultGateway=True), node.container())
    assert result["routes"] == routes


def test_l2_mode(node):
    """B4: no IPAM: no addresses, the container end is simply up."""
    ctr = node.container()
    result = node.add(l2_conf(), ctr)
    assert set(result) == {"cniVersion", "interfaces", "dns"}
    assert len(result["interfaces"]) == 3
    assert node.link("eth0", ctr)["operstate"] == "UP"
    assert [a for a in node.addrs("eth0", ctr) if not a.startswith("fe80")] == []


def test_disable_container_interface(node):
    """B17: L2 with disableContainerInterface leaves the container end down."""
    ctr = node.container()
    node.add(l2_conf(disableContainerInterface=True), ctr)
    assert "UP" not in node.link("eth0", ctr)["flags"]


def test_legacy_version_in_l2_fails_before_any_change(node):
    """A 0.2.0 result needs an IP (checklist 31): refused with code 1, nothing created."""
    ctr = node.container()
    out = node.run("ADD", l2_conf("0.2.0"), ctr)
    assert out.code == 1 and "no valid IP addresses" in out.json["msg"]
    assert node.link(BRIDGE) is None and node.veths() == []


def test_force_address_v4(node):
    """B8: a different IPv4 address on the bridge fails without forceAddress, is replaced
    with it."""
    node.host.sh("ip", "link", "add", BRIDGE, "type", "bridge")
    node.host.sh("ip", "addr", "add", "10.0.0.1/8", "dev", BRIDGE)
    ctr = node.container()
    out = node.run("ADD", conf(node.data_dir), ctr)
    assert out.code == 103
    assert out.json["msg"] == (f'failed to set bridge addr: "{BRIDGE}" already has an IP '
                               "address different from 10.77.0.1/24")
    assert node.veths() == [] and node.reservations() == []
    node.add(conf(node.data_dir, forceAddress=True), ctr)
    assert [a for a in node.addrs(BRIDGE) if "." in a] == ["10.77.0.1/24"]


def test_force_address_v6_overlapping_and_disjoint(node):
    node.host.sh("ip", "link", "add", BRIDGE, "type", "bridge")
    node.host.sh("ip", "addr", "add", "fd77::1:1/112", "dev", BRIDGE)  # inside fd77::/64
    node.host.sh("ip", "addr", "add", "fd99::1/64", "dev", BRIDGE)  # disjoint: kept
    config = conf(node.data_dir, subnets=("fd77::/64",))
    assert node.run("ADD", config, node.container()).code == 103
    node.add(dict(config, forceAddress=True), node.container(), "c2")
    addrs = node.addrs(BRIDGE)
    assert "fd77::1/64" in addrs and "fd99::1/64" in addrs and "fd77::1:1/112" not in addrs


def test_bridge_name_used_by_a_non_bridge(node):
    node.host.sh("ip", "link", "add", BRIDGE, "type", "veth", "peer", "name", "other0")
    out = node.run("ADD", conf(node.data_dir), node.container())
    assert out.code == 103
    assert out.json["msg"] == (f'failed to create bridge "{BRIDGE}": "{BRIDGE}" already exists '
                               "but is not a bridge")
    assert node.reservations() == []


def test_prev_result_is_not_dropped(node):
    """Checklist 40: a prevResult in ADD does not crash (the bridge is first in a chain)."""
    config = conf(node.data_dir)
    config["prevResult"] = {"cniVersion": "1.0.0", "interfaces": [{"name": "x"}]}
    assert node.run("ADD", config, node.container()).ok


def test_cni_dev_keys_and_capabilities_accepted(node):
    """Checklist 17-18: runtime-injected keys and Kubernetes CNI_ARGS are accepted."""
    config = conf(node.data_dir, capabilities={"mac": True}, runtimeConfig={"foo": 1})
    config["cni.dev/valid-attachments"] = []
    out = node.run("ADD", config, node.container(), args="IgnoreUnknown=1;K8S_POD_NAMESPACE=a;"
                   "K8S_POD_NAME=b;K8S_POD_INFRA_CONTAINER_ID=c;K8S_POD_UID=d")
    assert out.ok, out
