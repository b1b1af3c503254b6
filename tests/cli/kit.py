"""The CLI suite's toolkit: run `pycni` as an operator would, with its configs,
plugin path and cache all in the test's temp dir.

`PYCNI` is the command under test: the venv's console script, or the release
bundle's `pycni` link when PYCNI_BIN points at an unpacked tarball. A `Lab`
holds one test's NETCONFPATH, cache dir and recorder log; `pycni()` runs the
command with cnitool's environment variables set to them (optionally inside a
test-made host namespace). `install_recorder` puts the recording fake plugin
(recorder.py) on the lab's plugin path under any type name.
"""

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

from support import BIN, Netns

PYCNI = BIN / "pycni"
HERE = Path(__file__).resolve().parent


class Lab:
    """One test's NETCONFPATH, plugin dir, cache dir and recorder log (all under tmp)."""

    def __init__(self, tmp: Path) -> None:
        self.conf_dir = tmp / "net.d"
        self.plugin_dir = tmp / "plugins"
        self.cache_dir = tmp / "cache"
        self.log = tmp / "recorder.log"
        for d in (self.conf_dir, self.plugin_dir):
            d.mkdir()
        self.path = [self.plugin_dir]

    def write_conf(self, filename: str, conf: "dict | str") -> Path:
        path = self.conf_dir / filename
        path.write_text(conf if isinstance(conf, str) else json.dumps(conf, indent=2))
        return path

    def env(self, **extra: str) -> dict:
        out = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
               "NETCONFPATH": str(self.conf_dir), "PYCNI_CACHE_DIR": str(self.cache_dir),
               "CNI_PATH": ":".join(str(p) for p in self.path), "RECORDER_LOG": str(self.log)}
        out.update(extra)
        return out

    def pycni(self, *args: str, host: "Netns | None" = None, timeout: float = 120,
              **env: str) -> subprocess.CompletedProcess:
        argv = (["ip", "netns", "exec", host.name] if host else []) + [str(PYCNI), *args]
        return subprocess.run(argv, env=self.env(**env), capture_output=True, text=True,
                              timeout=timeout, check=False)

    def calls(self) -> "list[dict]":
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def cache_files(self) -> "list[Path]":
        results = self.cache_dir / "results"
        return sorted(results.iterdir()) if results.exists() else []

    def cache_entry(self, network: str, container_id: str, ifname: str = "eth0") -> dict:
        return json.loads((self.cache_dir / "results" / f"{network}-{container_id}-{ifname}")
                          .read_text())


def install_recorder(directory: Path, *names: str) -> None:
    body = (HERE / "recorder.py").read_text()
    for name in names:
        path = directory / name
        path.write_text(f"#!{sys.executable} -I\n{body}")
        path.chmod(0o755)


def cnitool_id(netns_path: str) -> str:
    """cnitool's container ID, computed here independently of cni.tool.libcni."""
    import hashlib
    digest = hashlib.sha512(os.path.abspath(netns_path).encode()).digest()
    return "cnitool-" + digest[:10].hex()


def decoded_config(entry: dict) -> bytes:
    return base64.b64decode(entry["config"])


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"rc={proc.returncode}\nstdout={proc.stdout}\nstderr={proc.stderr}"
    return proc
