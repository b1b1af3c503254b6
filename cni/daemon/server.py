"""`pycni daemon`: the resident server behind the shims (docs/daemon-protocol.md).

Where it sits: `cni.tool.cli` calls `serve(Options(...))`. One thread, one
selector loop; the CNI work is never done here but in a child forked per call
(`cni.daemon.worker`), from this process with every plugin module already
imported (`cni.daemon.warm`). Why a fork per call and not threads:
- a call enters the container's network namespace (setns is per thread, but
  the caller's mount namespace can only be entered by a single-threaded
  process), sets its environment, and its child processes inherit fds 1 and 2:
  all per-process state, which a fork gives each call for free;
- a call that crashes, leaks or hangs takes only its own process with it;
- killing the daemon at any instant kills its workers too (PDEATHSIG) and
  loses nothing: the files and the kernel hold all the state, as for an exec.
A fork of the warm daemon costs well under a millisecond; the ~30 ms of
interpreter start and imports an exec pays are paid once, here.

Bounds (Options): the request is read whole, without blocking the loop, within
`read_timeout` and `max_request` bytes (408, 413); at most `max_workers` calls
run at once and the rest wait in a FIFO queue (never refused); at most
`max_connections` are open (the listener pauses meanwhile, so the kernel's
backlog queues the rest); a reply the daemon writes itself gets `write_timeout`.
A slow or malformed client holds only its own connection.

Readiness: /readyz answers 503 while starting (warming imports) and draining
(after SIGTERM or SIGINT). A CNI call that arrives while starting waits until
the daemon is ready (its shim waits for the 100 Continue only so long, then runs
the call itself): with socket activation the call that started the daemon is
served by it. While draining, CNI calls are answered 503 (the shims run them
themselves); every call already accepted is finished, then the daemon exits.
"""

import errno
import gc
import os
import selectors
import signal
import socket
import struct
import sys
import time
from collections import deque

from cni import __version__
from cni.daemon import protocol, worker
from cni.daemon.metrics import CONTENT_TYPE, Metrics
from cni.plugins import MODULES
from cni.request import COMMANDS

DEFAULT_SOCKET = "/run/pycni/pycni.sock"
READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


class Options:
    def __init__(self, socket_path: str = DEFAULT_SOCKET, cni_bin_dirs: "tuple[str, ...]" = ("/opt/cni/bin",),
                 max_workers: int = 16, max_connections: int = 1024, max_request: int = 1 << 20,
                 read_timeout: float = 10.0, write_timeout: float = 10.0,
                 spares: int = 2, trace_imports: bool = False) -> None:
        self.socket_path = socket_path
        self.cni_bin_dirs = cni_bin_dirs
        self.max_workers = max_workers
        self.max_connections = max_connections
        self.max_request = max_request
        self.read_timeout = read_timeout
        self.write_timeout = write_timeout
        self.spares = spares
        self.trace_imports = trace_imports


class StartError(Exception):
    """The daemon cannot start (socket in use, bad path...): one line for the operator."""


class Spare:
    """A forked worker: waiting on its control socket for a call, then running it."""

    def __init__(self, pid: int, pidfd: int, ctl: socket.socket) -> None:
        self.pid = pid
        self.pidfd = pidfd
        self.ctl = ctl
        self.conn: "Conn | None" = None


class Conn:
    """One client connection, from accept to close."""

    def __init__(self, sock: socket.socket, pid: int, uid: int, now: float, read_timeout: float) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.pid = pid
        self.uid = uid
        self.buf = bytearray()
        self.out = b""
        self.state = "head"  # head, waiting (for readiness), body, queued, running, writing
        self.head: "tuple[str, str, dict[str, str]]" = ("", "", {})
        self.deadline: "float | None" = now + read_timeout
        self.length = 0
        self.plugin = ""
        self.verb = ""
        self.env: "dict[str, str]" = {}
        self.stdin = b""
        self.started = now


