"""The daemon protocol, version 1: HTTP/1.1 over a unix socket (docs/daemon-protocol.md).

Where it sits: `cni.daemon.server` parses requests and builds replies with it;
`cni.daemon.client` (status, tests) builds requests. The shims (cni/shim/)
speak the same bytes on their own: the C shim cannot import this, and the
Python shim imports nothing that is not built into the interpreter.

A CNI call is `POST /v1/cni/<plugin>` with a body of two parts: the caller's
environment, each `NAME=VALUE` followed by a NUL byte, closed by one more NUL
(an empty entry; no variable can hold a NUL, so the split is exact), then the
plugin's stdin bytes, as they are. The reply (200) carries the plugin's stdout
then its stderr in the body, the split given by `Pycni-Stdout-Length`, and the
exit status in `Pycni-Exit-Status`. Any other status answered before the body
is read means the call was not run (the shim then runs the plugin itself); 500
means its worker died while running it.
"""

PROTOCOL = 1
CNI_PATH = "/v1/cni/"
MAX_HEAD = 16 * 1024  # request line and headers


class Malformed(ValueError):
    """A request this protocol cannot read (answered 400, or 413 when too large)."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


def parse_head(head: bytes) -> "tuple[str, str, dict[str, str]]":
    """(method, target, headers with lower-case names) of a request head (no final CRLFCRLF)."""
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes every byte
        raise Malformed("undecodable head") from exc
    line, _, rest = text.partition("\r\n")
    parts = line.split(" ")
    if len(parts) != 3 or parts[2] not in ("HTTP/1.1", "HTTP/1.0") or not parts[1].startswith("/"):
        raise Malformed(f"bad request line {line[:80]!r}")
    headers: "dict[str, str]" = {}
    for field in rest.split("\r\n") if rest else ():
        name, sep, value = field.partition(":")
        if not sep or not name or name != name.strip() or not name.isascii():
            raise Malformed(f"bad header line {field[:80]!r}")
        key = name.lower()
        if key in headers and key in ("content-length", "transfer-encoding"):
            raise Malformed(f"repeated {name}")
        headers[key] = value.strip()
    if "transfer-encoding" in headers:
        raise Malformed("Transfer-Encoding is not supported: send Content-Length", 501)
    return parts[0], parts[1], headers


def content_length(headers: "dict[str, str]", limit: int) -> int:
    value = headers.get("content-length", "0")
    if not value.isdigit() or not value.isascii() or len(value) > 18:
        raise Malformed(f"bad Content-Length {value[:40]!r}")
    length = int(value)
    if length > limit:
        raise Malformed(f"request body of {length} bytes is over the limit of {limit}", 413)
    return length


def encode_call(env: "dict[str, str]", stdin: bytes) -> bytes:
    """The body of a CNI call."""
    entries = b"".join(f"{k}={v}".encode("utf-8", "surrogateescape") + b"\0" for k, v in env.items())
    return entries + b"\0" + stdin


def decode_call(body: bytes) -> "tuple[dict[str, str], bytes]":
    """(environment, stdin) of a CNI call's body."""
    env: "dict[str, str]" = {}
    pos = 0
    while True:
        end = body.find(b"\0", pos)
        if end < 0:
            raise Malformed("the environment block is not closed by an empty entry")
        if end == pos:
            return env, body[end + 1:]
        name, sep, value = body[pos:end].decode("utf-8", "surrogateescape").partition("=")
        if not sep or not name:
            raise Malformed(f"bad environment entry {body[pos:min(end, pos + 40)]!r}")
        env[name] = value
        pos = end + 1


def response(status: int, reason: str, body: bytes = b"",
             headers: "dict[str, str] | None" = None, content_type: str = "text/plain") -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {content_type}",
             f"Content-Length: {len(body)}", f"Pycni-Protocol: {PROTOCOL}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def call_reply(exit_status: int, stdout: bytes, stderr: bytes) -> bytes:
    """The 200 reply of a CNI call that ran."""
    return response(200, "OK", stdout + stderr,
                    {"Pycni-Exit-Status": str(exit_status), "Pycni-Stdout-Length": str(len(stdout))},
                    content_type="application/octet-stream")


def parse_reply(data: bytes) -> "tuple[int, dict[str, str], bytes]":
    """(status, headers, body) of a whole reply (interim 1xx responses skipped)."""
    while True:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            raise Malformed("truncated reply")
        line, _, fields = head.decode("latin-1").partition("\r\n")
        parts = line.split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise Malformed(f"bad status line {line[:80]!r}")
        status = int(parts[1])
        if 100 <= status < 200:
            data = rest
            continue
        headers = {}
        for field in fields.split("\r\n") if fields else ():
            name, _, value = field.partition(":")
            headers[name.strip().lower()] = value.strip()
        value = headers.get("content-length", str(len(rest)))
        if not value.isdigit() or not value.isascii():
            raise Malformed(f"bad Content-Length {value[:40]!r}")
        length = int(value)
        if len(rest) < length:
            raise Malformed("truncated reply body")
        return status, headers, rest[:length]
