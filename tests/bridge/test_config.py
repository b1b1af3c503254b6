"""The bridge config parser, in-process (reference B19, B20, B11 and loadNetConf), and its
agreement with the pydantic schema that explains failures and backs `pycni lint`."""

import json

import pytest

from cni import models, netconf
from cni.errors import InvalidConfig, InvalidEnvironment
from cni.plugins import bridge_models  # noqa: F401  (registers MODELS["bridge"])
from cni.plugins.bridge import BridgeConf


def parse(env_args: "dict | None" = None, **fields: object) -> BridgeConf:
    raw = {"cniVersion": "1.0.0", "name": "n", "type": "bridge"}
    raw.update(fields)
    return BridgeConf(netconf.parse(json.dumps(raw).encode()), env_args or {})


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


VALID = [{}, {"bridge": "br0", "mtu": 1400}, {"vlan": 4094}, {"vlanTrunk": [{"id": 5}]},
         {"ipMasqBackend": "nftables", "ipMasq": True}, {"runtimeConfig": {"mac": "02:00:00:00:00:01"}},
         {"args": {"cni": {"mac": "02:00:00:00:00:01"}}}, {"preserveDefaultVlan": True}]
INVALID = [{"vlan": 4095}, {"vlan": "1"}, {"mtu": -1}, {"portIsolation": "true"},
           {"ipMasqBackend": "pf"}, {"vlanTrunk": [{"minID": 5}]}, {"vlanTrunk": [{"id": 0}]},
           {"bridge": "a/b"}, {"bridge": "x" * 16}, {"runtimeConfig": {"mac": "bad"}},
           {"enabledad": 1}, {"vlanTrunk": [{"minID": 9, "maxID": 3}]}]


@pytest.mark.parametrize("fields", VALID)
def test_parser_and_schema_accept_the_same(fields):
    raw = {"cniVersion": "1.0.0", "name": "n", "type": "bridge", **fields}
    parse(**fields)
    assert models.errors(raw, "bridge") == []


@pytest.mark.parametrize("fields", INVALID)
def test_parser_and_schema_refuse_the_same(fields):
    raw = {"cniVersion": "1.0.0", "name": "n", "type": "bridge", **fields}
    with pytest.raises(InvalidConfig):
        parse(**fields)
    assert models.errors(raw, "bridge") != []
