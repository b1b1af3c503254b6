"""The benchmark harness works end to end and cleans up (structure only, never timings).

`python -m bench --quick --runs 2` runs the real schedule on the Go reference
plugins and ours: every verb of every scenario, a small concurrent burst,
the table and the JSON. A broken plugin or harness makes it exit non-zero.
"""

import glob
import json
import platform
import signal
import subprocess
import sys
import time

from support import ROOT

SCENARIOS = ("bridge", "bridge-masq", "loopback")
VERBS = ("VERSION", "ADD", "CHECK", "DEL")


def test_quick_bench_runs_every_row_and_leaves_nothing(tmp_path):
    out = tmp_path / "bench.json"
    latest = ROOT / "bench" / "LATEST.md"
    latest_before = latest.read_bytes() if latest.exists() else None
    temps_before = set(glob.glob("/tmp/pycni-bench-*"))

    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--runs", "2", "--json", str(out)],
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


def test_bench_refuses_bad_options():
    proc = subprocess.run([sys.executable, "-m", "bench", "--scenarios", "nope"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "unknown scenarios" in proc.stderr


def test_an_interrupted_bench_leaves_no_process_and_no_temp_dir():
    temps_before = set(glob.glob("/tmp/pycni-bench-*"))
    proc = subprocess.Popen([sys.executable, "-m", "bench", "--runs", "50", "--impls", "go,venv",
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
    # Everything it spawned, and what that spawned, is in its session: none may remain.
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
