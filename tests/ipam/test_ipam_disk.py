"""The file store on real files: the reference's bytes, our crash safety, hostile entries.

Each test works in its own tmp_path; the mount tests mount a tmpfs on a
directory inside it and unmount it in a finally. Nothing outside tmp_path is
touched.
"""

import contextlib
import fcntl
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cni.errors import CNIError, StoreFailure, TryAgainLater
from cni.plugins.host_local import reserve_one
from ipam.disk import DiskStore, is_address_name, parse_owner
from ipam.ranges import Range, RangeSet

ROOT = Path(__file__).resolve().parents[2]


def make(data: Path, network: str = "mynet", timeout: float = 10.0) -> DiskStore:
    return DiskStore(str(data), network, timeout)


def contents(path: Path) -> "dict[str, bytes]":
    return {p.name: (p.read_bytes() if p.is_file() and not p.is_symlink() else b"<not a file>")
            for p in sorted(path.iterdir())}


def reserve(data: Path, ip: str, cid: str = "dummy", ifname: str = "eth0", index: int = 0,
            network: str = "mynet") -> bool:
    with make(data, network).session() as store:
        ok = store.reserve(ip, cid, ifname, index)
        store.flush()
    return ok


@contextlib.contextmanager
def tmpfs(path: Path, options: str):
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


# -- the reference's format, byte for byte ------------------------------------------------

def test_reservations_are_written_in_the_reference_format(tmp_path):
    assert reserve(tmp_path, "10.1.2.2", "dummy", "eth0", 0)
    assert reserve(tmp_path, "2001:db8:1::2", "dummy", "eth0", 1)
    assert contents(tmp_path / "mynet") == {
        "10.1.2.2": b"dummy\r\neth0",
        "2001:db8:1::2": b"dummy\r\neth0",
        "last_reserved_ip.0": b"10.1.2.2",
        "last_reserved_ip.1": b"2001:db8:1::2",
        "lock": b"",
    }


