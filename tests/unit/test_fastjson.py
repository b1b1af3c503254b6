"""cni.fastjson gives the stdlib json's results and errors, value for value."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cni import fastjson

# What JSON can hold, plus what only dumps sees (tuples, non-str keys, floats).
SCALARS = st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=True)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.tuples(inner, inner)
                      | st.dictionaries(st.text(max_size=8) | st.integers() | st.booleans(), inner,
                                        max_size=4), max_leaves=20)


def outcome(fn, *args, **kwargs):
    """(result, None) or (None, (error type, message)): what a caller would see."""
    try:
        return fn(*args, **kwargs), None
    except Exception as exc:
        return None, (type(exc), str(exc))


@settings(max_examples=300)
@given(VALUES, st.sampled_from([None, 0, 2, 4]))
def test_dumps_matches_the_stdlib(value, indent):
    assert outcome(fastjson.dumps, value, indent=indent) == outcome(json.dumps, value, indent=indent)


@settings(max_examples=300)
@given(VALUES)
def test_loads_of_any_dumped_value_matches_the_stdlib(value):
    text = json.dumps(value, ensure_ascii=False)
    for data in (text, text.encode("utf-8"), f" \n\t{text}\r\n "):
        assert repr(outcome(fastjson.loads, data)) == repr(outcome(json.loads, data))


@settings(max_examples=300)
@given(st.text(alphabet='{}[]",:0123456789.eE+-tfnrul aNIy\\\t\n\u00e9\ufeff', max_size=30))
def test_loads_of_arbitrary_text_matches_the_stdlib_errors_included(text):
    for data in (text, text.encode("utf-8", "surrogatepass")):
        assert repr(outcome(fastjson.loads, data)) == repr(outcome(json.loads, data))


@pytest.mark.parametrize("data", [
    b"", b"   ", b"{", b'{"a": 1} x', b'{"a": 1}{}', b"\xef\xbb\xbf{}", "\ufeff{}",
    '{"a": 1}'.encode("utf-16"), '{"a": 1}'.encode("utf-32-le"), b"\xff\xfe\x01\x01",
    b'{"a": NaN, "b": -Infinity}', b"[1e400, -0.0, 12345678901234567890]", b'"\\ud800"',
    b'{"a": "\xed\xa0\x80"}', b'{"tab": "\t"}', 17, None,
])
def test_loads_edge_cases_match_the_stdlib(data):
    assert repr(outcome(fastjson.loads, data)) == repr(outcome(json.loads, data))


def test_the_plugin_result_shape_prints_exactly_as_the_stdlib_prints_it():
    result = {"cniVersion": "1.0.0",
              "interfaces": [{"name": "cni0", "mac": "aa:bb:cc:dd:ee:ff"},
                             {"name": "eth0", "sandbox": "/run/netns/x"}],
              "ips": [{"interface": 1, "address": "10.1.0.2/24", "gateway": "10.1.0.1"}],
              "routes": [{"dst": "0.0.0.0/0"}], "dns": {}}
    assert fastjson.dumps(result, indent=4) == json.dumps(result, indent=4)


def test_a_cycle_is_the_stdlibs_value_error():
    loop: list = []
    loop.append(loop)
    assert outcome(fastjson.dumps, loop) == outcome(json.dumps, loop)
