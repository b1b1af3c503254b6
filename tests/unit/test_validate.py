"""cni.validate: every value that becomes a path, an interface name or an exec (cni-spec.md 7)."""

import pytest
from support import code_of

from cni import validate
from cni.errors import CNIError


@pytest.mark.parametrize("name", ["eth0", "a", "e" * 15, "net1.100", "veth-x_y", "é" * 7 + "a",
                                  "ETH0", "-eth", "eth@0"])
def test_ifname_accepted(name):
    assert validate.ifname(name) == name


@pytest.mark.parametrize("name", [
    "e" * 16,              # IFNAMSIZ
    "é" * 8,               # 8 characters but 16 bytes
    "ab" + "€" * 5,        # 7 characters, 17 bytes
    "", ".", "..", "a/b", "/", "a:b", "a b", " eth0", "eth0 ", "a\tb", "a\nb", "a\0b",
    "a\u00a0b",            # no-break space is whitespace too
])
def test_ifname_refused_with_code_4(name):
    assert code_of(validate.ifname, name) == 4


def test_ifname_length_message_matches_the_reference():
    with pytest.raises(CNIError) as err:
        validate.ifname("abcdefghijklmnop")
    assert (err.value.msg, err.value.details) == (
        "interface name is too long", "interface name should be less than 16 characters")


def test_ifname_slash_message_matches_the_reference():
    with pytest.raises(CNIError) as err:
        validate.ifname("et/h0")
    assert err.value.msg == "interface name contains / or : or whitespace characters"


def test_ifname_undecodable_bytes_are_counted_as_bytes():
    """os.environ holds undecodable bytes as surrogates: one byte each."""
    name = b"e\xff\xfe".decode("utf-8", "surrogateescape") * 5  # 15 bytes
    assert validate.ifname(name) == name
    assert code_of(validate.ifname, name + "x") == 4


def test_ifname_error_class_is_selectable():
    """Interface names from the config (e.g. bridge) are config errors, code 7."""
    assert code_of(validate.ifname, "a/b", validate.InvalidConfig) == 7


@pytest.mark.parametrize("cid", ["abc_1.2-3", "a", "0" * 64, "cnitool-0123456789abcdef0123",
                                 "A.b-C_d", "x" * validate.MAX_ID])
def test_container_id_accepted(cid):
    assert validate.container_id(cid) == cid


@pytest.mark.parametrize("cid", ["-abc", ".x", "_x", "a/b", "..", ".", "", "a b", "a:b", "a\0b",
                                 "a\nb", "abc\n", "é", "x" * (validate.MAX_ID + 1)])
def test_container_id_refused_with_code_4(cid):
    assert code_of(validate.container_id, cid) == 4


@pytest.mark.parametrize("name", ["mynet", "rc-net_1.0", "0"])
def test_network_name_accepted(name):
    assert validate.network_name(name) == name


@pytest.mark.parametrize("name", ["../x", "a b", "a/b", ".hidden", "-x", "x\n", 5, ["x"], True,
                                  "x" * (validate.MAX_ID + 1)])
def test_network_name_refused_with_code_7(name):
    assert code_of(validate.network_name, name) == 7


@pytest.mark.parametrize("name", [None, ""])
def test_missing_network_name_is_code_7(name):
    with pytest.raises(CNIError) as err:
        validate.network_name(name)
    assert (err.value.code, err.value.msg) == (7, "missing network name")


@pytest.mark.parametrize("kind", ["host-local", "bridge", "my.ipam", "..x", "x..", "a_b"])
def test_plugin_type_accepted(kind):
    assert validate.plugin_type(kind) == kind


@pytest.mark.parametrize("kind", [
    "../../x",             # CVE-2021-20206
    "../x", "..", ".", "/usr/bin/x", "x/", "sub/ipam", "a\\b", "x\0", "", None, 5, ["x"],
    "x" * 256,
])
def test_plugin_type_refused_with_code_7(kind):
    assert code_of(validate.plugin_type, kind) == 7
