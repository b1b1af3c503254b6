"""The benchmark harness works end to end and cleans up (structure only, never timings).

`python -m bench --quick --runs 2` runs the real schedule on the Go reference
plugins and ours: every verb of every scenario, a small concurrent burst,
the table and the JSON. A broken plugin or harness makes it exit non-zero.
Daemon mode gets a tinier run of its own (`--impls go,daemon`): the bench's
daemon serves every call, its CPU is accounted, and it is gone afterwards.
"""

import glob
import json
import os
import platform
import signal
import subprocess
import sys
import time

import pytest
from support import ROOT

SCENARIOS = ("bridge", "bridge-masq", "loopback")
VERBS = ("VERSION", "ADD", "CHECK", "DEL")


def test_quick_bench_runs_every_row_and_leaves_nothing(tmp_path):
    out = tmp_path / "bench.json"
    latest = ROOT / "bench" / "LATEST.md"
    latest_before = latest.read_bytes() if latest.exists() else None
    temps_before = set(glob.glob("/tmp/pycni-bench-*"))

    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--runs", "2", "--json", str(out),
                           "--impls", "go,venv,bundle"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]

    doc = json.loads(out.read_text())
    impls = doc["implementations"]
    assert impls["go"]["bin_dir"] and impls["venv"]["bin_dir"]
    measured = ["go", "venv"] + (["bundle"] if impls["bundle"]["bin_dir"] else [])
    if "bundle" not in measured:
        assert impls["bundle"]["note"].startswith("skipped"), impls["bundle"]

    rows = {(r["scenario"], r["verb"], r["impl"]): r for r in doc["rows"]}
    for key in ((s, v, i) for s in SCENARIOS for v in VERBS for i in measured):
        assert key in rows, f"no row for {key}"
        row = rows[key]
        assert row["n"] == 2 and len(row["samples"]) == 2
        assert row["wall_ms"]["p50"] > 0 and row["cpu_ms"]["p50"] >= 0
        assert ("ratio_wall" in row) == (key[2] != "go")

    bursts = {b["impl"]: b for b in doc["bursts"]}
    assert sorted(bursts) == sorted(measured)
    for burst in bursts.values():
        assert burst["duplicates"] == [], burst
        assert burst["add"]["failures"] == 0 and burst["del"]["failures"] == 0, burst
    for raw in doc["raw_bursts"]:  # every ADD of every burst got its own address
        assert raw["add"]["addresses"] == raw["size"], raw

    m = doc["machine"]
    assert m["python"] == platform.python_version() and m["nproc"] >= 1 and m["kernel"]
    table = proc.stdout
    assert table.startswith("# pycni vs the Go reference plugins")
    assert f"kernel {m['kernel']}" in table and f"Python {m['python']}" in table
    assert "| bridge, ipMasq on | ADD |" in table

    # --quick never rewrites the committed table; the temp dir is gone.
    assert (latest.read_bytes() if latest.exists() else None) == latest_before
    assert set(glob.glob("/tmp/pycni-bench-*")) <= temps_before


def test_quick_daemon_mode_bench_serves_every_call_and_stops_its_daemon(tmp_path):
    out = tmp_path / "bench.json"
    temps_before = set(glob.glob("/tmp/pycni-bench-*"))
    proc = subprocess.Popen([sys.executable, "-m", "bench", "--quick", "--runs", "1", "--impls", "go,daemon",
                             "--concurrency", "4", "--json", str(out)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    table, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-4000:]

    doc = json.loads(out.read_text())
    daemon = doc["implementations"]["daemon"]
    assert daemon["bin_dir"], daemon
    state = daemon["daemon"]
    assert state["pid"] > 0
    # The bench checked the daemon's counters (every shim call served, none fell back);
    # had one fallen back it would have exited 2.
    rows = {(r["scenario"], r["verb"], r["impl"]): r for r in doc["rows"]}
    for key in ((s, v, "daemon") for s in SCENARIOS for v in VERBS):
        row = rows[key]
        assert row["n"] == 1 and row["wall_ms"]["p50"] > 0 and "ratio_wall" in row
        if state["cpu_group"]:  # the daemon's CPU is counted, on top of the shim's
            assert daemon["cpu"] == "process+daemon"
            assert row["daemon_cpu_ms"]["p50"] > 0, row
            assert row["cpu_ms"]["p50"] >= row["daemon_cpu_ms"]["p50"]
        else:
            assert daemon["cpu"] == "shim only" and state["why_no_cpu"]
    bursts = {b["impl"]: b for b in doc["bursts"]}
    assert sorted(bursts) == ["daemon", "go"]
    assert bursts["daemon"]["duplicates"] == [] and bursts["daemon"]["add"]["failures"] == 0
    assert "daemon/Go wall" in table and "Daemon mode:" in table

    # The daemon is stopped and its cgroup, socket and temp dir are gone.
    assert not os.path.exists(f"/proc/{state['pid']}")
    assert not glob.glob(f"/sys/fs/cgroup/**/pycni-bench-{proc.pid}-*", recursive=True)
    assert set(glob.glob("/tmp/pycni-bench-*")) <= temps_before


def test_bench_refuses_bad_options():
    proc = subprocess.run([sys.executable, "-m", "bench", "--scenarios", "nope"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "unknown scenarios" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "bench", "--impls", "go,nope"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "unknown impls" in proc.stderr


@pytest.mark.parametrize("impls", ["go,venv", "go,daemon"])
def test_an_interrupted_bench_leaves_no_process_and_no_temp_dir(impls):
    temps_before = set(glob.glob("/tmp/pycni-bench-*"))
    proc = subprocess.Popen([sys.executable, "-m", "bench", "--runs", "50", "--impls", impls,
                             "--json", "/dev/null"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        proc.stderr.readline()  # "go: ..." : the sandbox is up, plugins are being run
        time.sleep(1.5)  # not a timing check: only so that the signal lands mid-run
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err
    # Everything it spawned (the daemon and its workers too), and what that spawned, is in
    # its session: none may remain.
    # A grandchild killed with its group is reaped by init, not by the bench, and may
    # take a moment to finish dying (e.g. in a kernel veth teardown): wait, bounded.
    deadline = time.monotonic() + 10
    while True:
        left = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True)
        if left.returncode == 1 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert left.returncode == 1 and not left.stdout, f"left running: {left.stdout}"
    assert set(glob.glob("/tmp/pycni-bench-*")) <= temps_before
