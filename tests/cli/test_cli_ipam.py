"""`pycni ipam ls|leaks|release` over a planted store in the reference's format.

Listing is read from disk as is. Leak verdicts are unit-tested on
`cni.tool.ipam_views.classify` with hand-made evidence, and the commands' output with
`cni.tool.netns_scan` replaced by that evidence (the real namespace scan is exercised in
test_cli_chains.py). Release is tested against files changed behind its back.
"""

import json
import os
import time

import pytest
from click.testing import CliRunner

from cni.tool import ipam_views, netns_scan
from cni.tool.cli import cli

NET = "inspectnet"


@pytest.fixture
def store(tmp_path):
    """A store with a current, a legacy, an empty (corrupt) entry and the bookkeeping files."""
    networks = tmp_path / "networks"
    d = networks / NET
    d.mkdir(parents=True, mode=0o700)
    entries = {"10.80.0.2": b"ctr-a\r\neth0", "10.80.0.3": b"ctr-b", "10.80.0.9": b""}
    old = time.time() - 7200  # two hours ago, as the tables below print it
    for ip, content in entries.items():
        (d / ip).write_bytes(content)
        os.utime(d / ip, (old, old))
    (d / "last_reserved_ip.0").write_text("10.80.0.9")
    (d / "lock").touch()
    return networks


@pytest.fixture
def conf_dir(tmp_path, store):
    d = tmp_path / "net.d"
    d.mkdir()
    (d / "10-inspect.conflist").write_text(json.dumps({
        "cniVersion": "1.0.0", "name": NET, "plugins": [
            {"type": "bridge", "bridge": "br-inspect", "ipam": {
                "type": "host-local", "dataDir": str(store),
                "ranges": [[{"subnet": "10.80.0.0/25"}, {"subnet": "10.80.0.128/25"}],
                           [{"subnet": "fd80::/120"}]]}}]}))
    return d


def run(*args: str):
    return CliRunner().invoke(cli, list(args), prog_name="pycni")


# -- ls ---------------------------------------------------------------------------------


def test_ls_table_shows_every_allocation_and_range_use(conf_dir):
    out = run("ipam", "ls", NET, "--conf-dir", str(conf_dir))
    assert out.exit_code == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines()]
    assert rows[0] == ["NETWORK", "IP", "CONTAINER", "ID", "IFNAME", "AGE", "PROBLEM"]
    assert rows[1] == [NET, "10.80.0.2", "ctr-a", "eth0", "2h00m"]
    assert rows[2] == [NET, "10.80.0.3", "ctr-b", "-", "2h00m"]       # legacy: no ifname
    assert rows[3] == [NET, "10.80.0.9", "-", "2h00m", "empty"]
    assert rows[5] == ["NETWORK", "SET", "RANGE", "USED", "SIZE", "USE"]
    assert rows[6] == [NET, "0", "10.80.0.1-10.80.0.126", "3", "125", "2%"]
    assert rows[7] == [NET, "0", "10.80.0.129-10.80.0.254", "0", "125", "0%"]
    assert rows[8] == [NET, "1", "fd80::1-fd80::ff", "0", "254", "0%"]


def test_ls_json_has_the_same_facts(conf_dir, store):
    out = run("ipam", "ls", NET, "--conf-dir", str(conf_dir), "--json")
    assert out.exit_code == 0
    (view,) = json.loads(out.stdout)["networks"]
    assert (view["name"], view["dataDir"]) == (NET, str(store))
    assert view["config"].endswith("10-inspect.conflist")
    assert [(a["ip"], a["containerID"], a["ifname"], a["problem"]) for a in view["allocations"]] == [
        ("10.80.0.2", "ctr-a", "eth0", ""), ("10.80.0.3", "ctr-b", None, ""),
        ("10.80.0.9", "", None, "empty")]
    assert all(a["ageSeconds"] >= 7199 for a in view["allocations"])
    assert [(r["set"], r["range"], r["used"], r["size"], r["gateway"]) for r in view["ranges"]] == [
        (0, "10.80.0.1-10.80.0.126", 3, 125, "10.80.0.1"),
        (0, "10.80.0.129-10.80.0.254", 0, 125, "10.80.0.129"),
        (1, "fd80::1-fd80::ff", 0, 254, "fd80::1")]


