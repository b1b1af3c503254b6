"""`pycni add|check|del|gc|status` drive a chain exactly as libcni does.

Each test runs the real `pycni` command over recording fake plugins
(recorder.py) and asserts what every plugin received: order, stdin (name and
cniVersion injected, prevResult, runtimeConfig), CNI_* environment, and the
result cache libcni would have written. No kernel state is touched here (see
test_cli_chains.py for real plugins in namespaces).
"""

import json
import os
import stat

import pytest

from cli.kit import Lab, cnitool_id, decoded_config, install_recorder, ok

NETNS = "/run/netns/not-needed-by-recorders"


@pytest.fixture
def lab(tmp_path) -> Lab:
    lab = Lab(tmp_path)
    install_recorder(lab.plugin_dir, "rec-a", "rec-b", "rec-c")
    return lab


def chain(version: str = "1.1.0", name: str = "recnet", plugins: "list | None" = None,
          **keys: object) -> dict:
    plugins = plugins if plugins is not None else [{"type": "rec-a"}, {"type": "rec-b"}]
    return {"cniVersion": version, "name": name, "plugins": plugins, **keys}


# -- ADD ----------------------------------------------------------------------------


def test_add_runs_plugins_in_order_chaining_prev_result(lab):
    lab.write_conf("10-rec.conflist", chain(plugins=[{"type": "rec-a", "name": "ignored"},
                                                     {"type": "rec-b"}]))
    out = ok(lab.pycni("add", "recnet", NETNS))
    first, second = lab.calls()
    assert [first["type"], second["type"]] == ["rec-a", "rec-b"]
    assert [first["command"], second["command"]] == ["ADD", "ADD"]
    for call in (first, second):  # the list's name and version replace the plugin's own
        assert call["stdin"]["name"] == "recnet" and call["stdin"]["cniVersion"] == "1.1.0"
    assert "prevResult" not in first["stdin"]
    assert [i["name"] for i in second["stdin"]["prevResult"]["interfaces"]] == ["if-rec-a"]
    result = json.loads(out.stdout)
    assert [i["name"] for i in result["interfaces"]] == ["if-rec-a", "if-rec-b"]


def test_add_sets_the_cni_environment_like_cnitool(lab):
    lab.write_conf("10-rec.conflist", chain(plugins=[{"type": "rec-a"}]))
    ok(lab.pycni("add", "recnet", "relative/ns", CNI_IFNAME="net1",
                 CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAME=web"))
    env = lab.calls()[0]["env"]
    absolute = os.path.abspath("relative/ns")
    assert env == {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": cnitool_id("relative/ns"),
                   "CNI_NETNS": absolute, "CNI_IFNAME": "net1",
                   "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAME=web",
                   "CNI_PATH": str(lab.plugin_dir)}
    assert len(env["CNI_CONTAINERID"]) == len("cnitool-") + 20


@pytest.mark.parametrize("ld_library_path", [None, "/opt/vendor/lib"])
def test_plugins_get_the_callers_library_path_not_the_bundles(lab, ld_library_path):
    """Under the frozen pycni the bootloader points LD_LIBRARY_PATH at its own libraries."""
    lab.write_conf("10-rec.conflist", chain(plugins=[{"type": "rec-a"}]))
    extra = {"LD_LIBRARY_PATH": ld_library_path} if ld_library_path else {}
    ok(lab.pycni("add", "recnet", NETNS, **extra))
    assert lab.calls()[0]["loader"] == extra


def test_runtime_config_carries_only_declared_capabilities(lab):
    lab.write_conf("10-rec.conflist", chain(plugins=[
        {"type": "rec-a", "capabilities": {"portMappings": True, "mac": False}},
        {"type": "rec-b"}]))
    cap_args = {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}],
                "mac": "c2:11:22:33:44:55", "bandwidth": {"ingressRate": 1}}
    ok(lab.pycni("add", "recnet", NETNS, CAP_ARGS=json.dumps(cap_args)))
    first, second = lab.calls()
    assert first["stdin"]["runtimeConfig"] == {"portMappings": cap_args["portMappings"]}
    assert "runtimeConfig" not in second["stdin"]


