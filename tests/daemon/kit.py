"""The daemon suite's toolkit: a daemon on a test-made socket, shims installed for it.

A `Daemon` is a `pycni daemon` process started by a test (from the venv, or from
the bundle when PYCNI_BIN points at an unpacked tarball), listening on a socket
in the test's temp dir; `shims(...)` installs the daemon-mode plugins into a temp
bin dir pointed at it. Everything is stopped and removed by the fixtures, even
on failure. The daemon runs in the test process's namespaces; each call's worker
enters the caller's (the shim's), so calls made inside test-made namespaces
touch only those.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from support import BIN

from cni.daemon import client


def pycni() -> str:
    """The pycni CLI under test: the bundle's when PYCNI_BIN holds one, else the venv's."""
    bundled = BIN / "pycni"
    return str(bundled if bundled.exists() else Path(sys.executable).parent / "pycni")


class Daemon:
    def __init__(self, socket_path: Path, log: Path, *args: str) -> None:
        self.socket = str(socket_path)
        self.log = log
        self.args = args
        self.proc: "subprocess.Popen | None" = None

    def start(self, wait: bool = True, timeout: float = 30.0) -> "Daemon":
        self.proc = subprocess.Popen(
            [pycni(), "daemon", "--socket", self.socket, "--trace-imports", *self.args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log.open("ab"))
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
            try:
                if client.request(self.socket, "GET", "/readyz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise AssertionError(f"daemon not ready in {timeout} s:\n{self.log.read_text()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def request(self, method: str, path: str, **kw) -> "tuple[int, dict, bytes]":
        return client.request(self.socket, method, path, **kw)

    def status(self) -> dict:
        import json
        return json.loads(self.request("GET", "/v1/status")[2])

    def served(self, settle: float = 5.0) -> dict:
        """Outcome counts, once every call answered has been reaped (a worker replies
        before it exits, and is counted when the daemon reaps it)."""
        deadline = time.monotonic() + settle
        status = self.status()
        while (status["in_flight"] or status["queued"]) and time.monotonic() < deadline:
            time.sleep(0.01)
            status = self.status()
        return status["served"]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> "int | None":
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def workers(self) -> "list[int]":
        """Pids of the daemon's children (spares and running workers)."""
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def late_imports(self) -> "list[str]":
        return [line for line in self.log.read_text().splitlines() if "late imports" in line]


def shims(bin_dir: Path, socket_path: str, *extra: str) -> Path:
    """`pycni install --mode daemon` into bin_dir, for the daemon at socket_path."""
    out = subprocess.run([pycni(), "install", "--bin-dir", str(bin_dir), "--mode", "daemon",
                          "--socket", socket_path, *extra], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return bin_dir


def exec_entries(bin_dir: Path) -> Path:
    """Where the exec-mode files of a daemon-mode install are (the shims' fallback)."""
    return bin_dir / ".pycni"


def no_children_left(pid: int) -> bool:
    return not any(
        Path(f"/proc/{p}/stat").exists() and Path(f"/proc/{p}/stat").read_text().split()[3] == str(pid)
        for p in os.listdir("/proc") if p.isdigit())