def test_ls_without_a_config_lists_allocations_and_says_use_is_unknown(store, tmp_path):
    out = run("ipam", "ls", "--data-dir", str(store), "--conf-dir", str(tmp_path / "none"), "--json")
    (view,) = json.loads(out.stdout)["networks"]
    assert view["ranges"] is None and len(view["allocations"]) == 3
    table = run("ipam", "ls", "--data-dir", str(store), "--conf-dir", str(tmp_path / "none"))
    assert f"({NET}: no config in" in table.stderr


def test_ls_without_a_network_lists_every_store_under_the_data_dir(store, tmp_path):
    (store / "other").mkdir()
    (store / "other" / "10.81.0.5").write_bytes(b"ctr-z\r\nnet1")
    (store / "not a network").mkdir()  # not a valid network name: not a store
    out = run("ipam", "ls", "--data-dir", str(store), "--conf-dir", str(tmp_path), "--json")
    assert [v["name"] for v in json.loads(out.stdout)["networks"]] == [NET, "other"]


def test_ls_never_creates_a_missing_store(tmp_path):
    out = run("ipam", "ls", "ghost", "--data-dir", str(tmp_path), "--conf-dir", str(tmp_path), "--json")
    assert out.exit_code == 0
    assert json.loads(out.stdout)["networks"][0]["allocations"] == []
    assert not (tmp_path / "ghost").exists()


# -- verdicts -----------------------------------------------------------------------------


def scan(held: "dict | None" = None, hidden: "list | None" = None,
         unreadable: "list | None" = None) -> netns_scan.Scan:
    s = netns_scan.Scan()
    s.held = {ip: [netns_scan.Holder(ns, ifname, ip)] for ip, (ns, ifname) in (held or {}).items()}
    s.hidden_peers = list(hidden or [])
    s.unreadable = list(unreadable or [])
    s.namespaces = 3
    return s


def verdicts(conf_dir, cached: "dict | None" = None, evidence: "netns_scan.Scan | None" = None,
             min_age: float = 60) -> "dict[str, ipam_views.Finding]":
    (view,) = ipam_views.views(NET, None, str(conf_dir))
    return {f.allocation.ip: f for f in ipam_views.classify(view, cached or {}, evidence or scan(),
                                                         min_age=min_age)}


def test_nothing_explains_them_so_all_three_are_leaks(conf_dir):
    found = verdicts(conf_dir)
    assert {ip: f.kind for ip, f in found.items()} == {
        "10.80.0.2": "leak", "10.80.0.3": "leak", "10.80.0.9": "corrupt"}
    assert "no cache entry" in found["10.80.0.2"].evidence
    assert "file is empty" in found["10.80.0.9"].evidence
    assert all(f.leaked for f in found.values())


def test_an_address_seen_in_a_live_namespace_is_live(conf_dir):
    found = verdicts(conf_dir, evidence=scan({"10.80.0.2": ("/run/netns/a", "eth0"),
                                              "10.80.0.9": ("/run/netns/b", "eth0")}))
    assert found["10.80.0.2"].kind == "live" and not found["10.80.0.2"].leaked
    assert found["10.80.0.2"].evidence == ["configured on eth0 in /run/netns/a"]
    assert found["10.80.0.9"].kind == "live"  # a corrupt file still used stays


def test_a_cache_entry_with_a_live_netns_is_live_and_with_a_dead_one_stale(conf_dir):
    found = verdicts(conf_dir, cached={(NET, "ctr-a", "eth0"): ("/run/netns/a", True),
                                       (NET, "ctr-b", "net1"): ("/run/netns/b", False)})
    assert found["10.80.0.2"].kind == "live"
    assert found["10.80.0.3"].kind == "stale"  # a legacy file matches any ifname of its container
    assert "cached attachment, but netns /run/netns/b is gone" in found["10.80.0.3"].evidence


def test_cache_entries_of_other_networks_or_interfaces_explain_nothing(conf_dir):
    found = verdicts(conf_dir, cached={("elsewhere", "ctr-a", "eth0"): ("/run/netns/a", True),
                                       (NET, "ctr-a", "eth1"): ("/run/netns/a", True)})
    assert found["10.80.0.2"].kind == "leak"


def test_young_reservations_get_no_verdict(conf_dir, store):
    os.utime(store / NET / "10.80.0.2")  # now: an ADD may be between reserve and address
    found = verdicts(conf_dir)
    assert found["10.80.0.2"].kind == "young" and not found["10.80.0.2"].leaked
    assert verdicts(conf_dir, min_age=0)["10.80.0.2"].kind == "leak"


