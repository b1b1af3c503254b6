"""Daemon mode under failure: the daemon killed mid-burst, half the calls through the
fallback, stop/start/kill under churn, and the daemon's memory over 10,000 cycles.

Every call runs as a runtime runs it: the shim exec'd inside a test-made host
namespace (`support.run_plugin(..., host=...)`) on a container namespace made
by the test, with IPAM state in a temp dir; the bursts are threads, each call
bounded (CALL_BOUND: a call still running then is a failure, never a wait).
What a call may answer (burst.verdict): a result (rc 0), or a CNI error object
(rc 1); a call dying of a signal is never acceptable here: only the daemon is
killed, and its death reaches a shim as a closed connection ("lost"), never as a
signal. After each scenario the node must be clean: no veth, no reservation,
no NAT or nft masquerade rule, no temp file in the dataDir, no interface left
in a container, and no process of the killed daemons (spares, workers) alive.
"""

import ipaddress
import json
import random
import signal
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path

import pytest
from bridge.kit import Node, conf
from support import Netns, run_plugin

from daemon import burst
from daemon.kit import Daemon, exec_entries

CALL_BOUND = 60.0  # seconds: no call may take longer (a hang, not slowness)
BURST_BOUND = 3 * CALL_BOUND  # a whole burst (the threads start together)
CONTAINERS = 20
KILL_WINDOW = 0.150  # seconds after the burst starts
SEEDS = (1, 2, 3)
SUBNET = ipaddress.ip_network("10.77.0.0/24")


@pytest.fixture
def node(host, make_netns, data_dir) -> Node:
    return Node(host, make_netns, data_dir)


def call(node: Node, bin_dir: Path, cni_path: Path, verb: str, config: dict, ctr: Netns,
         cid: str) -> object:
    """One bridge call as a runtime makes it: the file in bin_dir exec'd, CNI_PATH cni_path."""
    return run_plugin("bridge", verb, config, netns=ctr, container_id=cid, host=node.host,
                      bin_dir=bin_dir, path=[cni_path], timeout=CALL_BOUND)


def cid(i: int) -> str:
    return f"ctr-{i:02d}"


def tally(verdicts: "list[str]") -> "dict[str, int]":
    out: "dict[str, int]" = {}
    for v in verdicts:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))


def unacceptable(verb: str, outs: "list", verdicts: "list[str]") -> "list[str]":
    """Calls that neither succeeded nor answered a CNI error, described for the failure."""
    return [f"{verb} {cid(i)}: {v}: {outs[i]!r}" for i, v in enumerate(verdicts)
            if v != "ok" and not v.startswith("code ")]


def addresses(outs: "list", verdicts: "list[str]") -> "list[str]":
    return [ip["address"].split("/")[0] for out, v in zip(outs, verdicts, strict=True) if v == "ok"
            for ip in out.json["ips"]]


def kill_at(daemon: Daemon, delay: float) -> threading.Thread:
    """SIGKILL the daemon `delay` s from now, in a thread (reaped there)."""
    proc = daemon.proc
    assert proc is not None

    def kill() -> None:
        time.sleep(delay)
        proc.kill()
        proc.wait()

    t = threading.Thread(target=kill, daemon=True)
    t.start()
    return t


def wait_idle(daemon: Daemon, timeout: float = 30.0) -> None:
    """Until the daemon runs and queues nothing (its last workers reaped)."""
    deadline = time.monotonic() + timeout
    while True:
        status = daemon.status()
        if status["in_flight"] == 0 and status["queued"] == 0:
            return
        assert time.monotonic() < deadline, f"daemon still busy after {timeout:g} s: {status}"
        time.sleep(0.05)


def assert_clean(node: Node, ctrs: "list[Netns]", socket_path: str) -> None:
    found = node.leftovers()
    in_containers = {c.name: names for c in ctrs
                     if (names := [link["ifname"] for link in c.links() if link["ifname"] != "lo"])}
    if in_containers:
        found["container_links"] = in_containers
    temps = burst.temp_files(node.data_dir)
    if temps:
        found["temp_files"] = temps
    procs = burst.wait_gone(socket_path)
    if procs:
        found["daemon_processes"] = procs
    assert not found, f"left behind: {found}"


