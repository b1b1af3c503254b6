"""Conformance of the framework, through the real `loopback` executable.

Each test is named after an item of the checklist in cni-spec.md section 8 (the
items that apply to loopback and to the shared framework: 1-19, 23-24, 28-30,
37, 43-53, 76-78) or after a loopback behaviour of reference-plugins.md 4.
The plugin is exec'd as a runtime does it (CNI_* env, config on stdin) inside a
test-made "host" namespace, against a test-made container namespace.
"""

import json

import pytest
from support import REFERENCE_OUTPUTS as REFERENCE
from support import Outcome, run_plugin

VERSIONS = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
LEGACY = ("0.1.0", "0.2.0")
WITH_IP_VERSION = ("0.3.0", "0.3.1", "0.4.0")


def conf(version: "str | None" = "1.1.0", **extra) -> dict:
    out = {"name": "lo-net", "type": "loopback", **extra}
    if version is not None:
        out = {"cniVersion": version, **out}
    return out


def lo(ns, command: str, config: "dict | str | bytes | None" = None, **kw) -> Outcome:
    kw.setdefault("ifname", "lo")
    kw.setdefault("netns", ns["container"])
    return run_plugin("loopback", command, conf() if config is None else config,
                      host=ns["host"], **kw)


@pytest.fixture
def ns(host, container) -> dict:
    return {"host": host, "container": container}


def lo_up(netns) -> bool:
    return "UP" in netns.link("lo")["flags"]


def set_lo(netns, state: str) -> None:
    netns.sh("ip", "link", "set", "lo", state)


def assert_error(out: Outcome, code: int, cni_version: "str | None" = None) -> dict:
    """Item 76: exit != 0; stdout exactly one JSON object {cniVersion, code, msg[, details]}."""
    assert out.rc != 0, out
    text = out.stdout.strip()
    obj, end = json.JSONDecoder().raw_decode(text) if text else (None, 0)
    assert isinstance(obj, dict) and end == len(text), f"stdout is not one JSON object: {out}"
    assert set(obj) <= {"cniVersion", "code", "msg", "details"}, obj
    assert type(obj["code"]) is int and isinstance(obj["msg"], str) and obj["msg"], obj
    assert isinstance(obj.get("details", ""), str)
    assert isinstance(obj["cniVersion"], str)
    if cni_version is not None:
        assert obj["cniVersion"] == cni_version
    assert obj["code"] == code, out
    return obj


def assert_result(out: Outcome, version: str) -> dict:
    """Exit 0 and stdout exactly one JSON object in `version`."""
    assert out.rc == 0, out
    text = out.stdout.strip()
    obj, end = json.JSONDecoder().raw_decode(text)
    assert end == len(text), f"trailing output after the result: {out}"
    assert obj["cniVersion"] == version
    return obj


def lo_result(version: str, sandbox: str) -> dict:
    if version in LEGACY:
        return {"cniVersion": version, "ip4": {"ip": "127.0.0.1/8"}, "ip6": {"ip": "::1/128"},
                "dns": {}}
    ips = [{"interface": 0, "address": "127.0.0.1/8"}, {"interface": 0, "address": "::1/128"}]
    if version in WITH_IP_VERSION:
        ips = [{"version": "4", **ips[0]}, {"version": "6", **ips[1]}]
    return {"cniVersion": version,
            "interfaces": [{"name": "lo", "mac": "00:00:00:00:00:00", "sandbox": sandbox}],
            "ips": ips, "dns": {}}


# -- 1-6: VERSION and the command ------------------------------------------------

ALL_SUPPORTED = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]


def version_call(stdin: "bytes | str", **env) -> Outcome:
    full = {"CNI_PATH": "", **env}
    return run_plugin("loopback", "VERSION", stdin, ifname=None, container_id=None, env=full)


def test_01_version_with_empty_stdin_and_only_cni_command():
    out = version_call(b"")
    obj = assert_result(out, "1.1.0")
    assert set(obj) == {"cniVersion", "supportedVersions"}