def test_host_veths_with_unseen_peers_make_every_suspect_unsure(conf_dir):
    found = verdicts(conf_dir, evidence=scan(hidden=["veth1234abcd"]))
    assert {f.kind for f in found.values()} == {"unsure"}
    assert any("veth1234abcd" in e for e in found["10.80.0.2"].evidence)


def test_a_namespace_that_could_not_be_inspected_makes_every_suspect_unsure(conf_dir):
    found = verdicts(conf_dir, evidence=scan(unreadable=["/proc/4242/ns/net"]))
    assert {f.kind for f in found.values()} == {"unsure"}
    assert any("/proc/4242/ns/net" in e for e in found["10.80.0.3"].evidence)


# -- leaks and release through the CLI ------------------------------------------------------


@pytest.fixture
def evidence(monkeypatch):
    """Replace the namespace probe with fixed evidence: 10.80.0.2 is in use."""
    monkeypatch.setattr(netns_scan, "scan", lambda extra=None, bridge="": scan(
        {"10.80.0.2": ("/run/netns/web", "eth0")}))
    monkeypatch.setattr(netns_scan, "can_probe", lambda: True)


def test_leaks_json_and_table_show_suspects_with_evidence(conf_dir, evidence):
    out = run("ipam", "leaks", NET, "--conf-dir", str(conf_dir), "--json")
    assert out.exit_code == 0, out.stderr
    leaks = json.loads(out.stdout)["leaks"]
    assert [(leak["ip"], leak["kind"]) for leak in leaks] == [("10.80.0.3", "leak"), ("10.80.0.9", "corrupt")]
    assert all(leak["network"] == NET and leak["evidence"] for leak in leaks)
    table = run("ipam", "leaks", NET, "--conf-dir", str(conf_dir)).stdout.splitlines()
    assert table[0].split() == ["NETWORK", "IP", "CONTAINER", "ID", "IFNAME", "AGE", "KIND", "EVIDENCE"]
    assert "10.80.0.3" in table[1] and "no cache entry" in table[1]
    assert not any("10.80.0.2" in line for line in table)


def test_release_is_a_dry_run_until_yes(conf_dir, store, evidence):
    dry = run("ipam", "release", NET, "--conf-dir", str(conf_dir))
    assert dry.exit_code == 0 and "2 allocation(s) would be released" in dry.stderr
    assert sorted(p.name for p in (store / NET).iterdir() if p.name[0] == "1") == \
        ["10.80.0.2", "10.80.0.3", "10.80.0.9"]
    done = run("ipam", "release", NET, "--conf-dir", str(conf_dir), "--yes", "--json")
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["released"] == [
        {"network": NET, "ip": "10.80.0.3", "outcome": "released"},
        {"network": NET, "ip": "10.80.0.9", "outcome": "released"}]
    left = sorted(p.name for p in (store / NET).iterdir())
    assert left == ["10.80.0.2", "last_reserved_ip.0", "lock"]


def test_leak_commands_need_root_to_trust_their_evidence(conf_dir, monkeypatch):
    monkeypatch.setattr(netns_scan, "can_probe", lambda: False)
    for command in ("leaks", "release"):
        out = run("ipam", command, NET, "--conf-dir", str(conf_dir))
        assert out.exit_code == 1 and "needs root" in out.stderr


def test_release_keeps_a_file_that_changed_since_it_was_examined(conf_dir, store):
    found = verdicts(conf_dir)
    (store / NET / "10.80.0.2").write_bytes(b"ctr-new\r\neth0")  # reused meanwhile
    (store / NET / "10.80.0.3").unlink()                          # released meanwhile
    outcomes = {f.allocation.ip: o for f, o in ipam_views.release(list(found.values()))}
    assert outcomes == {"10.80.0.2": "kept (changed since it was examined)",
                        "10.80.0.3": "already gone", "10.80.0.9": "released"}
    assert (store / NET / "10.80.0.2").read_bytes() == b"ctr-new\r\neth0"


def test_release_never_touches_live_young_or_unsure_findings(conf_dir, store):
    found = verdicts(conf_dir, evidence=scan({"10.80.0.2": ("/run/netns/a", "eth0")},
                                             hidden=["vethx"]))
    outcomes = {f.allocation.ip: o for f, o in ipam_views.release(list(found.values()))}
    assert set(outcomes.values()) == {"kept (not a leak)"}
    assert len([p for p in (store / NET).iterdir() if p.name[0] == "1"]) == 3
