"""bin/host-local as a runtime (or a main plugin) execs it: every verb, every version.

H1-H11 are the reference's host_local_test.go cases, run once per spec
version; then GC, STATUS and the IPAM items of the conformance checklist
(cni-spec.md section 8: 20, 21, 79-83). IPAM needs no namespace: CNI_NETNS is
any string, as in the reference's tests. State lives in tmp_path.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest
from support import REFERENCE_OUTPUTS as REFERENCE
from support import run_plugin

from cni.types import Result

VERSIONS = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]
NETNS = "/some/where"


def conf(data: Path, version: str = "1.1.0", name: str = "mynet", top: "dict | None" = None,
         **ipam) -> dict:
    base = {"cniVersion": version, "name": name, "type": "ipvlan", "master": "foo0",
            "ipam": {"type": "host-local", "dataDir": str(data), **ipam}}
    return {**base, **(top or {})}


def hl(command: str, config: dict, cid: "str | None" = "dummy", ifname: "str | None" = "eth0",
       args: str = "", env: "dict | None" = None, netns: "str | None" = NETNS):
    return run_plugin("host-local", command, config, netns=netns, container_id=cid, ifname=ifname,
                      args=args, env=env)


def added(config: dict, **kw) -> Result:
    out = hl("ADD", config, **kw)
    assert out.ok, out
    return Result.from_dict(out.json, config["cniVersion"])


def addresses(result: Result) -> "list[str]":
    return [ip.address for ip in result.ips]


def store(data: Path, name: str = "mynet") -> "dict[str, bytes]":
    net = data / name
    return {p.name: p.read_bytes() for p in sorted(net.iterdir()) if p.is_file()} if net.exists() else {}


def reservations(data: Path, name: str = "mynet") -> "dict[str, bytes]":
    return {k: v for k, v in store(data, name).items() if k[0].isdigit() or ":" in k}


def multi_ip(version: str) -> bool:
    return version not in ("0.1.0", "0.2.0")


# -- H1-H11 -----------------------------------------------------------------------------------

H1_ROUTES = [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}, {"dst": "192.168.0.0/16", "gw": "1.1.1.1"},
             {"dst": "2001:db8:2::0/64", "gw": "2001:db8:3::1"}]


@pytest.mark.parametrize("version", VERSIONS)
def test_h1_allocates_and_releases_with_add_del(tmp_path, version):
    (tmp_path / "resolv.conf").write_text("nameserver 192.0.2.3")
    c = conf(tmp_path, version, resolvConf=str(tmp_path / "resolv.conf"), routes=H1_ROUTES,
             ranges=[[{"subnet": "10.1.2.0/24"}, {"subnet": "10.2.2.0/24"}],
                     [{"subnet": "2001:db8:1::0/64"}]])
    out = hl("ADD", c)
    assert out.ok, out
    assert out.json["cniVersion"] == version
    assert ("\"version\":" in out.stdout) == (version in ("0.3.0", "0.3.1", "0.4.0"))
    result = Result.from_dict(out.json, version)
    assert [(ip.address, ip.gateway) for ip in result.ips] == [
        ("10.1.2.2/24", "10.1.2.1"), ("2001:db8:1::2/64", "2001:db8:1::1")]
    assert {(r.dst, r.gw) for r in result.routes} == {
        ("0.0.0.0/0", ""), ("::/0", ""), ("192.168.0.0/16", "1.1.1.1"), ("2001:db8:2::/64", "2001:db8:3::1")}
    assert result.dns.nameservers == ["192.0.2.3"]
    assert store(tmp_path) == {"10.1.2.2": b"dummy\r\neth0", "2001:db8:1::2": b"dummy\r\neth0",
                               "last_reserved_ip.0": b"10.1.2.2", "last_reserved_ip.1": b"2001:db8:1::2",
                               "lock": b""}
    assert hl("DEL", c).ok
    assert reservations(tmp_path) == {}
    assert set(store(tmp_path)) == {"last_reserved_ip.0", "last_reserved_ip.1", "lock"}


@pytest.mark.parametrize("version", VERSIONS)
def test_h2_same_id_on_two_networks_with_different_ifnames(tmp_path, version):
    c0 = conf(tmp_path, version, "mynet0", ranges=[[{"subnet": "10.1.2.0/24"}]])
    c1 = conf(tmp_path, version, "mynet1", ranges=[[{"subnet": "10.2.2.0/24"}]])
    added(c0, ifname="eth0")
    added(c1, ifname="eth1")
    assert reservations(tmp_path, "mynet0") == {"10.1.2.2": b"dummy\r\neth0"}
    assert reservations(tmp_path, "mynet1") == {"10.2.2.2": b"dummy\r\neth1"}
    assert hl("DEL", c0, ifname="eth0").ok
    assert reservations(tmp_path, "mynet0") == {}
    assert reservations(tmp_path, "mynet1") == {"10.2.2.2": b"dummy\r\neth1"}
    assert hl("DEL", c1, ifname="eth1").ok
    assert reservations(tmp_path, "mynet1") == {}


@pytest.mark.parametrize("version", VERSIONS)
def test_h3_repeated_add_for_the_same_attachment_is_refused(tmp_path, version):
    c = conf(tmp_path, version, "mynet0", ranges=[[{"subnet": "10.1.2.0/24"}]])
    assert addresses(added(c)) == ["10.1.2.2/24"]
    again = hl("ADD", c)
    assert not again.ok and again.code == 105
    assert again.json["msg"] == ("failed to allocate for range 0: 10.1.2.2 has been allocated to dummy, "
                                 "duplicate allocation is not allowed")
    assert addresses(added(c, cid="dummy1")) == ["10.1.2.3/24"]
    assert not hl("ADD", c).ok
    assert hl("DEL", c).ok
    assert "10.1.2.2" not in reservations(tmp_path, "mynet0")
    assert hl("DEL", c, cid="dummy1").ok
    assert reservations(tmp_path, "mynet0") == {}


@pytest.mark.parametrize("version", VERSIONS)
def test_h4_del_releases_a_legacy_id_only_file(tmp_path, version):
    c = conf(tmp_path, version, ranges=[[{"subnet": "10.1.2.0/24"}]])
    added(c)
    (tmp_path / "mynet" / "10.1.2.2").write_bytes(b"dummy")
    assert hl("DEL", c).ok
    assert reservations(tmp_path) == {}


@pytest.mark.parametrize("version", VERSIONS)
def test_h5_del_of_an_unknown_id_succeeds(tmp_path, version):
    out = hl("DEL", conf(tmp_path, version, subnet="10.1.2.0/24"))
    assert out.ok and out.stdout == "", out
    assert not (tmp_path / "mynet").exists()  # DEL creates nothing


def test_h6_whitespace_in_the_container_id_is_refused_before_any_write(tmp_path):
    # The reference's test calls cmdAdd directly, bypassing its skel; through the
    # executable the container ID is validated first (the store-level trimming is
    # tested in test_ipam_disk.py::test_container_id_is_trimmed_like_the_reference).
    out = hl("ADD", conf(tmp_path, subnet="10.1.2.0/24"), cid="   dummy\n ")
    assert out.code == 4
    assert not (tmp_path / "mynet").exists()


@pytest.mark.parametrize("version", VERSIONS)
def test_h7_first_add_prints_no_error_about_the_last_reserved_ip(tmp_path, version):
    out = hl("ADD", conf(tmp_path, version, subnet="10.1.2.0/24"), cid="testing")
    assert out.ok, out
    assert "last reserved" not in out.stdout + out.stderr
    assert out.stderr == ""


@pytest.mark.parametrize("version", VERSIONS)
def test_h8_custom_ip_from_config_args(tmp_path, version):
    c = conf(tmp_path, version, ranges=[[{"subnet": "10.1.2.0/24"}]],
             top={"args": {"cni": {"ips": ["10.1.2.88"]}}})
    assert addresses(added(c)) == ["10.1.2.88/24"]


@pytest.mark.parametrize("version", VERSIONS)
def test_h9_custom_ips_from_two_sets(tmp_path, version):
    c = conf(tmp_path, version, ranges=[[{"subnet": "10.1.2.0/24"}], [{"subnet": "10.1.3.0/24"}]],
             top={"args": {"cni": {"ips": ["10.1.2.88", "10.1.3.77"]}}})
    out = hl("ADD", c)
    if multi_ip(version):
        assert addresses(Result.from_dict(out.json, version)) == ["10.1.2.88/24", "10.1.3.77/24"]
    else:
        assert out.code == 7
        assert out.json["msg"] == f"CNI version {version} does not support more than 1 address per family"
        assert hl("DEL", c).ok  # the reference refuses this DEL too; ours only needs the store

@pytest.mark.parametrize("version", VERSIONS)
def test_h10_custom_ips_from_two_families(tmp_path, version):
    c = conf(tmp_path, version, ranges=[[{"subnet": "172.16.1.0/24"}, {"subnet": "10.1.2.0/24"}],
                                        [{"subnet": "2001:db8:1::/48"}]],
             top={"args": {"cni": {"ips": ["10.1.2.88", "2001:db8:1::999"]}}})
    assert addresses(added(c)) == ["10.1.2.88/24", "2001:db8:1::999/48"]


@pytest.mark.parametrize("version", VERSIONS)
def test_h11_two_requested_ips_in_one_set_fail_and_reserve_nothing(tmp_path, version):
    c = conf(tmp_path, version, ranges=[[{"subnet": "10.1.2.0/24"}], [{"subnet": "10.1.3.0/24"}]],
             top={"args": {"cni": {"ips": ["10.1.2.88", "10.1.2.77"]}}})
    out = hl("ADD", c)
    assert not out.ok
    if multi_ip(version):
        assert out.code == 105
        assert out.json["msg"] == "failed to allocate all requested IPs: 10.1.2.77"
    else:
        assert out.code == 7
    assert reservations(tmp_path) == {}


# -- DEL ------------------------------------------------------------------------------------------

def test_del_is_idempotent_and_needs_no_netns(tmp_path):
    c = conf(tmp_path, subnet="10.1.2.0/24")
    added(c)
    for _ in range(3):
        out = hl("DEL", c, netns=None)
        assert out.ok and out.stdout == "", out
    assert reservations(tmp_path) == {}


def test_del_releases_even_after_the_ranges_were_edited_into_something_invalid(tmp_path):
    added(conf(tmp_path, subnet="10.1.2.0/24"))
    out = hl("DEL", conf(tmp_path, "0.2.0", ranges=[[{"subnet": "10.1.2.5/24"}], [{"subnet": "x"}]]))
    assert out.ok, out
    assert reservations(tmp_path) == {}


def test_del_still_needs_a_usable_store_location(tmp_path):
    out = hl("DEL", conf(tmp_path, subnet="10.1.2.0/24", dataDir="relative"))
    assert out.code == 7 and out.json["msg"] == "invalid field ipam.dataDir"
    missing = {k: v for k, v in conf(tmp_path).items() if k != "ipam"}
    assert hl("DEL", missing).json["msg"] == "IPAM config missing 'ipam' key"


def test_a_kill_after_the_claim_is_cleaned_by_del(tmp_path):
    c = conf(tmp_path, subnet="10.1.2.0/24")
    out = hl("ADD", c, env={"PYCNI_TEST_FAULT": "store.claimed"})
    assert out.rc == -9 and out.stdout == ""
    assert reservations(tmp_path) == {"10.1.2.2": b"dummy\r\neth0"}  # complete, never empty
    assert hl("DEL", c).ok
    assert reservations(tmp_path) == {}
    assert [n for n in store(tmp_path) if n.startswith(".")] == []
    # killed before last_reserved_ip was written: the address is simply free again
    assert addresses(added(c)) == ["10.1.2.2/24"]


def test_a_failure_in_the_second_set_releases_the_first(tmp_path):
    c = conf(tmp_path, ranges=[[{"subnet": "10.1.2.0/24"}], [{"subnet": "10.1.3.0/30"}]])
    added(c, cid="other")  # takes 10.1.3.2, the only address of set 1
    out = hl("ADD", c)
    assert out.code == 104
    assert out.json["msg"] == ("failed to allocate for range 1: no IP addresses available in range set: "
                               "10.1.3.1-10.1.3.2")
    assert set(reservations(tmp_path)) == {"10.1.2.2", "10.1.3.2"}  # only other's


# -- CHECK ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["0.4.0", "1.0.0", "1.1.0"])
def test_check_finds_the_reservation_or_fails(tmp_path, version):
    c = conf(tmp_path, version, subnet="10.1.2.0/24")
    res = hl("ADD", c)
    checked = hl("CHECK", {**c, "prevResult": res.json})
    assert checked.ok and checked.stdout == "", checked
    assert hl("CHECK", c).ok  # the reference needs no prevResult either
    other = hl("CHECK", c, cid="nobody")
    assert other.code == 110
    assert other.json["msg"] == "host-local: Failed to find address added by container nobody"
    (tmp_path / "mynet" / "10.1.2.2").unlink()
    assert hl("CHECK", {**c, "prevResult": res.json}).code == 110


def test_check_accepts_a_legacy_reservation(tmp_path):
    (tmp_path / "mynet").mkdir()
    (tmp_path / "mynet" / "10.1.2.9").write_bytes(b"dummy")
    assert hl("CHECK", conf(tmp_path, subnet="10.1.2.0/24")).ok


def test_check_fails_when_a_prev_result_address_is_not_ours(tmp_path):
    c = conf(tmp_path, ranges=[[{"subnet": "10.1.2.0/24"}], [{"subnet": "2001:db8::/64"}]])
    res = hl("ADD", c).json
    (tmp_path / "mynet" / "2001:db8::2").unlink()
    out = hl("CHECK", {**c, "prevResult": res})
    assert out.code == 110 and "2001:db8::2 of prevResult is not reserved" in out.json["msg"]
    foreign = {**res, "ips": [*res["ips"][:1], {"address": "192.0.2.9/24"}]}
    assert hl("CHECK", {**c, "prevResult": foreign}).ok  # not in our ranges: not ours to judge


def test_check_is_refused_before_0_4_0(tmp_path):
    assert hl("CHECK", conf(tmp_path, "0.3.1", subnet="10.1.2.0/24")).code == 1


# -- GC ---------------------------------------------------------------------------------------------

def gc(data: Path, valid: object = ..., key: str = "cni.dev/valid-attachments", **kw):
    c = conf(data, ranges=[[{"subnet": "10.1.2.0/24"}]], **kw)
    if valid is not ...:
        c[key] = valid
    return hl("GC", c, cid="", ifname="", netns="", args="")


def three(data: Path) -> dict:
    c = conf(data, ranges=[[{"subnet": "10.1.2.0/24"}]])
    for cid in ("a", "b"):
        added(c, cid=cid)
    (data / "mynet" / "10.1.2.50").write_bytes(b"legacy")
    return c


def test_gc_releases_what_is_not_in_the_valid_list(tmp_path):
    three(tmp_path)
    out = gc(tmp_path, [{"containerID": "a", "ifname": "eth0"}])
    assert out.ok and out.stdout == "", out
    assert reservations(tmp_path) == {"10.1.2.2": b"a\r\neth0"}
    assert {"lock", "last_reserved_ip.0"} <= set(store(tmp_path))


def test_gc_keeps_a_legacy_file_whose_id_is_listed(tmp_path):
    three(tmp_path)
    assert gc(tmp_path, [{"containerID": "legacy", "ifname": "net1"}]).ok
    assert reservations(tmp_path) == {"10.1.2.50": b"legacy"}


def test_gc_matches_the_ifname_too(tmp_path):
    three(tmp_path)
    assert gc(tmp_path, [{"containerID": "a", "ifname": "net1"}]).ok
    assert reservations(tmp_path) == {}


@pytest.mark.parametrize("valid", [[], None])
def test_gc_with_an_empty_or_null_list_releases_everything(tmp_path, valid):
    three(tmp_path)
    assert gc(tmp_path, valid).ok
    assert reservations(tmp_path) == {}
    assert set(store(tmp_path)) == {"lock", "last_reserved_ip.0"}


def test_gc_without_the_key_releases_nothing(tmp_path):
    three(tmp_path)
    before = store(tmp_path)
    assert gc(tmp_path).ok
    assert store(tmp_path) == before


def test_gc_accepts_the_legacy_key(tmp_path):
    three(tmp_path)
    assert gc(tmp_path, [{"containerID": "b", "ifname": "eth0"}], key="cni.dev/attachments").ok
    assert reservations(tmp_path) == {"10.1.2.3": b"b\r\neth0"}


def test_gc_leaves_other_networks_alone(tmp_path):
    three(tmp_path)
    added(conf(tmp_path, name="other", subnet="10.9.0.0/24"), cid="z")
    assert gc(tmp_path, []).ok
    assert reservations(tmp_path, "other") == {"10.9.0.2": b"z\r\neth0"}


def test_gc_releases_corrupt_entries_and_reports_what_it_cannot_release(tmp_path):
    three(tmp_path)
    net = tmp_path / "mynet"
    (net / "10.1.2.60").write_bytes(b"")
    (net / "10.1.2.61").mkdir()
    (net / "10.1.2.61" / "inner").write_text("x")
    out = gc(tmp_path, [])
    assert out.code == 108, out
    assert out.json["msg"] == "could not release 1 of 5 reservations"
    assert "10.1.2.61" in out.json["details"]
    assert set(reservations(tmp_path)) == set()
    assert (net / "10.1.2.61").is_dir()


@pytest.mark.parametrize("entry, field", [
    ({"containerID": "../x", "ifname": "eth0"}, "containerID"),
    ({"containerID": "a", "ifname": "a/b"}, "ifname"),
    ({"containerID": "a"}, "ifname"),
    ("a", "[0]"),
])
def test_gc_validates_every_entry_before_releasing_anything(tmp_path, entry, field):
    three(tmp_path)
    before = store(tmp_path)
    out = gc(tmp_path, [entry])
    assert out.code == 7 and field in out.json["msg"] + out.json.get("details", ""), out
    assert store(tmp_path) == before


def test_gc_is_refused_before_1_1_0(tmp_path):
    c = conf(tmp_path, "1.0.0", subnet="10.1.2.0/24")
    c["cni.dev/valid-attachments"] = []
    assert hl("GC", c, cid="", ifname="", netns="").code == 1


def test_gc_on_a_network_without_state_creates_nothing(tmp_path):
    assert gc(tmp_path, []).ok
    assert not (tmp_path / "mynet").exists()


# -- STATUS -----------------------------------------------------------------------------------------

def status(config: dict):
    return run_plugin("host-local", "STATUS", config, container_id="", ifname="", netns="", args="")


def test_status_healthy_is_silent_and_writes_nothing(tmp_path):
    out = status(conf(tmp_path / "data", subnet="10.1.2.0/24"))
    assert out.ok and out.stdout == "", out
    assert not (tmp_path / "data").exists()


def test_status_leaves_an_existing_store_exactly_as_it_was(tmp_path):
    c = conf(tmp_path, subnet="10.1.2.0/24")
    added(c)

    def snapshot() -> dict:
        return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (tmp_path / "mynet").iterdir()}

    before, dir_mtime = snapshot(), (tmp_path / "mynet").stat().st_mtime_ns
    assert status(c).ok
    assert snapshot() == before and (tmp_path / "mynet").stat().st_mtime_ns == dir_mtime


def test_status_reports_an_exhausted_range_set_then_add_del_still_work(tmp_path):
    c = conf(tmp_path, ranges=[[{"subnet": "10.1.2.0/24"}], [{"subnet": "10.1.3.0/30"}]])
    added(c)
    out = status(c)
    assert out.code == 50
    assert out.json["msg"] == ("host-local cannot serve ADD: no IP addresses available in range set 1: "
                               "10.1.3.1-10.1.3.2")
    assert hl("DEL", c).ok
    assert status(c).ok
    assert addresses(added(c, cid="next")) == ["10.1.2.3/24", "10.1.3.2/30"]


def test_status_reports_an_unwritable_store(tmp_path):
    mnt = tmp_path / "ro"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(mnt)], check=True)
    try:
        c = conf(mnt, subnet="10.1.2.0/24")
        out = status(c)
        assert out.code == 50
        assert "not writable (read-only filesystem)" in out.json["msg"]
        add = hl("ADD", c)
        assert add.code == 108 and add.json["details"] == "the IPAM store is on a read-only filesystem"
        assert hl("DEL", c).ok  # nothing to release on a store that never existed
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_status_is_refused_before_1_1_0(tmp_path):
    assert status(conf(tmp_path, "1.0.0", subnet="10.1.2.0/24")).code == 1


def test_status_checks_the_config(tmp_path):
    assert status(conf(tmp_path, subnet="10.1.2.5/24")).code == 7


# -- checklist items ------------------------------------------------------------------------------------

def test_item_20_cni_args_ip_is_returned_exactly_and_an_outside_ip_reserves_nothing(tmp_path):
    c = conf(tmp_path, subnet="10.88.0.0/16")
    assert addresses(added(c, args="IP=10.88.0.50")) == ["10.88.0.50/16"]
    out = hl("ADD", c, cid="other", args="IP=10.99.0.1")
    assert out.code == 105 and out.json["msg"] == "failed to allocate all requested IPs: 10.99.0.1"
    assert reservations(tmp_path) == {"10.88.0.50": b"dummy\r\neth0"}
    gw = hl("ADD", c, cid="other", args="IP=10.88.0.1")
    assert gw.json["msg"] == "failed to allocate for range 0: requested ip 10.88.0.1 is subnet's gateway"
    taken = hl("ADD", c, cid="other", args="IP=10.88.0.50")
    assert taken.json["msg"] == ("failed to allocate for range 0: requested IP address 10.88.0.50 is not "
                                 "available in range set 10.88.0.1-10.88.255.254")
    assert reservations(tmp_path) == {"10.88.0.50": b"dummy\r\neth0"}


def test_item_21_runtime_config_ips(tmp_path):
    c = conf(tmp_path, subnet="10.88.0.0/16", top={"runtimeConfig": {"ips": ["10.88.0.51/16"]}})
    assert addresses(added(c)) == ["10.88.0.51/16"]


@pytest.mark.parametrize("version", VERSIONS)
def test_item_79_ipam_output_has_no_interfaces_and_is_in_the_config_version(tmp_path, version):
    out = hl("ADD", conf(tmp_path, version, subnet="10.1.2.0/24", routes=[{"dst": "0.0.0.0/0"}]))
    data = out.json
    assert data["cniVersion"] == version and "interfaces" not in data
    if multi_ip(version):
        assert set(data) == {"cniVersion", "ips", "routes", "dns"}
        assert all("interface" not in ip for ip in data["ips"])
        assert data["ips"][0]["address"] == "10.1.2.2/24"
    else:
        assert data == {"cniVersion": version, "dns": {},
                        "ip4": {"ip": "10.1.2.2/24", "gateway": "10.1.2.1", "routes": [{"dst": "0.0.0.0/0"}]}}


def test_item_79_route_fields_of_1_1_0_round_trip(tmp_path):
    route = {"dst": "10.5.0.0/16", "gw": "10.1.2.1", "mtu": 1400, "advmss": 1360, "priority": 5,
             "table": 100, "scope": 0}
    data = hl("ADD", conf(tmp_path, subnet="10.1.2.0/24", routes=[route])).json
    assert data["routes"] == [route]


def test_item_80_ipam_lookup_follows_cni_path_order_and_refuses_paths(tmp_path, monkeypatch):
    from cni import delegate, netconf
    from cni.errors import InvalidConfig
    from cni.request import Request
    first, second = tmp_path / "first", tmp_path / "second"
    for d, host_part in ((first, 1), (second, 2)):
        d.mkdir()
        exe = d / "fake-ipam"
        answer = json.dumps({"cniVersion": "1.0.0", "ips": [{"address": f"10.0.0.{host_part}/24"}]})
        exe.write_text(f"#!/bin/sh\necho '{answer}'\n")
        exe.chmod(0o755)
    req = Request("ADD", "dummy", NETNS, "eth0", path=[str(first), str(second)],
                  stdin=b'{"cniVersion":"1.0.0","name":"n"}', env={})
    req.conf = netconf.parse(req.stdin)
    assert delegate.call("ADD", "fake-ipam", req).ips[0].address == "10.0.0.1/24"
    req.path = [str(second), str(first)]
    assert delegate.call("ADD", "fake-ipam", req).ips[0].address == "10.0.0.2/24"
    for bad in ("../first/fake-ipam", "..", "a/b"):
        with pytest.raises(InvalidConfig):
            delegate.call("ADD", bad, req)


def test_item_81_ipam_del_is_idempotent_without_netns(tmp_path):
    c = conf(tmp_path, subnet="10.1.2.0/24")
    added(c)
    assert hl("DEL", c, netns=None).ok and hl("DEL", c, netns="").ok
    assert reservations(tmp_path) == {}


def test_item_82_network_broadcast_and_gateway_are_never_handed_out(tmp_path):
    c = conf(tmp_path, subnet="192.168.1.0/29")
    got = [addresses(added(c, cid=f"c{n}"))[0] for n in range(5)]
    assert got == [f"192.168.1.{n}/29" for n in range(2, 7)]
    assert hl("ADD", c, cid="c5").code == 104


def test_item_82_range_start_and_end_are_honoured(tmp_path):
    c = conf(tmp_path, subnet="10.1.2.0/24", rangeStart="10.1.2.3", rangeEnd="10.1.2.5")
    got = [addresses(added(c, cid=f"c{n}"))[0] for n in range(3)]
    assert got == ["10.1.2.3/24", "10.1.2.4/24", "10.1.2.5/24"]
    out = hl("ADD", c, cid="c3")
    assert out.json["msg"] == ("failed to allocate for range 0: no IP addresses available in range set: "
                               "10.1.2.3-10.1.2.5")


def test_item_83_state_is_keyed_by_network_id_and_ifname_across_processes(tmp_path):
    c = conf(tmp_path, subnet="10.1.2.0/24")
    other_net = conf(tmp_path, name="other", subnet="10.1.2.0/24")
    assert addresses(added(c)) == ["10.1.2.2/24"]
    assert addresses(added(c, ifname="net1")) == ["10.1.2.3/24"]
    assert addresses(added(other_net)) == ["10.1.2.2/24"]  # another network, another store
    assert hl("DEL", c, ifname="net1").ok                 # a later process finds it by its key
    assert reservations(tmp_path) == {"10.1.2.2": b"dummy\r\neth0"}
    assert reservations(tmp_path, "other") == {"10.1.2.2": b"dummy\r\neth0"}


def test_ipv6_names_are_rfc5952(tmp_path):
    c = conf(tmp_path, subnet="2001:DB8:0:0:1::/80", rangeStart="2001:db8::1:0:0:a")
    assert addresses(added(c)) == ["2001:db8::1:0:0:a/80"]
    assert reservations(tmp_path) == {"2001:db8::1:0:0:a": b"dummy\r\neth0"}


def test_lock_timeout_gives_try_again_later(tmp_path):
    import fcntl
    c = conf(tmp_path, subnet="10.1.2.0/24", lockTimeout=0.3)
    added(c)
    fd = os.open(tmp_path / "mynet" / "lock", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        for verb in ("ADD", "DEL"):
            out = hl(verb, c, cid="other")
            assert out.code == 11, out
    finally:
        os.close(fd)
    assert hl("DEL", c).ok


# -- against the reference's captured outputs (Debian 1.1.1) ---------------------------------------------


def test_add_prints_byte_for_byte_what_the_reference_printed(tmp_path):
    rcnet = json.loads((REFERENCE / "conf-rcnet-1.0.0.conf").read_text())
    rcnet["ipam"]["dataDir"] = str(tmp_path)
    (tmp_path / "rcnet").mkdir()
    (tmp_path / "rcnet" / "last_reserved_ip.0").write_bytes(b"10.250.1.79")  # the case's prior state
    out = hl("ADD", rcnet, cid="c9")
    assert out.stdout == (REFERENCE / "hostlocal-ADD.json").read_text()


def test_exhaustion_message_is_the_reference_one_with_a_specific_code(tmp_path):
    reference = json.loads((REFERENCE / "err-range-exhausted.json").read_text())
    c = conf(tmp_path, "1.0.0", subnet="10.250.3.0/30")
    added(c, cid="c1")
    out = hl("ADD", c, cid="c2")
    assert out.json["msg"] == reference["msg"]
    assert (reference["code"], out.code) == (999, 104)


def test_version_answers_every_supported_version():
    out = run_plugin("host-local", "VERSION", {"cniVersion": "0.4.0"}, container_id=None, ifname=None)
    assert out.json == {"cniVersion": "0.4.0", "supportedVersions": VERSIONS}
