"""GC and STATUS (spec 1.1.0; checklist 62-75). The reference has neither for bridge."""

import json

import pytest

from bridge.kit import conf, fake_calls, install_fake_ipam, l2_conf


def _gc(node, config, valid, path=None):
    body = dict(config)
    if valid is not None:
        body["cni.dev/valid-attachments"] = [{"containerID": c, "ifname": "eth0"} for c in valid]
    return node.run("GC", body, None, cid=None, ifname=None, path=path)


@pytest.mark.parametrize("backend", ["iptables", "nftables"])
def test_gc_releases_what_is_not_valid(node, backend):
    """Checklist 62: B's reservation and NAT rules go, A's stay."""
    config = conf(node.data_dir, "1.1.0", ipMasq=True, ipMasqBackend=backend)
    node.add(config, node.container(), "ctr-a")
    node.add(config, node.container(), "ctr-b")
    out = _gc(node, config, ["ctr-a"])
    assert out.ok and out.stdout == "", out
    assert node.reservations() == ["10.77.0.2"]
    if backend == "iptables":
        assert {line.split('id: \\"')[1].split("\\")[0] for line in node.nat(4) if "id:" in line} == {"ctr-a"}
    else:
        assert [r["comment"].split("id: ")[1] for r in node.masq_rules()] == ["ctr-a"]


def test_gc_with_an_empty_list_releases_everything(node):
    """Checklist 63."""
    config = conf(node.data_dir, "1.1.0", ipMasq=True)
    node.add(config, node.container(), "ctr-a")
    assert _gc(node, config, []).ok
    assert node.leftovers() == {"veths": node.veths()}  # veths die with their namespaces


def test_gc_without_the_key_releases_nothing(node):
    """Checklist 64 (cnitool gc): an absent list means unknown, not empty."""
    config = conf(node.data_dir, "1.1.0", ipMasq=True)
    node.add(config, node.container(), "ctr-a")
    before = (node.reservations(), node.nat(4))
    assert _gc(node, config, None).ok
    assert (node.reservations(), node.nat(4)) == before


def test_gc_accepts_the_spec_tag_spelling(node):
    """Checklist 65: cni.dev/attachments alone behaves the same."""
    config = conf(node.data_dir, "1.1.0", ipMasq=True)
    node.add(config, node.container(), "ctr-a")
    body = dict(config)
    body["cni.dev/attachments"] = []
    assert node.run("GC", body, None, cid=None, ifname=None).ok
    assert node.nat(4) == []


def test_gc_leaves_other_networks_alone(node):
    """Checklist 68."""
    mine = conf(node.data_dir, "1.1.0", ipMasq=True)
    other = conf(node.data_dir, "1.1.0", name="othernet", subnets=("10.78.0.0/24",),
                 bridge="br-other", ipMasq=True)
    node.add(mine, node.container(), "ctr-a")
    node.add(other, node.container(), "ctr-x")
    assert _gc(node, mine, []).ok
    assert node.reservations("othernet") == ["10.78.0.2"]
    assert len(node.nat(4)) == 4  # ctr-x's chain, its two rules and its jump


def test_gc_is_forwarded_to_the_ipam_with_identical_stdin(node, tmp_path):
    """Checklist 67."""
    install_fake_ipam(tmp_path)
    log = tmp_path / "calls.jsonl"
    config = l2_conf("1.1.0", ipam={"type": "fake-ipam", "log": str(log), "ips": []})
    body = dict(config)
    body["cni.dev/valid-attachments"] = [{"containerID": "a", "ifname": "eth0"}]
    assert node.run("GC", body, None, cid=None, ifname=None, path=[tmp_path]).ok
    calls = fake_calls(log)
    assert [c["command"] for c in calls] == ["GC"]
    assert json.loads(calls[0]["stdin"]) == body


def test_gc_reports_the_ipam_error_and_still_removes_rules(node, tmp_path):
    """Checklist 69: keep going, then report."""
    config = conf(node.data_dir, "1.1.0", ipMasq=True)
    node.add(config, node.container(), "ctr-a")
    install_fake_ipam(tmp_path)
    failing = dict(config, ipam={"type": "fake-ipam", "log": str(tmp_path / "log"),
                                 "fail": {"GC": 108}})
    out = _gc(node, failing, [], path=[tmp_path])
    assert out.code == 108
    assert node.nat(4) == []


def test_gc_rejects_malformed_attachments(node):
    body = conf(node.data_dir, "1.1.0")
    body["cni.dev/valid-attachments"] = [{"containerID": 5}]
    out = node.run("GC", body, None, cid=None, ifname=None)
    assert out.code == 7


def test_gc_needs_version_1_1_0(node):
    """Checklist 70."""
    assert _gc(node, conf(node.data_dir, "1.0.0"), []).code == 1


def test_status_is_forwarded_to_the_ipam(node, tmp_path):
    """Checklist 71, 73, 75: exit 0 with only CNI_COMMAND and CNI_PATH; the IPAM's failure
    is ours; ADD works after a failing STATUS."""
    install_fake_ipam(tmp_path)
    log = tmp_path / "calls.jsonl"
    ipam = {"type": "fake-ipam", "log": str(log),
            "ips": [{"address": "10.77.0.5/24", "gateway": "10.77.0.1"}]}
    config = l2_conf("1.1.0", ipam=ipam)
    out = node.run("STATUS", config, None, cid=None, ifname=None, path=[tmp_path])
    assert out.ok and out.stdout == ""
    failing = l2_conf("1.1.0", ipam=dict(ipam, fail={"STATUS": 50}))
    out = node.run("STATUS", failing, None, cid=None, ifname=None, path=[tmp_path])
    assert out.code == 50
    assert node.run("ADD", config, node.container(), path=[tmp_path]).ok
    assert [c["command"] for c in fake_calls(log)] == ["STATUS", "STATUS", "ADD"]


def test_status_in_l2_mode_needs_nothing(node):
    assert node.run("STATUS", l2_conf("1.1.0"), None, cid=None, ifname=None).ok


def test_status_with_our_host_local(node):
    assert node.run("STATUS", conf(node.data_dir, "1.1.0"), None, cid=None, ifname=None).ok
