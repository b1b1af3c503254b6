"""The Python shim: pycni-shim.c's twin, for machines without a C compiler.

`pycni install --mode daemon` writes it under each plugin's name, with a
shebang running the interpreter with -IS (isolated, no site) and a `pycni-plugin: <name>`
line, when no native shim can be had. It imports only modules built into the
interpreter or its C extensions (posix, _socket, select), so that it starts
in the interpreter's bare start-up time; behaviour, settings and hand-offs
are the C shim's (see its header), byte for byte on the wire.
"""

import _socket
import posix
import select
import sys

NAME = "{name}"  # replaced at install time
MAX_STDIN = 64 << 20


def main() -> None:
    here = sys.argv[0].rpartition("/")[0] or "."
    conf = {"socket": "/run/pycni/pycni.sock", "strict": "0", "ready_timeout_ms": "2000",
            "reply_timeout_ms": "0"}
    try:
        with open(here + "/.pycni/shim.conf", encoding="utf-8") as f:
            for line in f:
                key, sep, value = line.strip().partition("=")
                if sep and key in conf:
                    conf[key] = value
    except OSError:
        pass
    strict = conf["strict"] not in ("", "0")
    entry = here + "/.pycni/" + NAME

    def fallback(reason: "str | None", data: "bytes | None") -> None:
        env = dict(posix.environ)
        if reason:
            env[b"PYCNI_SHIM_FALLBACK"] = reason.encode()
        if strict:
            env[b"PYCNI_SHIM_STRICT"] = b"1"
        if data is not None:
            fd = posix.memfd_create("stdin", 0)
            view = memoryview(data)
            while view:
                view = view[posix.write(fd, view):]
            posix.lseek(fd, 0, 0)
            posix.dup2(fd, 0)
            posix.close(fd)
        try:
            posix.execve(entry, [entry, *sys.argv[1:]], env)
        except OSError as exc:
            posix.write(2, f"pycni-shim ({NAME}): {entry}: {exc.strerror}\n".encode())
            posix._exit(1)

    def now() -> float:
        return posix.times().elapsed

    def wait(sock: "_socket.socket", event: int, deadline: float) -> bool:
        poller = select.poll()
        poller.register(sock.fileno(), event)
        left = -1 if not deadline else max(0, int((deadline - now()) * 1000))
        return bool(poller.poll(left)) if left != 0 else False

    # The protocol channel: only a pipe or a socket with a reader goes to the daemon.
    try:
        mode = posix.fstat(1).st_mode & 0o170000
    except OSError:
        fallback(None, None)
    if mode not in (0o010000, 0o140000):
        fallback(None, None)
    if mode == 0o010000:
        poller = select.poll()
        poller.register(1, 0)
        if any(ev & select.POLLERR for _, ev in poller.poll(0)):
            fallback(None, None)
    try:
        posix.fstat(0)
        tty = posix.isatty(0)
    except OSError:
        tty = True
    if tty:
        fallback(None, None)

    env = b"".join(k + b"=" + v + b"\0" for k, v in posix.environ.items()) + b"\0"
    chunks = []
    size = 0
    while size <= MAX_STDIN:
        try:
            chunk = posix.read(0, 1 << 16)
        except OSError:
            fallback(None, None)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    data = b"".join(chunks)
    if size > MAX_STDIN:
        fallback("away", data)
    body = env + data

    ready_by = now() + int(conf["ready_timeout_ms"] or 0) / 1000
    reply_ms = int(conf["reply_timeout_ms"] or 0)
    try:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        sock.settimeout(max(0.001, ready_by - now()))
        sock.connect(conf["socket"])
        sock.sendall(f"POST /v1/cni/{NAME} HTTP/1.1\r\nHost: pycni\r\nPycni-Protocol: 1\r\n"
                     f"Expect: 100-continue\r\nContent-Length: {len(body)}\r\n\r\n".encode())
        reply = b""
        while b"\r\n\r\n" not in reply:
            sock.settimeout(max(0.001, ready_by - now()))
            chunk = sock.recv(65536)
            if not chunk:
                raise OSError("closed")
            reply += chunk
        head, _, reply = reply.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 100 "):
            raise OSError("not taken")
        sock.settimeout(reply_ms / 1000 if reply_ms else None)
        sock.sendall(body)
    except OSError:
        fallback("away", data)
    try:
        while b"\r\n\r\n" not in reply:
            chunk = sock.recv(65536)
            if not chunk:
                raise OSError("closed")
            reply += chunk
        head, _, reply = reply.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        fields = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
        killed = int(fields.get("pycni-signal", "0")) if lines[0].split(" ")[1] == "500" else 0
        if 0 < killed < 65:  # the worker died of it: so does the shim, as an exec'd plugin would
            posix.kill(posix.getpid(), killed)
        if lines[0].split(" ")[1] != "200":
            raise OSError("not 200")
        length = int(fields["content-length"])
        status = int(fields["pycni-exit-status"])
        split = int(fields["pycni-stdout-length"])
        while len(reply) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise OSError("closed")
            reply += chunk
    except (OSError, ValueError, KeyError, IndexError):
        fallback("lost", data)
    sock.close()
    out = memoryview(reply[:split])
    try:
        while out:
            out = out[posix.write(1, out):]
    except OSError as exc:
        fallback(f"unwritten:{status}:{exc.strerror}", data)
    err = memoryview(reply[split:length])
    try:
        while err:
            err = err[posix.write(2, err):]
    except OSError:
        pass
    posix._exit(status)


main()
