"""host-local configuration: the reference's config_test.go and dns_test.go, plus our fields.

Config problems are InvalidConfig (code 7) with the reference's message and a
detail naming the field; a bad CNI_ARGS IP= is InvalidEnvironment (code 4).
"""

import json

import pytest

from cni import netconf
from cni.errors import CNIError, InvalidConfig, InvalidEnvironment
from cni.request import Request, parse_args
from ipam import config
from ipam.ranges import parse_ip


def request(conf: dict, args: str = "") -> Request:
    req = Request("ADD", "dummy", "/some/where", "eth0", args=parse_args(args))
    req.conf = netconf.parse(json.dumps(conf).encode())
    return req


def load(conf: dict, args: str = "") -> config.IPAMConfig:
    return config.load(request(conf, args))


def net(ipam: dict, version: str = "0.3.1", **top) -> dict:
    return {"cniVersion": version, "name": "mynet", "type": "ipvlan", "master": "foo0",
            "ipam": {"type": "host-local", **ipam}, **top}


def sets(cfg: config.IPAMConfig) -> "list[list[tuple]]":
    return [[(str(r.network), str(r.start), str(r.end), str(r.gateway)) for r in s]
            for s in cfg.range_sets]


R10 = {"subnet": "10.1.2.0/24", "rangeStart": "10.1.2.9", "rangeEnd": "10.1.2.20", "gateway": "10.1.2.30"}
R11 = {"subnet": "11.1.2.0/24", "rangeStart": "11.1.2.9", "rangeEnd": "11.1.2.20", "gateway": "11.1.2.30"}
S10 = ("10.1.2.0/24", "10.1.2.9", "10.1.2.20", "10.1.2.30")
S11 = ("11.1.2.0/24", "11.1.2.9", "11.1.2.20", "11.1.2.30")


# -- ranges and their order ------------------------------------------------------------

def test_old_style_config():
    cfg = load(net(R10))
    assert sets(cfg) == [[S10]]
    assert (cfg.network, cfg.cni_version, cfg.data_dir) == ("mynet", "0.3.1", "/var/lib/cni/networks")


def test_new_style_config_one_set_per_entry():
    assert sets(load(net({"ranges": [[R10], [R11]]}))) == [[S10], [S11]]


def test_mixed_config_puts_the_legacy_range_first():
    assert sets(load(net({**R10, "ranges": [[R11]]}))) == [[S10], [S11]]


def test_runtime_ip_ranges_come_before_legacy_and_ranges():
    r12 = {"subnet": "12.1.2.0/24"}
    cfg = load(net({**R10, "ranges": [[R11]]}, runtimeConfig={"ipRanges": [[r12]]}))
    assert [s[0][0] for s in sets(cfg)] == ["12.1.2.0/24", "10.1.2.0/24", "11.1.2.0/24"]


def test_runtime_config_keys_match_case_insensitively():
    cfg = load(net({}, runtimeConfig={"IPRanges": [[{"subnet": "12.1.2.0/24"}]], "IPs": ["12.1.2.9"]}))
    assert sets(cfg)[0][0][0] == "12.1.2.0/24"
    assert cfg.requested == [parse_ip("12.1.2.9")]


def test_legacy_start_without_subnet_is_ignored_like_the_reference():
    cfg = load(net({"rangeStart": "10.1.2.9", "ranges": [[R11]]}))
    assert sets(cfg) == [[S11]]


def test_multi_range_sets_keep_their_ranges_in_order():
    cfg = load(net({"ranges": [[{"subnet": "10.1.2.0/24"}, {"subnet": "10.2.2.0/24"}],
                               [{"subnet": "2001:db8:1::/64"}]]}))
    assert str(cfg.range_sets[0]) == "10.1.2.1-10.1.2.254,10.2.2.1-10.2.2.254"
    assert str(cfg.range_sets[1]) == "2001:db8:1::1-2001:db8:1:0:ffff:ffff:ffff:ffff"


# -- refusals --------------------------------------------------------------------------------

def refusal(conf: dict, args: str = "", kind: type = InvalidConfig) -> CNIError:
    with pytest.raises(kind) as exc:
        load(conf, args)
    return exc.value


def test_missing_ipam_key():
    conf = net({})
    del conf["ipam"]
    assert refusal(conf).msg == "IPAM config missing 'ipam' key"
    assert refusal({**conf, "ipam": None}).msg == "IPAM config missing 'ipam' key"


def test_no_ranges():
    assert refusal(net({})).msg == "no IP ranges specified"
    assert refusal(net({"ranges": []})).code == 7


def test_overlap_between_sets():
    conf = net({"ranges": [[{"subnet": "10.1.2.0/24", "rangeEnd": "10.1.2.128"}],
                           [{"subnet": "10.1.2.0/24", "rangeStart": "10.1.2.15"}]]})
    assert refusal(conf).msg == "range set 0 overlaps with 1"


