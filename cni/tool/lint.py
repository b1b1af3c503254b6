"""`pycni lint`: what is wrong with a network config file, field by field, with a hint.

Where it sits: called by cni/tool/cli.py only. The list-level keys are checked here
(the rules libcni applies when it loads a file, see cni/tool/libcni.py). Each plugin
object, as the plugin will receive it (name and cniVersion injected), is checked
against the config classes the plugin itself parses with: the spec's keys
(cni.netconf.NetConf), the plugin's own (its module's CONFIG: bridge, host-local)
and its IPAM's when that is one of ours. First the pydantic models derived from
those classes (cni/tool/models.py) list every field problem with a hint; when the
fields are sound, the plugins' own parser runs the rules across fields (ranges,
overlaps, combinations ADD refuses), so lint and the plugin cannot disagree.
Problems make the file fail; notes (deprecated forms, a file that shadows this
one, loose modes) do not.
"""

import json
import os
import stat

from cni import validate
from cni import version as _version
from cni.errors import CNIError
from cni.plugins import LEAVES, MODULES
from cni.schema import lookup

TYPE_CHECKING = False  # type checkers read this as True; nothing below runs
if TYPE_CHECKING:
    from collections.abc import Callable

    from cni.schema import Config
    from cni.tool.models import ErrorDetails

# Hints by pydantic error type; a few fields get their own (FIELD_HINTS).
TYPE_HINTS = {
    "bool_type": "write true or false (a JSON boolean, no quotes)",
    "bool_parsing": "write true or false (a JSON boolean, no quotes)",
    "int_type": "write a whole number without quotes",
    "int_parsing": "write a whole number without quotes",
    "int_from_float": "write a whole number",
    "float_type": "write a number without quotes",
    "string_type": "write a string in double quotes",
    "list_type": "expected a JSON list: [ ... ]",
    "dict_type": "expected a JSON object: { ... }",
    "model_type": "expected a JSON object: { ... }",
    "missing": "this key is required",
    "literal_error": "use one of the values listed",
    "greater_than_equal": "the value is below the allowed range",
    "less_than_equal": "the value is above the allowed range",
    "string_too_long": "the value is too long",
    "string_too_short": "the value must not be empty",
    "string_pattern_mismatch": "the value does not have the expected form",
}
FIELD_HINTS = {
    "name": "start with a letter or digit, then letters, digits, '_', '.' or '-'",
    "cniVersion": f"one of {', '.join(_version.SUPPORTED)}",
    "mac": "a MAC address such as c2:11:22:33:44:55",
    "bridge": "an interface name: 1-15 characters, no '/', ':' or spaces",
    "subnet": "a network in CIDR form with no host bits, e.g. 10.88.0.0/16",
    "ranges": 'a list of range sets: [[{"subnet": "10.88.0.0/16"}]]',
}