def test_add_failure_reports_the_plugins_error_and_caches_nothing(lab):
    lab.write_conf("10-rec.conflist", chain(plugins=[
        {"type": "rec-a"}, {"type": "rec-b", "fail": {"ADD": {"code": 104, "msg": "pool empty",
                                                              "details": "range 10.99.0.0/24"}}},
        {"type": "rec-c"}]))
    out = lab.pycni("add", "recnet", NETNS)
    assert out.returncode == 1 and out.stdout == ""
    assert 'plugin type="rec-b" failed (add): pool empty; range 10.99.0.0/24 (code 104)' in out.stderr
    assert [c["type"] for c in lab.calls()] == ["rec-a", "rec-b"]  # stops at the failure
    assert lab.cache_files() == []


def test_unparseable_plugin_error_is_reported_as_libcni_does(lab):
    lab.write_conf("10-rec.conflist", chain(plugins=[{"type": "rec-a", "garbage": ["ADD"]}]))
    out = lab.pycni("add", "recnet", NETNS)
    assert out.returncode == 1
    assert "netplugin failed but error parsing its diagnostic message" in out.stderr


def test_missing_plugin_binary_fails_naming_the_path(lab):
    lab.write_conf("10-rec.conflist", chain(plugins=[{"type": "no-such-plugin"}]))
    out = lab.pycni("add", "recnet", NETNS)
    assert out.returncode == 1
    assert "no-such-plugin" in out.stderr and str(lab.plugin_dir) in out.stderr


# -- the result cache ---------------------------------------------------------------


