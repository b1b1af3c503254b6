"""`loads` and `dumps` with the stdlib json's exact results, without its import cost.

Where it sits: the skel (stdin config, VERSION, the result on stdout) and
netconf import this as `json`. `import json` costs ~7 ms per exec (json.decoder
and json.encoder import re, which imports enum, functools, collections, and
compile their patterns): a third of a VERSION answer. The parsing and string
escaping are the same C code the stdlib json uses (`_json.make_scanner`,
`_json.encode_basestring_ascii`); only the thin Python layer around it is here.

Same results, by construction:
- `loads` takes the fast path only for input the stdlib reads the same way
  (str, or bytes that are UTF-8 without BOM); it scans with the stdlib's own
  scanner and settings. Anything else, and every error, goes to `json.loads`
  itself, so error types and messages are the stdlib's.
- `dumps` handles dict (str keys), list, tuple, str, int, bool and None with
  the default separators and ensure_ascii; for any other value (floats,
  non-str keys, other types, cycles) the whole call goes to `json.dumps`.
tests/unit/test_fastjson.py checks both against the stdlib on generated values.
"""

import _json

TYPE_CHECKING = False  # type checkers read this as True; typing costs ~3 ms per exec
if TYPE_CHECKING:
    from typing import Any, Protocol

    class _Json(Protocol):
        """The stdlib json module, as far as this one calls it."""

        def loads(self, s: "str | bytes | bytearray", /) -> Any: ...

        def dumps(self, obj: object, /, *, indent: "int | None" = ...) -> str: ...

_WHITESPACE = " \t\n\r"  # the stdlib's WHITESPACE pattern: [ \t\n\r]*


class _Context:
    """What `_json.make_scanner` reads from a JSONDecoder (its defaults)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo = None

    @staticmethod
    def parse_constant(name: str) -> float:
        return {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}[name]


_scan = _json.make_scanner(_Context())  # type: ignore[arg-type]  # any object with its attributes does
_escape = _json.encode_basestring_ascii


def loads(data: "str | bytes | bytearray") -> "Any":  # any JSON value, as json.loads
    if isinstance(data, (bytes, bytearray)):
        if data[:3] == b"\xef\xbb\xbf" or b"\x00" in data[:4]:  # BOM or UTF-16/32
            return _stdlib().loads(data)
        try:
            data = data.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            return _stdlib().loads(data)
    elif not isinstance(data, str) or data.startswith("\ufeff"):
        return _stdlib().loads(data)
    start = len(data) - len(data.lstrip(_WHITESPACE))
    try:
        obj, end = _scan(data, start)
    except Exception:
        return _stdlib().loads(data)
    if data[end:].strip(_WHITESPACE):
        return _stdlib().loads(data)  # "Extra data"
    return obj


def dumps(obj: object, indent: "int | None" = None) -> str:
    out: "list[str]" = []
    try:
        _encode(obj, out, "\n" if indent is not None else "", " " * (indent or 0), set())
    except _Unsupported:
        return _stdlib().dumps(obj, indent=indent)
    return "".join(out)


class _Unsupported(Exception):
    """A value this encoder leaves to the stdlib."""


def _encode(obj: object, out: "list[str]", newline: str, step: str, seen: "set[int]") -> None:
    if isinstance(obj, str):
        out.append(_escape(obj))
    elif obj is None or obj is True or obj is False:
        out.append("null" if obj is None else "true" if obj else "false")
    elif type(obj) is int:
        out.append(int.__repr__(obj))
    elif type(obj) is dict or type(obj) is list or type(obj) is tuple:  # not `in`: mypy narrows `is`
        if id(obj) in seen:
            raise _Unsupported  # a cycle: the stdlib's ValueError
        seen.add(id(obj))
        _container(obj, out, newline, step, seen)
        seen.discard(id(obj))
    else:
        raise _Unsupported


def _container(obj: "dict[Any, Any] | list[Any] | tuple[Any, ...]", out: "list[str]", newline: str,
               step: str, seen: "set[int]") -> None:
    is_dict = type(obj) is dict
    if not obj:
        out.append("{}" if is_dict else "[]")
        return
    inner = newline + step
    out.append("{" if is_dict else "[")
    separator = inner if newline else ""
    for item in (obj.items() if type(obj) is dict else obj):  # is_dict, in a form mypy narrows
        out.append(separator)
        separator = "," + inner if newline else ", "
        if is_dict:
            key, item = item
            if not isinstance(key, str):
                raise _Unsupported
            out.append(_escape(key) + ": ")
        _encode(item, out, inner, step, seen)
    out.append(newline + ("}" if is_dict else "]"))


def _stdlib() -> "_Json":
    import json
    return json
