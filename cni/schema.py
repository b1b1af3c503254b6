"""Config schemas: every key a plugin reads, declared once, as a class.

Where it sits: each config is a `Config` subclass whose attributes are
declared with `key(...)` (the JSON key, the default, a check and the
reference's message). The exec path parses stdin with `Config.parse` (plain
Python, microseconds, nothing imported); `pycni lint` validates files with
pydantic models derived from the same classes (cni/tool/models.py). One
declaration, so the plugin and lint cannot drift apart;
tests/unit/test_schema_agreement.py generates configs and checks that both
accept the same ones and name the same field.

Keys match as Go's encoding/json matches them, which is how the reference
plugins decode their configs: a JSON key belongs to a field when the two are
equal under Unicode case folding (`MTU` is `mtu`); of several keys of one
field, the last non-null one in the document wins; null is the same as absent
(the default). Unknown keys stay in `raw`, untouched (chained plugins and
runtimes add their own).

The annotation gives the JSON type:
    bool, int, str        true/false; an integer (not a boolean); a string
    float                 any number (an integer too, not a boolean)
    object                any JSON value
    dict, dict[str, T]    any object; an object whose values are T
    list[T]               a list of T (a null item is refused)
    T | None              T, with None as the default
    a Config subclass     a nested object, parsed the same way
A wrong type is "invalid field <path>" (InvalidConfig, code 7, or the key's
`error` class), with `field` set to the path (`ipam.ranges[0][1].subnet`).
A key's `check(value) -> value` runs on present values: it may normalise the
value, and raises a CNIError with the reference's message; the parser fills in
the path. `RULES` run once every field of the object is parsed: functions of
the parsed object that raise a CNIError naming its `field`, and may set derived
attributes (host-local's range sets). `ADD_RULES` run for ADD only: the
reference refuses those combinations on ADD, and a DEL must clean up whatever
the config says.
"""

from cni.errors import CNIError, InvalidConfig

TYPE_CHECKING = False  # type checkers read this as True; typing costs ~3 ms per exec
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, ClassVar, TypeVar

    from cni.netconf import NetConf

    C = TypeVar("C", bound="Config")
    Check = Callable[[Any], Any]
    Rule = Callable[[Any], None]
    Kind = tuple[Any, ...]  # see kind_of(): a tag, then what the tag needs

_MISSING = object()
KINDS = {bool: "a boolean", int: "an integer", str: "a string", float: "a number",
         list: "a list", dict: "an object"}


class Key:
    """One declared field: where it is in the JSON and what it may hold."""

    __slots__ = ("key", "also", "default", "check", "error", "missing", "attr", "kind")

    def __init__(self, key: str, default: object, check: "Check | None", error: "type[CNIError]",
                 also: "tuple[str, ...]", missing: str) -> None:
        self.key = key
        self.also = also  # other spellings (Calico's log_file_path), same policy
        self.default = default
        self.check = check
        self.error = error
        self.missing = missing  # set: the key is required, and this is the message
        self.attr = ""
        self.kind: "Kind" = ()

    def fresh_default(self) -> object:
        value = self.default
        return list(value) if type(value) is list else dict(value) if type(value) is dict \
            else value


def key(name: str, default: object = None, *, check: "Check | None" = None,
        error: "type[CNIError]" = InvalidConfig, also: "tuple[str, ...]" = (),
        missing: str = "") -> "Any":
    """Declare a field (see the module docstring); `missing` makes it required."""
    return Key(name, default, check, error, also, missing)


def fold(name: str) -> str:
    """Go's encoding/json key folding: ASCII upper case, other letters upper(lower(c))."""
    if name.isascii():
        return name.upper()
    out = []
    for c in name:
        lower = c.lower()
        upper = lower.upper() if len(lower) == 1 else c.upper()
        out.append(upper if len(upper) == 1 else c)
    return "".join(out)


def lookup(data: object, name: str) -> object:
    """What a field `name` of a config object would read from `data` (None: nothing)."""
    found = None
    if type(data) is dict:
        wanted = fold(name)
        for k, value in data.items():
            if value is not None and type(k) is str and fold(k) == wanted:
                found = value
    return found


_SIMPLE = {bool: ("bool",), int: ("int",), str: ("str",), float: ("number",), object: ("any",)}
_UNION = type(int | None)  # the type of `X | None` annotations (types.UnionType)


def kind_of(annotation: object) -> "tuple[Kind, bool]":
    """An annotation -> (kind, nullable). Kinds: ('bool',) ('int',) ('str',) ('number',)
    ('any',) ('dict', value kind or None, nullable values) ('list', item kind, nullable
    items) ('object', Config subclass). Runs for every key of every config class at
    import, on every exec: the common cases come first."""
    simple = _SIMPLE.get(annotation)  # type: ignore[call-overload]  # any annotation hashes
    if simple is not None:
        return simple, False
    args: "tuple[Any, ...]" = getattr(annotation, "__args__", ())
    if type(annotation) is _UNION:  # X | None
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"unsupported union {annotation!r}")
        return kind_of(inner[0])[0], True
    origin = getattr(annotation, "__origin__", None)
    if origin is list:
        item, nullable = kind_of(args[0])
        return ("list", item, nullable), False
    if origin is dict:
        value, nullable = kind_of(args[1])
        return ("dict", None if value == ("any",) else value, nullable), False
    if annotation is dict:
        return ("dict", None, True), False
    if isinstance(annotation, type) and issubclass(annotation, Config):
        return ("object", annotation), False
    raise TypeError(f"unsupported config annotation {annotation!r}")


