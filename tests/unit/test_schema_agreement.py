"""The plugins and `pycni lint` agree on every config: same verdict, same field.

Both derive from one declaration per config (cni.schema classes): the plugins
parse with it, lint validates with pydantic models made from it and then runs
the plugins' own rules. This generates network config files for bridge,
host-local and loopback — valid ones, wrong JSON types, keys in another case,
unknown keys, nulls, out-of-range and malformed values — and for each one
compares:
  plugin side  what a runtime and the plugin do before anything changes on ADD:
               libcni loads the file (cni/tool/libcni.py), builds the plugin's
               stdin, the plugin parses it (cni.netconf, the version gate, the
               plugin's own config, and host-local's when the bridge runs it);
  lint side    `pycni lint`'s verdict on the same file (cni/tool/lint.py).
Both must accept, or both refuse with the plugin's field among lint's problems.
PYCNI_SCHEMA_EXAMPLES sets the number of configs per plugin (CI: 2000).
"""

import json
import os
from functools import cache, lru_cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cni import netconf, version
from cni.errors import CNIError
from cni.netconf import NetConf
from cni.plugins import bridge
from cni.request import Request
from cni.schema import Config, Key
from cni.tool import libcni, lint
from ipam import config as host_local_config

EXAMPLES = int(os.environ.get("PYCNI_SCHEMA_EXAMPLES", "2000"))

# -- values ---------------------------------------------------------------------------

JSON = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=4),
                    lambda inner: st.lists(inner, max_size=2)
                    | st.dictionaries(st.sampled_from("abc"), inner, max_size=2), max_leaves=4)
# Values of every JSON type but one, for "wrong type" cases.
WRONG = {
    "bool": st.sampled_from([0, 1, "true", "false", None, [], {}]),
    "int": st.sampled_from([True, 1.5, 2.0, "1", None, [1], {}]),
    "number": st.sampled_from([True, "1", "0.5", [], {}]),
    "str": st.sampled_from([0, 1.5, True, ["x"], {"x": 1}]),
    "list": st.sampled_from(["x", 1, {}, True]),
    "dict": st.sampled_from(["x", 1, [], True]),
    "object": st.sampled_from(["x", 1, [], True, [{}]]),
    "any": st.nothing(),
}
SUBNETS = ["10.1.0.0/24", "10.1.1.0/24", "10.1.0.0/16", "10.1.0.1/24", "10.1.0.0/31",
           "fd00::/64", "fd00::1/64", "::ffff:10.0.0.0/120", "10.1.0.0/33", "x", ""]
ADDRESSES = ["10.1.0.5", "10.1.0.1", "10.1.0.0", "10.1.1.9", "10.1.0.5/24", "fd00::5",
             "10.1.0.5/40", "::ffff:10.1.0.5", "10.1.0", "x", ""]
