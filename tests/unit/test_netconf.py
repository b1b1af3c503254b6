"""cni.netconf: the stdin config, parsed once at the edge (cni-spec.md 2, 6)."""

import json

import pytest

from cni import netconf
from cni.errors import CNIError
from cni.types import IPConfig, Route

BASE = {"cniVersion": "1.1.0", "name": "mynet", "type": "bridge"}


def parse(data) -> netconf.NetConf:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return netconf.parse(raw)


def error_of(data) -> CNIError:
    with pytest.raises(CNIError) as err:
        parse(data)
    return err.value


def test_minimal_config():
    conf = parse(BASE)
    assert (conf.cni_version, conf.name, conf.type) == ("1.1.0", "mynet", "bridge")
    assert (conf.args, conf.runtime_config, conf.capabilities) == ({}, {}, {})
    assert conf.ipam.type == "" and conf.ip_masq is False and not conf.dns.to_dns()
    assert conf.prev_result() is None and conf.valid_attachments() is None


@pytest.mark.parametrize("value", [None, ""])
def test_missing_cni_version_means_0_1_0(value):
    data = {k: v for k, v in BASE.items() if k != "cniVersion"}
    if value is not None:
        data["cniVersion"] = value
    assert parse(data).cni_version == "0.1.0"


def test_unknown_version_string_is_kept_for_the_version_gate():
    assert parse({**BASE, "cniVersion": "9.9.9"}).cni_version == "9.9.9"


@pytest.mark.parametrize("value", [1.0, 1, True, ["1.0.0"], {"v": 1}])
def test_cni_version_not_a_string_is_code_6(value):
    assert error_of({**BASE, "cniVersion": value}).code == 6


@pytest.mark.parametrize("stdin", [b"", b"   \n", b"{", b"not json", b'{"name": "x",}',
                                   b"\xff\xfe", b'{"name": "a"} {"name": "b"}'])
def test_undecodable_stdin_is_code_6(stdin):
    err = error_of(stdin)
    assert err.code == 6 and err.msg.startswith("error unmarshall network config")


def test_empty_stdin_message_matches_the_reference():
    assert error_of(b"").msg == "error unmarshall network config: unexpected end of JSON input"


@pytest.mark.parametrize("stdin", [b"[]", b"null", b"5", b'"mynet"', b"true"])
def test_non_object_stdin_is_code_6(stdin):
    assert error_of(stdin).code == 6


def test_missing_name_is_code_7():
    err = error_of({"cniVersion": "1.0.0", "type": "bridge"})
    assert (err.code, err.msg) == (7, "missing network name")


@pytest.mark.parametrize("name", ["../x", "a b", "a/b", ".x", 5, None, ""])
def test_bad_name_is_code_7(name):
    assert error_of({**BASE, "name": name}).code == 7


@pytest.mark.parametrize("key, value", [
    ("type", 5), ("ipMasq", "true"), ("ipMasq", 1), ("ipam", []), ("ipam", "host-local"),
    ("ipam", {"type": 5}), ("args", "x"), ("runtimeConfig", []), ("capabilities", ["ips"]),
    ("capabilities", {"ips": "true"}), ("prevResult", "{}"), ("logFile", 5), ("logLevel", 10),
    ("cniVersions", "1.0.0"), ("cniVersions", [1]),
])
def test_wrong_types_are_code_7_naming_the_field(key, value):
    err = error_of({**BASE, key: value})
    assert err.code == 7
    assert key in f"{err.msg} {err.details}"


@pytest.mark.parametrize("dns", [["8.8.8.8"], {"nameservers": "8.8.8.8"}, {"domain": 5},
                                 {"search": [1]}, {"options": {"ndots": 5}}, {"nameservers": ""}])
def test_bad_dns_is_code_7_naming_the_field(dns):
    err = error_of({**BASE, "dns": dns})
    assert err.code == 7 and "dns" in err.msg


