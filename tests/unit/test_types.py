"""cni.types: the result in every spec version (cni-spec.md 3.1-3.4).

One rich result is printed in each of the seven versions and compared with the
literal JSON the spec prescribes; then every version's output is read back and
printed in every other version (7 x 7), which must equal what that source
version could carry. The reference plugins' own outputs are the golden files.
"""

import copy
import json
from pathlib import Path

import pytest
from support import REFERENCE_OUTPUTS as REFERENCE

from cni.errors import CNIError
from cni.types import DNS, Interface, IPConfig, Result, Route

VERSIONS = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
LEGACY = ("0.1.0", "0.2.0")
WITH_IP_VERSION = ("0.3.0", "0.3.1", "0.4.0")
REFERENCE_FILES = 47  # CASES.md and the 46 outputs and configs it describes


def rich() -> Result:
    """Bridge-like dual-stack result using every 1.1.0 field."""
    return Result(
        "1.1.0",
        interfaces=[
            Interface("cni0", mac="0a:58:0a:58:00:01", mtu=1500),
            Interface("veth1", mac="0a:58:0a:58:00:02"),
            Interface("eth0", mac="0a:58:0a:58:00:03", sandbox="/run/netns/c1", mtu=1450,
                      socket_path="/run/vhost.sock", pci_id="0000:00:1f.6"),
        ],
        ips=[IPConfig("10.88.0.5/16", "10.88.0.1", 2),
             IPConfig("fd00::5/64", "fd00::1", 2),
             IPConfig("10.89.0.5/16", "", 2)],
        routes=[Route("0.0.0.0/0", "10.88.0.1"),
                Route("::/0"),
                Route("10.0.0.0/8", "10.88.0.254", mtu=1400, advmss=1360, priority=10,
                      table=100, scope=0),
                Route("192.168.0.0/16", table=0, scope=253)],
        dns=DNS(["10.88.0.1"], "cluster.local", ["svc.cluster.local"], ["ndots:5"]))


DNS_OUT = {"nameservers": ["10.88.0.1"], "domain": "cluster.local",
           "search": ["svc.cluster.local"], "options": ["ndots:5"]}

# Interfaces and routes as each family of versions prints them.
IFACES_110 = [
    {"name": "cni0", "mac": "0a:58:0a:58:00:01", "mtu": 1500},
    {"name": "veth1", "mac": "0a:58:0a:58:00:02"},
    {"name": "eth0", "mac": "0a:58:0a:58:00:03", "mtu": 1450, "sandbox": "/run/netns/c1",
     "socketPath": "/run/vhost.sock", "pciID": "0000:00:1f.6"},
]
IFACES_100 = [
    {"name": "cni0", "mac": "0a:58:0a:58:00:01"},
    {"name": "veth1", "mac": "0a:58:0a:58:00:02"},
    {"name": "eth0", "mac": "0a:58:0a:58:00:03", "sandbox": "/run/netns/c1"},
]
ROUTES_110 = [
    {"dst": "0.0.0.0/0", "gw": "10.88.0.1"},
    {"dst": "::/0"},
    {"dst": "10.0.0.0/8", "gw": "10.88.0.254", "mtu": 1400, "advmss": 1360, "priority": 10,
     "table": 100, "scope": 0},
    {"dst": "192.168.0.0/16", "table": 0, "scope": 253},
]
ROUTES_100 = [
    {"dst": "0.0.0.0/0", "gw": "10.88.0.1"},
    {"dst": "::/0"},
    {"dst": "10.0.0.0/8", "gw": "10.88.0.254"},
    {"dst": "192.168.0.0/16"},
]
IPS = [
    {"interface": 2, "address": "10.88.0.5/16", "gateway": "10.88.0.1"},
    {"interface": 2, "address": "fd00::5/64", "gateway": "fd00::1"},
    {"interface": 2, "address": "10.89.0.5/16"},
]
IPS_VERSIONED = [
    {"version": "4", "interface": 2, "address": "10.88.0.5/16", "gateway": "10.88.0.1"},
    {"version": "6", "interface": 2, "address": "fd00::5/64", "gateway": "fd00::1"},
    {"version": "4", "interface": 2, "address": "10.89.0.5/16"},
]
# 0.1.0/0.2.0: the first address of each family, routes split by family, dst/gw only.
LEGACY_OUT = {
    "ip4": {"ip": "10.88.0.5/16", "gateway": "10.88.0.1",
            "routes": [{"dst": "0.0.0.0/0", "gw": "10.88.0.1"},
                       {"dst": "10.0.0.0/8", "gw": "10.88.0.254"},
                       {"dst": "192.168.0.0/16"}]},
    "ip6": {"ip": "fd00::5/64", "gateway": "fd00::1", "routes": [{"dst": "::/0"}]},
    "dns": DNS_OUT,
}
# What a 0.1.0/0.2.0 result becomes in a 0.3.0+ version: no interfaces, no
# interface index, the ip4 routes then the ip6 routes.
FROM_LEGACY_IPS = [{"address": "10.88.0.5/16", "gateway": "10.88.0.1"},
                   {"address": "fd00::5/64", "gateway": "fd00::1"}]
