"""cni.version: which versions we speak and which verb each allows (cni-spec.md 1, 3.4)."""

import pytest
from support import code_of

from cni import version
from cni.errors import CNIError

ALL = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")


def test_supported_versions_are_exactly_the_seven_spec_versions():
    assert version.SUPPORTED == ALL
    assert version.CURRENT == "1.1.0"
    assert version.DEFAULT == "0.1.0"


@pytest.mark.parametrize("v", ALL)
@pytest.mark.parametrize("command", ["ADD", "DEL"])
def test_add_and_del_accept_every_supported_version(command, v):
    assert code_of(version.check, v, command) is None


@pytest.mark.parametrize("v", ALL)
def test_check_needs_0_4_0(v):
    expected = None if version.parse(v) >= (0, 4, 0) else 1
    assert code_of(version.check, v, "CHECK") == expected


@pytest.mark.parametrize("v", ALL)
@pytest.mark.parametrize("command", ["GC", "STATUS"])
def test_gc_and_status_need_1_1_0(command, v):
    assert code_of(version.check, v, command) == (None if v == "1.1.0" else 1)


def test_too_old_message_names_the_verb():
    with pytest.raises(CNIError) as err:
        version.check("0.3.1", "CHECK")
    assert err.value.msg == "config version does not allow CHECK"


@pytest.mark.parametrize("v", ["x.y", "1.0", "1.0.0.0", "", "a.b.c", "1.-1.0", "1.0.0 ",
                               "١.٠.٠"])  # noqa: RUF001  # Arabic-Indic digits: int() takes them, Go does not
@pytest.mark.parametrize("command", ["CHECK", "GC", "STATUS"])
def test_unparsable_version_is_code_6_where_semver_is_compared(command, v):
    assert code_of(version.check, v, command) == 6


@pytest.mark.parametrize("v", ["9.9.9", "garbage", "1.2.0", "0.5.0", "x.y"])
@pytest.mark.parametrize("command", ["ADD", "DEL"])
def test_unknown_version_is_code_1_for_add_and_del(command, v):
    """ADD/DEL compare the string exactly, as the reference skel does: never a 6."""
    assert code_of(version.check, v, command) == 1


def test_unknown_version_lists_the_supported_ones_in_details():
    with pytest.raises(CNIError) as err:
        version.check("9.9.9", "ADD")
    assert err.value.msg == "incompatible CNI versions"
    assert err.value.details == ('config is "9.9.9", plugin supports ["0.1.0" "0.2.0" "0.3.0" '
                                 '"0.3.1" "0.4.0" "1.0.0" "1.1.0"]')


@pytest.mark.parametrize("command", ["CHECK", "GC", "STATUS"])
def test_newer_than_supported_is_code_1_with_details(command):
    with pytest.raises(CNIError) as err:
        version.check("9.9.9", command)
    assert err.value.code == 1 and "1.1.0" in err.value.details


@pytest.mark.parametrize("v", ["1.0.0", 1])
def test_parse(v):
    if isinstance(v, str):
        assert version.parse(v) == (1, 0, 0)
    else:
        assert code_of(version.parse, v) == 6


def test_at_least_compares_numerically():
    assert version.at_least("0.10.0", "0.4.0")
    assert not version.at_least("0.3.1", "0.4.0")


@pytest.mark.parametrize("v", ALL)
def test_has_interfaces_from_0_3_0(v):
    assert version.has_interfaces(v) == (v not in ("0.1.0", "0.2.0"))