def test_02_supported_versions_are_exactly_ours():
    obj = assert_result(version_call(b""), "1.1.0")
    assert obj["supportedVersions"] == ALL_SUPPORTED
    assert all(len(v.split(".")) == 3 and all(p.isdigit() for p in v.split("."))
               for v in obj["supportedVersions"])


@pytest.mark.parametrize("version", VERSIONS)
def test_03_version_echoes_the_stdin_version(version):
    obj = assert_result(version_call(json.dumps({"cniVersion": version})), version)
    assert obj["supportedVersions"] == ALL_SUPPORTED


@pytest.mark.parametrize("stdin", [b"", b"{", b"garbage", b'{"cniVersion": "9.9.9"}', b"[]",
                                   b'{"name": "x"}'])
def test_03_version_without_a_usable_stdin_version_answers_1_1_0(stdin):
    assert_result(version_call(stdin), "1.1.0")


def test_04_version_with_libcni_probe_environment():
    out = version_call(json.dumps({"cniVersion": "1.1.0"}), CNI_NETNS="dummy", CNI_IFNAME="dummy",
                       CNI_PATH="dummy")
    assert assert_result(out, "1.1.0")["supportedVersions"] == ALL_SUPPORTED


def test_05_no_command_prints_about_on_stderr_only():
    out = run_plugin("loopback", "", conf(), env={"CNI_COMMAND": ""})
    assert out.rc == 0 and out.stdout == ""
    assert "loopback" in out.stderr and "1.1.0" in out.stderr


@pytest.mark.parametrize("command", ["FOO", "add", "ADD ", "VERSIONS"])
def test_06_unknown_command_is_code_4(ns, command):
    err = assert_error(lo(ns, command), 4)
    assert err["msg"] == f"unknown CNI_COMMAND: {command}"


# -- 7-12: environment and config validation ----------------------------------------

@pytest.mark.parametrize("missing, named", [
    (("container_id",), "CNI_CONTAINERID"),
    (("netns",), "CNI_NETNS"),
    (("ifname",), "CNI_IFNAME"),
    (("container_id", "netns", "ifname"), "CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME"),
])
@pytest.mark.parametrize("command", ["ADD", "CHECK"])
def test_07_missing_variables_are_code_4_naming_each(ns, command, missing, named):
    set_lo(ns["container"], "down")
    out = lo(ns, command, **{k: None for k in missing})
    err = assert_error(out, 4)
    assert err["msg"] == f"required env variables [{named}] missing"
    assert not lo_up(ns["container"])


def test_07_missing_variables_message_matches_the_reference(ns):
    reference = json.loads((REFERENCE / "err-missing-all.json").read_text())
    err = assert_error(lo(ns, "ADD", container_id=None, netns=None, ifname=None), 4)
    assert (err["code"], err["msg"]) == (reference["code"], reference["msg"])


def test_08_ifname_of_16_bytes_is_code_4(ns):
    err = assert_error(lo(ns, "ADD", ifname="abcdefghijklmnop"), 4)
    assert err["msg"] == "interface name is too long"


def test_08_ifname_of_16_bytes_in_8_characters_is_code_4(ns):
    assert_error(lo(ns, "ADD", ifname="é" * 8), 4)


def test_08_ifname_of_15_bytes_is_accepted(ns):
    assert_result(lo(ns, "ADD", ifname="abcdefghijklmno"), "1.1.0")


@pytest.mark.parametrize("ifname", [".", "..", "a/b", "a:b", "a b", "a\tb", ""])
def test_09_bad_ifname_is_code_4(ns, ifname):
    set_lo(ns["container"], "down")
    assert_error(lo(ns, "ADD", ifname=ifname), 4)
    assert not lo_up(ns["container"])


@pytest.mark.parametrize("container_id", ["-abc", ".x", "a/b", "../../etc", "a b"])
def test_10_bad_container_id_is_code_4(ns, container_id):
    assert_error(lo(ns, "ADD", container_id=container_id), 4)


def test_10_container_id_with_underscore_dot_dash_is_accepted(ns):
    assert_result(lo(ns, "ADD", container_id="abc_1.2-3"), "1.1.0")


