"""`pycni` as the runtime of real chains, inside test-made namespaces.

The host side of every plugin runs in a namespace the test made (`ip netns exec
<host> pycni ...`); configs, the result cache and IPAM state live in tmp.
Chains: our bridge followed by the reference portmap and tuning (cniVersion
1.0.0, the newest the Debian 1.1.1 reference accepts); the reference bridge and
host-local alone; our bridge at 1.1.0 for GC and STATUS. Then `pycni ipam
leaks/release` on a store with a planted leak next to a live attachment.
"""

import json
import os
import time

import pytest
from support import BIN, GO_BIN

from cli.kit import Lab, cnitool_id, ok

OLD = time.time() - 3600  # reservations older than the leak scan's grace period


@pytest.fixture
def lab(tmp_path) -> Lab:
    lab = Lab(tmp_path)
    lab.path = [BIN, GO_BIN]  # ours first: bridge and host-local resolve to pycni's
    return lab


def bridge(data_dir, bridge_name: str, subnet: str, **keys: object) -> dict:
    return {"type": "bridge", "bridge": bridge_name, "isGateway": True,
            "ipam": {"type": "host-local", "dataDir": str(data_dir),
                     "ranges": [[{"subnet": subnet}]], "routes": [{"dst": "0.0.0.0/0"}]},
            **keys}


def reservations(data_dir, network: str) -> "dict[str, str]":
    store = data_dir / network
    if not store.exists():
        return {}
    return {p.name: p.read_bytes().decode() for p in store.iterdir()
            if p.name[0].isdigit() and not p.name.startswith("last_")}


def nat_rules(host) -> str:
    return host.sh("iptables-save", "-t", "nat").stdout


# -- chains -----------------------------------------------------------------------------


def test_our_bridge_chained_with_reference_portmap_and_tuning(lab, host, container, data_dir):
    lab.write_conf("10-web.conflist", {
        "cniVersion": "1.0.0", "name": "web", "plugins": [
            bridge(data_dir, "pycni-br1", "10.71.0.0/24"),
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "tuning", "sysctl": {"net.ipv4.conf.eth0.arp_filter": "1"}}]})
    ports = {"portMappings": [{"hostPort": 18080, "containerPort": 80, "protocol": "tcp"}]}
    out = ok(lab.pycni("add", "web", container.path, host=host, CAP_ARGS=json.dumps(ports)))
    result = json.loads(out.stdout)
    assert result["cniVersion"] == "1.0.0"
    assert {"name": "eth0", "sandbox": container.path}.items() <= result["interfaces"][2].items()
    address = result["ips"][0]["address"]
    assert address in container.addrs("eth0")
    assert container.sh("sysctl", "-n", "net.ipv4.conf.eth0.arp_filter").stdout.strip() == "1"
    assert "--dport 18080" in nat_rules(host)          # portmap took our result as prevResult
    cid = cnitool_id(container.path)
    assert reservations(data_dir, "web") == {address.split("/")[0]: f"{cid}\r\neth0"}
    assert lab.cache_entry("web", cid)["result"] == result
    # No CHECK here: the reference portmap 1.1.1 fails its own CHECK for any
    # IPv4-only container (it looks for its DNAT chain in ip6tables), behind the
    # reference bridge too. test_our_bridge_and_reference_tuning_pass_check does.
    ok(lab.pycni("del", "web", container.path, host=host, CAP_ARGS=json.dumps(ports)))
    assert container.link("eth0") is None
    assert "18080" not in nat_rules(host)
    assert reservations(data_dir, "web") == {}
    assert lab.cache_files() == []
    ok(lab.pycni("del", "web", container.path, host=host, CAP_ARGS=json.dumps(ports)))


def test_our_bridge_and_reference_tuning_pass_check(lab, host, container, data_dir):
    lab.write_conf("10-tune.conflist", {
        "cniVersion": "1.0.0", "name": "tune", "plugins": [
            bridge(data_dir, "pycni-br6", "10.76.0.0/24"),
            {"type": "tuning", "mtu": 1400}]})
    ok(lab.pycni("add", "tune", container.path, host=host))
    assert container.link("eth0")["mtu"] == 1400
    ok(lab.pycni("check", "tune", container.path, host=host))
    container.sh("ip", "link", "set", "eth0", "mtu", "1300")
    out = lab.pycni("check", "tune", container.path, host=host)
    assert out.returncode == 1 and 'plugin type="tuning" failed (check)' in out.stderr
    ok(lab.pycni("del", "tune", container.path, host=host))
    assert container.link("eth0") is None