class Config:
    """Base of every config class; `parse` builds an instance from a JSON object."""

    FIELDS: "tuple[Key, ...]" = ()
    RULES: "tuple[Rule, ...]" = ()
    ADD_RULES: "tuple[Rule, ...]" = ()
    _FOLDED: "ClassVar[dict[str, int]]" = {}  # noqa: RUF012  # quoted ClassVar: astral-sh/ruff#12288
    raw: "dict[str, object]"
    where: str  # this object's path prefix in the config ("" or "ipam.")
    net: "NetConf"  # a plugin config's NetConf, when parse() was given one

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__()
        fields = list(cls.FIELDS)  # the base class's, in its order
        position = {f.key: i for i, f in enumerate(fields)}
        for attr, annotation in cls.__annotations__.items():  # its own (3.10+), not its bases
            declared = cls.__dict__.get(attr)
            if type(declared) is not Key:
                continue  # a plain attribute (derived by a rule), not a key
            declared.attr = attr
            declared.kind, nullable = kind_of(annotation)
            if declared.default is None and not nullable and not declared.missing \
                    and declared.kind[0] not in ("object", "any"):
                raise TypeError(f"{cls.__name__}.{attr}: a None default needs `| None`")
            index = position.setdefault(declared.key, len(fields))
            if index == len(fields):
                fields.append(declared)
            else:
                fields[index] = declared  # a subclass's own view of a base class's key
        cls.FIELDS = tuple(fields)
        cls._FOLDED = {fold(spelling): i for i, f in enumerate(fields)
                       for spelling in (f.key, *f.also)}

    @classmethod
    def parse(cls: "type[C]", raw: "dict[str, object]", command: str = "ADD",
              where: str = "", net: "NetConf | None" = None) -> "C":
        """`raw` as an instance of `cls` (rules included); a problem raises a CNIError
        whose `field` is the JSON path of the offending value. `net` (the parsed
        NetConf, for a plugin's own config) is kept as `.net` for the rules."""
        found: "dict[int, object]" = {}
        folded = cls._FOLDED
        for name, value in raw.items():
            if value is not None and type(name) is str:
                index = folded.get(fold(name))
                if index is not None:
                    found[index] = value
        obj = cls.__new__(cls)
        obj.raw = raw
        obj.where = where
        if net is not None:
            obj.net = net
        for index, f in enumerate(cls.FIELDS):
            path = where + f.key
            value = found.get(index, _MISSING)
            if value is _MISSING:
                if f.missing:
                    raise f.error(f.missing, field=path)
                if f.kind[0] == "object" and f.default is None:
                    value = f.kind[1].parse({}, command, path + ".")
                else:
                    value = f.fresh_default()
            else:
                value = _value(f.kind, value, path, f.error, command)
                if f.check is not None:
                    value = _checked(f.check, value, path)
            setattr(obj, f.attr, value)
        for rule in cls.RULES + (cls.ADD_RULES if command == "ADD" else ()):
            rule(obj)
        return obj

    def path(self, name: str) -> str:
        """The JSON path of this object's key `name`, for a rule's error."""
        return self.where + name


def _checked(check: "Check", value: object, path: str) -> object:
    try:
        return check(value)
    except CNIError as exc:
        exc.field = exc.field or path
        raise


def _value(kind: "Kind", value: object, path: str, error: "type[CNIError]", command: str) -> object:
    """`value` checked against `kind` (nested objects parsed); raise naming `path`."""
    tag = kind[0]
    if tag == "str":
        ok = type(value) is str
    elif tag == "bool":
        ok = value is True or value is False
    elif tag == "int":
        ok = type(value) is int
    elif tag == "number":
        ok = type(value) is int or type(value) is float
    elif tag == "any":
        ok = True
    elif tag == "object":
        if type(value) is not dict:
            raise wrong(path, dict, value, error)
        return kind[1].parse(value, command, path + ".")
    elif tag == "list":
        if type(value) is not list:
            raise wrong(path, list, value, error)
        return [_item(kind[1], kind[2], v, f"{path}[{i}]", error, command)
                for i, v in enumerate(value)]
    else:  # dict
        if type(value) is not dict:
            raise wrong(path, dict, value, error)
        if kind[1] is not None:
            for k, v in value.items():
                _item(kind[1], kind[2], v, f"{path}.{k}", error, command)
        return value
    if not ok:
        raise wrong(path, {"str": str, "bool": bool, "int": int, "number": float}.get(tag, object),
                    value, error)
    return value


def _item(kind: "Kind", nullable: bool, value: object, path: str, error: "type[CNIError]",
          command: str) -> object:
    if value is None and nullable:
        return None
    return _value(kind, value, path, error, command)


def wrong(path: str, expected: type, value: object, error: "type[CNIError]" = InvalidConfig) -> CNIError:
    """The error for a value of the wrong JSON type."""
    exc: CNIError = error(f"invalid field {path}",
                          f"{path} must be {KINDS.get(expected, 'a JSON value')}, "
                          f"got {preview(value)}", field=path)
    return exc


def preview(value: object) -> str:
    """A short JSON rendering of a value for an error message."""
    from cni import fastjson
    try:
        return fastjson.dumps(value)[:80]
    except (RecursionError, ValueError, TypeError):  # nested deeper than the encoder's stack
        return f"a deeply nested {type(value).__name__}"