def log(text: str) -> None:
    try:
        sys.stderr.write(f"pycni daemon: {text}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


class Server:
    def __init__(self, options: Options) -> None:
        self.opt = options
        self.sel = selectors.DefaultSelector()
        self.metrics = Metrics()
        self.state = "starting"
        self.conns: "dict[int, Conn]" = {}
        self.queue: "deque[Conn]" = deque()
        self.running = 0
        self.idle: "deque[Spare]" = deque()
        self.waiting: "list[Conn]" = []  # CNI calls that came while starting
        self.workers: "dict[int, Spare]" = {}  # by pidfd: spares and running workers
        self.served: "dict[str, int]" = {}
        self.started_at = time.time()
        self.pid = os.getpid()
        self.listener = self._listen()
        self.listening = False
        self.owned_inode = os.stat(options.socket_path).st_ino if self.bound_here else 0
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)
        self.sel.register(self.wake_r, READ, None)
        self._listen_on()

    # -- the listening socket ----------------------------------------------------

    def _listen(self) -> socket.socket:
        """The socket systemd passed (socket activation), else one bound here, 0600."""
        self.bound_here = False
        if os.environ.get("LISTEN_PID") == str(os.getpid()) and os.environ.get("LISTEN_FDS", "0") != "0":
            for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
                os.environ.pop(name, None)
            sock = socket.socket(fileno=3)
            sock.set_inheritable(False)
            sock.setblocking(False)
            return sock
        path = self.opt.socket_path
        if not os.path.isabs(path) or "\0" in path or len(path.encode()) > 107:
            raise StartError(f"--socket must be an absolute path of at most 107 bytes: {path!r}")
        directory = os.path.dirname(path)
        if not os.path.isdir(directory):
            os.makedirs(directory, mode=0o700)
            os.chmod(directory, 0o700)
        elif os.stat(directory).st_mode & 0o077:
            log(f"warning: {directory} is open to other users; the socket itself is 0600")
        self._clear_stale(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(path)
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        self.bound_here = True
        sock.listen(512)
        sock.setblocking(False)
        return sock

    @staticmethod
    def _clear_stale(path: str) -> None:
        import stat
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise StartError(f"{path} exists and is not a socket; not touching it")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)  # a socket nobody listens on: a daemon that died
            return
        finally:
            probe.close()
        raise StartError(f"another daemon is listening on {path}")

    def _listen_on(self) -> None:
        if not self.listening and len(self.conns) < self.opt.max_connections:
            self.sel.register(self.listener, READ, None)
            self.listening = True
        elif self.listening and len(self.conns) >= self.opt.max_connections:
            self.sel.unregister(self.listener)
            self.listening = False

    # -- running -------------------------------------------------------------------

    def serve(self) -> int:
        """Warm up, serve until SIGTERM/SIGINT and every accepted call is done; exit status."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        signal.set_wakeup_fd(self.wake_w.fileno(), warn_on_full_buffer=False)
        self._warm_up()
        if self.state == "ready":
            log(f"ready on {self.opt.socket_path} (pid {self.pid}, pycni {__version__}, "
                f"{self.opt.max_workers} workers)")
        while not (self.state == "draining" and not self.running and not self.queue):
            if self.state == "draining":
                while self.idle:  # EOF on its control socket: the spare exits
                    self.idle.popleft().ctl.close()
            self.step(self._timeout())
        self._close()
        log("stopped")
        return 0

    def _warm_up(self) -> None:
        from cni.daemon import warm
        for name in warm.modules():
            warm.load(name)
            self.step(0)
        warm.netlink_tables()
        from cni.daemon import libnft
        libnft.module()  # dlopen'ed once here; each worker makes its own context
        gc.collect()
        gc.freeze()  # what is warm now is shared with every worker, untouched by the collector
        self.state = "ready" if self.state == "starting" else self.state
        self._replenish()
        waiting, self.waiting = self.waiting, []
        for conn in waiting:
            if self.conns.get(conn.fd) is conn:
                conn.state, conn.deadline = "head", time.monotonic() + self.opt.read_timeout
                self._cni_head(conn, *conn.head)
                if conn.state == "body" and len(conn.buf) >= conn.length:
                    self._body(conn)

    def _on_signal(self, signum: int, frame: object) -> None:
        if self.state != "draining":
            self.state = "draining"
            log(f"{signal.Signals(signum).name}: draining ({self.running} running, "
                f"{len(self.queue)} queued)")

    def _timeout(self) -> "float | None":
        deadlines = [c.deadline for c in self.conns.values() if c.deadline is not None]
        return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None

    def step(self, timeout: "float | None") -> None:
        for key, mask in self.sel.select(timeout):
            data = key.data
            try:
                if key.fileobj is self.listener:
                    self._accept()
                elif key.fileobj is self.wake_r:
                    self._drain_wakeups()
                elif isinstance(data, Spare):
                    self._reap(data)
                elif isinstance(data, Conn):
                    if mask & WRITE:
                        self._flush(data)
                    if mask & READ and data.fd in self.conns:
                        self._read(data)
            except Exception as exc:  # one connection's trouble never stops the loop
                log(f"internal error: {exc.__class__.__name__}: {exc}")
                if isinstance(data, Conn) and data.state != "running":
                    self._drop(data)
        self._expire()
        self._listen_on()

    def _drain_wakeups(self) -> None:
        try:
            while self.wake_r.recv(512):
                pass
        except BlockingIOError:
            pass

    def _expire(self) -> None:
        now = time.monotonic()
        for conn in [c for c in self.conns.values() if c.deadline is not None and c.deadline <= now]:
            if conn.state in ("head", "body"):
                self._record(conn, "refused")
                self._answer(conn, 408, "Request Timeout", b"request not read in time\n")
            else:
                self._drop(conn)

    # -- connections -----------------------------------------------------------------

    def _accept(self) -> None:
        for _ in range(64):
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE and friends: pause, the backlog keeps them
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    log(f"accept: {exc.strerror}")
                    return
                raise
            pid, uid, _gid = struct.unpack("3i", sock.getsockopt(
                socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
            sock.setblocking(False)
            conn = Conn(sock, pid, uid, time.monotonic(), self.opt.read_timeout)
            self.conns[conn.fd] = conn
            if uid not in (0, os.geteuid()):
                self._answer(conn, 403, "Forbidden", b"root only\n")
                continue
            self.sel.register(sock, READ, conn)
            if len(self.conns) >= self.opt.max_connections:
                break

    def _read(self, conn: Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away: drop whatever it asked, unless it runs already
            if conn.state == "queued":
                self.queue.remove(conn)
                self.metrics.queued.set(len(self.queue))
                self._record(conn, "lost")
            self._drop(conn)
            return
        if conn.state == "waiting":  # a body sent without waiting for 100 Continue
            conn.buf += data
            if len(conn.buf) > self.opt.max_request:
                self._refuse(conn, 413, "Payload Too Large", "request body over the limit")
            return
        if conn.state not in ("head", "body"):
            self._drop(conn)  # talking out of turn
            return
        conn.buf += data
        if conn.state == "head":
            self._head(conn)
        if conn.state == "body" and len(conn.buf) >= conn.length:
            self._body(conn)

    def _head(self, conn: Conn) -> None:
        end = conn.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(conn.buf) > protocol.MAX_HEAD:
                self._refuse(conn, 431, "Request Header Fields Too Large", "head too large")
            return
        if end > protocol.MAX_HEAD:
            self._refuse(conn, 431, "Request Header Fields Too Large", "head too large")
            return
        head, conn.buf = bytes(conn.buf[:end]), conn.buf[end + 4:]
        try:
            method, target, headers = protocol.parse_head(head)
        except protocol.Malformed as exc:
            self._refuse(conn, exc.status, "Bad Request" if exc.status == 400 else "Not Implemented",
                         str(exc))
            return
        if target.startswith(protocol.CNI_PATH):
            self._cni_head(conn, method, target, headers)
            return
        pages = {"/healthz": self._healthz, "/readyz": self._readyz, "/metrics": self._metrics_page,
                 "/v1/status": self._status_page}
        page = pages.get(target)
        if page is None:
            self._answer(conn, 404, "Not Found", b"no such path\n")
        elif method != "GET":
            self._answer(conn, 405, "Method Not Allowed", b"GET only\n")
        else:
            page(conn)

    def _cni_head(self, conn: Conn, method: str, target: str, headers: "dict[str, str]") -> None:
        conn.plugin = target[len(protocol.CNI_PATH):]
        if method != "POST":
            self._refuse(conn, 405, "Method Not Allowed", "POST only")
        elif conn.plugin not in MODULES:
            self._refuse(conn, 404, "Not Found", f"no plugin {conn.plugin[:64]!r}")
        elif self.state == "starting":
            conn.state, conn.deadline = "waiting", None  # answered once ready (_warm_up)
            conn.head = (method, target, headers)
            self.waiting.append(conn)
        elif self.state != "ready":
            self._refuse(conn, 503, "Service Unavailable", f"daemon {self.state}")
        else:
            try:
                conn.length = protocol.content_length(headers, self.opt.max_request)
            except protocol.Malformed as exc:
                self._refuse(conn, exc.status, "Payload Too Large" if exc.status == 413 else "Bad Request",
                             str(exc))
                return
            conn.state = "body"
            if headers.get("expect", "").lower() == "100-continue":
                self._send(conn, b"HTTP/1.1 100 Continue\r\n\r\n")

    def _body(self, conn: Conn) -> None:
        if len(conn.buf) > conn.length:
            self._refuse(conn, 400, "Bad Request", "more bytes than Content-Length")
            return
        try:
            conn.env, conn.stdin = protocol.decode_call(bytes(conn.buf))
        except protocol.Malformed as exc:
            self._refuse(conn, 400, "Bad Request", str(exc))
            return
        conn.buf = bytearray()
        verb = conn.env.get("CNI_COMMAND", "")
        conn.verb = verb if verb in COMMANDS else ("none" if not verb else "other")
        conn.state, conn.deadline, conn.started = "queued", None, time.monotonic()
        self.queue.append(conn)
        self.metrics.queued.set(len(self.queue))
        self._start_workers()

    # -- workers -----------------------------------------------------------------------

    def _start_workers(self) -> None:
        """Hand queued calls to spares (forking one only when none waits); spares are
        replenished when a worker exits (`_reap`), off the path of the calls running."""
        while self.queue and self.running < self.opt.max_workers:
            conn = self.queue.popleft()
            self.metrics.queued.set(len(self.queue))
            self._dispatch(conn)

    def _dispatch(self, conn: Conn) -> None:
        spare = self.idle.popleft() if self.idle else self._fork()
        self.sel.unregister(conn.sock)
        conn.sock.setblocking(True)
        try:
            worker.dispatch(spare.ctl, conn.fd, conn.plugin, conn.env, conn.stdin, conn.pid)
        except OSError as exc:  # the spare died under us: its exit is reaped as any other
            log(f"handing a call to worker {spare.pid} failed: {exc.strerror}")
        spare.ctl.close()
        spare.conn, conn.state = conn, "running"
        conn.env, conn.stdin = {}, b""
        self.running += 1
        self.metrics.in_flight.set(self.running)

    def _replenish(self) -> None:
        """Keep `spares` workers forked and waiting, within max_workers."""
        while self.state == "ready" and len(self.idle) < min(
                self.opt.spares, self.opt.max_workers - self.running):
            self.idle.append(self._fork())

    def _fork(self) -> "Spare":
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        others = [self.listener.fileno(), self.wake_r.fileno(), self.wake_w.fileno(), ours.fileno()]
        others += list(self.conns) + [w.pidfd for w in self.workers.values()]
        others += [w.ctl.fileno() for w in self.idle]
        selector_fd = getattr(self.sel, "fileno", lambda: -1)()
        if selector_fd >= 0:
            others.append(selector_fd)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        pid = os.fork()
        if pid == 0:
            worker.spare(theirs.fileno(), self.pid, others, self.opt.write_timeout,
                         self.opt.trace_imports)
        theirs.close()
        spare = Spare(pid, os.pidfd_open(pid), ours)
        self.workers[spare.pidfd] = spare
        self.sel.register(spare.pidfd, READ, spare)
        return spare

    def _reap(self, spare: "Spare") -> None:
        self.sel.unregister(spare.pidfd)
        del self.workers[spare.pidfd]
        os.close(spare.pidfd)
        _, status = os.waitpid(spare.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        conn = spare.conn
        if conn is None:  # a spare that never got a call
            if spare in self.idle:
                self.idle.remove(spare)
                log(f"spare worker {spare.pid} exited (status {code})")
            spare.ctl.close()
            self._replenish()
            return
        self.running -= 1
        self.metrics.in_flight.set(self.running)
        outcome = {0: "ok", 1: "error", worker.REPLY_LOST: "lost"}.get(code, "crashed")
        self._record(conn, outcome)
        if outcome == "crashed":
            why = f"signal {-code}" if code < 0 else f"exit status {code}"
            log(f"worker {spare.pid} for {conn.plugin} {conn.verb} died without replying ({why})")
            conn.sock.setblocking(False)
            self._answer(conn, 500, "Internal Server Error",
                         f"the worker died without replying ({why})\n".encode(),
                         headers={"Pycni-Signal": str(-code)} if code < 0 else None)
        else:
            self._drop(conn)
        self._start_workers()
        self._replenish()

    # -- replies -------------------------------------------------------------------------

    def _record(self, conn: Conn, outcome: str) -> None:
        self.served[outcome] = self.served.get(outcome, 0) + 1
        if conn.plugin in MODULES:
            seconds = time.monotonic() - conn.started if conn.state in ("queued", "running") else None
            self.metrics.record(conn.plugin, conn.verb or "none", outcome, seconds)

    def _refuse(self, conn: Conn, status: int, reason: str, why: str) -> None:
        """A CNI call not run: the shim runs the plugin itself."""
        self._record(conn, "refused")
        self._answer(conn, status, reason, why.encode() + b"\n")

    def _answer(self, conn: Conn, status: int, reason: str, body: bytes,
                content_type: str = "text/plain", headers: "dict[str, str] | None" = None) -> None:
        conn.state, conn.buf = "writing", bytearray()
        conn.deadline = time.monotonic() + self.opt.write_timeout
        self._send(conn, protocol.response(status, reason, body, headers, content_type), close=True)

    def _send(self, conn: Conn, data: bytes, close: bool = False) -> None:
        conn.out += data
        self._flush(conn, close)

    def _flush(self, conn: Conn, close: bool = False) -> None:
        try:
            sent = conn.sock.send(conn.out) if conn.out else 0
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._drop(conn)
            return
        conn.out = conn.out[sent:]
        if not conn.out and (close or conn.state == "writing"):
            self._drop(conn)
            return
        events = READ | WRITE if conn.out else READ
        if conn.state == "writing":
            events = WRITE
        if conn.fd in self.conns:
            try:
                self.sel.modify(conn.sock, events, conn)
            except KeyError:
                self.sel.register(conn.sock, events, conn)

    def _drop(self, conn: Conn) -> None:
        if self.conns.pop(conn.fd, None) is None:
            return
        try:
            self.sel.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()

    # -- pages ------------------------------------------------------------------------------

    def _healthz(self, conn: Conn) -> None:
        self._answer(conn, 200, "OK", b"ok\n")

    def _readyz(self, conn: Conn) -> None:
        if self.state == "ready":
            self._answer(conn, 200, "OK", b"ready\n")
        else:
            self._answer(conn, 503, "Service Unavailable", f"{self.state}\n".encode())

    def _metrics_page(self, conn: Conn) -> None:
        self._answer(conn, 200, "OK", self.metrics.render(), CONTENT_TYPE)

    def status(self) -> "dict[str, object]":
        return {
            "version": __version__, "protocol": protocol.PROTOCOL, "pid": self.pid,
            "state": self.state, "ready": self.state == "ready",
            "started_at": self.started_at, "uptime_seconds": round(time.time() - self.started_at, 3),
            "in_flight": self.running, "queued": len(self.queue), "connections": len(self.conns),
            "max_workers": self.opt.max_workers, "served": dict(sorted(self.served.items())),
            "socket": self.opt.socket_path, "cni_bin_dirs": list(self.opt.cni_bin_dirs),
            "plugins": sorted(MODULES),
        }

    def _status_page(self, conn: Conn) -> None:
        import json
        body = (json.dumps(self.status(), indent=2) + "\n").encode()
        self._answer(conn, 200, "OK", body, "application/json")

    def _close(self) -> None:
        for conn in list(self.conns.values()):
            self._drop(conn)
        self.sel.close()
        self.listener.close()
        if self.bound_here:
            try:
                if os.stat(self.opt.socket_path).st_ino == self.owned_inode:
                    os.unlink(self.opt.socket_path)
            except OSError:
                pass


def serve(options: Options) -> int:
    """Run the daemon in the foreground; its exit status."""
    server = Server(options)
    return server.serve()