def check_file(path: str) -> "tuple[list[str], list[str]]":
    """(problems, notes) for one config file."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        return [f"cannot read: {exc.strerror}"], []
    try:
        raw = json.loads(data)
    except ValueError as exc:
        return [f"not valid JSON: {exc} (hint: check commas, quotes and brackets)"], []
    except UnicodeDecodeError:
        return ["not valid JSON: not UTF-8 text"], []
    if not isinstance(raw, dict):
        return ["(root): not a JSON object (hint: a config is one {...} object)"], []
    problems, notes = check_config(raw)
    notes += _file_notes(path, raw)
    return problems, notes


def check_config(raw: "dict[str, object]") -> "tuple[list[str], list[str]]":
    """Problems and notes of a parsed config (a list, or a single plugin object)."""
    if "plugins" not in raw:
        notes = [("single-plugin config (deprecated since spec 1.0.0): runtimes wrap it into a "
                  "one-plugin list; prefer a .conflist")]
        listed = {"cniVersion": raw.get("cniVersion"), "name": raw.get("name"), "plugins": [raw]}
        problems, more = _check_list(listed, single=True)
        return problems, notes + more
    return _check_list(raw, single=False)


def _check_list(raw: "dict[str, object]", single: bool) -> "tuple[list[str], list[str]]":
    problems: "list[str]" = []
    notes: "list[str]" = []
    _check(problems, "name", raw.get("name"), validate.network_name)
    cni_version = _check_versions(raw, problems, notes)
    for key in ("disableCheck", "disableGC", "loadOnlyInlinedPlugins"):
        value = raw.get(key, False)
        if not isinstance(value, bool) and str(value).lower() not in ("true", "false"):
            problems.append(_line(key, "must be a boolean", TYPE_HINTS["bool_type"]))
    plugins = raw.get("plugins")
    if not isinstance(plugins, list) or not plugins or not all(isinstance(p, dict) for p in plugins):
        problems.append(_line("plugins", "must be a non-empty list of plugin objects",
                              'e.g. "plugins": [{"type": "bridge", ...}]'))
        return problems, notes
    for index, plugin in enumerate(plugins):
        where = "" if single else f"plugins[{index}]"
        more, extra = _check_plugin(plugin, raw.get("name"), cni_version, where)
        problems += more
        notes += extra
    return problems, notes


def _check_versions(raw: "dict[str, object]", problems: "list[str]", notes: "list[str]") -> str:
    """Check cniVersion/cniVersions; the version a libcni >= 1.2 runtime would run."""
    declared = raw.get("cniVersion")
    if declared is None or declared == "":
        notes.append("no cniVersion: read as 0.1.0 (results in the oldest format)")
    elif not isinstance(declared, str) or declared not in _version.SUPPORTED:
        problems.append(_line("cniVersion", f"unsupported version {json.dumps(declared)}",
                              FIELD_HINTS["cniVersion"]))
    versions = raw.get("cniVersions", [])
    if not isinstance(versions, list) or not all(isinstance(v, str) for v in versions):
        problems.append(_line("cniVersions", "must be a list of version strings",
                              FIELD_HINTS["cniVersion"]))
        return declared if isinstance(declared, str) else _version.DEFAULT
    for i, v in enumerate(versions):
        if v not in _version.SUPPORTED:
            problems.append(_line(f"cniVersions[{i}]", f"unsupported version {json.dumps(v)}",
                                  FIELD_HINTS["cniVersion"]))
    from cni.tool.libcni import negotiate
    try:
        chosen = negotiate(raw)
    except CNIError:
        return _version.DEFAULT
    if versions and chosen != declared:
        notes.append(f"runs as {chosen} with libcni >= 1.2 (the highest of cniVersion and "
                     f"cniVersions); older runtimes use {declared}")
    return chosen


def _check_plugin(plugin: "dict[str, object]", name: object, cni_version: str,
                  where: str) -> "tuple[list[str], list[str]]":
    problems: "list[str]" = []
    notes: "list[str]" = []
    prefix = f"{where}." if where else ""
    if not _check(problems, f"{prefix}type", plugin.get("type"), validate.plugin_type):
        return problems, notes
    conf = dict(plugin, name=name, cniVersion=cni_version)
    if plugin["type"] not in MODULES:
        notes.append(f"{prefix}type {plugin['type']!r}: pycni has no schema for it; generic "
                     "keys checked only")
    from cni.tool import models
    for error in models.errors(conf, *config_classes(conf)):
        problems.append(_line(_path(prefix, error["loc"]), error["msg"], _hint(error)))
    if not problems:
        refusal = plugin_refusal(conf)
        if refusal is not None:
            field = refusal.field.rsplit(".", 1)[-1]
            details = "" if refusal.details.startswith("at ") else refusal.details
            problems.append(_line(_path(prefix, (refusal.field,) if refusal.field else ()),
                                  refusal.msg + (f" ({details})" if details else ""),
                                  FIELD_HINTS.get(field, "")))
    return problems, notes


def config_classes(conf: "dict[str, object]") -> "list[type[Config]]":
    """The config classes a plugin object is parsed with when ADD runs: the spec's keys,
    the plugin's own keys, and its IPAM's when the IPAM is ours and the plugin is not
    one of ours that never delegates (loopback ignores an ipam section)."""
    from cni.netconf import NetConf
    classes: "list[type[Config]]" = [NetConf]
    # the runtime picks the plugin by its exact `type` (cni/tool/libcni.py); the plugin
    # reads its ipam's type as it reads every key
    kind = conf.get("type")
    kinds = [kind] if kind in LEAVES else [kind, lookup(lookup(conf, "ipam"), "type")]
    for name in kinds:
        config = _plugin_config(name)
        if config is not None and config not in classes:
            classes.append(config)
    return classes


def _plugin_config(kind: object) -> "type[Config] | None":
    if not isinstance(kind, str) or kind not in MODULES:
        return None
    import importlib
    config: "type[Config] | None" = importlib.import_module(MODULES[kind]).CONFIG
    return config


def plugin_refusal(conf: "dict[str, object]") -> "CNIError | None":
    """What the plugins' own parser says about `conf` for ADD (None: they accept it)."""
    from cni.netconf import NetConf
    try:
        net = NetConf.parse(conf)
        for config in config_classes(conf)[1:]:
            config.parse(conf, "ADD", net=net)
    except CNIError as exc:
        return exc
    return None


def _path(prefix: str, loc: "tuple[int | str, ...]") -> str:
    """'plugins[0].' + ('ipam', 'ranges', 0, 0, 'subnet') -> 'plugins[0].ipam.ranges[0][0].subnet'."""
    out = prefix.rstrip(".")
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def _hint(error: "ErrorDetails") -> str:
    field = next((p for p in reversed(error["loc"]) if isinstance(p, str)), "")
    if error["type"] in ("string_pattern_mismatch", "value_error", "missing") and field in FIELD_HINTS:
        return FIELD_HINTS[field]
    return TYPE_HINTS.get(error["type"], FIELD_HINTS.get(field, ""))


def _check(problems: "list[str]", field: str, value: object,
           check: "Callable[[object], object]") -> bool:
    try:
        check(value)
    except CNIError as exc:
        last = field.rsplit(".", 1)[-1]
        problems.append(_line(field, exc.msg + (f" ({exc.details})" if exc.details else ""),
                              FIELD_HINTS.get(last, "")))
        return False
    return True


def _line(field: str, message: str, hint: str) -> str:
    return f"{field}: {message}" + (f" (hint: {hint})" if hint else "")


def _file_notes(path: str, raw: "dict[str, object]") -> "list[str]":
    """Things about the file itself: modes, and another file that shadows it."""
    notes = []
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = 0
    if mode & 0o077:
        notes.append(f"mode {mode:04o}: configs may carry secrets; 0600 is recommended "
                     "(CIS Kubernetes 1.1.9)")
    shadow = _shadowed_by(path, raw.get("name"))
    if shadow:
        notes.append(f"network {raw.get('name')!r} is also defined by {shadow}, which runtimes "
                     "find first: this file is not used")
    return notes


def _shadowed_by(path: str, name: object) -> str:
    from cni.tool import libcni
    if not isinstance(name, str) or not path.endswith(libcni.LIST_EXT + libcni.SINGLE_EXT):
        return ""
    for other in libcni.conf_files(os.path.dirname(os.path.abspath(path))):
        if os.path.samefile(other, path):
            return ""
        try:
            if libcni.load_file(other).name == name:
                return other
        except CNIError:
            continue
    return ""