FROM_LEGACY_ROUTES = LEGACY_OUT["ip4"]["routes"] + LEGACY_OUT["ip6"]["routes"]


def expected(source: str, target: str) -> dict:
    """`rich()` printed at `source`, read back, printed at `target`: the spec's JSON."""
    if target in LEGACY:
        return {"cniVersion": target, **copy.deepcopy(LEGACY_OUT)}
    if source in LEGACY:
        ips = [dict(ip) for ip in FROM_LEGACY_IPS]
        if target in WITH_IP_VERSION:
            ips = [{"version": "6" if ":" in ip["address"] else "4", **ip} for ip in ips]
        return {"cniVersion": target, "ips": ips, "routes": copy.deepcopy(FROM_LEGACY_ROUTES),
                "dns": DNS_OUT}
    full = source == "1.1.0" and target == "1.1.0"
    return {"cniVersion": target,
            "interfaces": copy.deepcopy(IFACES_110 if full else IFACES_100),
            "ips": copy.deepcopy(IPS_VERSIONED if target in WITH_IP_VERSION else IPS),
            "routes": copy.deepcopy(ROUTES_110 if full else ROUTES_100),
            "dns": DNS_OUT}


@pytest.mark.parametrize("version", VERSIONS)
def test_rich_result_printed_in_each_version_matches_the_spec(version):
    assert rich().to_dict(version) == expected("1.1.0", version)


@pytest.mark.parametrize("version", VERSIONS)
def test_key_order_follows_go_marshalling(version):
    out = json.dumps(rich().to_dict(version))
    assert out == json.dumps(expected("1.1.0", version))


@pytest.mark.parametrize("target", VERSIONS)
@pytest.mark.parametrize("source", VERSIONS)
def test_conversion_between_every_pair_of_versions(source, target):
    parsed = Result.from_dict(json.loads(json.dumps(rich().to_dict(source))))
    assert parsed.cni_version == source
    assert parsed.to_dict(target) == expected(source, target)


@pytest.mark.parametrize("version", VERSIONS)
def test_parse_back_is_a_fixed_point(version):
    printed = rich().to_dict(version)
    assert Result.from_dict(printed).to_dict(version) == printed


def test_1_1_0_fields_round_trip_at_1_1_0():
    parsed = Result.from_dict(rich().to_dict("1.1.0"))
    assert parsed == rich()
    eth0 = parsed.interfaces[2]
    assert (eth0.mtu, eth0.socket_path, eth0.pci_id) == (1450, "/run/vhost.sock", "0000:00:1f.6")
    route = parsed.routes[2]
    assert (route.mtu, route.advmss, route.priority, route.table, route.scope) == (1400, 1360, 10, 100, 0)
    # table/scope 0 are meaningful values (main table? global scope) and are printed.
    assert parsed.routes[3].to_dict("1.1.0") == {"dst": "192.168.0.0/16", "table": 0, "scope": 253}


@pytest.mark.parametrize("version", [v for v in VERSIONS if v != "1.1.0"])
def test_1_1_0_only_fields_are_dropped_below_1_1_0(version):
    text = json.dumps(rich().to_dict(version))
    for key in ("mtu", "socketPath", "pciID", "advmss", "priority", "table", "scope"):
        assert f'"{key}"' not in text


@pytest.mark.parametrize("version", VERSIONS)
def test_ips_version_present_exactly_for_0_3_and_0_4(version):
    out = rich().to_dict(version)
    if version in LEGACY:
        assert "ips" not in out and "interfaces" not in out
        return
    versions = [ip.get("version") for ip in out["ips"]]
    if version in WITH_IP_VERSION:
        assert versions == ["4", "6", "4"]
    else:
        assert versions == [None, None, None]


@pytest.mark.parametrize("version", WITH_IP_VERSION)
def test_ips_version_is_checked_against_the_address(version):
    data = {"cniVersion": version, "ips": [{"version": "6", "address": "10.0.0.2/24"}]}
    with pytest.raises(CNIError) as err:
        Result.from_dict(data)
    assert err.value.code == 6


@pytest.mark.parametrize("version", WITH_IP_VERSION)
def test_ips_version_may_be_absent_on_input(version):
    result = Result.from_dict({"cniVersion": version, "ips": [{"address": "10.0.0.2/24"}]})
    assert result.to_dict(version)["ips"] == [{"version": "4", "address": "10.0.0.2/24"}]