@pytest.mark.parametrize("stdin", [b"{", b"not json", b'{"name": "lo-net",}', b"\xff\xfe"])
def test_11_non_json_stdin_is_code_6(ns, stdin):
    assert_error(lo(ns, "ADD", stdin), 6)


def test_11_empty_stdin_is_code_6(ns):
    err = assert_error(lo(ns, "ADD", b""), 6)
    assert err["msg"] == "error unmarshall network config: unexpected end of JSON input"


def test_12_missing_name_is_code_7(ns):
    err = assert_error(lo(ns, "ADD", {"cniVersion": "1.1.0", "type": "loopback"}), 7)
    assert err["msg"] == "missing network name"


@pytest.mark.parametrize("name", ["../x", "a b", "a/b", ".hidden"])
def test_12_bad_name_is_code_7(ns, name):
    assert_error(lo(ns, "ADD", conf(name=name)), 7)


# -- 13-19: versions, extra keys, CNI_ARGS ---------------------------------------------

def test_13_unknown_version_is_code_1_listing_ours_and_nothing_changes(ns):
    set_lo(ns["container"], "down")
    err = assert_error(lo(ns, "ADD", conf("9.9.9")), 1)
    assert err["msg"] == "incompatible CNI versions"
    assert all(f'"{v}"' in err["details"] for v in ALL_SUPPORTED) and "9.9.9" in err["details"]
    assert not lo_up(ns["container"])


def test_14_no_cni_version_gives_a_0_1_0_result(ns):
    assert "0.1.0" in assert_result(version_call(b""), "1.1.0")["supportedVersions"]
    obj = assert_result(lo(ns, "ADD", conf(None)), "0.1.0")
    assert obj == lo_result("0.1.0", ns["container"].path)


@pytest.mark.parametrize("version", VERSIONS)
def test_15_check_needs_0_4_0(ns, version):
    lo(ns, "ADD", conf(version))
    out = lo(ns, "CHECK", conf(version))
    if version in ("0.4.0", "1.0.0", "1.1.0"):
        assert (out.rc, out.stdout) == (0, ""), out
    else:
        err = assert_error(out, 1, version)
        assert err["msg"] == "config version does not allow CHECK"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("command", ["GC", "STATUS"])
def test_15_gc_and_status_need_1_1_0(host, command, version):
    out = run_plugin("loopback", command, conf(version), container_id="", ifname="",
                     env={"CNI_NETNS": "", "CNI_ARGS": ""}, host=host)
    if version == "1.1.0":
        assert (out.rc, out.stdout) == (0, ""), out
    else:
        err = assert_error(out, 1, version)
        assert err["msg"] == f"config version does not allow {command}"


@pytest.mark.parametrize("command", ["CHECK", "GC", "STATUS"])
def test_16_unparsable_version_is_code_6(ns, command):
    assert_error(lo(ns, command, conf("x.y")), 6)


def test_17_protocol_keys_are_accepted(ns):
    config = conf("1.1.0", capabilities={"portMappings": True, "ips": True},
                  runtimeConfig={"portMappings": [{"HostPort": 8080, "ContainerPort": 80,
                                                   "Protocol": "tcp"}]},
                  args={"cni": {"labels": [{"key": "a", "value": "b"}]}},
                  prevResult=lo_result("1.1.0", ns["container"].path),
                  ipam={}, dns={"nameservers": ["10.0.0.1"]})
    config["cni.dev/valid-attachments"] = [{"containerID": "ctr-1", "ifname": "lo"}]
    config["cni.dev/attachments"] = []
    config["somePluginKey"] = {"nested": [1, 2, None]}
    assert_result(lo(ns, "ADD", config), "1.1.0")


def test_18_kubernetes_cni_args_are_accepted(ns):
    args = "IgnoreUnknown=1;K8S_POD_NAMESPACE=a;K8S_POD_NAME=b;K8S_POD_INFRA_CONTAINER_ID=c;K8S_POD_UID=d"
    assert_result(lo(ns, "ADD", args=args), "1.1.0")


