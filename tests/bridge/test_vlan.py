"""vlan, vlanTrunk, preserveDefaultVlan (reference B5, B6, B19, B20).

Bridge VLAN filtering needs CONFIG_BRIDGE_VLAN_FILTERING. Each test probes the
kernel it runs on: where the feature exists it checks the VIDs on the port
(`bridge -j vlan`), the PVID and the `<bridge>.<vlan>` gateway; where it does
not (this project's CI kernel lacks it), it checks that ADD fails with code 107
naming the missing kernel feature and leaves nothing behind. Either way the
test asserts something that can fail.
"""

import json

import pytest

from bridge.kit import BRIDGE, conf, l2_conf

PVID_UNTAGGED = {"PVID", "Egress Untagged"}


def _filtering_supported(host) -> bool:
    probe = host.sh("ip", "link", "add", "vlanprobe", "type", "bridge", "vlan_filtering", "1",
                    check=False)
    host.sh("ip", "link", "del", "vlanprobe", check=False)
    return probe.returncode == 0


def _port_vlans(node, port) -> "dict[int, set[str]]":
    data = json.loads(node.host.sh("bridge", "-j", "vlan", "show", "dev", port).stdout or "[]")
    out: "dict[int, set[str]]" = {}
    for entry in data:
        for v in entry.get("vlans", []):
            for vid in range(v["vlan"], v.get("vlanEnd", v["vlan"]) + 1):
                out[vid] = set(v.get("flags", []))
    return out


def _refused_cleanly(node, out, ctr) -> None:
    assert out.code == 107, out
    assert "CONFIG_BRIDGE_VLAN_FILTERING" in out.json.get("details", "")
    assert node.leftovers(ctr=ctr) == {}


@pytest.mark.parametrize("preserve", [False, True])
def test_l2_access_vlan(node, preserve):
    ctr = node.container()
    out = node.run("ADD", l2_conf(vlan=100, preserveDefaultVlan=preserve), ctr)
    if not _filtering_supported(node.host):
        return _refused_cleanly(node, out, ctr)
    assert out.ok, out
    assert node.link(BRIDGE)["linkinfo"]["info_data"]["vlan_filtering"] == 1
    vlans = _port_vlans(node, out.json["interfaces"][1]["name"])
    assert vlans[100] == PVID_UNTAGGED
    assert (1 in vlans) is preserve


def test_l2_trunk_with_native_vlan_1(node):
    ctr = node.container()
    out = node.run("ADD", l2_conf(vlanTrunk=[{"id": 101}, {"minID": 200, "maxID": 210}]), ctr)
    if not _filtering_supported(node.host):
        return _refused_cleanly(node, out, ctr)
    assert out.ok, out
    vlans = _port_vlans(node, out.json["interfaces"][1]["name"])
    assert vlans[1] == PVID_UNTAGGED
    assert sorted(v for v, f in vlans.items() if not f) == [101, *range(200, 211)]


def test_l2_vlan_and_trunk_combine(node):
    """Since reference 1.8.0 vlan is the native VLAN of a trunk."""
    ctr = node.container()
    out = node.run("ADD", l2_conf(vlan=100, vlanTrunk=[{"id": 101}]), ctr)
    if not _filtering_supported(node.host):
        return _refused_cleanly(node, out, ctr)
    assert out.ok, out
    vlans = _port_vlans(node, out.json["interfaces"][1]["name"])
    assert vlans[100] == PVID_UNTAGGED and vlans[101] == set() and 1 not in vlans


def test_l3_vlan_gateway_interface(node):
    """B6: the gateway address goes on `<bridge>.<vlan>`, reported as interfaces[3]."""
    ctr = node.container()
    config = conf(node.data_dir, vlan=100)
    out = node.run("ADD", config, ctr)
    if not _filtering_supported(node.host):
        return _refused_cleanly(node, out, ctr)
    assert out.ok, out
    assert [i["name"] for i in out.json["interfaces"]][3] == f"{BRIDGE}.100"
    assert "10.77.0.1/24" in node.addrs(f"{BRIDGE}.100")
    assert not [a for a in node.addrs(BRIDGE) if "." in a]
    assert len(node.links()) == 5  # lo, bridge, host veth, the gateway veth pair
    assert node.ping(ctr, "10.77.0.1")
    assert node.run("DEL", config, ctr).ok
    assert node.link(f"{BRIDGE}.100") is not None  # shared, like the bridge


def test_vlan_zero_is_no_vlan(node):
    """B19: 0 is accepted and means untagged on the default VLAN."""
    ctr = node.container()
    assert node.add(l2_conf(vlan=0), ctr)
    assert node.link(BRIDGE)["linkinfo"]["info_data"]["vlan_filtering"] == 0