def test_cache_entry_has_libcni_fields_base64_config_and_private_modes(lab):
    conf_file = lab.write_conf("10-rec.conflist", chain(plugins=[
        {"type": "rec-a", "capabilities": {"portMappings": True}}]))
    cap_args = {"portMappings": [{"hostPort": 1, "containerPort": 2, "protocol": "udp"}]}
    out = ok(lab.pycni("add", "recnet", NETNS, CNI_ARGS="IgnoreUnknown=1",
                       CAP_ARGS=json.dumps(cap_args)))
    cid = cnitool_id(NETNS)
    (path,) = lab.cache_files()
    assert path.name == f"recnet-{cid}-eth0"
    entry = json.loads(path.read_text())
    assert list(entry) == ["kind", "containerId", "config", "ifName", "networkName", "netns",
                           "cniArgs", "capabilityArgs", "result"]  # cachedInfo's field order
    assert entry["kind"] == "cniCacheV1"
    assert (entry["containerId"], entry["ifName"], entry["networkName"], entry["netns"]) == \
        (cid, "eth0", "recnet", NETNS)
    assert decoded_config(entry) == conf_file.read_bytes()  # the list's bytes, base64
    assert entry["cniArgs"] == [["IgnoreUnknown", "1"]]
    assert entry["capabilityArgs"] == cap_args
    assert entry["result"] == json.loads(out.stdout)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for directory in (lab.cache_dir, lab.cache_dir / "results"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def test_cache_entry_omits_empty_fields_as_go_does(lab):
    lab.write_conf("10-rec.conflist", chain(plugins=[{"type": "rec-a"}]))
    ok(lab.pycni("add", "recnet", NETNS))
    entry = lab.cache_entry("recnet", cnitool_id(NETNS))
    assert "cniArgs" not in entry and "capabilityArgs" not in entry


def test_single_plugin_conf_is_cached_as_its_wrapping_list(lab):
    lab.write_conf("50-one.conf", {"cniVersion": "1.0.0", "name": "one", "type": "rec-a"})
    ok(lab.pycni("add", "one", NETNS))
    config = json.loads(decoded_config(lab.cache_entry("one", cnitool_id(NETNS))))
    assert config == {"cniVersion": "1.0.0", "name": "one",
                      "plugins": [{"cniVersion": "1.0.0", "name": "one", "type": "rec-a"}]}


# -- DEL and CHECK ------------------------------------------------------------------


def test_del_runs_in_reverse_with_the_cached_result_then_drops_it(lab):
    lab.write_conf("10-rec.conflist", chain())
    added = json.loads(ok(lab.pycni("add", "recnet", NETNS)).stdout)
    ok(lab.pycni("del", "recnet", NETNS))
    deletes = [c for c in lab.calls() if c["command"] == "DEL"]
    assert [c["type"] for c in deletes] == ["rec-b", "rec-a"]
    assert all(c["stdin"]["prevResult"] == added for c in deletes)
    assert lab.cache_files() == []
    ok(lab.pycni("del", "recnet", NETNS))  # again: no cache, no prevResult, still fine
    assert all("prevResult" not in c["stdin"] for c in lab.calls()[-2:])


def test_del_of_a_pre_040_list_sends_no_prev_result(lab):
    lab.write_conf("10-rec.conflist", chain(version="0.3.1"))
    ok(lab.pycni("add", "recnet", NETNS))
    ok(lab.pycni("del", "recnet", NETNS))
    deletes = [c for c in lab.calls() if c["command"] == "DEL"]
    assert len(deletes) == 2 and all("prevResult" not in c["stdin"] for c in deletes)


def test_del_with_an_unreadable_cache_runs_without_prev_result(lab):
    lab.write_conf("10-rec.conflist", chain())
    ok(lab.pycni("add", "recnet", NETNS))
    (path,) = lab.cache_files()
    path.write_text('{"kind": "cniCacheV1", "result": {"cniVersion": "1.1.0", "ips": 7}}')
    ok(lab.pycni("del", "recnet", NETNS))
    deletes = [c for c in lab.calls() if c["command"] == "DEL"]
    assert len(deletes) == 2 and all("prevResult" not in c["stdin"] for c in deletes)
    assert lab.cache_files() == []


def test_del_with_empty_netns_needs_a_container_id(lab):
    lab.write_conf("10-rec.conflist", chain(plugins=[{"type": "rec-a"}]))
    assert lab.pycni("del", "recnet", "").returncode == 2
    ok(lab.pycni("del", "recnet", "", "--container-id", "ctr-9"))
    assert lab.calls()[0]["env"]["CNI_NETNS"] == ""
    assert lab.calls()[0]["env"]["CNI_CONTAINERID"] == "ctr-9"


def test_check_runs_in_order_with_the_cached_result(lab):
    lab.write_conf("10-rec.conflist", chain())
    added = json.loads(ok(lab.pycni("add", "recnet", NETNS)).stdout)
    ok(lab.pycni("check", "recnet", NETNS))
    checks = [c for c in lab.calls() if c["command"] == "CHECK"]
    assert [c["type"] for c in checks] == ["rec-a", "rec-b"]
    assert all(c["stdin"]["prevResult"] == added for c in checks)


def test_check_converts_the_cached_result_to_the_lists_version(lab):
    lab.write_conf("10-rec.conflist", chain(version="1.1.0"))
    ok(lab.pycni("add", "recnet", NETNS))
    lab.write_conf("10-rec.conflist", chain(version="0.4.0"))  # edited while attached
    ok(lab.pycni("check", "recnet", NETNS))
    prev = next(c for c in lab.calls() if c["command"] == "CHECK")["stdin"]["prevResult"]
    assert prev["cniVersion"] == "0.4.0" and prev["ips"][0]["version"] == "4"


def test_check_is_refused_below_040_and_skipped_when_disabled(lab):
    lab.write_conf("10-rec.conflist", chain(version="0.3.1"))
    out = lab.pycni("check", "recnet", NETNS)
    assert out.returncode == 1 and "does not support the CHECK command" in out.stderr
    lab.write_conf("10-rec.conflist", chain(disableCheck=True))
    out = ok(lab.pycni("check", "recnet", NETNS))
    assert "disableCheck" in out.stderr
    assert lab.calls() == []


# -- version and lookup -------------------------------------------------------------


@pytest.mark.parametrize("declared,versions,expected", [
    ("1.0.0", ["0.4.0", "1.0.0", "1.1.0"], "1.1.0"),  # libcni >= 1.2 picks the highest
    ("1.0.0", ["1.1.0", "9.9.9"], "1.1.0"),           # versions we do not know are dropped
    ("0.4.0", [], "0.4.0"),
])
def test_the_highest_supported_version_is_sent(lab, declared, versions, expected):
    lab.write_conf("10-rec.conflist", chain(version=declared, cniVersions=versions))
    ok(lab.pycni("add", "recnet", NETNS))
    assert {c["stdin"]["cniVersion"] for c in lab.calls()} == {expected}


def test_lookup_prefers_lists_then_the_lowest_file_name(lab):
    lab.write_conf("05-rec.conf", {"cniVersion": "1.0.0", "name": "recnet", "type": "rec-c"})
    lab.write_conf("20-rec.conflist", chain(plugins=[{"type": "rec-b"}]))
    lab.write_conf("10-rec.conflist", chain(plugins=[{"type": "rec-a"}]))
    ok(lab.pycni("add", "recnet", NETNS))
    assert [c["type"] for c in lab.calls()] == ["rec-a"]


def test_single_plugin_conf_and_json_files_are_found(lab):
    lab.write_conf("30-one.json", {"cniVersion": "1.0.0", "name": "one", "type": "rec-b"})
    ok(lab.pycni("add", "one", NETNS))
    assert lab.calls()[0]["type"] == "rec-b" and lab.calls()[0]["stdin"]["name"] == "one"


def test_plugins_in_the_network_subdirectory_are_appended(lab):
    lab.write_conf("10-rec.conflist", chain(plugins=[{"type": "rec-a"}]))
    (lab.conf_dir / "recnet").mkdir()
    (lab.conf_dir / "recnet" / "50-extra.conf").write_text(json.dumps({"type": "rec-c"}))
    ok(lab.pycni("add", "recnet", NETNS))
    assert [c["type"] for c in lab.calls()] == ["rec-a", "rec-c"]


def test_an_unparsable_config_aborts_the_lookup_naming_the_file(lab):
    lab.write_conf("01-broken.conflist", "{not json")
    lab.write_conf("10-rec.conflist", chain())
    out = lab.pycni("add", "recnet", NETNS)
    assert out.returncode == 1 and "01-broken.conflist" in out.stderr
    assert lab.calls() == []


def test_unknown_network_fails(lab):
    out = lab.pycni("add", "nosuch", NETNS)
    assert out.returncode == 1 and "no network named 'nosuch'" in out.stderr


# -- STATUS and GC -------------------------------------------------------------------


def test_status_asks_every_plugin_without_attachment_env(lab):
    lab.write_conf("10-rec.conflist", chain())
    ok(lab.pycni("status", "recnet"))
    calls = lab.calls()
    assert [(c["type"], c["command"]) for c in calls] == [("rec-a", "STATUS"), ("rec-b", "STATUS")]
    assert all(c["env"]["CNI_CONTAINERID"] == c["env"]["CNI_NETNS"] == c["env"]["CNI_IFNAME"]
               == c["env"]["CNI_ARGS"] == "" for c in calls)


def test_status_stops_at_the_first_failure(lab):
    lab.write_conf("10-rec.conflist", chain(plugins=[
        {"type": "rec-a"}, {"type": "rec-b", "fail": {"STATUS": {"code": 50, "msg": "no pool"}}},
        {"type": "rec-c"}]))
    out = lab.pycni("status", "recnet", NETNS)
    assert out.returncode == 1 and "no pool (code 50)" in out.stderr
    assert [c["type"] for c in lab.calls()] == ["rec-a", "rec-b"]


def test_status_below_110_asks_nobody(lab):
    lab.write_conf("10-rec.conflist", chain(version="1.0.0"))
    out = ok(lab.pycni("status", "recnet"))
    assert lab.calls() == [] and "STATUS needs 1.1.0" in out.stderr


def test_gc_deletes_invalid_attachments_then_sends_the_remaining_ones(lab):
    lab.write_conf("10-rec.conflist", chain())
    ok(lab.pycni("add", "recnet", "/ns/one", "--container-id", "keep"))
    ok(lab.pycni("add", "recnet", "/ns/two", "--container-id", "stale",
                 CNI_ARGS="IgnoreUnknown=1"))
    first = len(lab.calls())
    out = ok(lab.pycni("gc", "recnet", "--valid", "keep/eth0"))
    assert "deleted stale attachment stale eth0" in out.stdout
    calls = lab.calls()[first:]
    assert [(c["type"], c["command"]) for c in calls] == [
        ("rec-b", "DEL"), ("rec-a", "DEL"), ("rec-a", "GC"), ("rec-b", "GC")]
    assert calls[0]["env"]["CNI_CONTAINERID"] == "stale"
    assert calls[0]["env"]["CNI_NETNS"] == "/ns/two"          # from the cache entry
    assert calls[0]["env"]["CNI_ARGS"] == "IgnoreUnknown=1"   # likewise
    valid = [{"containerID": "keep", "ifname": "eth0"}]
    for gc in calls[2:]:
        assert gc["stdin"]["cni.dev/valid-attachments"] == valid
        assert gc["stdin"]["cni.dev/attachments"] == valid
        assert gc["env"]["CNI_CONTAINERID"] == "" and gc["env"]["CNI_IFNAME"] == ""
    assert [p.name for p in lab.cache_files()] == ["recnet-keep-eth0"]


def test_gc_tells_the_plugins_about_valid_attachments_missing_from_the_cache(lab):
    lab.write_conf("10-rec.conflist", chain(plugins=[{"type": "rec-a"}]))
    ok(lab.pycni("add", "recnet", "/ns/one", "--container-id", "cached"))
    ok(lab.pycni("gc", "recnet", "--valid", "cached/eth0", "--valid", "elsewhere/net1"))
    (gc,) = [c for c in lab.calls() if c["command"] == "GC"]
    assert gc["stdin"]["cni.dev/valid-attachments"] == [
        {"containerID": "cached", "ifname": "eth0"}, {"containerID": "elsewhere", "ifname": "net1"}]


def test_gc_judges_cached_attachments_by_their_netns(lab, make_netns):
    alive, doomed = make_netns(), make_netns()
    lab.write_conf("10-rec.conflist", chain(plugins=[{"type": "rec-a"}]))
    ok(lab.pycni("add", "recnet", alive.path))
    ok(lab.pycni("add", "recnet", doomed.path))
    doomed.delete()
    ok(lab.pycni("gc", "recnet"))
    deleted = [c for c in lab.calls() if c["command"] == "DEL"]
    assert [c["env"]["CNI_NETNS"] for c in deleted] == [doomed.path]
    assert [p.name for p in lab.cache_files()] == [f"recnet-{cnitool_id(alive.path)}-eth0"]


def test_gc_leaves_other_networks_alone_and_skips_plugin_gc_below_110(lab):
    lab.write_conf("10-rec.conflist", chain(version="1.0.0"))
    lab.write_conf("20-other.conflist", chain(name="other"))
    ok(lab.pycni("add", "recnet", "/ns/a", "--container-id", "a"))
    ok(lab.pycni("add", "other", "/ns/b", "--container-id", "b"))
    first = len(lab.calls())
    ok(lab.pycni("gc", "recnet", "--valid", "nobody/eth0"))
    calls = lab.calls()[first:]
    assert [(c["command"], c["env"]["CNI_CONTAINERID"]) for c in calls] == [("DEL", "a"), ("DEL", "a")]
    assert [p.name for p in lab.cache_files()] == ["other-b-eth0"]


def test_gc_goes_on_through_errors_and_reports_them(lab):
    lab.write_conf("10-rec.conflist", chain(plugins=[
        {"type": "rec-a", "fail": {"DEL": {"code": 11, "msg": "busy"}}}, {"type": "rec-b"}]))
    ok(lab.pycni("add", "recnet", "/ns/a", "--container-id", "a"))
    first = len(lab.calls())
    out = lab.pycni("gc", "recnet", "--valid", "nobody/eth0")
    assert out.returncode == 1
    assert "failed to delete stale attachment a eth0" in out.stderr and "busy" in out.stderr
    assert [c["command"] for c in lab.calls()[first:]] == ["DEL", "DEL", "GC", "GC"]


def test_gc_refuses_a_malformed_valid_option(lab):
    lab.write_conf("10-rec.conflist", chain())
    out = lab.pycni("gc", "recnet", "--valid", "no-slash")
    assert out.returncode == 2 and lab.calls() == []