def test_19_unknown_cni_args_are_refused(ns):
    set_lo(ns["container"], "down")
    err = assert_error(lo(ns, "ADD", args="FOO=bar"), 4)
    assert err["msg"] == 'ARGS: unknown args ["FOO=bar"]'
    assert not lo_up(ns["container"])


@pytest.mark.parametrize("ignore", ["1", "true", "True"])
def test_19_unknown_cni_args_are_accepted_with_ignore_unknown(ns, ignore):
    assert_result(lo(ns, "ADD", args=f"IgnoreUnknown={ignore};FOO=bar"), "1.1.0")


@pytest.mark.parametrize("args", ["FOO", "IP=10.0.0.1;", "IP=a=b", "IgnoreUnknown=maybe"])
def test_19_malformed_cni_args_are_code_4(ns, args):
    assert_error(lo(ns, "ADD", args=args), 4)


# -- 23-30: the ADD result -------------------------------------------------------------

def test_23_add_prints_exactly_one_object_in_1_1_0(ns):
    out = lo(ns, "ADD")
    obj = assert_result(out, "1.1.0")
    assert out.stdout == json.dumps(obj, indent=4)


@pytest.mark.parametrize("version", VERSIONS)
def test_24_result_version_equals_the_input(ns, version):
    assert_result(lo(ns, "ADD", conf(version)), version)


@pytest.mark.parametrize("version", VERSIONS)
def test_28_ips_version_only_in_0_3_and_0_4_results(ns, version):
    obj = assert_result(lo(ns, "ADD", conf(version)), version)
    if version in LEGACY:
        assert "ips" not in obj
        return
    for ip in obj["ips"]:
        if version in WITH_IP_VERSION:
            assert ip["version"] == ("6" if ":" in ip["address"] else "4")
        else:
            assert "version" not in ip


def bridge_like(version: str = "1.1.0") -> dict:
    """A 1.1.0 result as a chained loopback would receive it, with every new field."""
    return {"cniVersion": version,
            "interfaces": [{"name": "cni0", "mac": "0a:58:0a:58:00:01", "mtu": 1500},
                           {"name": "eth0", "mac": "0a:58:0a:58:00:03", "mtu": 1450,
                            "sandbox": "/run/netns/x", "socketPath": "/run/s.sock",
                            "pciID": "0000:00:1f.6"}],
            "ips": [{"interface": 1, "address": "10.88.0.5/16", "gateway": "10.88.0.1"},
                    {"interface": 1, "address": "fd00::5/64", "gateway": "fd00::1"}],
            "routes": [{"dst": "0.0.0.0/0", "gw": "10.88.0.1", "mtu": 1400, "table": 0},
                       {"dst": "::/0", "gw": "fd00::1", "priority": 5, "scope": 0},
                       {"dst": "10.0.0.0/8"}],
            "dns": {"nameservers": ["10.88.0.1"]}}


@pytest.mark.parametrize("version", [v for v in VERSIONS if v not in LEGACY and v != "1.1.0"])
def test_29_no_1_1_0_interface_fields_below_1_1_0(ns, version):
    obj = assert_result(lo(ns, "ADD", conf(version, prevResult=bridge_like())), version)
    for iface in obj["interfaces"]:
        assert not {"mtu", "socketPath", "pciID"} & set(iface)
    for route in obj["routes"]:
        assert set(route) <= {"dst", "gw"}


@pytest.mark.parametrize("version", LEGACY)
def test_30_legacy_result_has_ip4_and_ip6_only(ns, version):
    obj = assert_result(lo(ns, "ADD", conf(version)), version)
    assert obj == lo_result(version, ns["container"].path)
    assert "ips" not in obj and "interfaces" not in obj


@pytest.mark.parametrize("version", LEGACY)
def test_30_legacy_dual_stack_routes_are_split_by_family(ns, version):
    obj = assert_result(lo(ns, "ADD", conf(version, prevResult=bridge_like())), version)
    assert obj == {"cniVersion": version,
                   "ip4": {"ip": "10.88.0.5/16", "gateway": "10.88.0.1",
                           "routes": [{"dst": "0.0.0.0/0", "gw": "10.88.0.1"}, {"dst": "10.0.0.0/8"}]},
                   "ip6": {"ip": "fd00::5/64", "gateway": "fd00::1",
                           "routes": [{"dst": "::/0", "gw": "fd00::1"}]},
                   "dns": {"nameservers": ["10.88.0.1"]}}