# Meaningful values per key: edges of ranges, real and malformed addresses, names.
POOLS = {
    "cniVersion": st.sampled_from([*version.SUPPORTED, "", "9.9.9", "1.0", "x"]),
    "name": st.sampled_from(["net", "my-net.1", "a" * 300, "../x", "-x", ".", "a b", ""]),
    "bridge": st.sampled_from(["cni0", "br-x", "", "a" * 15, "a" * 16, "a/b", "a:b", ".", ".."]),
    "mtu": st.sampled_from([0, 1, 1500, 9000, 65535, 65536, -1]),
    "vlan": st.sampled_from([0, 1, 100, 4094, 4095, -1]),
    "id": st.sampled_from([0, 1, 4094, 4095, -5]),
    "minID": st.sampled_from([0, 1, 10, 4094, 4095]),
    "maxID": st.sampled_from([0, 1, 20, 4094, 4095]),
    "ipMasqBackend": st.sampled_from(["iptables", "nftables", "nft", ""]),
    "mac": st.sampled_from(["0a:58:0a:f4:00:02", "0A-58-0A-F4-00-02", "", "zz", "0a:58",
                            "0a:58:0a:f4:00:02:03"]),
    "type": st.sampled_from(["host-local", "fake-ipam", "", "../x", "a/b", "."]),
    "subnet": st.sampled_from(SUBNETS),
    "rangeStart": st.sampled_from(ADDRESSES),
    "rangeEnd": st.sampled_from(ADDRESSES),
    "gateway": st.sampled_from(ADDRESSES),
    "ips": st.lists(st.sampled_from(ADDRESSES), max_size=2),
    "dataDir": st.sampled_from(["/var/lib/cni/networks", "/tmp/x", "relative", "/a/../b", ""]),
    "lockTimeout": st.sampled_from([0, 0.5, 10, 3600, 3601, -1]),
    "routes": st.lists(st.fixed_dictionaries(
        {"dst": st.sampled_from(["0.0.0.0/0", "10.2.0.0/16", "::/0", "x", "10.2.0.1/16"])},
        optional={"gw": st.sampled_from(["10.1.0.1", "x", ""]),
                  "mtu": st.sampled_from([0, 1400, -1, "x"]),
                  "table": st.sampled_from([10, -1, None])}), max_size=2),
    "logLevel": st.sampled_from(["debug", "info", "error", "x", ""]),
    "logFile": st.sampled_from(["/var/log/cni.log", "relative.log", ""]),
}
EXTRA_KEYS = st.sampled_from(["x", "foo", "cni.dev/extra", "capabilities_", "portMappings"])


@cache
def spelled(name: str):
    """The key as written (mostly), in another case, or in a declared other spelling."""
    return st.one_of(st.just(name), st.just(name.upper()), st.just(name.swapcase()),
                     st.just(name[:1].upper() + name[1:]))


@cache
def value_for(f: Key, depth: int):
    """A value for field `f`: meaningful, well typed, of a wrong type, or null."""
    kind = f.kind
    good = POOLS[f.key] if f.key in POOLS else typed(kind, depth)
    return st.one_of(good, good, typed(kind, depth), WRONG[kind[0]], st.none())


@cache
def typed(kind: tuple, depth: int):
    tag = kind[0]
    if tag == "object":
        return config_object((kind[1],), depth + 1)
    if tag == "list":
        item = typed(kind[1], depth + 1) if depth < 3 else st.nothing()
        return st.lists(item | (st.none() if kind[2] else st.nothing()), max_size=2)
    if tag == "dict":
        values = JSON if kind[1] is None else typed(kind[1], depth + 1) | st.none()
        return st.dictionaries(st.sampled_from(["ips", "mac", "portMappings", "X"]), values,
                               max_size=2)
    return {"bool": st.booleans(), "int": st.integers(-2, 5000), "str": st.text(max_size=6),
            "number": st.integers(-1, 10) | st.floats(-1, 4000, allow_nan=False),
            "any": JSON}[tag]


SPELLINGS = lru_cache(maxsize=None)(lambda f: st.sampled_from((f.key, *f.also)))


@st.composite
def config_object(draw, classes: "tuple[type[Config], ...]", depth: int = 0,
                  fixed: "dict | None" = None) -> dict:
    """A JSON object for the keys of `classes` (merged by key, later classes win)."""
    fields: "dict[str, Key]" = {}
    for cls in classes:
        for f in cls.FIELDS:
            fields[f.key] = f
    out: dict = {}
    for name, f in fields.items():
        if name in (fixed or {}):
            continue
        if draw(st.integers(0, 2)) == 0:  # absent a third of the time
            continue
        spelling = draw(spelled(draw(SPELLINGS(f))))
        out[spelling] = draw(value_for(f, depth))
    out.update(fixed or {})
    for extra in draw(st.lists(EXTRA_KEYS, max_size=2)):
        out[extra] = draw(JSON)
    return out


# -- the two sides ------------------------------------------------------------------------

