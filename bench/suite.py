"""What the bench runs: the implementations, the configs, the schedule.

Where it sits: `bench.__main__` calls `run(options)` inside a `Sandbox`; the
samples it returns go to `bench.report`.

- Implementations: the Go reference plugins (/usr/lib/cni, cniVersion 1.0.0
  configs since Debian's 1.1.1 refuses 1.1.0), ours from the venv, and ours
  from the PyInstaller bundle (the newest dist/pycni-*-linux-*.tar.gz,
  unpacked into the bench's temp dir; absent: skipped with a note). Then
  daemon mode, from the venv: `daemon` is the shims of `pycni install --mode
  daemon` with a `pycni daemon` the bench starts inside its sandbox (so the
  daemon shares the bench's host namespaces, as a node's daemon shares the
  runtime's) and stops with SIGTERM; `fallback` is the same shims pointed at a
  socket where no daemon listens, i.e. shim + exec of the Python entry.
- Daemon CPU: a call's work is done by a worker the daemon forks, charged to
  no rusage the bench can see. The daemon runs in a cgroup of its own
  (`Sandbox.cpu_group`); each daemon call's CPU is the shim's rusage plus the
  group's CPU from the daemon being idle before the call to its being idle
  again after it (the call's worker exited and reaped, the daemon and its
  spare workers asleep). That includes the daemon's loop, the fork of the
  spare that replaces the worker and that spare's warm-up: one per call, so
  per call it is the whole cost. Without a cgroup, daemon CPU is not
  measured and the report says so.
- Scenarios: bridge + host-local with ipMasq off and on, and loopback (the
  same start-up with almost no kernel work: the pure framework overhead).
  Each implementation gets its own network (bridge, subnet, dataDir), so
  their state never mixes.
- Sequence rounds: VERSION, then ADD into a fresh container namespace,
  CHECK, DEL; one round per implementation in turn (the order rotates every
  run), so machine noise is shared. One warm-up round each is not counted
  (it creates the bridge). Container namespaces are dropped at the end of
  each phase, not after each round: the kernel tears a namespace down in a
  background worker, which would otherwise compete with the next exec.
- Bursts: N ADDs spawned at once on one bridge, then their N DELs at once;
  every ADD's address must be unique.
A plugin that fails where it must succeed stops the bench (`BenchFailure`):
timings of a broken run mean nothing.
"""

import contextlib
import ctypes
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench import spawn
from bench.sandbox import CpuGroup, Sandbox

ROOT = Path(__file__).resolve().parent.parent
GO_BIN = Path("/usr/lib/cni")
PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
VERBS = ("VERSION", "ADD", "CHECK", "DEL")
CNI_VERSION = "1.0.0"


class BenchFailure(Exception):
    """A plugin failed where it must succeed."""


class Impl:
    __slots__ = ("key", "label", "bin_dir", "note", "index", "daemon")

    def __init__(self, key: str, label: str, bin_dir: "Path | None", note: str = "",
                 index: int = 0, daemon: "Daemon | None" = None) -> None:
        self.key, self.label, self.bin_dir, self.note, self.index = key, label, bin_dir, note, index
        self.daemon = daemon

    @property
    def available(self) -> bool:
        return self.bin_dir is not None

    @property
    def cpu(self) -> str:
        """What the CPU samples cover."""
        if self.daemon is None:
            return "process"
        return "process+daemon" if self.daemon.group is not None else "shim only"

    def describe(self) -> dict:
        return {"label": self.label, "bin_dir": str(self.bin_dir) if self.bin_dir else None,
                "note": self.note, "cpu": self.cpu,
                "daemon": self.daemon.describe() if self.daemon is not None else None}


class Scenario:
    __slots__ = ("key", "plugin", "ip_masq", "label")

    def __init__(self, key: str, plugin: str, ip_masq: "bool | None", label: str) -> None:
        self.key, self.plugin, self.ip_masq, self.label = key, plugin, ip_masq, label


SCENARIOS = {
    "bridge": Scenario("bridge", "bridge", False, "bridge + host-local, ipMasq off"),
    "bridge-masq": Scenario("bridge-masq", "bridge", True, "bridge + host-local, ipMasq on"),
    "loopback": Scenario("loopback", "loopback", None, "loopback"),
}


