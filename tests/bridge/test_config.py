"""The bridge config (BridgeConf), in-process: reference B19, B20, B11 and loadNetConf.

Its agreement with `pycni lint` is tests/unit/test_schema_agreement.py's."""

import json

import pytest

from cni import netconf
from cni.errors import IncompatibleVersion, InvalidConfig, InvalidEnvironment
from cni.plugins import bridge
from cni.plugins.bridge import BridgeConf
from cni.request import Request


def parse(env_args: "dict | None" = None, command: str = "ADD", **fields: object) -> BridgeConf:
    raw = {"cniVersion": "1.0.0", "name": "n", "type": "bridge"}
    raw.update(fields)
    req = Request(command, args=env_args or {}, conf=netconf.parse(json.dumps(raw).encode()))
    return bridge.load(req)


def test_defaults():
    c = parse()
    assert (c.bridge, c.is_gateway, c.ip_masq, c.mtu, c.vlan, c.vlan_trunk, c.mac) == \
        ("cni0", False, False, 0, 0, None, "")
    assert not c.preserve_default_vlan and not c.layer3 and not c.vlan_filtering


def test_is_default_gateway_implies_is_gateway():
    assert parse(isDefaultGateway=True).is_gateway


def test_keys_match_case_insensitively_like_go():
    c = parse(IsGateway=True, HAIRPINMODE=True, Bridge="br9")
    assert c.is_gateway and c.hairpin and c.bridge == "br9"


@pytest.mark.parametrize("vlan", [-100, 4095, 5000])
def test_vlan_out_of_range(vlan):
    """B19."""
    with pytest.raises(InvalidConfig) as exc:
        parse(vlan=vlan)
    assert exc.value.msg == f"invalid VLAN ID {vlan} (must be between 0 and 4094)"


@pytest.mark.parametrize("trunk,vids", [
    ([], None),
    ([{"minID": 100, "maxID": 103}], [100, 101, 102, 103]),
    ([{"id": 7}], [7]),
    ([{"id": 300}, {"minID": 100, "maxID": 102}, {"id": 101}], [100, 101, 102, 300]),
])
def test_trunk_parsing(trunk, vids):
    """B20: ranges and ids, sorted and deduplicated; empty means none."""
    assert parse(vlanTrunk=trunk).vlan_trunk == vids


@pytest.mark.parametrize("entry,msg", [
    ({"maxID": 10}, "minID and maxID should be configured simultaneously, minID is missing"),
    ({"minID": 10}, "minID and maxID should be configured simultaneously, maxID is missing"),
    ({"minID": 0, "maxID": 10}, "incorrect trunk minID parameter"),
    ({"minID": 5000, "maxID": 10}, "incorrect trunk minID parameter"),
    ({"minID": 1, "maxID": 5000}, "incorrect trunk maxID parameter"),
    ({"id": 0}, "incorrect trunk id parameter"),
    ({"id": 4095}, "incorrect trunk id parameter"),
    ({"minID": 20, "maxID": 10}, "minID is greater than maxID in trunk parameter"),
])
def test_trunk_errors(entry, msg):
    with pytest.raises(InvalidConfig) as exc:
        parse(vlanTrunk=[entry])
    assert exc.value.msg == msg


def test_mac_precedence():
    """B11: runtimeConfig.mac > args.cni.mac > CNI_ARGS MAC (normalised)."""
    env = {"MAC": "0A-00-00-00-00-01"}
    assert parse(env).mac == "0a:00:00:00:00:01"
    args = {"cni": {"mac": "0a:00:00:00:00:02"}}
    assert parse(env, args=args).mac == "0a:00:00:00:00:02"
    assert parse(env, args=args, runtimeConfig={"mac": "02:00:00:00:00:00"}).mac == \
        "02:00:00:00:00:00"


def test_bad_mac_in_cni_args_is_an_environment_error():
    with pytest.raises(InvalidEnvironment):
        parse({"MAC": "0a:00"})


def test_ipam_type_decides_layer3():
    assert parse(ipam={"type": "host-local"}).layer3
    assert not parse(ipam={}).layer3


@pytest.mark.parametrize("fields, msg, field", [
    ({"hairpinMode": True, "promiscMode": True},
     "cannot set hairpin mode and promiscuous mode at the same time", "promiscMode"),
    ({"disableContainerInterface": True, "ipam": {"type": "host-local"}},
     "cannot use IPAM when DisableContainerInterface flag is set", "disableContainerInterface"),
])
def test_combinations_the_reference_refuses_on_add_only(fields, msg, field):
    with pytest.raises(InvalidConfig) as exc:
        parse(**fields)
    assert (exc.value.msg, exc.value.field) == (msg, field)
    parse(command="DEL", **fields)  # DEL must clean up whatever the config says


def test_a_layer2_result_needs_0_3_0_or_later():
    with pytest.raises(IncompatibleVersion):
        parse(cniVersion="0.2.0")
    assert not parse(cniVersion="0.2.0", command="DEL").layer3


@pytest.mark.parametrize("fields, field", [
    ({"vlan": 4095}, "vlan"), ({"vlan": "1"}, "vlan"), ({"mtu": -1}, "mtu"),
    ({"portIsolation": "true"}, "portIsolation"), ({"ipMasqBackend": "pf"}, "ipMasqBackend"),
    ({"vlanTrunk": [{"minID": 5}]}, "vlanTrunk[0].maxID"), ({"vlanTrunk": [{"id": 0}]}, "vlanTrunk[0].id"),
    ({"bridge": "a/b"}, "bridge"), ({"bridge": "x" * 16}, "bridge"),
    ({"runtimeConfig": {"mac": "bad"}}, "runtimeConfig.mac"), ({"enabledad": 1}, "enabledad"),
    ({"vlanTrunk": [{"minID": 9, "maxID": 3}]}, "vlanTrunk[0].minID"),
    ({"ipam": {"type": "../x"}}, "ipam.type"), ({"Mtu": "1500"}, "mtu"),
])
def test_each_refusal_names_its_field(fields, field):
    with pytest.raises(InvalidConfig) as exc:
        parse(**fields)
    assert exc.value.field == field
