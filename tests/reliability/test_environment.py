"""Broken environment: the node misbehaves under the plugins, and each failure is
specific and leaves nothing half-done.

Injected: a read-only store (a read-only bind mount made inside the test's tmp
dir), a full disk (a 64 KiB tmpfs filled up, and one out of inodes), corrupt
and foreign entries in the store (empty, garbage, oversize, symlink,
directory named like an address, another owner's reservation), the bridge
deleted or replaced by a non-bridge link between ADDs, the container's netns
deleted mid-life, CNI_NETNS naming a regular file, a directory, another kind
of namespace or the plugin's own network namespace, and ADDs failing on a
fresh node. Each case asserts the exact error code, that no partial state
was left (links, reservations, temp files, NAT rules), and that DEL and GC
still clean up where the spec says they must. Mounts are always undone.
"""

import contextlib
import ipaddress
import subprocess

import pytest
from support import run_plugin, unique

from reliability import harness
from reliability.harness import Bench, leaks


@contextlib.contextmanager
def mounted(*argv: str, target):
    """`mount argv... target`, always unmounted afterwards."""
    subprocess.run(["mount", *argv, str(target)], check=True, capture_output=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True, check=False)


def _attach(node: Bench, make_netns, container_id: str) -> "tuple":
    container = make_netns()
    out = node.add(container, container_id)
    assert out.ok, out
    return container, out.json


def _baseline(node: Bench, make_netns) -> dict:
    """The node after one clean ADD+DEL: bridge and NAT skeleton exist, nothing else."""
    container, _ = _attach(node, make_netns, "env-baseline")
    assert node.delete(container, "env-baseline").ok
    return node.state()


def _no_partial_state(node: Bench, before: dict, container, record) -> None:
    found = leaks(before, node.state())
    record.add(leaks=len(found))
    assert found == [], f"a failed ADD left: {found}"
    assert harness.link_names(container) == ["lo"]


# -- the store's filesystem -------------------------------------------------------------------


def test_read_only_store(host, make_netns, tmp_path, record):
    """The dataDir remounted read-only between ADDs: ADD fails 108 and leaves nothing,
    STATUS says 50, DEL removes the veth and NAT rules and reports 108 for the store;
    once writable again, DEL completes and the node is clean."""
    data = tmp_path / "ro-data"
    data.mkdir()
    node = Bench(host, data)
    baseline = _baseline(node, make_netns)
    a, _ = _attach(node, make_netns, "ro-a")
    before = node.state()
    subprocess.run(["mount", "--bind", str(data), str(data)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(data)], check=True)
        b = make_netns()
        out = node.add(b, "ro-b")
        assert out.code == 108, out
        _no_partial_state(node, before, b, record)
        assert node.run("STATUS", None, "x", conf=node.conf()).code == 50
        gc = node.gc([])
        assert gc.code == 108, gc
        out = node.delete(a, "ro-a")
        assert out.code == 108, out
        left = leaks(baseline, node.state())
        assert [f for f in left if not f.startswith("store entry")] == [], left
    finally:
        subprocess.run(["umount", "-l", str(data)], capture_output=True, check=False)
    assert node.delete(a, "ro-a").ok
    assert leaks(baseline, node.state()) == []
    record.add(cases=6)


@pytest.mark.parametrize("exhausted", ["blocks", "inodes"])
def test_full_disk(exhausted, host, make_netns, tmp_path, record):
    """The dataDir on a tiny tmpfs, then filled (no free block, or no free inode): ADD fails
    108 with no temp file or reservation left, STATUS says 50; DEL and GC still release."""
    data = tmp_path / "full"
    data.mkdir()
    size = "size=64k" if exhausted == "blocks" else "size=1m,nr_inodes=12"
    with mounted("-t", "tmpfs", "-o", f"{size},mode=0700", "tmpfs", target=data):
        node = Bench(host, data)
        baseline = _baseline(node, make_netns)
        a, _ = _attach(node, make_netns, "full-a")
        stale, _ = _attach(node, make_netns, "full-stale")
        _fill(data, exhausted)
        before = node.state()
        b = make_netns()
        out = node.add(b, "full-b")
        assert out.code == 108, out
        _no_partial_state(node, before, b, record)
        assert node.run("STATUS", None, "x").code == 50
        stale.delete()
        assert node.gc([("full-a", "eth0")]).ok
        assert node.delete(a, "full-a").ok
        for filler in data.glob("filler-*"):
            filler.unlink()
        assert leaks(baseline, node.state()) == []
        record.add(cases=5)


def _fill(root, exhausted: str) -> None:
    n = 0
    while True:
        try:
            with open(root / f"filler-{n}", "wb") as f:
                if exhausted == "blocks":
                    f.write(b"\0" * 4096 * 64)
        except OSError:
            break
        n += 1
        if n > 10000:
            raise AssertionError("the tmpfs never filled up")