# -- 37: the plugin's own namespace -----------------------------------------------------

@pytest.mark.parametrize("command", ["ADD", "DEL", "CHECK"])
def test_37_own_netns_is_refused_before_any_change(ns, command):
    host = ns["host"]
    set_lo(host, "down")
    err = assert_error(lo(ns, command, netns=host), 8)
    assert "own network namespace" in err["msg"]
    assert not lo_up(host)


def test_37_own_netns_allowed_with_override(ns):
    host = ns["host"]
    set_lo(host, "down")
    assert_result(lo(ns, "ADD", netns=host, env={"CNI_NETNS_OVERRIDE": "1"}), "1.1.0")
    assert lo_up(host)


# -- 43-53: errors after work, DEL -----------------------------------------------------

@pytest.mark.parametrize("version", LEGACY)
def test_43_unconvertible_result_prints_only_the_error(ns, version):
    """A prevResult without addresses cannot be printed in 0.1.0/0.2.0."""
    prev = {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "sandbox": "/run/netns/x"}]}
    err = assert_error(lo(ns, "ADD", conf(version, prevResult=prev)), 1, version)
    assert "no valid IP" in err["msg"]


@pytest.mark.parametrize("version", VERSIONS)
def test_44_del_after_add_succeeds_and_sets_lo_down(ns, version):
    assert_result(lo(ns, "ADD", conf(version)), version)
    assert lo_up(ns["container"])
    out = lo(ns, "DEL", conf(version))
    assert (out.rc, out.stdout) == (0, ""), out
    assert not lo_up(ns["container"])


def test_45_second_del_succeeds(ns):
    lo(ns, "ADD")
    assert lo(ns, "DEL").rc == 0
    out = lo(ns, "DEL")
    assert (out.rc, out.stdout) == (0, ""), out


@pytest.mark.parametrize("args", ["none", "FOO=bar"])
def test_45_del_with_invalid_cni_args_still_cleans_up(ns, args):
    """The reference loopback's own DEL test passes CNI_ARGS=none; a DEL must not fail on it."""
    assert_result(lo(ns, "ADD"), "1.1.0")
    out = lo(ns, "DEL", args=args)
    assert out.rc == 0 and out.stdout == "", out
    assert not lo_up(ns["container"])


def test_46_del_for_a_never_added_attachment_succeeds(ns):
    out = lo(ns, "DEL", container_id="never-added")
    assert (out.rc, out.stdout) == (0, ""), out


@pytest.mark.parametrize("netns", [None, ""])
def test_47_del_without_netns_succeeds(ns, netns):
    out = lo(ns, "DEL", netns=netns)
    assert (out.rc, out.stdout) == (0, ""), out
    assert lo_up(ns["container"])  # nothing to act on: the container is untouched


def test_48_del_with_a_deleted_netns_succeeds(ns, make_netns):
    gone = make_netns()
    lo(ns, "ADD", netns=gone)
    gone.delete()
    out = lo(ns, "DEL", netns=gone)
    assert (out.rc, out.stdout) == (0, ""), out


def test_48_del_with_a_stale_netns_file_succeeds(ns, tmp_path):
    """An unmounted netns leaves an empty file behind: the namespace is gone."""
    stale = tmp_path / "stale-netns"
    stale.write_bytes(b"")
    out = lo(ns, "DEL", netns=str(stale))
    assert (out.rc, out.stdout) == (0, ""), out


def test_49_del_without_prev_result_does_full_cleanup(ns):
    lo(ns, "ADD")
    out = lo(ns, "DEL", conf())
    assert (out.rc, out.stdout) == (0, ""), out
    assert not lo_up(ns["container"])


