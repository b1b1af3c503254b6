"""A client of the daemon's socket: `pycni daemon status`, and the tests.

Blocking, one request per connection (the daemon closes after each reply),
bounded by `timeout` seconds for the whole exchange.
"""

import socket
import time

from cni.daemon import protocol


def request(socket_path: str, method: str, path: str, body: bytes = b"",
            headers: "dict[str, str] | None" = None,
            timeout: float = 10.0) -> "tuple[int, dict[str, str], bytes]":
    """(status, headers, body) of one request."""
    fields = {"Host": "pycni", "Content-Length": str(len(body)), **(headers or {})}
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(socket_path)
        try:
            sock.sendall(head.encode("latin-1") + b"\r\n" + body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered (413...) and closed before the body was all sent: read the answer
        data = bytearray()
        while not _complete(data):  # by Content-Length: a worker may close a little later
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return protocol.parse_reply(bytes(data))


def _complete(data: bytearray) -> bool:
    try:
        protocol.parse_reply(bytes(data))
    except (protocol.Malformed, ValueError):
        return False
    return True


def call(socket_path: str, plugin: str, env: "dict[str, str]", stdin: bytes,
         timeout: float = 60.0) -> "tuple[int, bytes, bytes]":
    """(exit status, stdout, stderr) of a CNI call run by the daemon; raises
    protocol.Malformed when the reply is not a 200 with them."""
    status, headers, body = request(socket_path, "POST", protocol.CNI_PATH + plugin,
                                    protocol.encode_call(env, stdin), timeout=timeout)
    if status != 200:
        raise protocol.Malformed(f"daemon answered {status}: {body[:200].decode(errors='replace')}")
    split = int(headers["pycni-stdout-length"])
    return int(headers["pycni-exit-status"]), body[:split], body[split:]
