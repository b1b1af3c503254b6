"""The network configuration a plugin reads on stdin, parsed once at the edge.

Where it sits: `cni.skel` calls `parse(stdin)` for every verb but VERSION and
stores the `NetConf` on the request; plugins read their own keys from it
(`conf.raw`) through the typed getters below, which raise code 7 naming the
field. Unknown keys stay in `conf.raw`, untouched, for chained plugins.

This is the hot path of every exec, so it is plain Python. The pydantic models
in `cni.models` describe the same shape; they are imported only to explain a
config that failed here (field paths and hints) and by `pycni lint`.

Keys read here (spec 1.1.0 section 1, plus logging):
  cniVersion (default 0.1.0), cniVersions, name, type, args, ipMasq, ipam, dns,
  runtimeConfig (matched case-insensitively: containerd sends `HostPort`),
  capabilities, prevResult, logFile, logLevel.
"""

from cni import fastjson as json

from cni import validate
from cni import version as _version
from cni.errors import DecodingFailure, InvalidConfig
from cni.types import DNS, Result

_MISSING = object()


def ci_get(data: object, key: str, default: object = None) -> object:
    """dict lookup that matches `key` case-insensitively (exact match first)."""
    if not isinstance(data, dict):
        return default
    if key in data:
        return data[key]
    lowered = key.lower()
    for k, v in data.items():
        if isinstance(k, str) and k.lower() == lowered:
            return v
    return default


class NetConf:
    __slots__ = ("raw", "cni_version", "cni_versions", "name", "type", "args", "ip_masq",
                 "ipam", "dns", "runtime_config", "capabilities", "prev_result_raw",
                 "log_file", "log_level")

    def __init__(self, raw: dict) -> None:
        self.raw = raw
        cni_version = raw.get("cniVersion")
        if cni_version is None or cni_version == "":
            cni_version = _version.DEFAULT
        elif not isinstance(cni_version, str):
            raise DecodingFailure(f"cniVersion must be a string, not {cni_version!r}")
        self.cni_version: str = cni_version
        self.cni_versions: list = get_list(raw, "cniVersions", str)
        self.name: str = validate.network_name(raw.get("name"))
        self.type: str = get(raw, "type", str, "")
        self.args: dict = get(raw, "args", dict, {})
        self.ip_masq: bool = get(raw, "ipMasq", bool, False)
        self.ipam: dict = get(raw, "ipam", dict, {})
        get(self.ipam, "type", str, "", "ipam.")  # delegation reads it; its type is ours to check
        try:
            self.dns = DNS.from_dict(raw.get("dns"))
        except DecodingFailure as exc:
            raise InvalidConfig(exc.msg) from exc
        self.runtime_config: dict = get(raw, "runtimeConfig", dict, {})
        self.capabilities: dict = get(raw, "capabilities", dict, {})
        for key in self.capabilities:
            get(self.capabilities, key, bool, False, "capabilities.")
        self.prev_result_raw: "dict | None" = get(raw, "prevResult", dict, None)
        self.log_file: str = get(raw, "logFile", str, "")
        self.log_level: str = get(raw, "logLevel", str, "")

    def runtime(self, key: str, default: object = None) -> object:
        """A runtimeConfig (capability) value, key matched case-insensitively."""
        return ci_get(self.runtime_config, key, default)

    def cni_arg(self, key: str, default: object = None) -> object:
        """`args.cni.<key>` (the non-env way to pass CNI_ARGS-like values)."""
        return ci_get(ci_get(self.args, "cni", {}), key, default)

    def prev_result(self) -> "Result | None":
        """prevResult in any version, read into the internal shape."""
        if self.prev_result_raw is None:
            return None
        return Result.from_dict(self.prev_result_raw, self.cni_version, "prevResult")


def get(data: dict, key: str, kind: type, default: object, where: str = "") -> "object":
    """data[key] checked against `kind`; null or absent gives `default`."""
    value = data.get(key, _MISSING)
    if value is _MISSING or value is None:
        return default
    if not _is(value, kind):
        raise _wrong(f"{where}{key}", kind, value)
    return value


def get_list(data: dict, key: str, kind: type, where: str = "") -> list:
    """data[key] as a list of `kind` items (null items refused); null or absent gives []."""
    values = get(data, key, list, [], where)
    for i, value in enumerate(values):
        if not _is(value, kind):
            raise _wrong(f"{where}{key}[{i}]", kind, value)
    return values


_KINDS = {bool: "a boolean", int: "an integer", str: "a string", list: "a list",
          dict: "an object", float: "a number"}


def _is(value: object, kind: type) -> bool:
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind) and not (kind is int and isinstance(value, bool))


def _wrong(field: str, kind: type, value: object) -> InvalidConfig:
    return InvalidConfig(f"invalid field {field}",
                         f"{field} must be {_KINDS.get(kind, kind.__name__)}, "
                         f"got {_preview(value)}")


def _preview(value: object) -> str:
    try:
        return json.dumps(value)[:80]
    except (RecursionError, ValueError):  # nested deeper than the encoder's stack
        return f"a deeply nested {type(value).__name__}"


def load(stdin: bytes) -> dict:
    """stdin bytes -> the config object (code 6 when it is not a JSON object)."""
    try:
        data = json.loads(stdin)
    except (ValueError, UnicodeDecodeError) as exc:
        detail = "unexpected end of JSON input" if not stdin.strip() else str(exc)
        raise DecodingFailure(f"error unmarshall network config: {detail}") from exc
    except RecursionError as exc:  # '[[[[...' deeper than the parser's stack
        raise DecodingFailure("error unmarshall network config: nested too deeply") from exc
    if not isinstance(data, dict):
        raise DecodingFailure("error unmarshall network config: not a JSON object")
    return data


def parse(stdin: bytes) -> NetConf:
    raw = load(stdin)
    try:
        return NetConf(raw)
    except InvalidConfig as exc:
        exc.details = exc.details or explain(raw)
        raise


def explain(raw: dict, model: str = "netconf") -> str:
    """Every problem pydantic finds in `raw`, with field paths (slow: error path only)."""
    from cni import models
    return models.explain(raw, model)