def plugin_verdict(raw: dict) -> "CNIError | None":
    """What a runtime and the plugin say on ADD before anything changes (None: go ahead)."""
    try:
        network = libcni.parse_list(json.dumps(raw).encode(), "10-test.conf")
        stdin = libcni.plugin_config(network, network.plugins[0])
        net = netconf.parse(stdin)
        version.check(net.cni_version, "ADD")
        req = Request("ADD", "c1", "/run/netns/x", "eth0", conf=net, stdin=stdin)
        if network.plugins[0]["type"] == "bridge":
            if bridge.load(req).ipam_type == "host-local":  # run in-process by the bridge
                host_local_config.load(req)
        elif network.plugins[0]["type"] == "host-local":
            host_local_config.load(req)
    except CNIError as exc:
        return exc
    return None


def lint_fields(raw: dict) -> "list[str]":
    """The fields of lint's problems (empty: lint accepts the file)."""
    problems, _ = lint.check_config(raw)
    return [p.split(": ", 1)[0] for p in problems]


def agree(raw: dict) -> None:
    refusal, fields = plugin_verdict(raw), lint_fields(raw)
    if refusal is None:
        assert not fields, f"plugin accepts, lint refuses {fields}: {raw!r}"
    else:
        assert fields, f"plugin refuses ({refusal.field}: {refusal}), lint accepts: {raw!r}"
        assert refusal.field in fields, (
            f"plugin names {refusal.field!r} ({refusal}), lint names {fields}: {raw!r}")


SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
HOST_LOCAL_IPAM = config_object((host_local_config.HostLocalIPAM,), 1,
                                fixed={"type": "host-local"})


@SETTINGS
@given(config_object((NetConf, bridge.BridgeConf), fixed={"type": "bridge"}),
       st.one_of(st.none(), HOST_LOCAL_IPAM))
def test_bridge(raw, ipam):
    if ipam is not None:  # bridge + our host-local: both configs in one object
        raw["ipam"] = ipam
    agree(raw)


@SETTINGS
@given(config_object((NetConf, host_local_config.HostLocalConf), fixed={"type": "host-local"}),
       st.one_of(st.none(), HOST_LOCAL_IPAM))
def test_host_local(raw, ipam):
    if ipam is not None:  # mostly an ipam object that names host-local
        raw["ipam"] = ipam
    agree(raw)


@SETTINGS
@given(config_object((NetConf,), fixed={"type": "loopback"}))
def test_loopback(raw):
    agree(raw)


# -- known cases, so that a failure is easy to read ---------------------------------------

GOOD_BRIDGE = {"cniVersion": "1.0.0", "name": "net", "type": "bridge", "bridge": "br0",
               "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.1.0.0/24"}]]}}


@pytest.mark.parametrize("change, field", [
    ({}, None),
    ({"MTU": "x"}, "mtu"),  # the case the two used to disagree on
    ({"Vlan": 5000}, "vlan"),
    ({"bridge": "a" * 16}, "bridge"),
    ({"runtimeConfig": {"MAC": "zz"}}, "runtimeConfig.mac"),
    ({"hairpinMode": True, "promiscMode": True}, "promiscMode"),
    ({"vlanTrunk": [{"minID": 5}]}, "vlanTrunk[0].maxID"),
    ({"ipam": {"type": "host-local", "ranges": [[{"subnet": "10.1.0.1/24"}]]}},
     "ipam.ranges[0][0].subnet"),
    ({"ipam": {"type": "host-local", "Ranges": [[{"Subnet": "10.1.0.0/24"}]], "DataDir": "x"}},
     "ipam.dataDir"),
    ({"ipam": {"type": "host-local", "subnet": "10.1.0.0/24", "ranges": [[{"subnet": "10.1.0.0/16"}]]}},
     "ipam.ranges"),
    ({"cniVersion": "0.2.0", "ipam": {}}, "ipam"),
    ({"cniVersion": "9.9.9"}, "cniVersion"),
    ({"capabilities": {"mac": "yes"}}, "capabilities.mac"),
])
def test_known_cases(change, field):
    raw = {**GOOD_BRIDGE, **change}
    agree(raw)
    refusal = plugin_verdict(raw)
    assert (refusal.field if refusal else None) == field