@pytest.mark.parametrize("version", LEGACY)
def test_legacy_routes_are_split_by_family_and_orphans_dropped(version):
    result = Result(ips=[IPConfig("10.1.0.2/24", "10.1.0.1")],
                    routes=[Route("::/0", "fd00::1"), Route("0.0.0.0/0", "10.1.0.1"),
                            Route("fd01::/64")])
    assert result.to_dict(version) == {
        "cniVersion": version,
        "ip4": {"ip": "10.1.0.2/24", "gateway": "10.1.0.1",
                "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}]},
        "dns": {}}


@pytest.mark.parametrize("version", LEGACY)
def test_legacy_keeps_only_the_first_address_of_each_family(version):
    result = Result(ips=[IPConfig("fd00::9/64"), IPConfig("10.1.0.2/24"), IPConfig("10.1.0.3/24"),
                         IPConfig("fd00::a/64")])
    out = result.to_dict(version)
    assert out["ip4"] == {"ip": "10.1.0.2/24"} and out["ip6"] == {"ip": "fd00::9/64"}
    assert list(out) == ["cniVersion", "ip4", "ip6", "dns"]


@pytest.mark.parametrize("version", LEGACY)
def test_no_ip_cannot_be_printed_in_0_1_0_or_0_2_0(version):
    result = Result(interfaces=[Interface("eth0", sandbox="/run/netns/x")],
                    routes=[Route("0.0.0.0/0")])
    with pytest.raises(CNIError) as err:
        result.to_dict(version)
    assert err.value.code == 1
    assert "no valid IP addresses" in err.value.msg


@pytest.mark.parametrize("version", [v for v in VERSIONS if v not in LEGACY])
def test_no_ip_is_fine_from_0_3_0(version):
    result = Result(interfaces=[Interface("eth0", sandbox="/run/netns/x")])
    assert result.to_dict(version) == {"cniVersion": version,
                                       "interfaces": [{"name": "eth0", "sandbox": "/run/netns/x"}],
                                       "dns": {}}


def test_an_empty_target_version_means_0_1_0():
    assert rich().to_dict("") == expected("1.1.0", "0.1.0")


@pytest.mark.parametrize("version", ["1.2.0", "0.5.0", "garbage", "1.0"])
def test_printing_an_unknown_version_is_code_1(version):
    with pytest.raises(CNIError) as err:
        rich().to_dict(version)
    assert err.value.code == 1


def test_result_without_cni_version_is_read_as_the_default_0_1_0():
    result = Result.from_dict({"ip4": {"ip": "10.0.0.2/24"}})
    assert result.cni_version == "0.1.0"
    assert result.ips == [IPConfig("10.0.0.2/24")]


def test_result_without_cni_version_takes_the_caller_default():
    result = Result.from_dict({"ips": [{"address": "10.0.0.2/24"}]}, "1.0.0")
    assert result.cni_version == "1.0.0" and result.ips == [IPConfig("10.0.0.2/24")]


def test_empty_dns_is_printed_as_an_empty_object():
    assert Result(ips=[IPConfig("10.0.0.2/24")]).to_dict("1.0.0")["dns"] == {}


def test_addresses_keep_their_host_bits():
    result = Result.from_dict({"cniVersion": "1.0.0", "ips": [{"address": "10.1.2.3/16"}]})
    assert result.ips[0].address == "10.1.2.3/16"


INVALID = {
    "not an object": ["ips"],
    "unknown cniVersion": {"cniVersion": "9.9.9"},
    "cniVersion not a string": {"cniVersion": 1.0},
    "cniVersion false": {"cniVersion": False, "ip4": {"ip": "10.0.0.2/24"}},
    "ips not a list": {"cniVersion": "1.0.0", "ips": {"address": "10.0.0.2/24"}},
    "ips entry not an object": {"cniVersion": "1.0.0", "ips": ["10.0.0.2/24"]},
    "address missing": {"cniVersion": "1.0.0", "ips": [{"gateway": "10.0.0.1"}]},
    "address without prefix": {"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2"}]},
    "address garbage": {"cniVersion": "1.0.0", "ips": [{"address": "ten/8"}]},
    "address not a string": {"cniVersion": "1.0.0", "ips": [{"address": 167772162}]},
    "gateway garbage": {"cniVersion": "1.0.0",
                        "ips": [{"address": "10.0.0.2/24", "gateway": "10.0.0.300"}]},
    "interface index out of range": {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}],
                                     "ips": [{"address": "10.0.0.2/24", "interface": 1}]},
    "interface index negative": {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}],
                                 "ips": [{"address": "10.0.0.2/24", "interface": -1}]},
    "interface index a bool": {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}],
                               "ips": [{"address": "10.0.0.2/24", "interface": True}]},
    "interface index a string": {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}],
                                 "ips": [{"address": "10.0.0.2/24", "interface": "0"}]},
    "interface without name": {"cniVersion": "1.0.0", "interfaces": [{"mac": "00:11:22:33:44:55"}]},
    "interface mtu a string": {"cniVersion": "1.1.0", "interfaces": [{"name": "e", "mtu": "1500"}]},
    "interface mtu empty string": {"cniVersion": "1.1.0", "interfaces": [{"name": "e", "mtu": ""}]},
    "interface mtu false": {"cniVersion": "1.1.0", "interfaces": [{"name": "e", "mtu": False}]},
    "interface mtu negative": {"cniVersion": "1.1.0", "interfaces": [{"name": "e", "mtu": -1}]},
    "interface mac not a string": {"cniVersion": "1.0.0", "interfaces": [{"name": "e", "mac": 5}]},
    "route dst missing": {"cniVersion": "1.0.0", "routes": [{"gw": "10.0.0.1"}]},
    "route dst garbage": {"cniVersion": "1.0.0", "routes": [{"dst": "default"}]},
    "route gw garbage": {"cniVersion": "1.0.0", "routes": [{"dst": "0.0.0.0/0", "gw": "x"}]},
    "route table negative": {"cniVersion": "1.1.0", "routes": [{"dst": "0.0.0.0/0", "table": -1}]},
    "route scope a string": {"cniVersion": "1.1.0", "routes": [{"dst": "0.0.0.0/0", "scope": "link"}]},
    "route mtu a bool": {"cniVersion": "1.1.0", "routes": [{"dst": "0.0.0.0/0", "mtu": True}]},
    "dns not an object": {"cniVersion": "1.0.0", "dns": ["8.8.8.8"]},
    "dns nameservers a string": {"cniVersion": "1.0.0", "dns": {"nameservers": "8.8.8.8"}},
    "dns nameservers empty string": {"cniVersion": "1.0.0", "dns": {"nameservers": ""}},
    "dns domain a number": {"cniVersion": "1.0.0", "dns": {"domain": 0}},
    "dns search of numbers": {"cniVersion": "1.0.0", "dns": {"search": [1]}},
    "ip4 not an object": {"cniVersion": "0.2.0", "ip4": "10.0.0.2/24"},
    "ip4 without ip": {"cniVersion": "0.2.0", "ip4": {"gateway": "10.0.0.1"}},
    "ip4 ip without prefix": {"cniVersion": "0.1.0", "ip4": {"ip": "10.0.0.2"}},
    "ip4 routes not a list": {"cniVersion": "0.2.0",
                              "ip4": {"ip": "10.0.0.2/24", "routes": {"dst": "0.0.0.0/0"}}},
}


