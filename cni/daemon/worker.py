"""One CNI call, in a worker forked from the warm daemon: the exec path, minus the exec.

Where it sits: `cni.daemon.server` forks spares ahead of need; each calls
`spare()`, which touches the pages every call touches (copy-on-write), waits
for one call on its control socket (`dispatch`/`receive`: the connection's fd
by SCM_RIGHTS, the request by marshal), serves it and exits: it never returns.
The worker is the plugin process the runtime would have exec'd, with
everything already imported:

- it dies with the daemon (PR_SET_PDEATHSIG): a call is never left running
  after its daemon is gone, so a runtime that saw the connection close may DEL
  at once without racing a half-done ADD;
- it enters the caller's network and mount namespaces (the shim's, found by
  the peer credentials of the connection) when they differ from the daemon's:
  the host side of an attachment, CNI_NETNS and the state under /var/lib/cni
  then mean what they mean to the runtime, as when the runtime execs a plugin;
- its environment is the caller's, its stdout and stderr are memory files,
  its stdin the call's bytes; `cni.skel.run` serves the verb exactly as for an
  exec (same validation, same errors, same locks and files);
- it writes the reply itself, so the connection closes when the call is over
  and not before; its exit status tells the daemon the outcome: the plugin's
  exit status once the reply is sent, REPLY_LOST when it could not be (and a
  successful ADD whose reply was lost is undone by DEL, as the skel does);
- masquerading's nft commands go to libnftables in-process (cni.daemon.libnft).
"""

import ctypes
import gc
import io
import marshal
import os
import signal
import socket
import struct
import sys

from cni import faults, skel
from cni.daemon import libnft, protocol
from cni.host.ipmasq import nftables
from cni.plugins import MODULES

REPLY_LOST = 3
PR_SET_PDEATHSIG = 1


def spare(ctl_fd: int, parent: int, close: "list[int]", write_timeout: float,
          trace_imports: bool) -> None:
    """Wait on ctl_fd for one call (the connection's fd and the request), run it, reply,
    exit: the process never returns. EOF on ctl_fd (the daemon draining) exits at once."""
    status = REPLY_LOST
    log_fd = 2  # the daemon's stderr, kept apart from the call's (a memory file on fd 2)
    plugin = "?"
    try:
        gc.disable()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        _die_with(parent)
        for fd in close:
            try:
                os.close(fd)
            except OSError:
                pass
        log_fd = os.dup(2)
        _prefault()
        job = receive(ctl_fd)
        if job is None:
            os._exit(0)
        conn_fd, plugin, env, stdin, peer_pid = job
        before = set(sys.modules) if trace_imports else set()
        reply = run(plugin, env, stdin, peer_pid)
        if trace_imports:
            late = sorted(set(sys.modules) - before)
            if late:
                os.write(log_fd, f"pycni daemon: late imports in {plugin}: {' '.join(late)}\n".encode())
        status = _send(conn_fd, reply, write_timeout)
        if status == REPLY_LOST and reply[0] == 0 and env.get("CNI_COMMAND") == "ADD":
            undo(plugin, env, stdin)
    except BaseException as exc:  # the daemon answers 500 for a worker that did not reply
        try:
            os.write(log_fd, f"pycni daemon: worker for {plugin} failed: {exc!r}\n".encode())
        except OSError:
            pass
    finally:
        os._exit(status)


def dispatch(ctl: socket.socket, conn_fd: int, plugin: str, env: "dict[str, str]", stdin: bytes,
             peer_pid: int) -> None:
    """Hand one call to a spare (the daemon's side of `receive`)."""
    payload = marshal.dumps((plugin, env, stdin, peer_pid))
    data = struct.pack("=Q", len(payload)) + payload
    sent = ctl.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("=i", conn_fd))])
    if sent < len(data):
        ctl.sendall(data[sent:])


def receive(ctl_fd: int) -> "tuple[int, str, dict[str, str], bytes, int] | None":
    ctl = socket.socket(fileno=ctl_fd)
    try:
        data, ancdata, _, _ = ctl.recvmsg(65536, socket.CMSG_SPACE(4))
        if not data:
            return None
        conn_fd = next(struct.unpack("=i", cdata[:4])[0] for level, kind, cdata in ancdata
                       if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS)
        buf = bytearray(data)
        while len(buf) < 8 or len(buf) < 8 + struct.unpack("=Q", buf[:8])[0]:
            chunk = ctl.recv(1 << 20)
            if not chunk:
                return None
            buf += chunk
        plugin, env, stdin, peer_pid = marshal.loads(bytes(buf[8:]))
        return conn_fd, plugin, env, stdin, peer_pid
    finally:
        ctl.detach()


def _prefault() -> None:
    """Touch, while idle, the pages every call touches (copy-on-write after the fork):
    a VERSION and a refused ADD through the skel, to nowhere."""
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)  # the refused ADD logs its error
    try:
        for env in ({"CNI_COMMAND": "VERSION"}, {"CNI_COMMAND": "ADD"}):
            skel.run("cni.plugins.loopback", env=env, stdin=io.BytesIO(b'{"cniVersion":"1.1.0"}'),
                     stdout=io.StringIO(), stderr=io.StringIO())
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def run(plugin: str, env: "dict[str, str]", stdin: bytes, peer_pid: int) -> "tuple[int, bytes]":
    """(the plugin's exit status, the reply bytes) of the call, run in this process."""
    enter_namespaces_of(peer_pid)
    nftables.use_library(libnft.runner())
    os.environ.clear()
    os.environ.update(env)
    faults.arm()
    out = os.memfd_create("stdout", os.MFD_CLOEXEC)
    err = os.memfd_create("stderr", os.MFD_CLOEXEC)
    os.dup2(out, 1)
    os.dup2(err, 2)
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), write_through=True)
    status = skel.run(MODULES[plugin], env=dict(env), stdin=io.BytesIO(stdin))
    sys.stderr.flush()
    reply = protocol.call_reply(status, _contents(out), _contents(err))
    return status, reply


def undo(plugin: str, env: "dict[str, str]", stdin: bytes) -> None:
    """DEL an ADD whose result never reached the caller, as the skel does when its
    stdout fails: the runtime will never learn of the attachment."""
    skel.run(MODULES[plugin], env=dict(env, CNI_COMMAND="DEL"), stdin=io.BytesIO(stdin))


def _contents(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    return os.pread(fd, size, 0) if size else b""


def enter_namespaces_of(pid: int) -> None:
    """setns into pid's network, then mount namespace, where they are not ours."""
    libc = ctypes.CDLL(None, use_errno=True)
    fds = []
    try:
        for kind in ("net", "mnt"):
            theirs, ours = f"/proc/{pid}/ns/{kind}", f"/proc/self/ns/{kind}"
            if os.stat(theirs).st_ino != os.stat(ours).st_ino:
                fds.append(os.open(theirs, os.O_RDONLY | os.O_CLOEXEC))
        for fd in fds:
            if libc.setns(fd, 0) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns into the caller's namespace: {os.strerror(err)}")
    finally:
        for fd in fds:
            os.close(fd)
    if fds:
        os.chdir("/")


def _die_with(parent: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the daemon died before the line above
        os._exit(REPLY_LOST)


def _send(conn_fd: int, reply: "tuple[int, bytes]", timeout: float) -> int:
    status, data = reply
    conn = socket.socket(fileno=conn_fd)
    try:
        conn.settimeout(timeout)
        conn.sendall(data)
    except OSError:
        return REPLY_LOST
    finally:
        conn.detach()
    return status