@pytest.mark.parametrize("prev_version", ["1.0.0", None])
def test_50_del_with_prev_result_in_another_version(ns, prev_version):
    add = assert_result(lo(ns, "ADD", conf("1.0.0")), "1.0.0")
    if prev_version is None:
        add.pop("cniVersion")
    out = lo(ns, "DEL", conf("1.1.0", prevResult=add))
    assert (out.rc, out.stdout) == (0, ""), out
    assert not lo_up(ns["container"])


def test_50_del_without_cni_version(ns):
    lo(ns, "ADD", conf(None))
    out = lo(ns, "DEL", conf(None))
    assert (out.rc, out.stdout) == (0, ""), out


def test_51_del_after_a_failed_add_succeeds(ns):
    container = ns["container"]
    set_lo(container, "down")
    container.sh("ip", "addr", "add", "10.9.9.9/32", "dev", "lo")
    err = assert_error(lo(ns, "ADD"), 107)
    assert "non-loopback address" in err["msg"] and "10.9.9.9/32" in err["msg"]
    assert not lo_up(container)  # the failed ADD changed nothing
    out = lo(ns, "DEL")
    assert (out.rc, out.stdout) == (0, ""), out
    assert not lo_up(container)


def test_52_del_at_0_3_1_without_prev_result(ns):
    lo(ns, "ADD", conf("0.3.1"))
    out = lo(ns, "DEL", conf("0.3.1"))
    assert (out.rc, out.stdout) == (0, ""), out
    assert not lo_up(ns["container"])


@pytest.mark.parametrize("version", VERSIONS)
def test_53_del_prints_nothing_on_stdout(ns, version):
    out = lo(ns, "DEL", conf(version, logLevel="debug"))
    assert (out.rc, out.stdout) == (0, ""), out


# -- 76-78: error objects, codes, logging ---------------------------------------------

FAILURES = {
    "unknown command": ({"env": {"CNI_COMMAND": "FOO"}}, 4),
    "missing ifname": ({"ifname": None}, 4),
    "bad container id": ({"container_id": "../x"}, 4),
    "undecodable stdin": ({"config": b"{{"}, 6),
    "non-object stdin": ({"config": b"[1]"}, 6),
    "cniVersion a number": ({"config": b'{"cniVersion": 1, "name": "n"}'}, 6),
    "missing name": ({"config": {"cniVersion": "1.0.0"}}, 7),
    "wrong type field": ({"config": conf(ipMasq="yes")}, 7),
    "unsupported version": ({"config": conf("2.0.0")}, 1),
    "bad prevResult": ({"config": conf(prevResult={"cniVersion": "1.0.0", "ips": [{"address": "x"}]})},
                       6),
    "netns missing": ({"netns": "/run/netns/pycni-t-does-not-exist"}, 100),
    "netns not a netns": ({"netns": "/etc/hostname"}, 101),
}


@pytest.mark.parametrize("case", FAILURES.values(), ids=FAILURES.keys())
def test_76_every_failure_is_one_error_object(ns, case):
    kw, code = case
    kw = dict(kw)
    config = kw.pop("config", None)
    assert_error(lo(ns, "ADD", config, **kw), code)


def test_loopback_bad_prev_result_fails_before_any_change(ns):
    set_lo(ns["container"], "down")
    bad = {"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.1"}]}
    assert_error(lo(ns, "ADD", conf(prevResult=bad)), 6)
    assert not lo_up(ns["container"])


def test_77_missing_netns_on_add_is_code_100(ns):
    err = assert_error(lo(ns, "ADD", netns="/run/netns/pycni-t-does-not-exist"), 100)
    assert "/run/netns/pycni-t-does-not-exist" in err["msg"]


def test_77_not_a_netns_on_add_is_code_101(ns):
    assert_error(lo(ns, "ADD", netns="/etc/hostname"), 101)


def test_77_check_with_lo_down_is_code_110(ns):
    assert_result(lo(ns, "ADD"), "1.1.0")
    set_lo(ns["container"], "down")
    err = assert_error(lo(ns, "CHECK"), 110)
    assert err["msg"] == "loopback interface is down"


def test_77_check_on_a_missing_netns_is_code_100(ns):
    assert_error(lo(ns, "CHECK", netns="/run/netns/pycni-t-does-not-exist"), 100)


