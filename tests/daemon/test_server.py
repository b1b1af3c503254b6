"""The daemon's pages, routes, socket and life cycle (cni.daemon.server), on a test-made socket.

- /healthz, /readyz, /metrics (Prometheus text, counting the calls served) and
  /v1/status; `pycni daemon status`;
- the socket: a 0700 directory and a 0600 socket, so no other user reaches it
  (and one that does is answered 403); a second daemon on a live socket refuses
  to start, a dead daemon's socket file is replaced, a file that is not a
  socket is left alone; socket activation (LISTEN_FDS) serves the socket passed;
- routing: 404 and 405;
- SIGTERM: the daemon drains (503 to /readyz and to new calls, which the shims
  then run themselves), finishes the call in flight, exits 0 and removes its socket.

Every call that creates links runs inside test-made namespaces (`host` and
`make_netns`); every daemon a test starts is stopped at teardown.
"""

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from bridge.kit import conf as bridge_conf
from prometheus_client.parser import text_string_to_metric_families
from support import run_plugin

from cni import __version__
from cni.daemon import client, protocol
from cni.plugins import MODULES
from daemon.kit import Daemon, pycni

VERSION_CONF = b'{"cniVersion":"1.0.0","name":"lo","type":"loopback"}'
SYSTEM_PYTHON = "/usr/bin/python3"  # readable by every user, unlike the venv's interpreter


@pytest.fixture
def daemons(tmp_path):
    """Factory: `daemons(socket_path, *args)` -> a started Daemon; all stopped at teardown."""
    made: "list[Daemon]" = []

    def start(socket_path: Path, *args: str, wait: bool = True) -> Daemon:
        d = Daemon(socket_path, tmp_path / f"daemon-{len(made)}.log", "--read-timeout", "3",
                   "--write-timeout", "3", *args)
        made.append(d)
        return d.start(wait=wait)

    yield start
    for d in made:
        d.stop()
    for d in made:
        assert d.late_imports() == [], d.log.read_text()


def version_call(socket_path: str, timeout: float = 10.0) -> "tuple[int, bytes, bytes]":
    return client.call(socket_path, "loopback", {"CNI_COMMAND": "VERSION"}, VERSION_CONF, timeout=timeout)


def wait_for(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.02)


def idle(d: Daemon) -> dict:
    """The status once every call's worker is reaped (in_flight and queued 0)."""
    return wait_for(lambda: (lambda s: s if s["in_flight"] == 0 and s["queued"] == 0 else None)(d.status()),
                    what="the daemon's calls all reaped")


# -- pages ----------------------------------------------------------------------------------


def test_healthz_and_readyz(daemon):
    status, headers, body = daemon.request("GET", "/healthz")
    assert (status, body) == (200, b"ok\n")
    assert headers["pycni-protocol"] == "1"
    assert headers["connection"] == "close"
    assert daemon.request("GET", "/readyz")[::2] == (200, b"ready\n")