IMPLS = ("go", "venv", "bundle", "daemon", "fallback")


def implementations(venv_bin: Path, bundle: "str | None", work: Path, wanted: "list[str]") -> "list[Impl]":
    """Go, venv, bundle, daemon and fallback, in that order; a missing one carries the reason."""
    impls = []
    if "go" in wanted:
        impls.append(Impl("go", f"Go {_go_version()}", GO_BIN if (GO_BIN / "bridge").exists() else None,
                          "" if (GO_BIN / "bridge").exists() else f"no Go plugins in {GO_BIN}"))
    if "venv" in wanted:
        ok = (venv_bin / "bridge").exists()
        impls.append(Impl("venv", "venv", venv_bin if ok else None,
                          "" if ok else f"no plugins in {venv_bin}: run `make venv`"))
    if "bundle" in wanted:
        bin_dir, note = _unpack_bundle(bundle, work)
        impls.append(Impl("bundle", "bundle", bin_dir, note))
    for key in ("daemon", "fallback"):
        if key in wanted:
            impls.append(_shims(key, venv_bin, work))
    for i, impl in enumerate(impls):
        impl.index = i
    return impls


def _go_version() -> str:
    try:
        with open("/var/lib/dpkg/status", encoding="utf-8", errors="replace") as f:
            block = f.read().split("Package: containernetworking-plugins\n", 1)[1]
        return block.split("Version: ", 1)[1].split("\n", 1)[0]
    except (OSError, IndexError):
        return "reference"


def _unpack_bundle(bundle: "str | None", work: Path) -> "tuple[Path | None, str]":
    if bundle is None:
        found = sorted(glob.glob(str(ROOT / "dist" / "pycni-*-linux-*.tar.gz")), key=os.path.getmtime)
        if not found:
            return None, "skipped: no dist/pycni-*-linux-*.tar.gz (run `make dist`)"
        bundle = found[-1]
    path = Path(bundle)
    if path.is_dir():
        root = path
    else:
        root = work / "bundle"
        with tarfile.open(path) as tar:
            tar.extractall(root, filter="data")
    for directory, _, files in os.walk(root):
        if "bridge" in files and os.access(os.path.join(directory, "bridge"), os.X_OK):
            return Path(directory), f"from {path.name}"
    return None, f"skipped: no bridge executable in {path}"


def _shims(key: str, venv_bin: Path, work: Path) -> Impl:
    """The venv's daemon-mode shims in their own bin dir: `daemon` with a daemon on
    their socket (started later, inside the sandbox), `fallback` with none."""
    pycni = venv_bin / "pycni"
    if not pycni.exists():
        return Impl(key, key, None, f"skipped: no {pycni}: run `make venv`")
    bin_dir, home = work / f"{key}-bin", work / key
    home.mkdir(mode=0o700)
    sock = home / "pycni.sock"
    done = subprocess.run([str(pycni), "install", "--bin-dir", str(bin_dir), "--mode", "daemon",
                           "--socket", str(sock)], capture_output=True, text=True, check=False,
                          env={"PATH": PATH_ENV}, timeout=120)
    if done.returncode != 0:
        return Impl(key, key, None, f"skipped: pycni install --mode daemon failed: "
                                    f"{(done.stderr.strip().splitlines() or ['?'])[-1]}")
    shim = "native shims" if "(native shim)" in done.stdout else "Python shims (no C compiler)"
    if key == "fallback":
        return Impl(key, "fallback", bin_dir, f"venv {shim}, no daemon: each shim execs the "
                                              "Python entry (.pycni/<plugin>)")
    return Impl(key, "daemon", bin_dir, f"venv {shim} + `pycni daemon`, started by the bench",
                daemon=Daemon(pycni, home, bin_dir))


PR_SET_PDEATHSIG = 1