@pytest.mark.parametrize("command", ["ADD", "CHECK", "DEL", "GC", "STATUS", "VERSION"])
def test_78_logging_never_reaches_stdout(ns, command, tmp_path):
    env = {"PYCNI_LOG_LEVEL": "debug"}
    out = lo(ns, command, conf(logLevel="debug"), env=env)
    assert out.rc == 0, out
    if command in ("ADD", "VERSION"):
        json.loads(out.stdout)
    else:
        assert out.stdout == ""
    failed = lo(ns, command, b"{", env=env)
    if command != "VERSION":
        assert_error(failed, 6)


def test_78_log_file_gets_the_diagnostics(ns, tmp_path):
    path = tmp_path / "lo.log"
    out = lo(ns, "ADD", conf(logFile=str(path), logLevel="debug",
                             prevResult={"cniVersion": "1.1.0", "ips": [{"address": "bad"}]}))
    assert_error(out, 6)
    assert "code 6" in path.read_text()
    assert "code 6" not in out.stderr


# -- loopback behaviour (reference-plugins.md 4) ----------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_loopback_add_check_del_for_every_version(ns, version):
    container = ns["container"]
    set_lo(container, "down")
    obj = assert_result(lo(ns, "ADD", conf(version)), version)
    assert obj == lo_result(version, container.path)
    assert lo_up(container)
    check = lo(ns, "CHECK", conf(version, prevResult=obj))
    if version in ("0.4.0", "1.0.0", "1.1.0"):
        assert (check.rc, check.stdout) == (0, ""), check
    else:
        assert_error(check, 1)
    out = lo(ns, "DEL", conf(version, prevResult=obj))
    assert (out.rc, out.stdout) == (0, ""), out
    assert not lo_up(container)


def test_loopback_matches_the_reference_output(ns):
    reference = json.loads((REFERENCE / "loopback-ADD.json").read_text())
    obj = assert_result(lo(ns, "ADD", conf("1.0.0")), "1.0.0")
    reference["interfaces"][0]["sandbox"] = ns["container"].path
    assert obj == reference


def test_loopback_ignores_cni_ifname(ns):
    obj = assert_result(lo(ns, "ADD", ifname="eth0"), "1.1.0")
    assert [i["name"] for i in obj["interfaces"]] == ["lo"]
    assert ns["container"].link("eth0") is None


def test_loopback_without_ipv6_reports_only_ipv4(ns):
    container = ns["container"]
    container.sh("sysctl", "-qw", "net.ipv6.conf.lo.disable_ipv6=1")
    obj = assert_result(lo(ns, "ADD"), "1.1.0")
    assert obj["ips"] == [{"interface": 0, "address": "127.0.0.1/8"}]


@pytest.mark.parametrize("version", VERSIONS)
def test_loopback_add_with_prev_result_echoes_it(ns, version):
    prev = bridge_like("1.1.0")
    prev_in_version = assert_result(lo(ns, "ADD", conf(version, prevResult=prev)), version)
    # Fed back in its own version, the echo is exact.
    set_lo(ns["container"], "down")
    obj = assert_result(lo(ns, "ADD", conf(version, prevResult=prev_in_version)), version)
    assert obj == prev_in_version
    assert lo_up(ns["container"])


def test_loopback_add_with_prev_result_at_1_1_0_is_unchanged(ns):
    prev = bridge_like("1.1.0")
    assert assert_result(lo(ns, "ADD", conf("1.1.0", prevResult=prev)), "1.1.0") == prev


def test_loopback_never_touches_other_namespaces(ns, make_netns):
    host, container = ns["host"], ns["container"]
    bystander = make_netns()
    set_lo(host, "down")
    set_lo(bystander, "down")
    before = {n.name: n.links() for n in (host, bystander)}
    assert_result(lo(ns, "ADD"), "1.1.0")
    assert lo(ns, "CHECK").rc == 0
    assert lo(ns, "DEL").rc == 0
    for n in (host, bystander):
        assert n.links() == before[n.name]
        assert not lo_up(n)
    assert not lo_up(container)