@pytest.mark.parametrize("data", INVALID.values(), ids=INVALID.keys())
def test_invalid_results_are_code_6(data):
    with pytest.raises(CNIError) as err:
        Result.from_dict(data)
    assert err.value.code == 6, err.value


def golden_files() -> "list[Path]":
    # At collection: a missing or emptied folder is an error, never zero golden cases.
    found = len(list(REFERENCE.glob("*"))) if REFERENCE.is_dir() else 0
    assert found == REFERENCE_FILES, (
        f"{REFERENCE}: {found} files, expected {REFERENCE_FILES} (the reference outputs)")
    files = []
    for path in sorted(REFERENCE.glob("*.json")):
        data = json.loads(path.read_text())
        if "code" not in data and "supportedVersions" not in data:
            files.append(path)
    return files


GOLDEN = golden_files()


def test_the_golden_list_is_complete():
    assert len(list(REFERENCE.iterdir())) == REFERENCE_FILES
    assert (REFERENCE / "CASES.md").is_file()
    assert len(GOLDEN) == 13, [p.stem for p in GOLDEN]


def test_every_reference_add_output_is_covered():
    names = {p.stem for p in GOLDEN}
    assert {"v010-ADD", "v020-ADD", "v031-ADD", "v040-ADD-c1", "v100-ADD-c1", "loopback-ADD",
            "hostlocal-ADD", "exhaust-ADD-1"} <= names


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_reference_outputs_reprint_byte_for_byte(path):
    text = path.read_text()
    data = json.loads(text)
    result = Result.from_dict(data)
    assert json.dumps(result.to_dict(data["cniVersion"]), indent=4) == text


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_reference_outputs_survive_a_trip_through_every_version(path):
    """Up to 1.1.0 and back down: nothing of the original is lost."""
    text = path.read_text()
    data = json.loads(text)
    via = Result.from_dict(Result.from_dict(data).to_dict("1.1.0"))
    assert json.dumps(via.to_dict(data["cniVersion"]), indent=4) == text