def del_all(node: Node, shim_bin: Path, config: dict, ctrs: "list[Netns]", what: str) -> None:
    """DEL every container through the shims, at once; each DEL must succeed."""
    outs = burst.concurrently([partial(call, node, shim_bin, shim_bin, "DEL", config, c, cid(i))
                               for i, c in enumerate(ctrs)], BURST_BOUND)
    verdicts = [burst.verdict(o, "DEL") for o in outs]
    failed = [f"DEL {cid(i)}: {v}: {outs[i]!r}" for i, v in enumerate(verdicts) if v != "ok"]
    assert not failed, f"{what}: DELs failed:\n" + "\n".join(failed)


# -- 1. the daemon SIGKILLed at a random instant of a burst ----------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("verb", ["ADD", "DEL"])
@pytest.mark.parametrize("backend", ["iptables", "nftables"])
def test_daemon_killed_during_burst(backend, verb, seed, daemon, shim_bin, node):
    """20 containers' ADDs (or DELs, after all were added) fired at once through the shims,
    the daemon SIGKILLed 0-150 ms into the burst (seeded). Every call succeeds or answers
    a CNI error; with the daemon dead, the runtime's DELs (the shims' fallback) all
    succeed and leave nothing: no veth, reservation, masquerade rule, temp file or
    daemon process."""
    config = conf(node.data_dir, ipMasq=True, ipMasqBackend=backend)
    ctrs = [node.container() for _ in range(CONTAINERS)]
    if verb == "DEL":  # all attached with the daemon up, first
        outs = burst.concurrently([partial(call, node, shim_bin, shim_bin, "ADD", config, c, cid(i))
                                   for i, c in enumerate(ctrs)], BURST_BOUND)
        verdicts = [burst.verdict(o, "ADD") for o in outs]
        assert verdicts == ["ok"] * CONTAINERS, [o for o, v in zip(outs, verdicts, strict=True)
                                                  if v != "ok"]
        assert len(node.reservations()) == CONTAINERS

    delay = random.Random(f"{backend}-{verb}-{seed}").uniform(0, KILL_WINDOW)
    killer = kill_at(daemon, delay)
    started = time.monotonic()
    outs = burst.concurrently([partial(call, node, shim_bin, shim_bin, verb, config, c, cid(i))
                               for i, c in enumerate(ctrs)], BURST_BOUND)
    took = time.monotonic() - started
    killer.join(CALL_BOUND)
    assert daemon.proc is not None and daemon.proc.poll() is not None, "the daemon was not killed"
    verdicts = [burst.verdict(o, verb) for o in outs]
    print(f"{backend} {verb} seed {seed}: SIGKILL at {delay * 1000:.0f} ms of a "
          f"{took * 1000:.0f} ms burst: {tally(verdicts)}")

    bad = unacceptable(verb, outs, verdicts)
    assert not bad, (f"the daemon SIGKILLed {delay * 1000:.0f} ms into a {verb} burst: "
                     "calls that neither succeeded nor answered a CNI error:\n" + "\n".join(bad))
    if verb == "ADD":
        got = addresses(outs, verdicts)
        assert len(got) == len(set(got)), f"an address given twice: {sorted(got)}"
        assert all(ipaddress.ip_address(a) in SUBNET for a in got), got
        # Only an ADD the daemon accepted and then lost may answer an error, and that is 11.
        others = [f"{cid(i)}: {outs[i]!r}" for i, v in enumerate(verdicts)
                  if v.startswith("code ") and (v != "code 11" or "went away" not in outs[i].stdout)]
        assert not others, "ADD errors other than 'lost, try again' (11):\n" + "\n".join(others)
        # An ADD answered as done is done: its address reserved, its interface in place.
        reserved = set(node.reservations())
        missing = [f"{cid(i)}: {outs[i].json['ips']}" for i, v in enumerate(verdicts) if v == "ok"
                   and not ({ip["address"] for ip in outs[i].json["ips"]} <= set(ctrs[i].addrs("eth0"))
                            and {ip["address"].split("/")[0] for ip in outs[i].json["ips"]} <= reserved)]
        assert not missing, f"ADDs answered as done but not in place: {missing}"
    else:
        # A DEL the daemon lost reruns in the shim's fallback: it never fails for that, and
        # a DEL answered as done left nothing, before any retry.
        assert verdicts == ["ok"] * CONTAINERS, "\n".join(
            f"DEL {cid(i)}: {outs[i]!r}" for i, v in enumerate(verdicts) if v != "ok")
        assert_clean(node, ctrs, daemon.socket)

    del_all(node, shim_bin, config, ctrs, "the runtime's DELs with the daemon dead")
    assert_clean(node, ctrs, daemon.socket)


