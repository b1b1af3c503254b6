"""Bursts of CNI calls for the daemon's reliability tests, and the memory driver.

Two halves:
- imported by tests/daemon/test_reliability.py: `concurrently` (run callables at
  once, each bounded), `verdict` (what a runtime would make of one plugin exec),
  `daemon_processes` (processes still holding a daemon's command line: the
  daemon, its spares and workers), `temp_files` (a store's half-written files);
- run as a script (`python burst.py --socket ... --netns ...`) by the memory test,
  inside the test-made host namespace: it drives ADD/DEL cycles straight over
  the daemon's protocol (`cni.daemon.client.call`, what a shim sends: an env
  dict and stdin bytes) from one thread per container. The daemon's worker
  enters the namespaces of the process that connected, this one, so every call
  lands in the test's namespaces and never on the real host.

  Output, one line each: `checkpoint <cycles> <seconds>` after the first
  --checkpoint cycles (then it waits for a line on stdin, so the test measures
  the daemon at rest), `progress <cycles> <seconds>` every --every (1000) cycles,
  `done <cycles> <seconds>` at the end (exit 0), or `error <what>` (exit 1).

Only the standard library and `cni` are imported here: the script runs
outside pytest, without the tests directory on sys.path.
"""

import json
import os
import re
import sys
import threading
import time
from pathlib import Path

TEMP_NAME = re.compile(r"(\A\..*|.*\.tmp)\Z")  # the store's temp files: .pycni-<x>.tmp
STORE_KEEPS = ("lock",)


# -- the test side -----------------------------------------------------------------------


class Hung:
    """A call that outlived its bound (or raised): never an acceptable outcome."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __repr__(self) -> str:
        return f"Hung({self.what})"


def concurrently(calls: "list", bound: float) -> "list":
    """Run each callable in its own thread, all at once; their results in order.

    A callable that raises (subprocess.TimeoutExpired past its own bound, for one)
    yields a Hung; a thread still running `bound` seconds after the start yields a
    Hung too, and is left behind (a daemon thread): the test fails either way."""
    results: "list" = [None] * len(calls)

    def one(i: int) -> None:
        try:
            results[i] = calls[i]()
        except BaseException as exc:  # reported as the call's outcome
            results[i] = Hung(f"{exc.__class__.__name__}: {exc}")

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(len(calls))]
    for t in threads:
        t.start()
    deadline = time.monotonic() + bound
    for i, t in enumerate(threads):
        t.join(max(0.0, deadline - time.monotonic()))
        if t.is_alive():
            results[i] = Hung(f"still running after {bound:g} s")
    return results


def verdict(out: object, verb: str) -> str:
    """'ok' (rc 0 and, for an ADD, a result with an address), 'code <n>' (rc 1 and a CNI
    error object on stdout), else what went wrong: 'hung', 'signal <n>', 'bad ...'."""
    if isinstance(out, Hung):
        return "hung"
    rc, doc = out.rc, out.json  # type: ignore[attr-defined]
    if rc < 0 or rc > 128:
        return f"signal {-rc if rc < 0 else rc - 128}"
    if rc == 0:
        if verb != "ADD":
            return "ok" if not out.stdout.strip() else "bad: output on a DEL"  # type: ignore[attr-defined]
        if isinstance(doc, dict) and doc.get("cniVersion") and doc.get("ips") and doc.get("interfaces"):
            return "ok"
        return "bad result"
    if rc == 1 and isinstance(doc, dict) and isinstance(doc.get("code"), int) and doc.get("msg"):
        return f"code {doc['code']}"
    return f"bad: rc {rc} without a CNI error"


def daemon_processes(socket_path: str) -> "list[tuple[int, str]]":
    """(pid, command line) of every live process whose command line names the socket:
    a daemon on it and everything forked from one (spares, workers)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            argv = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if socket_path.encode() in argv:
            found.append((int(name), b" ".join(argv).decode(errors="replace")))
    return found


def wait_gone(socket_path: str, timeout: float = 10.0) -> "list[tuple[int, str]]":
    """The daemon's processes still there after up to `timeout` s (PDEATHSIG is
    asynchronous: a worker may take a moment to die after its daemon)."""
    deadline = time.monotonic() + timeout
    while True:
        left = daemon_processes(socket_path)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def temp_files(data_dir: Path) -> "list[str]":
    """Half-written files anywhere in the dataDir (a write torn by a kill)."""
    return sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*") if TEMP_NAME.match(p.name))


# -- the memory driver (a script, inside the test's host namespace) -----------------


def _driver(argv: "list[str]") -> int:
    import argparse

    from cni.daemon import client

    parser = argparse.ArgumentParser()
    parser.add_argument("--socket", required=True)
    parser.add_argument("--conf", required=True, help="the network config, a JSON file")
    parser.add_argument("--cni-path", required=True)
    parser.add_argument("--netns", action="append", required=True, help="one per thread")
    parser.add_argument("--cycles", type=int, default=10000)
    parser.add_argument("--checkpoint", type=int, default=100)
    parser.add_argument("--every", type=int, default=1000, help="cycles between progress lines")
    parser.add_argument("--call-timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    stdin = Path(args.conf).read_bytes()
    threads = len(args.netns)
    lock = threading.Lock()
    failed: "list[str]" = []
    done = [0]
    started = time.monotonic()  # moved on by the pause at the checkpoint: seconds of work only

    def say(line: str) -> None:
        with lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def call(verb: str, netns: str, cid: str) -> None:
        env = {"CNI_COMMAND": verb, "CNI_CONTAINERID": cid, "CNI_NETNS": netns,
               "CNI_IFNAME": "eth0", "CNI_PATH": args.cni_path,
               "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
        status, out, err = client.call(args.socket, "bridge", env, stdin, timeout=args.call_timeout)
        if status != 0:
            raise RuntimeError(f"{verb} {cid}: exit {status}: {out[:500]!r} {err[-500:]!r}")
        if verb == "ADD" and not json.loads(out).get("ips"):
            raise RuntimeError(f"ADD {cid}: no address in {out[:500]!r}")

    def loop(index: int, cycles: int) -> None:
        netns, cid = args.netns[index], f"mem-{index}"
        try:
            for _ in range(cycles):
                if failed:
                    return
                call("ADD", netns, cid)
                call("DEL", netns, cid)
                with lock:
                    done[0] += 1
                    n = done[0]
                if n % args.every == 0:
                    say(f"progress {n} {time.monotonic() - started:.1f}")
        except BaseException as exc:  # reported by the main thread
            with lock:
                failed.append(f"thread {index}: {exc.__class__.__name__}: {exc}")

    def phase(total: int) -> None:
        shares = [total // threads + (i < total % threads) for i in range(threads)]
        workers = [threading.Thread(target=loop, args=(i, n)) for i, n in enumerate(shares)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    phase(min(args.checkpoint, args.cycles))
    if not failed:
        say(f"checkpoint {done[0]} {time.monotonic() - started:.1f}")
        paused = time.monotonic()
        sys.stdin.readline()
        started += time.monotonic() - paused
        phase(args.cycles - done[0])
    if failed:
        say("error " + " | ".join(failed))
        return 1
    say(f"done {done[0]} {time.monotonic() - started:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(_driver(sys.argv[1:]))