def test_files_are_0600_and_created_directories_0700(tmp_path):
    data = tmp_path / "a" / "b"
    reserve(data, "10.1.2.2")
    for d in (tmp_path / "a", data, data / "mynet"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    for name in ("10.1.2.2", "last_reserved_ip.0", "lock"):
        assert stat.S_IMODE((data / "mynet" / name).stat().st_mode) == 0o600, name


def test_existing_directories_keep_their_mode(tmp_path):
    (tmp_path / "mynet").mkdir(mode=0o755)
    os.chmod(tmp_path / "mynet", 0o755)
    reserve(tmp_path, "10.1.2.2")
    assert stat.S_IMODE((tmp_path / "mynet").stat().st_mode) == 0o755


def test_container_id_is_trimmed_like_the_reference(tmp_path):
    assert reserve(tmp_path, "10.1.2.2", "   dummy\n ", "eth0")
    assert (tmp_path / "mynet" / "10.1.2.2").read_bytes() == b"dummy\r\neth0"
    with make(tmp_path).session() as store:
        assert store.find_by_owner("   dummy\n ", "eth0") == ["10.1.2.2"]
        assert store.release_by_owner("dummy", "eth0") == ["10.1.2.2"]


@pytest.mark.parametrize("name, ok", [
    ("10.1.2.2", True), ("2001:db8::1", True), ("2001:db8:1:0:ffff:ffff:ffff:ffff", True),
    ("2001:DB8::1", False), ("2001:db8:0::1", False), ("010.1.2.2", False), ("lock", False),
    ("last_reserved_ip.0", False), (".pycni-1-1.tmp", False), ("::ffff:1.2.3.4", False), ("", False),
])
def test_only_canonical_address_names_are_reservations(name, ok):
    assert is_address_name(name) is ok


@pytest.mark.parametrize("data, owner", [
    (b"dummy\r\neth0", ("dummy", "eth0", "")),
    (b"  dummy\r\neth0\n", ("dummy", "eth0", "")),
    (b"dummy", ("dummy", None, "")),
    (b"", ("", None, "empty")),
    (b" \n", ("", None, "empty")),
    (b"\xff\xfe", ("", None, "garbage (not UTF-8)")),
    (b"not an id\r\neth0", ("not an id", "eth0", "garbage (not a container ID and ifname)")),
    (b"dummy\r\na/b", ("dummy", "a/b", "garbage (not a container ID and ifname)")),
])
def test_parse_owner(data, owner):
    a = parse_owner("10.1.2.2", data)
    assert (a.container_id, a.ifname, a.problem) == owner


# -- taken, legacy, owners --------------------------------------------------------------------

def test_an_existing_file_is_never_handed_out_again(tmp_path):
    reserve(tmp_path, "10.1.2.2", "a")
    assert not reserve(tmp_path, "10.1.2.2", "b")
    assert (tmp_path / "mynet" / "10.1.2.2").read_bytes() == b"a\r\neth0"


def test_a_file_made_behind_the_stores_back_still_wins(tmp_path):
    with make(tmp_path).session() as store:
        (tmp_path / "mynet" / "10.1.2.9").write_bytes(b"intruder\r\neth0")
        assert store.reserve("10.1.2.9", "dummy", "eth0", 0) is False
        assert "10.1.2.9" in store.taken()
    assert (tmp_path / "mynet" / "10.1.2.9").read_bytes() == b"intruder\r\neth0"


def test_legacy_id_only_files_are_found_and_released(tmp_path):
    (tmp_path / "mynet").mkdir()
    (tmp_path / "mynet" / "10.1.2.5").write_bytes(b"dummy")
    with make(tmp_path).session() as store:
        assert store.find_by_owner("dummy", "eth0") == ["10.1.2.5"]
        assert store.allocations()[0].legacy
        assert store.release_by_owner("dummy", "eth0") == ["10.1.2.5"]
    assert not (tmp_path / "mynet" / "10.1.2.5").exists()


def test_legacy_files_are_kept_when_the_attachment_has_current_ones(tmp_path):
    reserve(tmp_path, "10.1.2.2", "dummy", "eth0")
    (tmp_path / "mynet" / "10.1.2.5").write_bytes(b"dummy")
    with make(tmp_path).session() as store:
        assert store.release_by_owner("dummy", "eth0") == ["10.1.2.2"]
    assert (tmp_path / "mynet" / "10.1.2.5").exists()


def test_release_by_owner_touches_only_that_attachment(tmp_path):
    reserve(tmp_path, "10.1.2.2", "dummy", "eth0")
    reserve(tmp_path, "10.1.2.3", "dummy", "eth1")
    reserve(tmp_path, "10.1.2.4", "other", "eth0")
    with make(tmp_path).session() as store:
        assert store.release_by_owner("dummy", "eth0") == ["10.1.2.2"]
        assert store.release_by_owner("unknown", "eth0") == []
    assert sorted(contents(tmp_path / "mynet")) == ["10.1.2.3", "10.1.2.4", "last_reserved_ip.0", "lock"]


def test_allocations_are_sorted_with_owner_and_mtime(tmp_path):
    for address, cid in (("10.1.2.10", "b"), ("10.1.2.9", "a"), ("2001:db8::2", "c")):
        reserve(tmp_path, address, cid)
    with make(tmp_path).session() as store:
        listing = store.allocations()
    assert [(a.ip, a.container_id, a.ifname, a.problem) for a in listing] == [
        ("10.1.2.9", "a", "eth0", ""), ("10.1.2.10", "b", "eth0", ""), ("2001:db8::2", "c", "eth0", "")]
    assert all(a.mtime > 0 for a in listing)


# -- hostile and corrupt entries ----------------------------------------------------------------

def plant_hostile(net: Path, outside: Path) -> None:
    net.mkdir(parents=True, exist_ok=True)
    (net / "10.1.2.2").write_bytes(b"")
    (net / "10.1.2.3").write_bytes(b"\xff\xfe\x00garbage")
    (net / "10.1.2.4").write_bytes(b"x" * 5000)
    outside.write_bytes(b"dummy\r\neth0")
    (net / "10.1.2.5").symlink_to(outside)
    (net / "10.1.2.6").mkdir()
    os.mkfifo(net / "10.1.2.7")


def test_hostile_entries_are_reported_kept_taken_and_never_followed(tmp_path):
    net, outside = tmp_path / "mynet", tmp_path / "outside"
    plant_hostile(net, outside)
    with make(tmp_path).session() as store:
        problems = {a.ip: a.problem for a in store.allocations()}
        assert problems == {"10.1.2.2": "empty", "10.1.2.3": "garbage (not UTF-8)",
                            "10.1.2.4": "oversize", "10.1.2.5": "symlink", "10.1.2.6": "directory",
                            "10.1.2.7": "not a regular file"}
        # the symlink's target says "dummy/eth0", but it is never read through the link
        assert store.find_by_owner("dummy", "eth0") == []
        assert store.release_by_owner("dummy", "eth0") == []
        for ip in problems:
            assert store.reserve(ip, "dummy", "eth0", 0) is False
    assert outside.read_bytes() == b"dummy\r\neth0"


def test_allocation_skips_every_hostile_entry(tmp_path):
    net = tmp_path / "mynet"
    plant_hostile(net, tmp_path / "outside")
    with make(tmp_path).session() as store:
        address, _ = reserve_one(store, 0, RangeSet([Range.create("10.1.2.0/28")]), None, "dummy", "eth0")
    assert str(address) == "10.1.2.8"
    assert (net / "10.1.2.8").read_bytes() == b"dummy\r\neth0"


def test_releasing_hostile_entries_unlinks_links_and_empty_dirs_only(tmp_path):
    net, outside = tmp_path / "mynet", tmp_path / "outside"
    plant_hostile(net, outside)
    (net / "10.1.2.6" / "inner").write_text("x")
    with make(tmp_path).session() as store:
        store.release("10.1.2.5")
        with pytest.raises(StoreFailure, match=r"cannot release 10.1.2.6 .a directory.*Directory not empty"):
            store.release("10.1.2.6")
        store.release("10.1.2.7")
    assert outside.read_bytes() == b"dummy\r\neth0"
    assert not (net / "10.1.2.5").is_symlink() and not (net / "10.1.2.7").exists()
    (net / "10.1.2.6" / "inner").unlink()
    with make(tmp_path).session() as store:
        store.release("10.1.2.6")
    assert not (net / "10.1.2.6").exists()


def test_a_symlinked_network_directory_is_refused(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "mynet").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(StoreFailure) as exc, make(tmp_path).session():
        pass
    assert "symlink" in exc.value.details and exc.value.code == 108
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_a_symlinked_lock_or_cursor_is_not_followed(tmp_path):
    net = tmp_path / "mynet"
    net.mkdir()
    target = tmp_path / "target"
    target.write_bytes(b"10.1.2.200")
    (net / "last_reserved_ip.0").symlink_to(target)
    with make(tmp_path).session() as store:
        assert store.last_reserved(0) is None
    (net / "lock").unlink()
    (net / "lock").symlink_to(target)
    with pytest.raises(StoreFailure), make(tmp_path).session():
        pass
    assert target.read_bytes() == b"10.1.2.200"


def test_an_invalid_network_name_never_becomes_a_path(tmp_path):
    for name in ("../x", "a/b", ".hidden", ""):
        with pytest.raises(StoreFailure):
            DiskStore(str(tmp_path), name, 1.0)


def test_a_garbage_cursor_restarts_round_robin_at_the_range_start(tmp_path):
    (tmp_path / "mynet").mkdir()
    (tmp_path / "mynet" / "last_reserved_ip.0").write_bytes(b"not an ip")
    with make(tmp_path).session() as store:
        address, _ = reserve_one(store, 0, RangeSet([Range.create("10.1.2.0/24")]), None, "a", "eth0")
    assert str(address) == "10.1.2.2"


# -- crashes ----------------------------------------------------------------------------------------

SCRIPT = """
import sys
from ipam.disk import DiskStore
with DiskStore(sys.argv[1], "mynet", 5.0).session() as store:
    store.reserve("10.1.2.2", "dummy", "eth0", 0)
    store.flush()
"""


def reserve_in_child(data: Path, fault: str, action: str = "kill") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYCNI_TEST_FAULT": fault,
           "PYCNI_TEST_FAULT_ACTION": action}
    return subprocess.run([sys.executable, "-c", SCRIPT, str(data)], env=env, capture_output=True,
                          text=True, timeout=60)