@pytest.mark.parametrize("command", ["GC", "STATUS"])
def test_loopback_gc_and_status_succeed_silently(host, command):
    out = run_plugin("loopback", command, conf(), container_id="", ifname="",
                     env={"CNI_NETNS": "", "CNI_ARGS": ""}, host=host)
    assert (out.rc, out.stdout) == (0, ""), out


# -- the exec path stays lean (design-notes: every exec pays Python start-up) -----------

HEAVY = ("click", "asyncio", "logging", "dataclasses", "typing", "pydantic", "subprocess",
         "importlib.metadata", "pyroute2.iproute", "pyroute2.ndb", "pyroute2.nftables")
PROBE = """
import io, json, sys
from cni import skel
env = dict(CNI_COMMAND=sys.argv[1], CNI_CONTAINERID="ctr-1", CNI_NETNS=sys.argv[2],
           CNI_IFNAME="lo")
out = io.StringIO()
rc = skel.run("cni.plugins.loopback", env=env, stdout=out, stderr=io.StringIO(),
              stdin=io.BytesIO(json.dumps({"cniVersion": "1.0.0", "name": "n"}).encode()))
print(json.dumps({"rc": rc, "out": out.getvalue(), "modules": sorted(sys.modules)}))
"""


@pytest.mark.parametrize("command, netns_ok", [("ADD", True), ("CHECK", True), ("DEL", True),
                                               ("ADD", False), ("VERSION", True)])
def test_exec_path_imports_nothing_heavy(ns, command, netns_ok):
    import subprocess
    import sys
    path = ns["container"].path if netns_ok else "/run/netns/pycni-t-does-not-exist"
    proc = subprocess.run(["ip", "netns", "exec", ns["host"].name, sys.executable, "-I", "-c", PROBE,
                           command, path], capture_output=True, text=True, check=True)
    report = json.loads(proc.stdout)
    assert report["rc"] == (0 if netns_ok else 1), report["out"]
    heavy = [m for m in report["modules"]
             if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert heavy == []


def test_78_version_gate_failures_reach_the_log_file(ns, tmp_path):
    path = tmp_path / "lo.log"
    out = lo(ns, "CHECK", conf("0.3.1", logFile=str(path)))
    assert_error(out, 1)
    assert "config version does not allow CHECK" in path.read_text()


# -- cni.host.netns: entering a namespace and always coming back ------------------------------

NETNS_PROBE = """
import json, os, sys
from cni.host import netns
from cni.errors import CNIError
ino = lambda p: os.stat(p).st_ino
fds = len(os.listdir("/proc/self/fd"))
home, target = ino("/proc/self/ns/net"), ino(sys.argv[1])
try:
    with netns.entered(sys.argv[1]):
        inside = ino("/proc/self/ns/net")
        raise RuntimeError("fails inside")
except RuntimeError:
    pass
after = ino("/proc/self/ns/net")
codes = {}
for path in sys.argv[2:]:
    try:
        os.close(netns.open_netns(path))
        codes[path] = 0
    except CNIError as exc:
        codes[path] = exc.code
print(json.dumps({"home": home, "target": target, "inside": inside, "after": after,
                  "codes": codes, "fds": [fds, len(os.listdir("/proc/self/fd"))]}))
"""


def test_netns_entered_runs_inside_and_always_returns(ns, tmp_path):
    import subprocess
    import sys
    (tmp_path / "plain").write_text("")
    (tmp_path / "dir").mkdir()
    paths = ["/run/netns/pycni-t-does-not-exist", str(tmp_path / "plain"), str(tmp_path / "dir"),
             "/proc/self/ns/uts", ns["container"].path]
    proc = subprocess.run(["ip", "netns", "exec", ns["host"].name, sys.executable, "-I", "-c",
                           NETNS_PROBE, ns["container"].path, *paths],
                          capture_output=True, text=True, check=True)
    report = json.loads(proc.stdout)
    assert report["inside"] == report["target"] != report["home"]
    assert report["after"] == report["home"]
    assert list(report["codes"].values()) == [100, 101, 101, 101, 0]
    assert report["fds"][0] == report["fds"][1]  # no descriptor left open on any path
