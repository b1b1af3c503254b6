"""What the bench runs: the implementations, the configs, the schedule.

Where it sits: `bench.__main__` calls `run(options)` inside a `Sandbox`; the
samples it returns go to `bench.report`.

- Implementations: the Go reference plugins (/usr/lib/cni, cniVersion 1.0.0
  configs since Debian's 1.1.1 refuses 1.1.0), ours from the venv, and ours
  from the PyInstaller bundle (the newest dist/pycni-*-linux-*.tar.gz,
  unpacked into the bench's temp dir; absent: skipped with a note).
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

import glob
import json
import os
import tarfile
from pathlib import Path

from bench import spawn
from bench.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent
GO_BIN = Path("/usr/lib/cni")
PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
VERBS = ("VERSION", "ADD", "CHECK", "DEL")
CNI_VERSION = "1.0.0"


class BenchFailure(Exception):
    """A plugin failed where it must succeed."""


class Impl:
    __slots__ = ("key", "label", "bin_dir", "note", "index")

    def __init__(self, key: str, label: str, bin_dir: "Path | None", note: str = "",
                 index: int = 0) -> None:
        self.key, self.label, self.bin_dir, self.note, self.index = key, label, bin_dir, note, index

    @property
    def available(self) -> bool:
        return self.bin_dir is not None

    def describe(self) -> dict:
        return {"label": self.label, "bin_dir": str(self.bin_dir) if self.bin_dir else None,
                "note": self.note}


class Scenario:
    __slots__ = ("key", "plugin", "ip_masq", "label")

    def __init__(self, key: str, plugin: str, ip_masq: "bool | None", label: str) -> None:
        self.key, self.plugin, self.ip_masq, self.label = key, plugin, ip_masq, label


SCENARIOS = {
    "bridge": Scenario("bridge", "bridge", False, "bridge + host-local, ipMasq off"),
    "bridge-masq": Scenario("bridge-masq", "bridge", True, "bridge + host-local, ipMasq on"),
    "loopback": Scenario("loopback", "loopback", None, "loopback"),
}


def implementations(venv_bin: Path, bundle: "str | None", work: Path, wanted: "list[str]") -> "list[Impl]":
    """Go, venv and bundle, in that order; a missing one carries the reason."""
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


class Bench:
    """The schedule; `samples[(scenario, verb, impl)]` = [(wall_ms, cpu_ms), ...]."""

    def __init__(self, box: Sandbox, impls: "list[Impl]", scenarios: "list[Scenario]",
                 data_dir: Path) -> None:
        self.box = box
        self.impls = [i for i in impls if i.available]
        self.scenarios = scenarios
        self.data_dir = data_dir
        self.samples: "dict[tuple[str, str, str], list[tuple[float, float]]]" = {}
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

    def exec(self, impl: Impl, plugin: str, env: "dict[str, str]", conf: dict) -> spawn.Exec:
        return spawn.run([str(impl.bin_dir / plugin)], env, json.dumps(conf).encode())

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
            result = self.exec(impl, scenario.plugin, env, conf)
            _expect(result, verb)
            if verb == "ADD":  # CHECK and DEL get it as prevResult, as libcni sends them
                conf = dict(conf, prevResult=result.json())
            if record:
                key = (scenario.key, verb, impl.key)
                self.samples.setdefault(key, []).append((result.wall_ms, result.cpu_ms))

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
        adds = spawn.burst([(argv, self.env(impl, "ADD", ns, cid), stdin)
                            for ns, cid in zip(netns, ids, strict=True)])
        dels = spawn.burst([(argv, self.env(impl, "DEL", ns, cid), stdin)
                            for ns, cid in zip(netns, ids, strict=True)])
        return {"impl": impl.key, "size": size, "add": _burst_stats(adds, with_ips=True),
                "del": _burst_stats(dels, with_ips=False)}

    def all_bursts(self, size: int, repeats: int) -> None:
        for impl in self.impls if repeats else []:
            self.burst(impl, 1)  # warm-up: creates the burst network's bridge
        for repeat in range(repeats):
            for impl in _rotate(self.impls, repeat):
                self.bursts.append(self.burst(impl, size))
        self.box.close_all()


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
