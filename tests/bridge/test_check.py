"""CHECK against prevResult (spec checklist 54-61; reference B14, OBS v100-CHECK-*)."""

import pytest

from bridge.kit import conf, fake_calls, install_fake_ipam, l2_conf, with_prev

CASES = {"v4": ("10.77.0.0/24",), "v6": ("fd77::/64",), "dual": ("10.77.0.0/24", "fd77::/64")}


def _added(node, subnets=("10.77.0.0/24",), **fields):
    ctr = node.container()
    config = conf(node.data_dir, subnets=subnets, isDefaultGateway=True, **fields)
    result = node.add(config, ctr)
    return ctr, config, result


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("version", ["0.4.0", "1.0.0", "1.1.0"])
def test_check_after_add_succeeds(node, case, version):
    ctr, config, result = _added(node, CASES[case], cniVersion=version)
    out = node.run("CHECK", with_prev(config, result), ctr)
    assert out.ok and out.stdout == "", out


def test_check_without_prev_result(node):
    ctr, config, _ = _added(node)
    out = node.run("CHECK", config, ctr)
    assert out.code == 7 and out.json["msg"] == "Required prevResult missing"


def test_check_after_the_address_was_removed(node):
    """OBS v100-CHECK-addr-removed: the reference's exact message."""
    ctr, config, result = _added(node)
    ctr.sh("ip", "addr", "del", "10.77.0.2/24", "dev", "eth0")
    out = node.run("CHECK", with_prev(config, result), ctr)
    assert out.code == 110
    assert out.json["msg"] == "Failed to match addr 10.77.0.2/24 on interface eth0"


def test_check_after_the_interface_was_deleted(node):
    ctr, config, result = _added(node)
    ctr.sh("ip", "link", "del", "eth0")
    out = node.run("CHECK", with_prev(config, result), ctr)
    assert out.code == 110 and "eth0" in out.json["msg"]


def test_check_after_the_default_route_was_removed(node):
    ctr, config, result = _added(node)
    ctr.sh("ip", "route", "del", "default")
    out = node.run("CHECK", with_prev(config, result), ctr)
    assert out.code == 110 and "not found in routing table" in out.json["msg"]


def test_check_after_the_reservation_was_deleted(node):
    """Checklist 58: CHECK is forwarded to the IPAM, whose error is ours."""
    ctr, config, result = _added(node)
    (node.data_dir / "testnet" / "10.77.0.2").unlink()
    out = node.run("CHECK", with_prev(config, result), ctr)
    assert not out.ok and out.json["msg"]


def test_check_tolerates_extra_addresses_and_routes(node):
    """Checklist 59: a later plugin may add its own."""
    ctr, config, result = _added(node)
    ctr.sh("ip", "addr", "add", "192.0.2.9/32", "dev", "eth0")
    ctr.sh("ip", "route", "add", "198.51.100.0/24", "via", "10.77.0.1")
    assert node.run("CHECK", with_prev(config, result), ctr).ok


def test_check_with_another_sandbox(node):
    """Checklist 60."""
    ctr, config, result = _added(node)
    result["interfaces"][2]["sandbox"] = "/run/netns/elsewhere"
    out = node.run("CHECK", with_prev(config, result), ctr)
    assert out.code == 110 and "Sandbox in prevResult" in out.json["msg"]


def test_check_with_a_changed_container_mac(node):
    ctr, config, result = _added(node)
    ctr.sh("ip", "link", "set", "eth0", "address", "0a:00:00:00:00:09")
    out = node.run("CHECK", with_prev(config, result), ctr)
    assert out.code == 110 and "doesn't match container Mac" in out.json["msg"]


def test_check_with_the_host_veth_detached(node):
    ctr, config, result = _added(node)
    node.host.sh("ip", "link", "set", result["interfaces"][1]["name"], "nomaster")
    out = node.run("CHECK", with_prev(config, result), ctr)
    assert out.code == 110 and "CNI veth created for bridge" in out.json["msg"]


def test_check_promisc_state(node):
    ctr, config, result = _added(node)
    node.host.sh("ip", "link", "set", "br-test", "promisc", "on")
    out = node.run("CHECK", with_prev(config, result), ctr)
    assert out.code == 110 and "Promisc Mode false" in out.json["msg"]


def test_check_in_l2_mode(node):
    """The reference always delegates CHECK to the IPAM and so fails in L2 mode
    (plugins#987); we check the links only."""
    ctr = node.container()
    result = node.add(l2_conf(), ctr)
    assert node.run("CHECK", with_prev(l2_conf(), result), ctr).ok


def test_check_is_forwarded_to_the_ipam_with_identical_stdin(node, tmp_path):
    """Checklist 61."""
    install_fake_ipam(tmp_path)
    log = tmp_path / "calls.jsonl"
    config = conf(node.data_dir)
    config["ipam"] = {"type": "fake-ipam", "log": str(log),
                      "ips": [{"address": "10.77.0.9/24", "gateway": "10.77.0.1"}]}
    ctr = node.container()
    result = node.add(config, ctr, path=[tmp_path])
    checked = with_prev(config, result)
    assert node.run("CHECK", checked, ctr, path=[tmp_path]).ok
    calls = fake_calls(log)
    assert [c["command"] for c in calls] == ["ADD", "CHECK"]
    import json
    assert json.loads(calls[1]["stdin"]) == checked


def test_check_needs_version_0_4_0(node):
    ctr, config, result = _added(node)
    out = node.run("CHECK", with_prev(dict(config, cniVersion="0.3.1"), result), ctr)
    assert out.code == 1