def test_code_7_names_the_field_and_what_it_must_be():
    err = error_of({**BASE, "ipMasq": "yes"})
    assert (err.msg, err.details, err.field) == (
        "invalid field ipMasq", 'ipMasq must be a boolean, got "yes"', "ipMasq")


@pytest.mark.parametrize("key", ["type", "ipMasq", "ipam", "args", "runtimeConfig", "dns",
                                 "capabilities", "prevResult", "logFile", "logLevel", "cniVersions"])
def test_null_is_the_same_as_absent(key):
    with_null = parse({**BASE, key: None})
    absent = parse({k: v for k, v in BASE.items() if k != key})
    for f in netconf.NetConf.FIELDS:
        assert values(getattr(with_null, f.attr)) == values(getattr(absent, f.attr)), f.key


def values(value: object) -> object:
    """A parsed value as plain data (nested config objects by their attributes)."""
    if hasattr(value, "FIELDS"):
        return {f.attr: values(getattr(value, f.attr)) for f in value.FIELDS}
    return value


def test_keys_match_case_insensitively_as_go_decodes_them():
    conf = parse({"CNIVERSION": "0.4.0", "Name": "mynet", "IPMasq": True,
                  "IPAM": {"TYPE": "host-local"}, "DNS": {"NameServers": ["10.0.0.1"]}})
    assert (conf.cni_version, conf.name, conf.ip_masq, conf.ipam.type) == (
        "0.4.0", "mynet", True, "host-local")
    assert conf.dns.nameservers == ["10.0.0.1"]


def test_calico_spellings_of_the_log_keys():
    conf = parse({**BASE, "log_file_path": "/var/log/x.log", "log_level": "debug"})
    assert (conf.log_file, conf.log_level) == ("/var/log/x.log", "debug")


def test_unknown_keys_are_kept_in_raw():
    data = {**BASE, "bridge": "cni0", "cni.dev/valid-attachments": [], "x": {"y": [1, 2]}}
    conf = parse(data)
    assert conf.raw == data


def test_every_protocol_key_is_read():
    data = {**BASE, "cniVersions": ["1.0.0", "1.1.0"], "ipMasq": True,
            "ipam": {"type": "host-local", "subnet": "10.1.0.0/16"},
            "dns": {"nameservers": ["10.1.0.1"], "domain": "d", "search": ["s"], "options": ["o"]},
            "args": {"cni": {"ips": ["10.1.0.5"]}}, "capabilities": {"ips": True},
            "runtimeConfig": {"ips": ["10.1.0.5/16"]}, "logFile": "/tmp/x.log", "logLevel": "debug"}
    conf = parse(data)
    assert conf.cni_versions == ["1.0.0", "1.1.0"] and conf.ip_masq is True
    assert conf.ipam.type == "host-local" and conf.ipam.raw == data["ipam"]
    assert conf.dns.to_dns().to_dict() == data["dns"]
    assert conf.args == data["args"] and conf.runtime_config == data["runtimeConfig"]
    assert conf.capabilities == {"ips": True}
    assert (conf.log_file, conf.log_level) == ("/tmp/x.log", "debug")