def test_overlap_inside_a_set_names_both_ranges():
    conf = net({"ranges": [[{"subnet": "192.168.0.0/20"}, {"subnet": "192.168.2.0/24"}]]})
    exc = refusal(conf)
    assert exc.msg == ("invalid range set 0: subnets 192.168.0.1-192.168.15.254 and "
                       "192.168.2.1-192.168.2.254 overlap")
    assert "ipam.ranges[0]" in exc.details


def test_mixed_families_in_a_set():
    conf = net({"ranges": [[{"subnet": "10.1.2.0/24"}, {"subnet": "2001:db8::/64"}]]})
    assert refusal(conf).msg == "invalid range set 0: mixed address families"


def test_a_bad_range_names_its_field():
    exc = refusal(net({"ranges": [[R10], [{"subnet": "10.5.0.0/16", "rangeEnd": "10.6.0.1"}]]}))
    assert exc.msg == "invalid range set 1: RangeEnd 10.6.0.1 not in network 10.5.0.0/16"
    assert exc.details == "at ipam.ranges[1][0].rangeEnd"
    exc = refusal(net({"subnet": "10.1.2.5/24"}))
    assert exc.details == "at ipam.subnet"
    exc = refusal(net({}, runtimeConfig={"ipRanges": [[{"subnet": "10.0.0.0/31"}]]}))
    assert exc.msg == "invalid range set 0: Network 10.0.0.0/31 too small to allocate from"
    assert exc.details == "at runtimeConfig.ipRanges[0][0].subnet"


@pytest.mark.parametrize("ipam, field", [
    ({"ranges": {"subnet": "10.1.2.0/24"}}, "ipam.ranges"),
    ({"ranges": [{"subnet": "10.1.2.0/24"}]}, "ipam.ranges[0]"),
    ({"ranges": [["10.1.2.0/24"]]}, "ipam.ranges[0][0]"),
    ({"ranges": [[{"subnet": 10}]]}, "ipam.ranges[0][0].subnet"),
    ({"ranges": [[{"rangeStart": "10.1.2.3"}]]}, "ipam.ranges[0][0].subnet"),
    ({"subnet": "10.1.2.0/24", "gateway": ["x"]}, "ipam.gateway"),
    ({"subnet": "10.1.2.0/24", "dataDir": "relative/dir"}, "ipam.dataDir"),
    ({"subnet": "10.1.2.0/24", "dataDir": "/tmp/a\u0000b"}, "ipam.dataDir"),
    ({"subnet": "10.1.2.0/24", "dataDir": 5}, "ipam.dataDir"),
    ({"subnet": "10.1.2.0/24", "lockTimeout": 0}, "ipam.lockTimeout"),
    ({"subnet": "10.1.2.0/24", "lockTimeout": "5"}, "ipam.lockTimeout"),
    ({"subnet": "10.1.2.0/24", "routes": [{"gw": "10.1.2.1"}]}, "routes"),
    ({"subnet": "10.1.2.0/24", "routes": {"dst": "0.0.0.0/0"}}, "ipam.routes"),
    ({"subnet": "10.1.2.0/24", "resolvConf": 7}, "ipam.resolvConf"),
])
def test_shape_errors_name_the_field(ipam, field):
    exc = refusal(net(ipam))
    assert exc.code == 7
    assert field in str(exc) and exc.field.endswith(field)


def test_unparseable_subnet_uses_the_go_decoding_message():
    assert refusal(net({"subnet": "foo"})).msg == "invalid CIDR address: foo"


def test_cni_0_2_0_allows_one_address_per_family():
    two_v4 = {"ranges": [[{"subnet": "10.1.2.0/24"}], [{"subnet": "11.1.2.0/24"}]]}
    exc = refusal(net(two_v4, "0.2.0"))
    assert exc.msg == "CNI version 0.2.0 does not support more than 1 address per family"
    assert len(load(net({"ranges": [[{"subnet": "10.1.2.0/24"}], [{"subnet": "2001:db8:1::/64"}]]},
                        "0.2.0")).range_sets) == 2
    assert len(load(net(two_v4, "0.3.0")).range_sets) == 2


# -- requested addresses ------------------------------------------------------------------------

def test_cni_args_ip_with_and_without_prefix():
    assert load(net({"ranges": [[R10]]}), "IP=10.1.2.10").requested == [parse_ip("10.1.2.10")]
    assert load(net({"ranges": [[R10]]}), "IP=10.1.2.10/24").requested == [parse_ip("10.1.2.10")]


def test_cni_args_ip_may_list_several_addresses():
    cfg = load(net({"ranges": [[R10], [{"subnet": "2001:db8:1::/64"}]]}), "IP=10.1.2.10,2001:db8:1::5")
    assert cfg.requested == [parse_ip("10.1.2.10"), parse_ip("2001:db8:1::5")]