class Daemon:
    """The `pycni daemon` behind the `daemon` impl's shims: its socket, log and cgroup.

    Started inside the sandbox (it shares the bench's host namespaces, the
    workers enter each call's container namespace as an exec'd plugin does),
    dying with the bench (PDEATHSIG), stopped with SIGTERM (it drains, then
    exits) and its directory removed by `running_daemons`, whatever happened.
    """

    def __init__(self, pycni: Path, home: Path, bin_dir: Path) -> None:
        self.pycni, self.home, self.bin_dir = pycni, home, bin_dir
        self.socket = home / "pycni.sock"
        self.log = home / "daemon.log"
        self.proc: "subprocess.Popen | None" = None
        self.pid = 0
        self.group: "CpuGroup | None" = None
        self.idle_procs = 0  # the daemon and its idle spares
        self.calls = 0  # shim calls made: the daemon must have served each
        self.why_no_cpu = ""

    def describe(self) -> dict:
        return {"socket": str(self.socket), "pid": self.pid,
                "cpu_group": self.group.kind if self.group else None, "why_no_cpu": self.why_no_cpu,
                "idle_processes": self.idle_procs}

    def start(self, box: Sandbox, timeout: float = 60.0) -> None:
        group = box.cpu_group("daemon")
        libc = ctypes.CDLL(None, use_errno=True)

        def in_child() -> None:  # after the fork, before the exec
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if group is not None:
                with contextlib.suppress(OSError):
                    group.join()

        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(self.pycni), "daemon", "--socket", str(self.socket), "--cni-bin-dir", str(self.bin_dir)],
                env={"PATH": PATH_ENV}, cwd="/", stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=log, preexec_fn=in_child)  # the bench is single-threaded: safe
        self.pid = self.proc.pid
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise BenchFailure(f"pycni daemon exited {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError, ValueError):
                if _get(str(self.socket), "/readyz")[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise BenchFailure(f"pycni daemon not ready in {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.02)
        if group is None:
            self.why_no_cpu = "no cgroup could be made for the daemon"
        elif self.proc.pid not in group.pids():
            self.why_no_cpu = "the daemon could not join its cgroup"
        else:
            self.group = group
            self.idle_procs = self._first_idle()

    def _first_idle(self, timeout: float = 30.0) -> int:
        """How many processes the group holds when the daemon is idle (itself and its spares)."""
        assert self.group is not None
        deadline = time.monotonic() + timeout
        calm, last = 0, -1
        while calm < 40:  # ~20 ms with nothing running and nothing forked
            pids = self.group.pids()
            calm = calm + 1 if len(pids) == last and _asleep(pids) else 0
            last = len(pids)
            if time.monotonic() > deadline:
                raise BenchFailure(f"pycni daemon never idle after start-up:\n{self.log_tail()}")
            time.sleep(0.0005)
        return last

    def idle_usage(self, timeout: float = 10.0) -> "int | None":
        """The group's CPU (ns) once the daemon is idle again, None when it is not measured.

        Idle: no more processes than at rest (the last call's worker exited; a
        zombie is no longer listed, its CPU is counted) and all of them asleep,
        three looks in a row 0.5 ms apart (the daemon reaps the worker and closes
        the connection after the worker's exit wakes it)."""
        if self.group is None:
            return None
        deadline = time.monotonic() + timeout
        calm = 0
        while calm < 3:
            pids = self.group.pids()
            calm = calm + 1 if len(pids) <= self.idle_procs and _asleep(pids) else 0
            if time.monotonic() > deadline:
                raise BenchFailure(f"pycni daemon not idle {timeout:.0f} s after a call")
            time.sleep(0.0005)
        return self.group.usage_ns()

    def check(self) -> None:
        """Every shim call went to the daemon (none fell back): its served counters."""
        if self.proc is None or self.proc.poll() is not None:
            raise BenchFailure(f"pycni daemon died during the bench:\n{self.log_tail()}")
        status, body = _get(str(self.socket), "/v1/status")
        served = json.loads(body).get("served", {}) if status == 200 else {}
        if served != {"ok": self.calls}:
            raise BenchFailure(f"the daemon served {served} of {self.calls} shim calls "
                               "(the others fell back to exec)")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        try:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # drains: finishes what it accepted
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        finally:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
            shutil.rmtree(self.home, ignore_errors=True)

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""


@contextlib.contextmanager
def running_daemons(impls: "list[Impl]", box: Sandbox) -> "Iterator[None]":
    """The daemons of `impls` up (inside the sandbox) for the block, stopped after it."""
    daemons = [i.daemon for i in impls if i.daemon is not None and i.available]
    try:
        for daemon in daemons:
            daemon.start(box)
        yield
    finally:
        for daemon in daemons:
            daemon.stop()


def _asleep(pids: "list[int]") -> bool:
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        if state != b"S":
            return False
    return True


def _get(socket_path: str, path: str, timeout: float = 2.0) -> "tuple[int, bytes]":
    """(status, body) of a GET on the daemon's socket; the daemon closes after replying."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(socket_path)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: pycni\r\nContent-Length: 0\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


class Bench:
    """The schedule; `samples[(scenario, verb, impl)]` = [(wall_ms, cpu_ms), ...], and for
    daemon mode `daemon_cpu[(scenario, verb, impl)]` = [ms, ...], the daemon's part of cpu_ms."""

    def __init__(self, box: Sandbox, impls: "list[Impl]", scenarios: "list[Scenario]",
                 data_dir: Path) -> None:
        self.box = box
        self.impls = [i for i in impls if i.available]
        self.scenarios = scenarios
        self.data_dir = data_dir
        self.samples: "dict[tuple[str, str, str], list[tuple[float, float]]]" = {}
        self.daemon_cpu: "dict[tuple[str, str, str], list[float]]" = {}
        self.bursts: "list[dict]" = []
        self.counter = 0

    # -- configs --------------------------------------------------------------

    def config(self, scenario: Scenario, impl: Impl, network: int) -> dict:
        """Network `network` (0-9) of `impl`: its own name, bridge, subnet and dataDir."""
        tag = f"{impl.key}{network}"
        if scenario.plugin == "loopback":
            return {"cniVersion": CNI_VERSION, "name": f"bench-lo-{tag}", "type": "loopback"}
        return {
            "cniVersion": CNI_VERSION, "name": f"bench-{tag}", "type": "bridge",
            "bridge": f"pb-{tag}", "isGateway": True, "ipMasq": bool(scenario.ip_masq),
            "ipam": {"type": "host-local",
                     "ranges": [[{"subnet": f"10.{100 + 10 * impl.index + network}.0.0/16"}]],
                     "routes": [{"dst": "0.0.0.0/0"}],
                     "dataDir": str(self.data_dir / tag)},
        }

    def env(self, impl: Impl, verb: str, netns: str = "", container_id: str = "",
            ifname: str = "eth0") -> "dict[str, str]":
        env = {"PATH": PATH_ENV, "CNI_COMMAND": verb, "CNI_PATH": str(impl.bin_dir)}
        if verb != "VERSION":
            env.update(CNI_CONTAINERID=container_id, CNI_NETNS=netns, CNI_IFNAME=ifname)
        return env

    def exec(self, impl: Impl, plugin: str, env: "dict[str, str]",
             conf: dict) -> "tuple[spawn.Exec, float | None]":
        """The call's result and, in daemon mode, the daemon's CPU (ms) for it."""
        daemon = impl.daemon
        before = daemon.idle_usage() if daemon is not None else None
        result = spawn.run([str(impl.bin_dir / plugin)], env, json.dumps(conf).encode())
        if daemon is None:
            return result, None
        daemon.calls += 1
        after = daemon.idle_usage()
        return result, (after - before) / 1e6 if after is not None and before is not None else None

    # -- sequence rounds ------------------------------------------------------

    def round(self, scenario: Scenario, impl: Impl, record: bool) -> None:
        """VERSION, ADD (fresh container), CHECK, DEL: each must succeed."""
        network = list(SCENARIOS).index(scenario.key)
        conf = self.config(scenario, impl, network)
        ifname = "lo" if scenario.plugin == "loopback" else "eth0"
        self.counter += 1
        container_id = f"bench-{self.counter:06d}"
        netns = self.box.container()
        for verb in VERBS:
            env = self.env(impl, verb, netns, container_id, ifname)
            result, daemon_ms = self.exec(impl, scenario.plugin, env, conf)
            _expect(result, verb)
            if verb == "ADD":  # CHECK and DEL get it as prevResult, as libcni sends them
                conf = dict(conf, prevResult=result.json())
            if record:
                key = (scenario.key, verb, impl.key)
                self.samples.setdefault(key, []).append((result.wall_ms, result.cpu_ms + (daemon_ms or 0.0)))
                if daemon_ms is not None:
                    self.daemon_cpu.setdefault(key, []).append(daemon_ms)

    def sequences(self, runs: int) -> None:
        for scenario in self.scenarios:
            for impl in self.impls:
                self.round(scenario, impl, record=False)
        for run in range(runs):
            for scenario in self.scenarios:
                for impl in _rotate(self.impls, run):
                    self.round(scenario, impl, record=True)
        self.box.close_all()

    # -- bursts -------------------------------------------------------------

    def burst(self, impl: Impl, size: int) -> dict:
        """`size` concurrent ADDs on one bridge, then their `size` concurrent DELs."""
        scenario = SCENARIOS["bridge"]
        conf = self.config(scenario, impl, 9)
        stdin = json.dumps(conf).encode()
        argv = [str(impl.bin_dir / "bridge")]
        netns = [self.box.container() for _ in range(size)]
        ids = [f"burst-{self.counter}-{i:03d}" for i in range(size)]
        self.counter += 1
        daemon = impl.daemon
        usage = [daemon.idle_usage() if daemon is not None else None]
        adds = spawn.burst([(argv, self.env(impl, "ADD", ns, cid), stdin)
                            for ns, cid in zip(netns, ids, strict=True)])
        usage.append(daemon.idle_usage() if daemon is not None else None)
        dels = spawn.burst([(argv, self.env(impl, "DEL", ns, cid), stdin)
                            for ns, cid in zip(netns, ids, strict=True)])
        usage.append(daemon.idle_usage() if daemon is not None else None)
        if daemon is not None:
            daemon.calls += 2 * size
        stats = {"impl": impl.key, "size": size, "add": _burst_stats(adds, with_ips=True),
                 "del": _burst_stats(dels, with_ips=False)}
        for i, verb in enumerate(("add", "del")):
            low, high = usage[i], usage[i + 1]
            if low is not None and high is not None:  # the whole burst's daemon CPU
                stats[verb]["daemon_cpu_ms"] = (high - low) / 1e6
        return stats

    def all_bursts(self, size: int, repeats: int) -> None:
        for impl in self.impls if repeats else []:
            self.burst(impl, 1)  # warm-up: creates the burst network's bridge
        for repeat in range(repeats):
            for impl in _rotate(self.impls, repeat):
                self.bursts.append(self.burst(impl, size))
        self.box.close_all()

    def check_daemons(self) -> None:
        for impl in self.impls:
            if impl.daemon is not None:
                impl.daemon.check()


def _rotate(items: list, n: int) -> list:
    if not items:
        return items
    n %= len(items)
    return items[n:] + items[:n]


def _expect(result: spawn.Exec, verb: str) -> None:
    if not result.ok:
        raise BenchFailure(f"{verb} failed: {result.describe()}")
    data = result.json() if verb in ("ADD", "VERSION") else {}
    if data is None:
        raise BenchFailure(f"{verb} printed no JSON object: {result.describe()}")
    if verb == "VERSION" and "supportedVersions" not in data:
        raise BenchFailure(f"VERSION answer without supportedVersions: {result.describe()}")
    if verb == "ADD" and "cniVersion" not in data:
        raise BenchFailure(f"ADD result without cniVersion: {result.describe()}")


def _burst_stats(results: "list[spawn.Exec]", with_ips: bool) -> dict:
    failures = [r.describe() for r in results if not r.ok]
    stats = {
        "total_ms": (max(r.end for r in results) - min(r.start for r in results)) / 1e6,
        "wall_ms": [r.wall_ms for r in results],
        "cpu_ms": [r.cpu_ms for r in results],
        "failures": len(failures),
        "failure_samples": failures[:3],
    }
    if with_ips:
        seen: "dict[str, int]" = {}
        for r in results:
            for ip in ((r.json() or {}).get("ips") or []) if r.ok else []:
                address = str(ip.get("address", "")).split("/")[0]
                seen[address] = seen.get(address, 0) + 1
        stats["addresses"] = len(seen)
        stats["duplicates"] = sorted(a for a, n in seen.items() if n > 1)
    return stats
