"""The daemon protocol's envelope (cni.daemon.protocol), without a daemon.

Requests: parse_head and content_length refuse what the protocol cannot read,
each with its status (400, 413, 501); a CNI call's body (the environment block
then stdin) round-trips through encode_call/decode_call for any environment a
process can have. Replies: parse_reply skips interim 1xx responses, reads the
body by Content-Length, and refuses a reply cut short.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cni.daemon import protocol
from cni.daemon.protocol import Malformed

# -- CNI call bodies -------------------------------------------------------------------


@pytest.mark.parametrize("env", [
    {},
    {"CNI_COMMAND": "ADD", "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAME=a=b", "EMPTY": ""},
    {"X": "="},
    {"X": "=="},
    {"X": "a=b=c="},
    {"UNICODE": "héllo wörld ☃ 𝄞", "ナマエ": "値"},
    {"SPACES": "  a b  ", "NEWLINE": "line1\nline2\r\n", "TAB": "\t"},
    {"UNDECODABLE": "\udcff\udc80x"},  # os.environ's surrogateescape form of bytes 0xff 0x80
    {"_": "/usr/bin/x", "a": "1", "A": "2"},  # names are case-sensitive
])
@pytest.mark.parametrize("stdin", [b"", b'{"cniVersion":"1.0.0"}', b"\0\0=\0", bytes(range(256))])
def test_call_round_trips(env, stdin):
    body = protocol.encode_call(env, stdin)
    assert protocol.decode_call(body) == (env, stdin)


def test_call_body_layout():
    body = protocol.encode_call({"A": "1", "B": "x=y"}, b"IN")
    assert body == b"A=1\0B=x=y\0\0IN"
    assert protocol.encode_call({}, b"") == b"\0"
    assert protocol.encode_call({"U": "é"}, b"") == "U=é".encode() + b"\0\0"


def test_undecodable_bytes_round_trip_as_bytes():
    """A variable holding bytes that are not UTF-8 (surrogateescape in os.environ) is sent
    as those very bytes."""
    body = protocol.encode_call({"RAW": "\udcff"}, b"")
    assert body == b"RAW=\xff\0\0"
    assert protocol.decode_call(b"RAW=\xff\xfe\0\0") == ({"RAW": "\udcff\udcfe"}, b"")


@pytest.mark.parametrize("body, why", [
    (b"", "not closed"),
    (b"A=1", "not closed"),
    (b"A=1\0", "not closed"),
    (b"A=1\0B=2\0", "not closed"),
    (b"NOEQUALS\0\0", "bad environment entry"),
    (b"=value\0\0", "bad environment entry"),
    (b"A=1\0=\0\0", "bad environment entry"),
])
def test_bad_call_bodies(body, why):
    with pytest.raises(Malformed, match=why) as info:
        protocol.decode_call(body)
    assert info.value.status == 400


def test_stdin_may_hold_anything_after_the_block():
    env, stdin = protocol.decode_call(b"A=1\0\0B=2\0\0")
    assert env == {"A": "1"}
    assert stdin == b"B=2\0\0"


NAME = st.text(st.characters(blacklist_characters="\0=", blacklist_categories=("Cs",)), min_size=1,
               max_size=20)
VALUE = st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=200, deadline=None)
@given(env=st.dictionaries(NAME, VALUE, max_size=12), stdin=st.binary(max_size=200))
def test_call_round_trip_property(env, stdin):
    assert protocol.decode_call(protocol.encode_call(env, stdin)) == (env, stdin)


# -- request heads -------------------------------------------------------------------------


def test_parse_head():
    method, target, headers = protocol.parse_head(
        b"POST /v1/cni/bridge HTTP/1.1\r\nHost: pycni\r\nContent-Length:  12 \r\n"
        b"Expect: 100-continue\r\nX-Empty:\r\nX-Colon: a:b")
    assert (method, target) == ("POST", "/v1/cni/bridge")
    assert headers == {"host": "pycni", "content-length": "12", "expect": "100-continue",
                       "x-empty": "", "x-colon": "a:b"}
    assert protocol.parse_head(b"GET /healthz HTTP/1.0") == ("GET", "/healthz", {})


@pytest.mark.parametrize("head", [
    b"",
    b"GET",
    b"GET /healthz",
    b"GET /healthz HTTP/1.1 extra",
    b"GET  /healthz HTTP/1.1",
    b"GET healthz HTTP/1.1",
    b"GET /healthz HTTP/2.0",
    b"GET /healthz http/1.1",
    b"GET /healthz HTTP/1.1 ",
    b"\x00\xff\xfe garbage \x80",
    b"GET /healthz HTTP/1.1\r\nNoColon",
    b"GET /healthz HTTP/1.1\r\n: no name",
    b"GET /healthz HTTP/1.1\r\nName : space before the colon",
    b"GET /healthz HTTP/1.1\r\n Folded: leading space",
    b"GET /healthz HTTP/1.1\r\nHost: a\r\n continued line",
    b"GET /healthz HTTP/1.1\r\nN\xe4me: not ascii",
    b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nX: y",  # an empty line inside the head
    b"POST /v1/cni/x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1",
    b"POST /v1/cni/x HTTP/1.1\r\nContent-Length: 1\r\ncontent-length: 2",
])
def test_bad_heads_are_400(head):
    with pytest.raises(Malformed) as info:
        protocol.parse_head(head)
    assert info.value.status == 400, info.value


@pytest.mark.parametrize("head", [
    b"POST /v1/cni/x HTTP/1.1\r\nTransfer-Encoding: chunked",
    b"POST /v1/cni/x HTTP/1.1\r\ntransfer-encoding: identity\r\nContent-Length: 3",
    b"GET /healthz HTTP/1.1\r\nTRANSFER-ENCODING: gzip",
])
def test_transfer_encoding_is_501(head):
    with pytest.raises(Malformed, match="Transfer-Encoding") as info:
        protocol.parse_head(head)
    assert info.value.status == 501


def test_repeated_transfer_encoding_is_400():
    with pytest.raises(Malformed, match="repeated") as info:
        protocol.parse_head(b"POST /v1/cni/x HTTP/1.1\r\nTransfer-Encoding: a\r\nTransfer-Encoding: b")
    assert info.value.status == 400


def test_other_repeated_headers_keep_the_last():
    assert protocol.parse_head(b"GET / HTTP/1.1\r\nX: 1\r\nx: 2")[2] == {"x": "2"}


@pytest.mark.parametrize("value, expected", [
    (None, 0), ("0", 0), ("1", 1), ("4096", 4096), ("0004096", 4096),
])
def test_content_length(value, expected):
    headers = {} if value is None else {"content-length": value}
    assert protocol.content_length(headers, 4096) == expected


@pytest.mark.parametrize("value", [
    "", "-1", "+1", " 1", "1.0", "1e3", "0x10", "abc", "1 2", "١٢",  # Arabic-Indic digits
    "²", "9" * 19, "1" * 40,
])
def test_bad_content_length_is_400(value):
    with pytest.raises(Malformed, match="Content-Length") as info:
        protocol.content_length({"content-length": value}, 1 << 62)
    assert info.value.status == 400


@pytest.mark.parametrize("value", ["4097", "999999999999999999"])
def test_content_length_over_the_limit_is_413(value):
    with pytest.raises(Malformed, match="over the limit") as info:
        protocol.content_length({"content-length": value}, 4096)
    assert info.value.status == 413


# -- replies ------------------------------------------------------------------------------


def test_response_layout():
    data = protocol.response(404, "Not Found", b"no\n", {"X-A": "1"})
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 404 Not Found"
    assert set(lines[1:]) == {"Content-Type: text/plain", "Content-Length: 3", "Pycni-Protocol: 1",
                              "Connection: close", "X-A: 1"}
    assert body == b"no\n"


def test_call_reply_round_trips():
    data = protocol.call_reply(1, b'{"code":7}', b"oops\n")
    status, headers, body = protocol.parse_reply(data)
    assert status == 200
    assert headers["pycni-exit-status"] == "1"
    assert headers["content-type"] == "application/octet-stream"
    split = int(headers["pycni-stdout-length"])
    assert (body[:split], body[split:]) == (b'{"code":7}', b"oops\n")


def test_parse_reply_skips_100_continue():
    final = protocol.call_reply(0, b"out", b"err")
    for interim in (b"HTTP/1.1 100 Continue\r\n\r\n",
                    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX: y\r\n\r\n"):
        status, headers, body = protocol.parse_reply(interim + final)
        assert status == 200
        assert body == b"outerr"
        assert headers["pycni-stdout-length"] == "3"


def test_parse_reply_stops_at_content_length():
    status, _, body = protocol.parse_reply(protocol.response(503, "Service Unavailable", b"draining\n")
                                           + b"trailing junk")
    assert (status, body) == (503, b"draining\n")


def test_parse_reply_without_content_length_takes_the_rest():
    reply = protocol.parse_reply(b"HTTP/1.1 200 OK\r\nX: 1\r\n\r\nall of it")
    assert reply == (200, {"x": "1"}, b"all of it")


@pytest.mark.parametrize("data, why", [
    (b"", "truncated reply"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n", "truncated reply"),
    (b"HTTP/1.1 100 Continue\r\n\r\n", "truncated reply"),
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", "truncated reply"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n123456789", "truncated reply body"),
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n", "truncated reply body"),
    (b"HTTP/1.1\r\n\r\n", "bad status line"),
    (b"HTTP/1.1 OK 200\r\n\r\n", "bad status line"),
    (b"garbage\r\n\r\n", "bad status line"),
])
def test_truncated_or_bad_replies(data, why):
    with pytest.raises(Malformed, match=why):
        protocol.parse_reply(data)


def test_every_cut_of_a_reply_is_refused():
    data = b"HTTP/1.1 100 Continue\r\n\r\n" + protocol.call_reply(0, b'{"cniVersion":"1.0.0"}', b"warn")
    for cut in range(len(data)):
        with pytest.raises(Malformed):
            protocol.parse_reply(data[:cut])
    assert protocol.parse_reply(data)[2] == b'{"cniVersion":"1.0.0"}warn'


@pytest.mark.parametrize("length", ["abc", "-5", "+3", "1e1"])
def test_parse_reply_refuses_a_bad_content_length(length):
    """A reply whose Content-Length is not a decimal count is not a reply: with "-5"
    parse_reply would otherwise hand back the body minus its last 5 bytes."""
    data = f"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n0123456789".encode()
    with pytest.raises(ValueError):
        result = protocol.parse_reply(data)
        raise AssertionError(f"protocol.parse_reply accepted Content-Length {length!r}: returned {result!r}"
                             " (daemon bug: cni/daemon/protocol.py parse_reply takes int() of any "
                             "Content-Length, negative or signed included)")
