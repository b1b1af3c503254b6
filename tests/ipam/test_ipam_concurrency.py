"""Many bin/host-local processes on one network at once: no address twice, none lost.

50 ADDs with distinct container IDs start together (a pod burst); every one
must succeed with its own address, and the files on disk must be exactly the
results. Then 50 DELs at once must leave no reservation.
"""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support import run_plugin

from cni.types import Result

N = 50


def conf(data: Path, ranges: list) -> dict:
    # A generous lock wait: the machine may be busy; correctness is what is tested.
    return {"cniVersion": "1.1.0", "name": "burst",
            "ipam": {"type": "host-local", "dataDir": str(data), "lockTimeout": 60, "ranges": ranges}}


def burst(command: str, config: dict) -> list:
    def one(n: int):
        return run_plugin("host-local", command, config, netns="/some/where", container_id=f"ctr-{n:03d}",
                          ifname="eth0", timeout=120)
    with ThreadPoolExecutor(max_workers=N) as pool:
        return list(pool.map(one, range(N)))


def on_disk(data: Path) -> "dict[str, bytes]":
    return {p.name: p.read_bytes() for p in (data / "burst").iterdir()
            if p.name[0].isdigit() or ":" in p.name}


@pytest.mark.parametrize("ranges", [
    [[{"subnet": "10.20.0.0/24"}]],
    [[{"subnet": "10.20.0.0/26"}, {"subnet": "10.20.1.0/26"}], [{"subnet": "fd20::/64"}]],
], ids=["v4", "dual-stack-multi-range"])
def test_concurrent_adds_get_distinct_addresses_and_dels_release_all(tmp_path, ranges):
    config = conf(tmp_path, ranges)
    outcomes = burst("ADD", config)
    failed = [o for o in outcomes if not o.ok]
    assert failed == [], failed[:3]
    results = {f"ctr-{n:03d}": Result.from_dict(o.json) for n, o in enumerate(outcomes)}
    expected = {ip.address.split("/")[0]: f"{cid}\r\neth0".encode()
                for cid, r in results.items() for ip in r.ips}
    assert len(expected) == N * len(ranges)  # distinct: no address was handed out twice
    assert on_disk(tmp_path) == expected      # none lost, none extra: files == results
    assert [n for n in (tmp_path / "burst").iterdir() if n.name.startswith(".")] == []

    outcomes = burst("DEL", config)
    assert [o for o in outcomes if not o.ok] == []
    assert on_disk(tmp_path) == {}