def temps(net: Path) -> "list[str]":
    return [p.name for p in net.iterdir() if p.name.startswith(".pycni-")]


def test_kill_before_the_link_leaves_no_claim_and_the_temp_is_swept(tmp_path):
    proc = reserve_in_child(tmp_path, "store.temp-written")
    assert proc.returncode == -9, proc.stderr
    net = tmp_path / "mynet"
    assert not (net / "10.1.2.2").exists()
    assert len(temps(net)) == 1
    assert reserve(tmp_path, "10.1.2.2", "next")
    assert temps(net) == []
    assert (net / "10.1.2.2").read_bytes() == b"next\r\neth0"


@pytest.mark.parametrize("fault", ["store.claimed", "store.cursor-written"])
def test_kill_after_the_link_leaves_a_complete_claim_never_an_empty_one(tmp_path, fault):
    proc = reserve_in_child(tmp_path, fault)
    assert proc.returncode == -9, proc.stderr
    net = tmp_path / "mynet"
    assert (net / "10.1.2.2").read_bytes() == b"dummy\r\neth0"
    with make(tmp_path).session() as store:  # the next lock holder sweeps and DEL releases
        assert temps(net) == []
        assert store.release_by_owner("dummy", "eth0") == ["10.1.2.2"]


def test_a_failure_after_the_link_leaves_nothing_reserved(tmp_path):
    proc = reserve_in_child(tmp_path, "store.claimed", "fail")
    assert proc.returncode == 1 and "injected fault at store.claimed" in proc.stderr
    assert sorted(contents(tmp_path / "mynet")) == ["lock"]