def test_corrupt_and_foreign_store_entries(bench, make_netns, tmp_path, record):
    """Planted in the store: empty, garbage, oversize, symlink (to a victim file), a
    directory named like an address, another container's reservation, a non-address
    name, a garbage cursor. ADD skips them all (or 104 when only they remain), nothing
    is followed or rewritten, the operator listing names each problem, DEL leaves them,
    and GC with the live list clears the unowned ones."""
    node = bench
    node.subnet4 = ipaddress.ip_network("10.55.0.0/28")  # .2 - .14
    baseline = _baseline(node, make_netns)
    store = node.store
    victim = tmp_path / "victim"
    victim.write_text("do not touch\n")
    planted = {"10.55.0.3": "empty", "10.55.0.4": "garbage", "10.55.0.5": "oversize",
               "10.55.0.6": "symlink", "10.55.0.7": "directory", "10.55.0.8": "foreign"}
    (store / "10.55.0.3").write_bytes(b"")
    (store / "10.55.0.4").write_bytes(b"\xff\xfe\x00garbage\r\n\x01")
    (store / "10.55.0.5").write_bytes(b"x" * (1 << 20))
    (store / "10.55.0.6").symlink_to(victim)
    (store / "10.55.0.7").mkdir()
    (store / "10.55.0.8").write_bytes(b"someone-else\r\neth0")
    (store / "not-an-address").write_text("ignore me")
    (store / "last_reserved_ip.0").write_text("garbage\x00")
    snapshot = {p.name: (p.is_symlink(), p.is_dir()) for p in store.iterdir()}

    listing = {e["ip"]: e for e in harness.operator_listing(node.data_dir, node.name)}
    for ip, problem in planted.items():
        assert ip in listing, (ip, listing)
        if problem == "foreign":
            assert listing[ip]["containerID"] == "someone-else" and not listing[ip]["problem"]
        else:
            assert problem in listing[ip]["problem"], listing[ip]

    attached = {}
    for k in range(7):  # .2 and .9 - .14 are the free ones
        cid = f"corrupt-{k}"
        container, result = _attach(node, make_netns, cid)
        ips = node.check_result(result)
        assert not set(ips) & set(planted), (ips, planted)
        attached[cid] = container
    exhausted = make_netns()
    before = node.state()
    out = node.add(exhausted, "corrupt-x")
    assert out.code == 104, out
    _no_partial_state(node, before, exhausted, record)
    assert victim.read_text() == "do not touch\n"
    for cid, container in attached.items():
        assert node.delete(container, cid).ok
    assert {p.name: (p.is_symlink(), p.is_dir()) for p in store.iterdir()} == snapshot
    assert node.gc([("corrupt-live", "eth0")]).ok
    assert sorted(p.name for p in store.iterdir() if p.name[0].isdigit()) == []
    assert victim.read_text() == "do not touch\n"
    assert (store / "not-an-address").read_text() == "ignore me"
    (store / "not-an-address").unlink()
    assert leaks(baseline, node.state()) == []
    record.add(cases=len(planted) + 2)


# -- the bridge and the container's namespace -------------------------------------------------


def test_bridge_deleted_between_adds(bench, make_netns, record):
    """The bridge deleted under a live attachment: the next ADD recreates it and succeeds;
    both DELs succeed and leave nothing."""
    node = bench
    baseline = _baseline(node, make_netns)
    a, _ = _attach(node, make_netns, "br-a")
    node.host.sh("ip", "link", "del", node.bridge)
    b, result = _attach(node, make_netns, "br-b")
    node.check_result(result)
    assert harness.host_links(node.host)[node.bridge] == "bridge"
    assert node.delete(a, "br-a").ok
    assert node.delete(b, "br-b").ok
    assert leaks(baseline, node.state()) == []
    record.add(cases=2)


def test_bridge_replaced_by_a_non_bridge(bench, make_netns, record):
    """A veth takes the bridge's name: ADD fails 103 (BridgeConflict) with no partial
    state; the earlier attachment's DEL still succeeds and cleans up."""
    node = bench
    baseline = _baseline(node, make_netns)
    a, _ = _attach(node, make_netns, "repl-a")
    node.host.sh("ip", "link", "del", node.bridge)
    peer_ns = make_netns()  # a veth (no dummy driver in every kernel), its peer kept elsewhere
    node.host.sh("ip", "link", "add", node.bridge, "type", "veth", "peer", "name", "p0",
                 "netns", peer_ns.name)
    before = node.state()
    b = make_netns()
    out = node.add(b, "repl-b")
    assert out.code == 103, out
    _no_partial_state(node, before, b, record)
    assert node.delete(a, "repl-a").ok
    assert node.delete(b, "repl-b").ok
    now = node.state()
    assert now["links"][node.bridge] == "veth"
    assert leaks(baseline, now) == []
    record.add(cases=3)