# -- 2. half through the daemon, half through the fallback, at once ---------------------------


def test_half_through_daemon_half_through_fallback(daemon, shim_bin, node):
    """50 ADDs at once on one network: 25 through the shims (the daemon up), 25 through the
    exec-mode entries the shims fall back to. All succeed with 50 distinct addresses and
    50 reservations; the 50 DELs, mixed the same way, leave nothing."""
    n = 50
    config = conf(node.data_dir, ipMasq=True)
    ctrs = [node.container() for _ in range(n)]
    entries = exec_entries(shim_bin)

    def mixed(verb: str) -> "list":
        return burst.concurrently([
            partial(call, node, shim_bin if i % 2 == 0 else entries, shim_bin, verb, config, c, cid(i))
            for i, c in enumerate(ctrs)], BURST_BOUND)

    outs = mixed("ADD")
    verdicts = [burst.verdict(o, "ADD") for o in outs]
    assert verdicts == ["ok"] * n, "\n".join(f"ADD {cid(i)} via {'daemon' if i % 2 == 0 else 'exec'}: "
                                             f"{outs[i]!r}" for i, v in enumerate(verdicts) if v != "ok")
    got = addresses(outs, verdicts)
    assert len(got) == n and len(set(got)) == n, f"addresses not distinct: {sorted(got)}"
    assert sorted(node.reservations()) == sorted(got)
    assert len(node.veths()) == n

    outs = mixed("DEL")
    verdicts = [burst.verdict(o, "DEL") for o in outs]
    assert verdicts == ["ok"] * n, [outs[i] for i, v in enumerate(verdicts) if v != "ok"]
    wait_idle(daemon)  # a worker's outcome is counted when it is reaped, after its reply
    served = daemon.status()["served"]
    print(f"daemon served: {served}")
    # The daemon took the shims' half (nothing forced them to fall back) and ran it all.
    assert served == {"ok": n}, f"the daemon's half was not all served by it: {served}"
    daemon.stop()
    assert_clean(node, ctrs, daemon.socket)


# -- 3. stop, start, kill, start... under churn ---------------------------------------------------


class Churn:
    """Threads cycling ADD then DEL through the shims, each on its own container, until
    stopped; every outcome kept with the daemon's phase when the call ended."""

    def __init__(self, node: Node, shim_bin: Path, config: dict, ctrs: "list[Netns]") -> None:
        self.node, self.shim_bin, self.config, self.ctrs = node, shim_bin, config, ctrs
        self.phase = "up"
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.cycles = 0
        self.seen: "dict[tuple[str, str, str], int]" = {}  # (verb, verdict, phase) -> count
        self.bad: "list[str]" = []
        self.threads = [threading.Thread(target=self._loop, args=(i,), daemon=True)
                        for i in range(len(ctrs))]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def _one(self, verb: str, i: int) -> str:
        out = call(self.node, self.shim_bin, self.shim_bin, verb, self.config, self.ctrs[i], cid(i))
        v = burst.verdict(out, verb)
        ok = v == "ok" or (verb == "ADD" and v == "code 11" and "went away" in out.stdout)
        with self.lock:
            key = (verb, v, self.phase)
            self.seen[key] = self.seen.get(key, 0) + 1
            if not ok:
                self.bad.append(f"{verb} {cid(i)} ({self.phase}): {v}: {out!r}")
        return v

    def _loop(self, i: int) -> None:
        try:
            while not self.stop.is_set():
                self._one("ADD", i)
                self._one("DEL", i)  # after a failed ADD too: the runtime cleans up
                with self.lock:
                    self.cycles += 1
        except BaseException as exc:  # a hung call (TimeoutExpired) or a test bug
            with self.lock:
                self.bad.append(f"{cid(i)}: {exc.__class__.__name__}: {exc}")

    def wait_cycles(self, more: int, timeout: float = 4 * CALL_BOUND) -> None:
        """Until `more` more cycles are done (so each phase sees calls)."""
        target = self.cycles + more
        deadline = time.monotonic() + timeout
        while self.cycles < target and not self.bad:
            assert time.monotonic() < deadline, f"churn made no progress in {timeout:g} s"
            assert all(t.is_alive() for t in self.threads) or self.bad, "a churn thread ended"
            time.sleep(0.01)

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(2 * CALL_BOUND + 10)
        assert not any(t.is_alive() for t in self.threads), "a churn call hung"


