"""Test helpers shared by every test module: namespaces, a runtime-like plugin runner.

`PYCNI_BIN` selects the plugin executables under test (default: the venv's),
so the same suite runs against the venv and the unpacked release tarball.
"""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("PYCNI_BIN") or Path(sys.executable).parent)
GO_BIN = Path("/usr/lib/cni")
# The Go reference plugins' exact outputs (Debian 1.1.1), the golden files of several
# suites; CASES.md there says how each was produced. Inside the checkout: no test reads
# a path outside it.
REFERENCE_OUTPUTS = ROOT / "tests" / "data" / "reference-outputs"
PREFIX = "pycni-t-"


def unique(prefix: str = PREFIX) -> str:
    return prefix + secrets.token_hex(4)


def sh(*cmd: str, check: bool = True, ns: "str | None" = None, **kw) -> subprocess.CompletedProcess:
    """Run a command (inside netns `ns` when given), capturing text output."""
    argv = (["ip", "netns", "exec", ns] if ns else []) + list(cmd)
    return subprocess.run(argv, check=check, capture_output=True, text=True, **kw)


class Netns:
    """A named network namespace with `lo` up; `.path` is what CNI_NETNS takes."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.path = f"/run/netns/{name}"

    def sh(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        return sh(*cmd, check=check, ns=self.name)

    def links(self) -> "list[dict]":
        return json.loads(self.sh("ip", "-j", "-d", "link", "show").stdout)

    def link(self, name: str) -> "dict | None":
        out = self.sh("ip", "-j", "-d", "link", "show", "dev", name, check=False)
        return json.loads(out.stdout)[0] if out.returncode == 0 else None

    def addrs(self, dev: str) -> "list[str]":
        out = json.loads(self.sh("ip", "-j", "addr", "show", "dev", dev).stdout)
        return [f"{a['local']}/{a['prefixlen']}" for a in out[0].get("addr_info", [])]

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)

    def __repr__(self) -> str:
        return f"Netns({self.name})"




class Outcome:
    """What a plugin exec produced, parsed the way libcni parses it."""

    def __init__(self, proc: subprocess.CompletedProcess) -> None:
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        try:
            self.json = json.loads(proc.stdout) if proc.stdout.strip() else None
        except ValueError:
            self.json = None

    @property
    def ok(self) -> bool:
        return self.rc == 0

    @property
    def code(self) -> "int | None":
        return self.json.get("code") if isinstance(self.json, dict) else None

    def __repr__(self) -> str:
        return f"Outcome(rc={self.rc}, stdout={self.stdout!r}, stderr={self.stderr[-2000:]!r})"


def run_plugin(plugin: str, command: str, conf: "dict | str | bytes | None" = None, *,
               netns: "Netns | str | None" = None, ifname: "str | None" = "eth0",
               container_id: "str | None" = "ctr-1", args: str = "",
               host: "Netns | None" = None, path: "list[Path | str] | None" = None,
               bin_dir: "Path | None" = None, env: "dict | None" = None,
               timeout: float = 60) -> Outcome:
    """Exec a plugin as a runtime does: CNI_* env, config on stdin, stdout parsed.

    `None` for ifname/container_id leaves the variable unset; `netns` may be a
    Netns or a raw path string; `host` runs the plugin inside that namespace.
    """
    exe = Path(bin_dir or BIN) / plugin
    full_env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
                "CNI_COMMAND": command}
    if container_id is not None:
        full_env["CNI_CONTAINERID"] = container_id
    if ifname is not None:
        full_env["CNI_IFNAME"] = ifname
    if netns is not None:
        full_env["CNI_NETNS"] = netns.path if isinstance(netns, Netns) else netns
    if args:
        full_env["CNI_ARGS"] = args
    full_env["CNI_PATH"] = ":".join(str(p) for p in (path or [bin_dir or BIN]))
    full_env.update(env or {})
    if isinstance(conf, dict):
        stdin = json.dumps(conf).encode()
    elif isinstance(conf, str):
        stdin = conf.encode()
    else:
        stdin = conf or b""
    argv = (["ip", "netns", "exec", host.name] if host else []) + [str(exe)]
    proc = subprocess.run(argv, input=stdin, env=full_env, capture_output=True, timeout=timeout)
    return Outcome(subprocess.CompletedProcess(
        argv, proc.returncode, proc.stdout.decode(errors="replace"),
        proc.stderr.decode(errors="replace")))


def code_of(fn, *args, **kwargs) -> "int | None":
    """The CNI code `fn(*args, **kwargs)` raises, or None when it returns."""
    from cni.errors import CNIError
    try:
        fn(*args, **kwargs)
    except CNIError as exc:
        return exc.code
    return None


# -- reading host state: a reader whose tool fails fails the test -------------------

NFT_ABSENT = "Error: No such file or directory"


class StateReadError(AssertionError):
    """A command reading netfilter or link state failed: the state is unknown."""


def read_state(ns: Netns, *cmd: str, absent: "str | None" = None) -> "str | None":
    """stdout of `cmd` run in `ns`; raises StateReadError when it fails.

    `absent`: the tool's own answer (first line of stderr) for an object that does
    not exist, e.g. NFT_ABSENT for nft's table or chain: then None ("nothing
    there"). Any other failure is an error.
    """
    proc = ns.sh(*cmd, check=False)
    if proc.returncode == 0:
        return proc.stdout
    if absent is not None and proc.stderr.split("\n", 1)[0] == absent:
        return None
    raise StateReadError(f"state reader failed in {ns.name} (exit {proc.returncode}): "
                         f"{' '.join(cmd)}: {proc.stderr.strip()[:2000]}")
