"""Our host-local and the Go reference (Debian 1.1.1 in /usr/lib/cni) on the same state.

(a) the Go bridge delegates to our host-local (found first on CNI_PATH);
(b) a dataDir written by Go is continued by ours, and the other way round;
(c) both allocate at the same time on one dataDir: the shared flock means no
    address is ever handed out twice.
Go 1.1.1 speaks cniVersion <= 1.0.0, so every config here is 1.0.0.
"""

import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from support import BIN, GO_BIN, run_plugin

from cni.types import Result

VERSION = "1.0.0"
NETNS = "/some/where"


def ipam_conf(data: Path, subnet: str = "10.30.0.0/29", name: str = "shared", **extra) -> dict:
    return {"cniVersion": VERSION, "name": name,
            "ipam": {"type": "host-local", "dataDir": str(data), "subnet": subnet, **extra}}


def go(command: str, config: dict, cid: str, ifname: str = "eth0"):
    return run_plugin("host-local", command, config, netns=NETNS, container_id=cid, ifname=ifname,
                      bin_dir=GO_BIN)


def py(command: str, config: dict, cid: str, ifname: str = "eth0"):
    return run_plugin("host-local", command, config, netns=NETNS, container_id=cid, ifname=ifname)


def address(outcome) -> str:
    assert outcome.ok, outcome
    return Result.from_dict(outcome.json, VERSION).ips[0].address


def reservations(data: Path, name: str = "shared") -> "dict[str, bytes]":
    return {p.name: p.read_bytes() for p in (data / name).iterdir()
            if p.name[0].isdigit() or ":" in p.name}


def cursor(data: Path, name: str = "shared") -> bytes:
    return (data / name / "last_reserved_ip.0").read_bytes()


# -- (a) the Go bridge delegating to our host-local ---------------------------------------------

def test_go_bridge_uses_our_host_local_and_del_releases(tmp_path, host, container):
    bridge = "pt" + secrets.token_hex(4)
    config = {"cniVersion": VERSION, "name": "gobr", "type": "bridge", "bridge": bridge,
              "isGateway": True, "ipMasq": False,
              "ipam": {"type": "host-local", "dataDir": str(tmp_path), "subnet": "10.31.0.0/24",
                       "routes": [{"dst": "0.0.0.0/0"}]}}
    add = run_plugin("bridge", "ADD", config, host=host, netns=container, bin_dir=GO_BIN, path=[BIN])
    assert add.ok, add
    result = Result.from_dict(add.json, VERSION)
    assert [ip.address for ip in result.ips] == ["10.31.0.2/24"]
    assert reservations(tmp_path, "gobr") == {"10.31.0.2": b"ctr-1\r\neth0"}
    assert "10.31.0.2/24" in container.addrs("eth0")
    check = run_plugin("bridge", "CHECK", {**config, "prevResult": add.json}, host=host,
                       netns=container, bin_dir=GO_BIN, path=[BIN])
    assert check.ok, check
    delete = run_plugin("bridge", "DEL", config, host=host, netns=container, bin_dir=GO_BIN, path=[BIN])
    assert delete.ok, delete
    assert reservations(tmp_path, "gobr") == {}
    host.sh("ip", "link", "del", bridge, check=False)


# -- (b) state handed over between the implementations ------------------------------------------------

def test_ours_continues_go_state(tmp_path):
    c = ipam_conf(tmp_path)  # 10.30.0.2 - 10.30.0.6
    assert [address(go("ADD", c, f"go{n}")) for n in range(3)] == \
        ["10.30.0.2/29", "10.30.0.3/29", "10.30.0.4/29"]
    assert go("DEL", c, "go0").ok                   # .2 free again; Go's cursor stays at .4
    assert cursor(tmp_path) == b"10.30.0.4"
    ours = [address(py("ADD", c, f"py{n}")) for n in range(3)]
    assert ours == ["10.30.0.5/29", "10.30.0.6/29", "10.30.0.2/29"]  # after Go's cursor, around Go's
    assert py("ADD", c, "py9").code == 104          # .3 and .4 are Go's: never handed out
    dup = py("ADD", c, "go1")                        # Go's reservation counts for the duplicate rule
    assert dup.code == 105 and "10.30.0.3 has been allocated to go1" in dup.json["msg"]
    assert py("CHECK", c, "go1").ok                  # ours reads Go's reservation
    assert py("DEL", c, "go1").ok                    # and releases it
    assert "10.30.0.3" not in reservations(tmp_path)
    assert cursor(tmp_path) == b"10.30.0.2"


def test_go_continues_our_state(tmp_path):
    c = ipam_conf(tmp_path)
    assert [address(py("ADD", c, f"py{n}")) for n in range(3)] == \
        ["10.30.0.2/29", "10.30.0.3/29", "10.30.0.4/29"]
    assert py("DEL", c, "py0").ok
    ours = [address(go("ADD", c, f"go{n}")) for n in range(3)]
    assert ours == ["10.30.0.5/29", "10.30.0.6/29", "10.30.0.2/29"]
    assert not go("ADD", c, "go9").ok                # our .3 and .4 are respected by Go
    dup = go("ADD", c, "py1")
    assert "10.30.0.3 has been allocated to py1" in dup.json["msg"]
    assert go("CHECK", c, "py1").ok
    assert go("DEL", c, "py1").ok
    assert "10.30.0.3" not in reservations(tmp_path)
    # Go's files (0644, its lock created 0750) are still ours to use
    assert address(py("ADD", c, "py5")) == "10.30.0.3/29"


def test_dual_stack_sets_keep_their_cursor_files_across_implementations(tmp_path):
    c = {"cniVersion": VERSION, "name": "shared",
         "ipam": {"type": "host-local", "dataDir": str(tmp_path),
                  "ranges": [[{"subnet": "10.30.1.0/24"}], [{"subnet": "fd30::/64"}]]}}
    go_ips = [ip.address for ip in Result.from_dict(go("ADD", c, "g").json, VERSION).ips]
    py_ips = [ip.address for ip in Result.from_dict(py("ADD", c, "p").json, VERSION).ips]
    assert go_ips == ["10.30.1.2/24", "fd30::2/64"]
    assert py_ips == ["10.30.1.3/24", "fd30::3/64"]
    assert (tmp_path / "shared" / "last_reserved_ip.1").read_bytes() == b"fd30::3"
    assert go("DEL", c, "p").ok and py("DEL", c, "g").ok
    assert reservations(tmp_path) == {}


# -- (c) both at once ----------------------------------------------------------------------------------

def test_go_and_ours_allocating_concurrently_never_share_an_address(tmp_path):
    c = ipam_conf(tmp_path, subnet="10.30.2.0/24", lockTimeout=60)
    jobs = [(go if n % 2 else py, f"c{n:02d}") for n in range(40)]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        outcomes = list(pool.map(lambda job: job[0]("ADD", c, job[1]), jobs))
    assert [o for o in outcomes if not o.ok] == []
    got = {address(o).split("/")[0]: f"{cid}\r\neth0".encode()
           for (_, cid), o in zip(jobs, outcomes, strict=True)}
    assert len(got) == len(jobs)
    assert reservations(tmp_path) == got
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:  # and release crosswise
        outcomes = list(pool.map(lambda job: (py if job[0] is go else go)("DEL", c, job[1]), jobs))
    assert [o for o in outcomes if not o.ok] == []
    assert reservations(tmp_path) == {}
