"""ADD failures with their specific codes and the reference's wording, and nothing left behind.

Checklist items 35-39 and 43: a failed ADD prints one error JSON (never a partial
result) and leaves no veth, no reservation, no rule.
"""

import pytest
from support import GO_BIN

from bridge.kit import BRIDGE, GO, conf, l2_conf


def test_missing_netns_is_100_and_reserves_nothing(node):
    out = node.run("ADD", conf(node.data_dir), "/run/netns/pycni-t-does-not-exist")
    assert out.code == 100
    assert out.json["msg"] == ('failed to open netns "/run/netns/pycni-t-does-not-exist": '
                               'failed to Statfs "/run/netns/pycni-t-does-not-exist": '
                               "no such file or directory")
    assert node.reservations() == [] and node.veths() == []


def test_not_a_netns_is_101(node, tmp_path):
    regular = tmp_path / "not-a-netns"
    regular.write_text("")
    out = node.run("ADD", conf(node.data_dir), str(regular))
    assert out.code == 101 and str(regular) in out.json["msg"]
    assert node.reservations() == [] and node.veths() == []


def test_ifname_taken_is_102_and_the_existing_interface_is_untouched(node):
    """Checklist 35 and OBS v100-ADD-again-same-netns."""
    ctr = node.container()
    config = conf(node.data_dir)
    first = node.add(config, ctr)
    before = node.link("eth0", ctr)
    out = node.run("ADD", config, ctr, "c2")
    assert out.code == 102
    assert out.json["msg"] == "container veth name provided (eth0) already exists"
    assert node.link("eth0", ctr) == before
    assert node.reservations() == ["10.77.0.2"]
    assert node.veths() == [first["interfaces"][1]["name"]]


def test_ipam_plugin_not_found_is_106(node):
    config = conf(node.data_dir)
    config["ipam"]["type"] = "no-such-ipam"
    out = node.run("ADD", config, node.container(), path=[GO_BIN])
    assert out.code == 106
    assert out.json["msg"] == f'failed to find plugin "no-such-ipam" in path [{GO_BIN}]'
    assert node.veths() == []


def test_pool_exhausted_keeps_the_ipam_code_and_leaves_no_veth(node):
    """OBS err-range-exhausted: the reference leaves the veth behind; we do not."""
    config = conf(node.data_dir, subnets=("10.77.0.0/30",))
    first = node.add(config, node.container(), "c1")
    ctr2 = node.container()
    out = node.run("ADD", config, ctr2, "c2")
    assert out.code == 104 and "no IP addresses available" in out.json["msg"]
    assert node.veths() == [first["interfaces"][1]["name"]]
    assert [link["ifname"] for link in ctr2.links()] == ["lo"]


def test_exhaustion_through_the_go_host_local_keeps_its_code(node):
    config = conf(node.data_dir, subnets=("10.77.0.0/30",))
    node.add(config, node.container(), "c1", path=GO)
    out = node.run("ADD", config, node.container(), "c2", path=GO)
    assert out.code == 999  # the reference host-local's own code, passed through
    assert out.json["msg"].startswith("failed to allocate for range 0: no IP addresses")
    assert len(node.veths()) == 1


@pytest.mark.parametrize("fields,msg", [
    ({"hairpinMode": True, "promiscMode": True},
     "cannot set hairpin mode and promiscuous mode at the same time"),
    ({"disableContainerInterface": True},
     "cannot use IPAM when DisableContainerInterface flag is set"),
    ({"vlan": 5000}, "invalid VLAN ID 5000 (must be between 0 and 4094)"),
    ({"vlan": -100}, "invalid VLAN ID -100 (must be between 0 and 4094)"),
    ({"ipMasqBackend": "pf"}, 'unknown ipmasq backend "pf"'),
    ({"portIsolation": "true"}, "invalid field portIsolation"),
    ({"mtu": -1}, "invalid MTU -1"),
    ({"bridge": "a/b"}, "interface name contains / or : or whitespace characters"),
    ({"bridge": "a-very-long-bridge"}, "interface name is too long"),
])
def test_invalid_config_is_7_before_any_change(node, fields, msg):
    out = node.run("ADD", conf(node.data_dir, **fields), node.container())
    assert out.code == 7 and out.json["msg"] == msg, out
    assert node.link(BRIDGE) is None and node.reservations() == []


def test_invalid_config_details_name_the_field_and_its_type(node):
    out = node.run("ADD", conf(node.data_dir, portIsolation="true"), node.container())
    assert "portIsolation" in out.json["details"] and "boolean" in out.json["details"]


def test_invalid_mac_is_rejected_with_the_source_named(node):
    out = node.run("ADD", l2_conf(runtimeConfig={"mac": "not-a-mac"}), node.container())
    assert out.code == 7 and "runtimeConfig.mac" in out.json["details"]
    out = node.run("ADD", l2_conf(), node.container(), args="MAC=zz")
    assert out.code == 4 and "CNI_ARGS MAC" in out.json["msg"]


def test_unknown_cni_args_without_ignore_unknown(node):
    out = node.run("ADD", conf(node.data_dir), node.container(), args="K8S_FOO=x")
    assert out.code == 4 and node.link(BRIDGE) is None


def test_error_output_is_exactly_one_json_object(node):
    out = node.run("ADD", conf(node.data_dir, vlan=5000), node.container())
    assert out.stdout.strip().startswith("{") and out.stdout.strip().endswith("}")
    assert set(out.json) <= {"cniVersion", "code", "msg", "details"}


def test_ipam_returning_no_ip_is_refused_and_released(node, tmp_path):
    from bridge.kit import fake_calls, install_fake_ipam
    install_fake_ipam(tmp_path)
    log = tmp_path / "calls.jsonl"
    config = conf(node.data_dir)
    config["ipam"] = {"type": "fake-ipam", "log": str(log), "ips": []}
    out = node.run("ADD", config, node.container(), path=[tmp_path])
    assert out.code == 111 and out.json["msg"] == "IPAM plugin returned missing IP config"
    assert [c["command"] for c in fake_calls(log)] == ["ADD", "DEL"]
    assert node.veths() == []


def test_go_reference_rejects_what_we_reject(node):
    """Sanity of the oracle: the Go bridge refuses the same vlan (its code is 999)."""
    out = node.run("ADD", conf(node.data_dir, vlan=5000), node.container(), path=GO,
                   bin_dir=GO_BIN)
    assert out.code == 999 and out.json["msg"] == "invalid VLAN ID 5000 (must be between 0 and 4094)"


def test_a_refused_allocation_leaves_no_host_state_at_all(node, tmp_path):
    """IPAM runs before the bridge is ensured: a refusal (here a store failure, 108)
    creates nothing, not even the bridge."""
    from bridge.kit import install_fake_ipam
    install_fake_ipam(tmp_path)
    config = conf(node.data_dir)
    config["ipam"] = {"type": "fake-ipam", "log": str(tmp_path / "log"), "fail": {"ADD": 108}}
    out = node.run("ADD", config, node.container(), path=[tmp_path])
    assert out.code == 108
    assert [link["ifname"] for link in node.links()] == ["lo"]