def test_requested_order_is_env_then_args_then_runtime_config_without_duplicates():
    conf = net({"ranges": [[R10], [R11], [{"subnet": "2001:db8:1::/64"}]]},
               args={"cni": {"ips": ["10.1.2.11", "11.11.11.11/8", "2001:db8:1::11"]}},
               runtimeConfig={"ips": ["10.1.2.12/24", "10.1.2.10"]})
    got = [str(i) for i in load(conf, "IP=10.1.2.10").requested]
    assert got == ["10.1.2.10", "10.1.2.11", "11.11.11.11", "2001:db8:1::11", "10.1.2.12"]


def test_bad_cni_args_ip_is_an_environment_error():
    exc = refusal(net({"ranges": [[R10]]}), "IP=foo", InvalidEnvironment)
    assert exc.msg == 'ARGS: error parsing value of pair "IP=foo": invalid IP address foo'
    assert exc.code == 4


@pytest.mark.parametrize("top, field, msg", [
    ({"args": {"cni": {"ips": ["10.1.2.x"]}}}, "args.cni.ips", "invalid IP address '10.1.2.x'"),
    ({"args": {"cni": {"ips": "10.1.2.3"}}}, "args.cni.ips", "invalid field args.cni.ips"),
    ({"runtimeConfig": {"ips": ["10.1.2.3", 4]}}, "runtimeConfig.ips[1]",
     "invalid field runtimeConfig.ips[1]"),
    ({"runtimeConfig": {"ips": ["10.1.2.3/99"]}}, "runtimeConfig.ips",
     "invalid IP address '10.1.2.3/99'"),
])
def test_bad_requested_addresses_in_the_config_name_the_field(top, field, msg):
    exc = refusal(net({"ranges": [[R10]]}, **top))
    assert (exc.msg, exc.field) == (msg, field)


def test_ipv4_mapped_requests_read_as_ipv4():
    assert load(net({"ranges": [[R10]]}), "IP=::ffff:10.1.2.10").requested == [parse_ip("10.1.2.10")]


# -- routes, store, timeouts -----------------------------------------------------------------------

def test_routes_are_returned_verbatim_with_the_1_1_0_fields():
    cfg = load(net({"subnet": "10.1.2.0/24", "routes": [
        {"dst": "0.0.0.0/0"}, {"dst": "192.168.0.0/16", "gw": "1.1.1.1"},
        {"dst": "2001:db8:2::0/64", "gw": "2001:db8:3::1", "mtu": 1400, "table": 100, "scope": 0}]}))
    assert [r.to_dict("1.1.0") for r in cfg.routes] == [
        {"dst": "0.0.0.0/0"}, {"dst": "192.168.0.0/16", "gw": "1.1.1.1"},
        {"dst": "2001:db8:2::/64", "gw": "2001:db8:3::1", "mtu": 1400, "table": 100, "scope": 0}]


def test_store_settings():
    cfg = load(net({"subnet": "10.1.2.0/24", "dataDir": "/run/cni/ipam", "lockTimeout": 2.5}))
    assert (cfg.data_dir, cfg.lock_timeout) == ("/run/cni/ipam", 2.5)


def test_load_store_ignores_broken_ranges_so_del_can_release():
    req = request(net({"subnet": "10.1.2.5/24", "dataDir": "/run/x"}))
    cfg = config.load_store(req.conf)
    assert (cfg.network, cfg.data_dir, cfg.range_sets) == ("mynet", "/run/x", [])
    with pytest.raises(InvalidConfig):
        config.load(req)


# -- resolv.conf ------------------------------------------------------------------------------------

def test_resolv_conf_simple():
    dns = config.parse_resolv_conf("\n\t\tnameserver 192.0.2.0\n\t\tnameserver 192.0.2.1\n\t\t")
    assert dns.to_dict() == {"nameservers": ["192.0.2.0", "192.0.2.1"]}


def test_resolv_conf_comments():
    assert config.parse_resolv_conf("\nnameserver 192.0.2.0\n;nameserver 192.0.2.1\n").to_dict() == {
        "nameservers": ["192.0.2.0"]}


def test_resolv_conf_all_fields_search_and_options_accumulate():
    dns = config.parse_resolv_conf("""
nameserver 192.0.2.0
nameserver 192.0.2.2
domain example.com
;nameserver comment
#nameserver comment
search example.net example.org
search example.gov
options one two three
options four
domain last.example
lonely
""")
    assert dns.to_dict() == {"nameservers": ["192.0.2.0", "192.0.2.2"], "domain": "last.example",
                             "search": ["example.net", "example.org", "example.gov"],
                             "options": ["one", "two", "three", "four"]}


def test_resolv_conf_file_and_its_errors(tmp_path):
    path = tmp_path / "resolv.conf"
    path.write_text("nameserver 192.0.2.3")
    assert config.read_resolv_conf(str(path)).nameservers == ["192.0.2.3"]
    with pytest.raises(InvalidConfig, match=r"cannot read ipam.resolvConf .*No such file"):
        config.read_resolv_conf(str(tmp_path / "missing"))