def test_stop_start_kill_under_churn(daemon, shim_bin, node):
    """Three threads cycling ADD/DEL through the shims while the daemon is stopped
    (SIGTERM), started, SIGKILLed, started, three times over. Each ADD succeeds or,
    lost by a killed daemon, answers 11; each DEL succeeds; at the end nothing leaks."""
    config = conf(node.data_dir, ipMasq=True)
    ctrs = [node.container() for _ in range(3)]
    churn = Churn(node, shim_bin, config, ctrs)
    rounds = 3
    churn.start()
    try:
        churn.wait_cycles(3)
        for _ in range(rounds):
            for phase, action in (("stopped", lambda: daemon.stop(signal.SIGTERM)),
                                  ("up", lambda: daemon.start()),
                                  ("killed", lambda: daemon.stop(signal.SIGKILL)),
                                  ("up", lambda: daemon.start())):
                action()
                churn.phase = phase
                churn.wait_cycles(3)
                assert not churn.bad, "\n".join(churn.bad)
    finally:
        churn.finish()
    print(f"churn: {churn.cycles} cycles; (verb, verdict, phase): {churn.seen}")
    assert not churn.bad, "\n".join(churn.bad)
    del_all(node, shim_bin, config, ctrs, "final DELs")
    daemon.stop()
    assert_clean(node, ctrs, daemon.socket)


# -- 4. the daemon's memory over 10,000 cycles ------------------------------------------------------

CYCLES = 10_000
CHECKPOINT = 100
DRIVER_BOUND = 3600.0  # seconds for the whole run: a hang, not slowness
RSS_LIMIT_KIB = 80 * 1024


def test_daemon_memory_over_10000_cycles(daemon, shim_bin, node, tmp_path):
    """10,000 bridge ADD/DEL cycles (host-local) through the daemon's protocol from 4
    threads, each on its own container: the daemon's RSS at the end is at most 1.1 times
    what it was after the first 100 cycles, and under 80 MB."""
    ctrs = [node.container() for _ in range(4)]
    config_file = tmp_path / "bridge.json"
    config_file.write_text(json.dumps(conf(node.data_dir)))
    argv = ["ip", "netns", "exec", node.host.name, sys.executable, burst.__file__,
            "--socket", daemon.socket, "--conf", str(config_file), "--cni-path", str(shim_bin),
            "--cycles", str(CYCLES), "--checkpoint", str(CHECKPOINT)]
    for c in ctrs:
        argv += ["--netns", c.path]
    lines: "list[str]" = []
    started = time.monotonic()
    driver = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(DRIVER_BOUND, driver.kill)
    watchdog.start()
    rss_100 = rss_end = 0
    try:
        assert driver.stdout is not None and driver.stdin is not None
        for line in driver.stdout:
            lines.append(line.strip())
            if line.startswith("checkpoint"):
                wait_idle(daemon)
                rss_100 = daemon.rss_kib()
                driver.stdin.write("go\n")
                driver.stdin.flush()
        rc = driver.wait(CALL_BOUND)
        stderr = driver.stderr.read() if driver.stderr else ""
    finally:
        watchdog.cancel()
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    elapsed = time.monotonic() - started
    assert rc == 0 and lines and lines[-1].startswith("done"), \
        f"the driver failed (rc {rc}, {elapsed:.0f} s): {lines[-5:]}\n{stderr[-3000:]}"
    wait_idle(daemon)
    rss_end = daemon.rss_kib()
    served = daemon.status()["served"]
    work = float(lines[-1].split()[2])
    print(f"memory: {CYCLES} cycles ({2 * CYCLES} calls) in {work:.1f} s of calls "
          f"({elapsed:.1f} s in all); daemon RSS after {CHECKPOINT} cycles {rss_100} KiB, "
          f"at the end {rss_end} KiB ({rss_end / rss_100:.3f}x); served {served}")
    print("  " + "; ".join(line for line in lines if line.startswith(("checkpoint", "progress"))))
    assert served == {"ok": 2 * CYCLES}, served
    assert node.leftovers() == {}
    assert rss_end <= 1.1 * rss_100, (f"the daemon grew from {rss_100} KiB after {CHECKPOINT} "
                                      f"cycles to {rss_end} KiB after {CYCLES}")
    assert rss_end <= RSS_LIMIT_KIB, f"the daemon holds {rss_end} KiB, over {RSS_LIMIT_KIB} KiB"