def test_reference_bridge_and_host_local_run_under_pycni(lab, host, container, data_dir):
    lab.path = [GO_BIN]
    lab.write_conf("10-ref.conflist", {"cniVersion": "1.0.0", "name": "ref", "plugins": [
        bridge(data_dir, "pycni-br2", "10.72.0.0/24")]})
    result = json.loads(ok(lab.pycni("add", "ref", container.path, host=host)).stdout)
    assert result["ips"][0]["address"] in container.addrs("eth0")
    assert len(reservations(data_dir, "ref")) == 1
    ok(lab.pycni("check", "ref", container.path, host=host))
    ok(lab.pycni("del", "ref", container.path, host=host))
    assert reservations(data_dir, "ref") == {} and lab.cache_files() == []
    assert container.link("eth0") is None


def test_status_and_gc_reach_our_plugins(lab, host, make_netns, data_dir):
    lab.write_conf("10-gc.conflist", {"cniVersion": "1.1.0", "name": "gcnet", "plugins": [
        bridge(data_dir, "pycni-br3", "10.73.0.0/24")]})
    ok(lab.pycni("status", "gcnet", host=host))
    keep, gone = make_netns(), make_netns()
    kept = json.loads(ok(lab.pycni("add", "gcnet", keep.path, host=host)).stdout)
    ok(lab.pycni("add", "gcnet", gone.path, host=host))
    gone.delete()  # the container died; its runtime never said DEL
    out = ok(lab.pycni("gc", "gcnet", host=host))
    assert f"deleted stale attachment {cnitool_id(gone.path)} eth0" in out.stdout
    assert reservations(data_dir, "gcnet") == {
        kept["ips"][0]["address"].split("/")[0]: f"{cnitool_id(keep.path)}\r\neth0"}
    assert [p.name for p in lab.cache_files()] == [f"gcnet-{cnitool_id(keep.path)}-eth0"]
    assert kept["ips"][0]["address"] in keep.addrs("eth0")
    ok(lab.pycni("del", "gcnet", keep.path, host=host))


# -- leaks ------------------------------------------------------------------------------


def _age(path) -> None:
    os.utime(path, (OLD, OLD))


def _leaks(lab, host, network: str) -> "list[dict]":
    return json.loads(ok(lab.pycni("ipam", "leaks", network, "--json", host=host)).stdout)["leaks"]


def test_ipam_leaks_finds_the_planted_leak_and_nothing_else(lab, host, container, data_dir):
    lab.write_conf("10-lk.conflist", {"cniVersion": "1.0.0", "name": "lk", "plugins": [
        bridge(data_dir, "pycni-br4", "10.74.0.0/24")]})
    live = json.loads(ok(lab.pycni("add", "lk", container.path, host=host)).stdout)
    live_ip = live["ips"][0]["address"].split("/")[0]
    _age(data_dir / "lk" / live_ip)  # old enough to be judged, so only evidence saves it
    planted = data_dir / "lk" / "10.74.0.50"
    planted.write_bytes(b"ghost-container\r\neth0")
    _age(planted)

    (leak,) = _leaks(lab, host, "lk")
    assert (leak["ip"], leak["containerID"], leak["ifname"], leak["kind"]) == \
        ("10.74.0.50", "ghost-container", "eth0", "leak")
    assert "no cache entry" in leak["evidence"]
    assert any("address on no interface" in e for e in leak["evidence"])

    table = ok(lab.pycni("ipam", "leaks", "lk", host=host)).stdout
    assert "10.74.0.50" in table and live_ip not in table

    dry = ok(lab.pycni("ipam", "release", "lk", host=host))
    assert "10.74.0.50" in dry.stdout and "dry run" in dry.stderr and planted.exists()
    released = ok(lab.pycni("ipam", "release", "lk", "--yes", host=host))
    assert "10.74.0.50: released" in released.stdout
    assert not planted.exists()
    assert list(reservations(data_dir, "lk")) == [live_ip]
    assert _leaks(lab, host, "lk") == []
    ok(lab.pycni("del", "lk", container.path, host=host))


def test_ipam_leaks_calls_a_dead_cached_attachment_stale(lab, host, make_netns, data_dir):
    lab.write_conf("10-st.conflist", {"cniVersion": "1.0.0", "name": "st", "plugins": [
        bridge(data_dir, "pycni-br5", "10.75.0.0/24")]})
    ctr = make_netns()
    added = json.loads(ok(lab.pycni("add", "st", ctr.path, host=host)).stdout)
    ip = added["ips"][0]["address"].split("/")[0]
    _age(data_dir / "st" / ip)
    ctr.delete()  # its runtime died before DEL: the cache entry outlives the namespace
    (leak,) = _leaks(lab, host, "st")
    assert (leak["ip"], leak["kind"]) == (ip, "stale")
    assert any("is gone" in e for e in leak["evidence"])
    ok(lab.pycni("del", "st", ctr.path, host=host))  # the runtime's DEL cleans it up
    assert reservations(data_dir, "st") == {}