def metric_samples(d: Daemon) -> "dict[str, list]":
    status, headers, body = d.request("GET", "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: "dict[str, list]" = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def value_of(samples: "dict[str, list]", name: str, **labels: str) -> "float | None":
    found = [s.value for s in samples.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else None


def test_metrics_count_the_calls(daemon):
    before = metric_samples(daemon)
    assert value_of(before, "pycni_daemon_requests_in_flight") == 0
    assert value_of(before, "pycni_daemon_requests_queued") == 0
    assert value_of(before, "pycni_daemon_requests_total", plugin="loopback", verb="VERSION",
                    outcome="ok") is None
    n = 7
    for _ in range(n):
        code, out, err = version_call(daemon.socket)
        assert code == 0, err
        assert json.loads(out)["cniVersion"] == "1.0.0"
    idle(daemon)
    after = metric_samples(daemon)
    assert value_of(after, "pycni_daemon_requests_total", plugin="loopback", verb="VERSION",
                    outcome="ok") == n
    assert value_of(after, "pycni_daemon_request_duration_seconds_count", plugin="loopback",
                    verb="VERSION") == n
    assert value_of(after, "pycni_daemon_request_duration_seconds_bucket", plugin="loopback",
                    verb="VERSION", le="+Inf") == n
    assert value_of(after, "pycni_daemon_request_duration_seconds_sum", plugin="loopback",
                    verb="VERSION") > 0
    assert value_of(after, "pycni_daemon_requests_in_flight") == 0
    assert value_of(after, "pycni_daemon_requests_queued") == 0
    other = [s for s in after["pycni_daemon_requests_total"] if s.labels["outcome"] != "ok"]
    assert other == []


def test_metrics_count_refusals_and_errors(daemon):
    assert daemon.request("POST", "/v1/cni/loopback", body=b"no block")[0] == 400
    code, out, _ = client.call(daemon.socket, "loopback", {"CNI_COMMAND": "ADD"}, b"{}")
    assert code == 1 and "code" in json.loads(out)  # a CNI error, answered by the worker
    idle(daemon)
    after = metric_samples(daemon)
    assert value_of(after, "pycni_daemon_requests_total", plugin="loopback", verb="none",
                    outcome="refused") == 1
    assert value_of(after, "pycni_daemon_requests_total", plugin="loopback", verb="ADD",
                    outcome="error") == 1
    assert daemon.status()["served"] == {"error": 1, "refused": 1}


def test_status_document(daemon):
    before = time.time()
    state = daemon.status()
    assert state["version"] == __version__
    assert state["protocol"] == protocol.PROTOCOL == 1
    assert state["pid"] == daemon.pid
    assert (state["state"], state["ready"]) == ("ready", True)
    assert state["started_at"] <= before and state["uptime_seconds"] >= 0
    assert (state["in_flight"], state["queued"]) == (0, 0)
    assert state["connections"] == 1  # this request's
    assert state["max_workers"] == 16
    assert state["served"] == {}
    assert state["socket"] == daemon.socket
    assert state["cni_bin_dirs"] == ["/opt/cni/bin"]
    assert state["plugins"] == sorted(MODULES)
    assert version_call(daemon.socket)[0] == 0
    assert idle(daemon)["served"] == {"ok": 1}


def test_status_command(daemon):
    version_call(daemon.socket)
    idle(daemon)
    out = subprocess.run([pycni(), "daemon", "status", "--socket", daemon.socket],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"daemon: up, ready (pid {daemon.pid}, pycni {__version__}, protocol 1)"
    assert f"socket: {daemon.socket}" in lines
    assert "in flight: 0 of 16 workers, queued: 0" in lines
    assert "served: ok 1" in lines
    out = subprocess.run([pycni(), "daemon", "--socket", daemon.socket, "status", "--json"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["pid"] == daemon.pid


def test_status_command_without_daemon(tmp_path):
    dead = tmp_path / "dead.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(dead))  # a socket file nobody listens on
    for path in (dead, tmp_path / "missing.sock"):
        out = subprocess.run([pycni(), "daemon", "status", "--socket", str(path)],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 1, out
        assert f"no daemon answers on {path}" in out.stderr
        assert out.stdout == ""


# -- routes ---------------------------------------------------------------------------------


ROUTES = [
    ("POST", "/v1/cni/nope", 404),
    ("POST", "/v1/cni/", 404),
    ("POST", "/v1/cni/loopback/extra", 404),
    ("POST", "/v1/cni/LOOPBACK", 404),
    ("GET", "/v1/cni/x", 405),
    ("GET", "/v1/cni/loopback", 405),
    ("PUT", "/v1/cni/loopback", 405),
    ("GET", "/nope", 404),
    ("GET", "/", 404),
    ("POST", "/healthz", 405),
    ("DELETE", "/v1/status", 405),
]


def test_routes(daemon):
    for method, path, status in ROUTES:
        body = protocol.encode_call({"CNI_COMMAND": "VERSION"}, VERSION_CONF) if method == "POST" else b""
        assert daemon.request(method, path, body=body)[0] == status, (method, path)
        assert daemon.request("GET", "/healthz")[0] == 200
    state = idle(daemon)
    cni_paths = sum(1 for _, path, _ in ROUTES if path.startswith(protocol.CNI_PATH))
    assert state["served"] == {"refused": cni_paths}  # turned away, none run


# -- the socket -----------------------------------------------------------------------------


def test_socket_modes(daemon):
    path = Path(daemon.socket)
    assert stat.S_ISSOCK(path.lstat().st_mode)
    assert stat.S_IMODE(path.lstat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.lstat().st_uid == 0


@pytest.fixture
def open_dir():
    """A directory every user may traverse (tmp_path's parents are root's only), removed at teardown."""
    path = Path(tempfile.mkdtemp(prefix="pycni-t-"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


NOBODY_CLIENT = r"""
import errno, os, socket, sys
print("uid", os.getuid(), os.getgid())
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
try:
    s.connect(sys.argv[1])
except OSError as exc:
    print("connect", errno.errorcode.get(exc.errno, exc.errno))
    sys.exit(0)
try:
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: pycni\r\nContent-Length: 0\r\n\r\n")
except (BrokenPipeError, ConnectionResetError):  # answered and closed at accept: read that
    pass
data = b""
while True:
    try:
        chunk = s.recv(65536)
    except ConnectionResetError:  # the daemon closed with the request unread: the reply came first
        break
    if not chunk:
        break
    data += chunk
print("reply", data.split(b"\r\n", 1)[0].decode(), data.rpartition(b"\r\n\r\n")[2].decode().strip())
"""


def as_nobody(path: str) -> "list[str]":
    def drop() -> None:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)

    out = subprocess.run([SYSTEM_PYTHON, "-I", "-c", NOBODY_CLIENT, path], capture_output=True, text=True,
                         preexec_fn=drop, cwd="/", timeout=30)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "uid 65534 65534", lines
    return lines[1:]


def test_non_root_cannot_connect(daemons, open_dir):
    # The daemon makes its socket's directory 0700: nobody gets past it.
    made = daemons(open_dir / "run" / "pycni.sock")
    assert stat.S_IMODE((open_dir / "run").stat().st_mode) == 0o700
    assert as_nobody(made.socket)[0] in ("connect EACCES", "connect EPERM")
    made.stop()
    # In a directory others may enter, the socket itself (0600) keeps them out.
    shared = open_dir / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    made = daemons(shared / "pycni.sock")
    assert stat.S_IMODE(Path(made.socket).lstat().st_mode) == 0o600
    assert as_nobody(made.socket)[0] in ("connect EACCES", "connect EPERM")
    assert "open to other users" in made.log.read_text()
    # And one that gets in anyway (the socket opened up by hand) is answered 403.
    os.chmod(made.socket, 0o666)
    assert as_nobody(made.socket) == ["reply HTTP/1.1 403 Forbidden root only"]
    assert made.request("GET", "/healthz")[0] == 200


def test_second_daemon_refuses_to_start(daemon, daemons, tmp_path):
    inode = os.stat(daemon.socket).st_ino
    second = Daemon(Path(daemon.socket), tmp_path / "second.log")
    second.start(wait=False)
    try:
        assert second.proc.wait(timeout=30) == 1
    finally:
        second.stop()
    log = second.log.read_text()
    assert "another daemon" in log and daemon.socket in log, log
    assert os.stat(daemon.socket).st_ino == inode
    assert version_call(daemon.socket)[0] == 0


def test_stale_socket_is_replaced(daemons, tmp_path):
    path = tmp_path / "stale" / "pycni.sock"
    path.parent.mkdir(mode=0o700)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(path))
        s.listen(1)
    assert stat.S_ISSOCK(path.lstat().st_mode)  # left behind, as by a daemon killed -9
    made = daemons(path)
    assert version_call(made.socket)[0] == 0
    assert stat.S_IMODE(path.lstat().st_mode) == 0o600
    assert made.stop() == 0
    assert not path.exists()


def test_file_that_is_not_a_socket_is_left_alone(daemons, tmp_path):
    path = tmp_path / "notsock" / "pycni.sock"
    path.parent.mkdir(mode=0o700)
    path.write_text("precious")
    made = daemons(path, wait=False)
    assert made.proc.wait(timeout=30) == 1
    assert "not a socket" in made.log.read_text()
    assert path.read_text() == "precious"


# -- SIGTERM ----------------------------------------------------------------------------------


def test_sigterm_drains(daemon, shim_bin, host, make_netns, data_dir):
    ctr = make_netns()
    config = bridge_conf(data_dir)
    held: dict = {}

    def add() -> None:
        held["outcome"] = run_plugin("bridge", "ADD", config, netns=ctr, host=host, bin_dir=shim_bin,
                                     env={"PYCNI_TEST_FAULT": "add.ipam-reserved",
                                          "PYCNI_TEST_FAULT_ACTION": "sleep:3"})

    thread = threading.Thread(target=add)
    thread.start()
    try:
        wait_for(lambda: daemon.status()["in_flight"] == 1, what="the ADD in flight in the daemon")
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.request("GET", "/readyz")[::2] == (503, b"draining\n")
        assert daemon.request("GET", "/healthz")[0] == 200
        state = daemon.status()
        assert (state["state"], state["ready"], state["in_flight"]) == ("draining", False, 1)
        # A new call is not taken...
        status, _, body = daemon.request("POST", "/v1/cni/loopback",
                                         body=protocol.encode_call({"CNI_COMMAND": "VERSION"}, VERSION_CONF))
        assert (status, body) == (503, b"daemon draining\n")
        # ...so a shim runs it itself, with the exec path's answer.
        shimmed = run_plugin("loopback", "VERSION", VERSION_CONF, bin_dir=shim_bin, host=host)
        direct = run_plugin("loopback", "VERSION", VERSION_CONF, host=host)
        assert shimmed.ok, shimmed
        assert (shimmed.stdout, shimmed.stderr) == (direct.stdout, direct.stderr)
        assert daemon.status()["served"] == {"refused": 2}  # the POST and the shim's: not run
        assert daemon.proc.poll() is None  # still draining: the ADD is held
    finally:
        thread.join(timeout=60)
    try:
        outcome = held["outcome"]
        assert outcome.ok, outcome
        assert outcome.json["ips"][0]["address"] == "10.77.0.2/24"
        assert host.link("br-test") is not None and ctr.link("eth0") is not None
        assert daemon.proc.wait(timeout=30) == 0
        assert not os.path.exists(daemon.socket)
        assert "stopped" in daemon.log.read_text()
    finally:
        done = run_plugin("bridge", "DEL", config, netns=ctr, host=host)  # the exec path: no daemon now
        assert done.ok, done
    assert ctr.link("eth0") is None


def test_sigterm_with_nothing_in_flight_exits_and_takes_its_spares(daemon):
    spares = daemon.workers()
    assert spares, "no spare workers to watch"
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(timeout=30) == 0
    assert not os.path.exists(daemon.socket)
    wait_for(lambda: not any(Path(f"/proc/{p}").exists() for p in spares), timeout=10,
             what=f"the spare workers {spares} gone with their daemon")


# -- socket activation --------------------------------------------------------------------------


@pytest.fixture
def activated(tmp_path):
    """Factory: a listening socket made here, then `pycni daemon` started on it as fd 3 with
    LISTEN_PID/LISTEN_FDS (systemd's socket activation). Stopped and closed at teardown."""
    made: "list[tuple[socket.socket, Daemon]]" = []

    def listening() -> "tuple[socket.socket, str]":
        path = str(tmp_path / "activated.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
        sock.listen(64)
        return sock, path

    def start(sock: socket.socket, path: str) -> Daemon:
        d = Daemon(Path(path), tmp_path / "activated.log")
        fd = sock.fileno()

        def as_fd_3() -> None:  # in the child; close_fds would close a 3 made here, so none is asked
            if fd == 3:
                os.set_inheritable(3, True)
            else:
                os.dup2(fd, 3)  # inheritable; every other fd of ours is not

        d.proc = subprocess.Popen(
            ["/bin/sh", "-c", 'export LISTEN_PID=$$ LISTEN_FDS=1; exec "$@"', "sh", pycni(), "daemon",
             "--socket", path, "--trace-imports"],
            close_fds=False, preexec_fn=as_fd_3,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=d.log.open("ab"))
        made.append((sock, d))
        return d

    yield listening, start
    for sock, d in made:
        d.stop()
        sock.close()
    for _, d in made:
        assert d.late_imports() == []


def test_socket_activation_serves_the_passed_socket(activated):
    listening, start = activated
    sock, path = listening()
    inode = os.stat(path).st_ino
    early = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        early.settimeout(30)
        early.connect(path)  # in the backlog: no daemon yet
        d = start(sock, path)
        d.wait_ready()
        assert os.stat(path).st_ino == inode  # the socket passed, not one bound anew
        body = protocol.encode_call({"CNI_COMMAND": "VERSION"}, VERSION_CONF)
        early.sendall(f"POST /v1/cni/loopback HTTP/1.1\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                      + body)
        data = b""
        while chunk := early.recv(65536):
            data += chunk
    finally:
        early.close()
    status, headers, body = protocol.parse_reply(data)
    assert status == 200, data
    assert headers["pycni-exit-status"] == "0"
    assert json.loads(body)["cniVersion"] == "1.0.0"
    assert version_call(path)[0] == 0
    assert d.stop() == 0
    assert os.stat(path).st_ino == inode  # not ours to remove: systemd's (here the test's)


def test_socket_activation_call_in_backlog_answered_once_ready(activated):
    """A call sent before the daemon runs waits in the backlog and is served once it is ready."""
    listening, start = activated
    sock, path = listening()
    body = protocol.encode_call({"CNI_COMMAND": "VERSION"}, VERSION_CONF)
    result: dict = {}

    def call() -> None:
        try:
            result["reply"] = client.request(path, "POST", "/v1/cni/loopback", body, timeout=60)
        except Exception as exc:  # reported below
            result["error"] = exc

    thread = threading.Thread(target=call)
    thread.start()
    try:
        wait_for(lambda: _backlog_holds_one(path), timeout=10, what="the call queued in the backlog")
        d = start(sock, path)
    finally:
        thread.join(timeout=90)
    assert "error" not in result, result
    status, headers, reply = result["reply"]
    assert status == 200, (
        f"a call queued in the activation socket's backlog before the daemon started was answered "
        f"{status} {reply!r}, not run (daemon bug: cni/daemon/server.py Server._warm_up turns the loop, "
        f"step(0), while state is 'starting', so it accepts the backlog and _cni_head refuses the call "
        f"with 503 'daemon starting')")
    assert headers["pycni-exit-status"] == "0"
    d.wait_ready()


def _backlog_holds_one(path: str) -> bool:
    """ss shows the listening socket's accept queue (Recv-Q) non-empty."""
    out = subprocess.run(["ss", "-xlH", "src", path], capture_output=True, text=True)
    fields = out.stdout.split()
    return len(fields) > 2 and fields[2].isdigit() and int(fields[2]) >= 1


def test_socket_activation_for_another_pid_is_ignored(tmp_path):
    """LISTEN_PID naming another process: the daemon binds its own socket."""
    env_pid = "1"
    path = tmp_path / "own" / "pycni.sock"
    d = Daemon(path, tmp_path / "own.log")
    d.proc = subprocess.Popen([pycni(), "daemon", "--socket", str(path), "--trace-imports"],
                              env={**os.environ, "LISTEN_PID": env_pid, "LISTEN_FDS": "1"},
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=d.log.open("ab"))
    try:
        d.wait_ready()
        assert stat.S_IMODE(path.lstat().st_mode) == 0o600
        assert version_call(str(path))[0] == 0
    finally:
        assert d.stop() == 0
    assert not path.exists()