def test_in_process_fault_rolls_the_claim_back(tmp_path, monkeypatch):
    from cni import faults
    monkeypatch.setattr(faults, "_ARMED", faults._armed("store.cursor-written"))
    monkeypatch.setattr(faults, "_PASSES", {})
    monkeypatch.setenv("PYCNI_TEST_FAULT_ACTION", "fail")
    with make(tmp_path).session() as store, pytest.raises(CNIError, match="injected fault"):
        store.reserve("10.1.2.2", "dummy", "eth0", 0)
    assert not (tmp_path / "mynet" / "10.1.2.2").exists()


# -- the lock ----------------------------------------------------------------------------------------

def test_the_lock_wait_is_bounded_and_says_try_again(tmp_path):
    reserve(tmp_path, "10.1.2.2")
    fd = os.open(tmp_path / "mynet" / "lock", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another holder (the Go plugin uses the same flock)
        with pytest.raises(TryAgainLater) as exc, make(tmp_path, timeout=0.2).session():
            pass
        assert exc.value.code == 11 and "lock" in exc.value.msg
    finally:
        os.close(fd)
    with make(tmp_path, timeout=0.2).session() as store:
        assert store.find_by_owner("dummy", "eth0") == ["10.1.2.2"]


def test_a_session_holds_the_flock_that_other_processes_see(tmp_path):
    with make(tmp_path).session():
        busy = subprocess.run(["flock", "-n", str(tmp_path / "mynet" / "lock"), "true"])
    free = subprocess.run(["flock", "-n", str(tmp_path / "mynet" / "lock"), "true"])
    assert (busy.returncode, free.returncode) == (1, 0)


def test_a_missing_store_stays_missing_for_read_only_sessions(tmp_path):
    store = make(tmp_path)
    assert not store.exists()
    with store.session(create=False):
        assert store.find_by_owner("dummy", "eth0") == [] and store.allocations() == []
    assert not (tmp_path / "mynet").exists()


# -- read-only and full filesystems --------------------------------------------------------------------

def test_read_only_store_fails_with_store_failure_and_reserves_nothing(tmp_path):
    with tmpfs(tmp_path / "mnt", "size=1m") as mnt:
        reserve(mnt, "10.1.2.2", "old")
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        before = contents(mnt / "mynet")
        with make(mnt).session() as store:
            with pytest.raises(StoreFailure) as exc:
                store.reserve("10.1.2.3", "dummy", "eth0", 0)
            assert exc.value.details == "the IPAM store is on a read-only filesystem"
            with pytest.raises(StoreFailure):
                store.release_by_owner("old", "eth0")
        assert contents(mnt / "mynet") == before
        assert "read-only filesystem" in make(mnt).status_problem()
        # cannot even create a new network's directory
        with pytest.raises(StoreFailure), make(mnt, "other").session():
            pass


def test_full_disk_fails_with_store_failure_and_reserves_nothing(tmp_path):
    with tmpfs(tmp_path / "mnt", "size=64k") as mnt:
        reserve(mnt, "10.1.2.2", "old")
        fill = mnt / "fill"
        subprocess.run(["dd", "if=/dev/zero", f"of={fill}", "bs=4k"], capture_output=True)
        before = contents(mnt / "mynet")
        with make(mnt).session() as store:
            with pytest.raises(StoreFailure) as exc:
                store.reserve("10.1.2.3", "dummy", "eth0", 0)
            assert exc.value.details == "the filesystem holding the IPAM store is full"
        assert contents(mnt / "mynet") == before  # no claim, no temp file
        assert "no space left" in make(mnt).status_problem()
        with make(mnt).session() as store:  # DEL still releases on a full disk
            assert store.release_by_owner("old", "eth0") == ["10.1.2.2"]


def test_permission_denied_is_a_store_failure_with_its_reason(tmp_path, monkeypatch):
    import errno
    reserve(tmp_path, "10.1.2.2", "old")

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    with make(tmp_path).session() as store:
        monkeypatch.setattr(os, "link", denied)
        with pytest.raises(StoreFailure) as exc:
            store.reserve("10.1.2.3", "dummy", "eth0", 0)
        monkeypatch.undo()
    assert exc.value.msg == f"cannot reserve 10.1.2.3 in {tmp_path / 'mynet'}: Permission denied"
    assert exc.value.details == "permission denied: the plugin must run as root (or own dataDir)"
    assert sorted(contents(tmp_path / "mynet")) == ["10.1.2.2", "last_reserved_ip.0", "lock"]


# -- STATUS checks ----------------------------------------------------------------------------------------

def test_status_problem_writes_nothing(tmp_path):
    assert make(tmp_path / "new" / "dir").status_problem() == ""
    assert not (tmp_path / "new").exists()
    reserve(tmp_path, "10.1.2.2")
    assert make(tmp_path).status_problem() == ""
    (tmp_path / "file").write_text("x")
    assert "is not a directory" in make(tmp_path / "file").status_problem()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "linked").symlink_to(tmp_path / "elsewhere")
    assert "is a symlink" in make(tmp_path, "linked").status_problem()
