"""The fast config parser (cni.netconf) and the pydantic schema (cni.models) agree.

The fast parser decides on every exec; the schema explains its refusals and
backs `pycni lint`. If they disagreed, lint would pass configs the plugins
refuse (or the other way round), so accept/reject must match on every input.
"""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cni import models, netconf
from cni.errors import CNIError

BASE = {"cniVersion": "1.1.0", "name": "mynet", "type": "bridge"}


def fast_accepts(raw: object) -> bool:
    try:
        netconf.parse(json.dumps(raw).encode())
    except CNIError:
        return False
    return True


def schema_accepts(raw: object) -> bool:
    return models.errors(raw, "netconf") == []


def agree(raw: object) -> None:
    fast, schema = fast_accepts(raw), schema_accepts(raw)
    assert fast == schema, (f"fast parser {'accepts' if fast else 'refuses'}, schema "
                            f"{'accepts' if schema else 'refuses'}: {raw!r} "
                            f"{models.errors(raw, 'netconf')}")


VALID = [
    BASE,
    {"name": "n"},
    {**BASE, "cniVersion": ""},
    {**BASE, "cniVersion": "9.9.9"},  # version support is the gate's business, not the schema's
    {**BASE, "cniVersions": ["1.0.0", "1.1.0"], "ipMasq": False, "type": ""},
    {**BASE, "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.0.0.0/8"}]]}},
    {**BASE, "ipam": {}, "dns": {}, "args": {}, "runtimeConfig": {}, "capabilities": {}},
    {**BASE, "ipam": None, "dns": None, "args": None, "runtimeConfig": None, "capabilities": None,
     "prevResult": None, "logFile": None, "logLevel": None, "cniVersions": None, "type": None,
     "ipMasq": None, "cniVersion": None},
    {**BASE, "dns": {"nameservers": ["1.1.1.1"], "domain": "x", "search": [], "options": ["a"]}},
    {**BASE, "dns": {"nameservers": None, "domain": None}},
    {**BASE, "capabilities": {"portMappings": True, "ips": False, "mac": None}},
    {**BASE, "prevResult": {"cniVersion": "1.0.0"}, "cni.dev/valid-attachments": [],
     "runtimeConfig": {"PortMappings": [{"HostPort": 80}]}, "args": {"cni": {"ips": []}}},
    {**BASE, "logFile": "/var/log/cni.log", "logLevel": "debug", "anything": [1, {"x": None}]},
    {**BASE, "name": "a" * 1024},
]

INVALID = [
    {},
    [],
    "mynet",
    {"cniVersion": "1.0.0"},
    {**BASE, "name": None},
    {**BASE, "name": ""},
    {**BASE, "name": "../x"},
    {**BASE, "name": "a b"},
    {**BASE, "name": "x\n"},
    {**BASE, "name": "a" * 1025},
    {**BASE, "name": 5},
    {**BASE, "cniVersion": 1},
    {**BASE, "cniVersions": "1.0.0"},
    {**BASE, "cniVersions": [None]},
    {**BASE, "type": 5},
    {**BASE, "ipMasq": "true"},
    {**BASE, "ipMasq": 0},
    {**BASE, "ipam": []},
    {**BASE, "ipam": {"type": 5}},
    {**BASE, "ipam": {"type": False}},
    {**BASE, "dns": []},
    {**BASE, "dns": {"nameservers": "1.1.1.1"}},
    {**BASE, "dns": {"nameservers": [None]}},
    {**BASE, "dns": {"domain": 0}},
    {**BASE, "dns": {"search": ""}},
    {**BASE, "args": []},
    {**BASE, "runtimeConfig": "x"},
    {**BASE, "capabilities": {"ips": 1}},
    {**BASE, "capabilities": []},
    {**BASE, "prevResult": []},
    {**BASE, "logFile": 1},
    {**BASE, "logLevel": ["debug"]},
]


@pytest.mark.parametrize("raw", VALID)
def test_valid_corpus_accepted_by_both(raw):
    assert fast_accepts(raw) and schema_accepts(raw), models.errors(raw, "netconf")


@pytest.mark.parametrize("raw", INVALID)
def test_invalid_corpus_refused_by_both(raw):
    assert not fast_accepts(raw) and not schema_accepts(raw)


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False,
                      allow_infinity=False), st.text(max_size=5))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8)
names = st.one_of(st.text(alphabet="aZ09_.-/ \n\t:é", max_size=8), json_leaf)
string_lists = st.one_of(st.lists(st.one_of(st.text(max_size=4), json_leaf), max_size=3), json_value)
dns = st.one_of(json_value, st.fixed_dictionaries({}, optional={
    "nameservers": string_lists, "domain": st.one_of(st.text(max_size=4), json_leaf),
    "search": string_lists, "options": string_lists}))
ipam = st.one_of(json_value, st.fixed_dictionaries({}, optional={
    "type": st.one_of(st.sampled_from(["host-local", ""]), json_leaf), "subnet": json_value}))
capabilities = st.one_of(json_value, st.dictionaries(st.text(max_size=5), json_leaf, max_size=3))
configs = st.fixed_dictionaries({"name": names}, optional={
    "cniVersion": st.one_of(st.sampled_from(["1.0.0", "0.4.0", "", "x"]), json_leaf),
    "cniVersions": string_lists,
    "type": st.one_of(st.text(max_size=5), json_leaf),
    "args": json_value, "ipMasq": json_leaf, "ipam": ipam, "dns": dns,
    "runtimeConfig": json_value, "capabilities": capabilities, "prevResult": json_value,
    "logFile": json_leaf, "logLevel": json_leaf, "bridge": json_value,
})


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs)
def test_fast_parser_and_schema_agree_on_generated_configs(raw):
    agree(raw)


@settings(max_examples=200, deadline=None)
@given(json_value)
def test_fast_parser_and_schema_agree_on_arbitrary_json(raw):
    agree(raw)