PREV = {
    "0.1.0": {"cniVersion": "0.1.0", "ip4": {"ip": "10.1.0.5/16", "gateway": "10.1.0.1",
                                             "routes": [{"dst": "0.0.0.0/0"}]}},
    "0.2.0": {"cniVersion": "0.2.0", "ip4": {"ip": "10.1.0.5/16", "gateway": "10.1.0.1",
                                             "routes": [{"dst": "0.0.0.0/0"}]}},
    "0.3.0": {"cniVersion": "0.3.0", "interfaces": [{"name": "eth0"}],
              "ips": [{"version": "4", "interface": 0, "address": "10.1.0.5/16",
                       "gateway": "10.1.0.1"}], "routes": [{"dst": "0.0.0.0/0"}]},
    "0.3.1": {"cniVersion": "0.3.1", "interfaces": [{"name": "eth0"}],
              "ips": [{"version": "4", "interface": 0, "address": "10.1.0.5/16",
                       "gateway": "10.1.0.1"}], "routes": [{"dst": "0.0.0.0/0"}]},
    "0.4.0": {"cniVersion": "0.4.0", "interfaces": [{"name": "eth0"}],
              "ips": [{"version": "4", "interface": 0, "address": "10.1.0.5/16",
                       "gateway": "10.1.0.1"}], "routes": [{"dst": "0.0.0.0/0"}]},
    "1.0.0": {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}],
              "ips": [{"interface": 0, "address": "10.1.0.5/16", "gateway": "10.1.0.1"}],
              "routes": [{"dst": "0.0.0.0/0"}]},
    "1.1.0": {"cniVersion": "1.1.0", "interfaces": [{"name": "eth0", "mtu": 1400}],
              "ips": [{"interface": 0, "address": "10.1.0.5/16", "gateway": "10.1.0.1"}],
              "routes": [{"dst": "0.0.0.0/0", "table": 10}]},
}


@pytest.mark.parametrize("conf_version", ["0.4.0", "1.0.0", "1.1.0"])
@pytest.mark.parametrize("prev_version", PREV)
def test_prev_result_of_any_version_is_parsed(prev_version, conf_version):
    conf = parse({**BASE, "cniVersion": conf_version, "prevResult": PREV[prev_version]})
    prev = conf.prev_result()
    assert prev.cni_version == prev_version
    assert prev.ips[0].address == "10.1.0.5/16" and prev.ips[0].gateway == "10.1.0.1"
    assert prev.routes[0].dst == "0.0.0.0/0"


def test_prev_result_without_version_is_read_in_the_config_version():
    legacy = parse({**BASE, "cniVersion": "0.2.0", "prevResult": {"ip4": {"ip": "10.1.0.5/16"}}})
    assert legacy.prev_result().ips == [IPConfig("10.1.0.5/16")]
    current = parse({**BASE, "prevResult": {"ips": [{"address": "10.1.0.5/16"}],
                                            "routes": [{"dst": "10.0.0.0/8"}]}})
    assert current.prev_result().cni_version == "1.1.0"
    assert current.prev_result().routes == [Route("10.0.0.0/8")]


def test_invalid_prev_result_is_code_6_when_read():
    conf = parse({**BASE, "prevResult": {"cniVersion": "1.0.0", "ips": [{"address": "bad"}]}})
    with pytest.raises(CNIError) as err:
        conf.prev_result()
    assert err.value.code == 6


# -- GC's list of attachments still in use ------------------------------------------

def test_valid_attachments_absent_null_and_listed():
    assert parse(BASE).valid_attachments() is None
    assert parse({**BASE, "cni.dev/valid-attachments": None}).valid_attachments() == []
    listed = {**BASE, "cni.dev/attachments": [{"containerID": "c1", "ifname": "eth0"},
                                              {"ContainerID": "c2", "IfName": "net1"}]}
    assert parse(listed).valid_attachments() == [("c1", "eth0"), ("c2", "net1")]


@pytest.mark.parametrize("value, field", [
    ("x", "cni.dev/valid-attachments"), (["x"], "cni.dev/valid-attachments[0]"),
    ([{"ifname": "eth0"}], "cni.dev/valid-attachments[0].containerID"),
    ([{"containerID": "../x", "ifname": "eth0"}], "cni.dev/valid-attachments[0].containerID"),
    ([{"containerID": "c1", "ifname": "a/b"}], "cni.dev/valid-attachments[0].ifname"),
])
def test_a_bad_valid_attachments_list_is_code_7_naming_the_entry(value, field):
    conf = parse({**BASE, "cni.dev/valid-attachments": value})
    with pytest.raises(CNIError) as err:
        conf.valid_attachments()
    assert (err.value.code, err.value.field) == (7, field)