def test_container_netns_deleted_mid_life(bench, make_netns, record):
    """The container's namespace vanishes after ADD: CHECK fails 100, an ADD into the stale
    path fails 100 and leaves nothing, DEL (stale path, then empty) succeeds and cleans up."""
    node = bench
    baseline = _baseline(node, make_netns)
    a, result = _attach(node, make_netns, "gone-a")
    a.delete()
    assert node.check(a, "gone-a", result).code == 100
    harness.wait_gone(lambda: not any(k == "veth" for k in harness.host_links(node.host).values()))
    before = node.state()
    out = node.add(a, "gone-b")
    assert out.code == 100, out
    assert leaks(before, node.state()) == []
    assert node.delete(a, "gone-a").ok
    assert node.delete("", "gone-a").ok
    assert leaks(baseline, node.state()) == []
    record.add(cases=4)


@pytest.mark.parametrize("kind, add_code", [("regular-file", 101), ("directory", 101),
                                            ("uts-namespace", 101), ("own-netns", 8),
                                            ("own-netns-by-name", 8)])
def test_netns_that_is_not_a_container_netns(kind, add_code, bench, make_netns, tmp_path, record):
    """CNI_NETNS naming something other than a container's network namespace: ADD and CHECK
    fail with the specific code and change nothing; DEL of a real attachment given that
    path cleans up host state (101) or is refused before touching anything (8)."""
    node = bench
    baseline = _baseline(node, make_netns)
    path = {"regular-file": tmp_path / "file", "directory": tmp_path,
            "uts-namespace": "/proc/self/ns/uts", "own-netns": "/proc/self/ns/net",
            "own-netns-by-name": node.host.path}[kind]
    if kind == "regular-file":
        path.write_text("")
    a, result = _attach(node, make_netns, "odd-a")
    before = node.state()
    for command in ("ADD", "CHECK"):
        conf = node.conf(prevResult=result) if command == "CHECK" else node.conf()
        out = node.run(command, str(path), "odd-b", conf=conf)
        assert out.code == add_code, (command, out)
        assert leaks(before, node.state()) == []
        assert node.state()["links"] == before["links"]
    out = node.delete(str(path), "odd-a")
    if add_code == 8:
        assert out.code == 8, out
        assert node.state() == before
        assert node.delete(a, "odd-a").ok
    else:
        assert out.ok, out
        a.delete()
        harness.wait_gone(lambda: not leaks(baseline, node.state()))
    assert leaks(baseline, node.state()) == []
    record.add(cases=3)


@pytest.mark.parametrize("failure, code", [
    ("ipam-missing", 106), ("ipam-invalid", 7), ("pool-exhausted", 104),
    ("netns-missing", 100), ("ifname-taken", 102), ("ipam-type-escape", 7)])
def test_failed_add_on_a_fresh_node_creates_nothing(failure, code, host, make_netns, tmp_path,
                                                    record):
    """ADDs that fail on a node where nothing exists yet: the exact code, and the host
    namespace still holds only lo (no bridge, no veth), no NAT rule, no reservation."""
    data = tmp_path / "fresh"
    data.mkdir()
    node = Bench(host, data)
    conf = node.conf()
    container = make_netns()
    netns = container
    path = None
    if failure == "ipam-missing":
        path = [tmp_path / "empty-cni-path"]
        path[0].mkdir()
    elif failure == "ipam-invalid":
        conf["ipam"]["ranges"] = [[{"subnet": "10.1.2.0/33"}]]
    elif failure == "pool-exhausted":
        conf["ipam"]["ranges"] = [[{"subnet": "10.1.2.0/30", "rangeStart": "10.1.2.2",
                                    "rangeEnd": "10.1.2.2"}]]
        (data / node.name).mkdir(mode=0o700)
        (data / node.name / "10.1.2.2").write_bytes(b"other\r\neth0")
    elif failure == "netns-missing":
        netns = "/run/netns/" + unique("missing-")
    elif failure == "ifname-taken":
        container.sh("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
    else:
        conf["ipam"]["type"] = "../../../../bin/true"
    before = node.state()
    out = run_plugin("bridge", "ADD", conf, netns=netns, host=host, container_id="fresh-1",
                     path=path)
    assert out.code == code, out
    found = leaks(before, node.state())
    record.add(leaks=len(found))
    assert found == []
    assert harness.host_links(host) == {"lo": ""}, "a failed ADD left links on a fresh node"
    assert node.state()["nat"] == before["nat"]
