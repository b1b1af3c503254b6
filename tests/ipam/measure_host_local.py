"""Median wall time of host-local ADD and DEL: ours (bin/host-local) vs Go (/usr/lib/cni).

Not a test (nothing is asserted; numbers vary by machine): run it by hand,
    .venv/bin/python tests/ipam/measure_host_local.py [runs]
Both implementations run interleaved in one run, on the same config shape, each
on its own temp dataDir, with a clean environment as a runtime gives them.
"""

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from support import BIN, GO_BIN


def once(exe: Path, command: str, conf: bytes, cid: str) -> float:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": command, "CNI_CONTAINERID": cid,
           "CNI_NETNS": "/some/where", "CNI_IFNAME": "eth0", "CNI_PATH": str(exe.parent)}
    start = time.perf_counter()
    proc = subprocess.run([str(exe)], input=conf, env=env, capture_output=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{exe} {command} failed: {proc.stdout!r} {proc.stderr!r}")
    return elapsed * 1000


def main(runs: int = 20) -> None:
    times: "dict[tuple[str, str], list[float]]" = {}
    with tempfile.TemporaryDirectory() as tmp:
        confs = {name: json.dumps({"cniVersion": "1.0.0", "name": "bench",
                                   "ipam": {"type": "host-local", "dataDir": f"{tmp}/{name}",
                                            "subnet": "10.50.0.0/24",
                                            "routes": [{"dst": "0.0.0.0/0"}]}}).encode()
                 for name in ("python", "go")}
        exes = {"python": BIN / "host-local", "go": GO_BIN / "host-local"}
        for n in range(runs + 2):  # two warm-up rounds (page cache, pyc) are dropped
            for name, exe in exes.items():
                for command in ("ADD", "DEL"):
                    ms = once(exe, command, confs[name], f"bench-{n}")
                    if n >= 2:
                        times.setdefault((name, command), []).append(ms)
    print(f"host-local, median of {runs} runs (ms), same machine, one run")
    print(f"{'':8}{'ADD':>8}{'DEL':>8}")
    for name in ("python", "go"):
        print(f"{name:8}" + "".join(f"{statistics.median(times[(name, c)]):8.1f}" for c in ("ADD", "DEL")))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
