"""cni.errors: the error object every failure turns into (cni-spec.md 4)."""

import json

import pytest

from cni import errors

EXPECTED_CODES = {
    "IncompatibleVersion": 1, "UnsupportedField": 2, "UnknownContainer": 3,
    "InvalidEnvironment": 4, "IOFailure": 5, "DecodingFailure": 6, "InvalidConfig": 7,
    "InvalidNetNS": 8, "TryAgainLater": 11, "NotAvailable": 50, "NotAvailableLimited": 51,
    "NetnsNotFound": 100, "NotANetns": 101, "InterfaceExists": 102, "BridgeConflict": 103,
    "PoolExhausted": 104, "AddressUnavailable": 105, "PluginNotFound": 106,
    "NetlinkFailure": 107, "StoreFailure": 108, "FirewallFailure": 109, "CheckFailed": 110,
    "DelegateFailure": 111, "InterfaceNotFound": 112,
}


def test_to_dict_without_details():
    out = errors.InvalidConfig("missing network name").to_dict("1.0.0")
    assert out == {"cniVersion": "1.0.0", "code": 7, "msg": "missing network name"}
    assert list(out) == ["cniVersion", "code", "msg"]


def test_to_dict_with_details():
    out = errors.IncompatibleVersion("incompatible CNI versions", "config is \"9.9.9\"").to_dict("1.1.0")
    assert out == {"cniVersion": "1.1.0", "code": 1, "msg": "incompatible CNI versions",
                   "details": "config is \"9.9.9\""}
    assert list(out) == ["cniVersion", "code", "msg", "details"]


def test_plain_error_is_999_and_code_can_be_given():
    assert errors.CNIError("x").code == 999
    assert errors.CNIError("x", code=104).to_dict("1.0.0")["code"] == 104


def test_str_joins_msg_and_details():
    assert str(errors.CNIError("short", "long")) == "short: long"
    assert str(errors.CNIError("short")) == "short"


@pytest.mark.parametrize("name, code", EXPECTED_CODES.items())
def test_each_class_has_its_code(name, code):
    cls = getattr(errors, name)
    assert issubclass(cls, errors.CNIError) and cls.code == code
    out = json.loads(json.dumps(cls("m").to_dict("1.1.0")))
    assert isinstance(out["code"], int) and out["code"] == code and out["msg"] == "m"


def test_codes_are_unique():
    classes = [c for c in vars(errors).values()
               if isinstance(c, type) and issubclass(c, errors.CNIError) and c is not errors.CNIError]
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes))
    assert {c.__name__ for c in classes} >= set(EXPECTED_CODES)
