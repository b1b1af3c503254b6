"""A libcni-compatible runner: find a network's config, run its plugin chain, cache results.

Where it sits: `pycni add|check|del|gc|status` (cni/tool/cli.py) drive a network
through here exactly as libcni (containernetworking/cni `libcni/api.go`,
`conf.go`) drives it for cnitool, containerd and CRI-O, so that pycni and a
real runtime can take turns on one node. Plugins never import this module.

Config lookup (`find_network`): the files `*.conflist`, then `*.conf` and
`*.json` of one directory (NETCONFPATH), each group in file-name order, the
first whose `name` matches wins (libcni's order: lists before single plugins).
A file that does not parse aborts the lookup, as in libcni. A single-plugin
file is wrapped into a one-plugin list; plugin objects in `<dir>/<name>/*.conf`
are appended unless `loadOnlyInlinedPlugins` is true (libcni 1.3).

Version (`negotiate`): the highest of `cniVersion` and `cniVersions` that we
support (libcni >= 1.2); a missing version is 0.1.0.

Per plugin (`plugin_config`): the plugin object with the list's `name` and
`cniVersion`; `prevResult` (ADD: the previous plugin's result; CHECK/DEL: the
cached result converted to the list's version); `runtimeConfig` holding the
capability args the plugin declares `true` in `capabilities` (omitted when
none); GC adds `cni.dev/valid-attachments` and `cni.dev/attachments`.
Plugins run with our environment plus CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS,
CNI_ARGS, CNI_IFNAME and CNI_PATH (empty strings where a verb has none).

Verbs: ADD in list order, the final result cached; DEL in reverse order with
the cached result (0.4.0+), the cache entry removed on success; CHECK in order
with the cached result (refused below 0.4.0, skipped when `disableCheck`); GC:
DEL each cached attachment of the network that is not valid, then (1.1.0+) GC
to every plugin with the attachments that remain, all errors collected;
STATUS (1.1.0+) on each plugin, stopping at the first failure.

Exec (`Runtime.exec_plugin`): through `cni.process`, as libcni's RawExec: no
timeout, "text file busy" retried, the plugin's stderr copied to ours after it
exits, its error JSON read the way libcni's pluginErr reads it.

Cache format (owned here; byte-compatible with libcni's `cachedInfo`):
`<cacheDir>/results/<network>-<containerID>-<ifname>`, directories 0700, file
0600, written atomically (`cni.files.replace`: temp file `.<name>.<random>.tmp`,
fsync, rename). One JSON object:
  kind "cniCacheV1", containerId, config (the list's bytes, base64), ifName,
  networkName, netns, cniArgs [[k, v], ...], capabilityArgs {...}, result {...}
(netns, cniArgs, capabilityArgs and result omitted when empty, as Go does).
A file without kind cniCacheV1 is read as a bare result (libcni's legacy form).
"""

import base64
import json
import os

from cni import validate
from cni import version as _version
from cni.errors import CNIError, DecodingFailure, IncompatibleVersion, InvalidConfig
from cni.request import VERBS
from cni.types import Result

TYPE_CHECKING = False  # typing stays unimported at run time; type checkers read this as True
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any, TextIO

CACHE_KIND = "cniCacheV1"
DEFAULT_CONF_DIR = "/etc/cni/net.d"
DEFAULT_CACHE_DIR = "/var/lib/cni"
MAX_FILE = 4 << 20  # a config or cache file larger than this is refused, not read
LIST_EXT = (".conflist",)
SINGLE_EXT = (".conf", ".json")


class NetworkList:
    """A parsed network configuration list, as the runtime sees it."""

    __slots__ = ("name", "cni_version", "disable_check", "disable_gc", "plugins", "data",
                 "source")

    def __init__(self, name: str, cni_version: str, plugins: "list[dict[str, Any]]", data: bytes,
                 source: str = "", disable_check: bool = False, disable_gc: bool = False) -> None:
        self.name = name
        self.cni_version = cni_version
        self.plugins = plugins  # arbitrary JSON, each with a `type` parse_list has checked
        self.data = data  # the bytes libcni caches as `config`
        self.source = source
        self.disable_check = disable_check
        self.disable_gc = disable_gc

    def __repr__(self) -> str:
        return f"NetworkList({self.name!r}, {self.cni_version!r}, {len(self.plugins)} plugins)"


class Attachment:
    """One (container, ifname) on a network: libcni's RuntimeConf."""

    __slots__ = ("container_id", "netns", "ifname", "args", "capability_args")

    def __init__(self, container_id: str, netns: str, ifname: str,
                 args: "list[tuple[str, str]] | None" = None,
                 capability_args: "dict[str, object] | None" = None) -> None:
        self.container_id = container_id
        self.netns = netns
        self.ifname = ifname
        self.args = list(args or [])
        self.capability_args = dict(capability_args or {})

    def validate(self) -> None:
        """Both names become a cache file name: check them before any file is touched."""
        validate.container_id(self.container_id)
        validate.ifname(self.ifname)


# -- configuration ------------------------------------------------------------


def parse_list(data: bytes, source: str = "<bytes>", conf_dir: str = "") -> NetworkList:
    """A .conflist's bytes (or a single plugin's, wrapped) -> NetworkList."""
    raw = _json_object(data, source)
    if "plugins" not in raw and "type" in raw:
        return _wrap_single(raw, source)
    name = validate.network_name(raw.get("name"))
    plugins = raw.get("plugins")
    if plugins is not None and (not isinstance(plugins, list)
                                or not all(isinstance(p, dict) for p in plugins)):
        raise InvalidConfig(f"{source}: plugins must be a list of objects")
    plugins = list(plugins or [])
    if raw.get("plugins") == []:
        raise InvalidConfig(f"{source}: empty plugins list")
    if conf_dir and not _flag(raw, "loadOnlyInlinedPlugins", source):
        plugins += _subdir_plugins(conf_dir, name)
    if not plugins:
        raise InvalidConfig(f"{source}: no plugin configs found")
    for plugin in plugins:
        validate.plugin_type(plugin.get("type"))
    return NetworkList(name, negotiate(raw, source), plugins, data, source,
                       disable_check=_flag(raw, "disableCheck", source),
                       disable_gc=_flag(raw, "disableGC", source))


def _wrap_single(raw: "dict[str, object]", source: str) -> NetworkList:
    """A deprecated single-plugin .conf becomes a one-plugin list (libcni ConfListFromConf:
    only its name and cniVersion reach the list, so its cniVersions is not negotiated)."""
    validate.plugin_type(raw.get("type"))
    wrapped = {"name": raw.get("name"), "cniVersion": raw.get("cniVersion", ""), "plugins": [raw]}
    name = validate.network_name(raw.get("name"))
    data = json.dumps(wrapped, sort_keys=True, separators=(",", ":")).encode()  # as Go marshals
    return NetworkList(name, negotiate(wrapped, source), [raw], data, source)


def negotiate(raw: "dict[str, object]", source: str = "config") -> str:
    """The version to run: the highest supported one of cniVersion and cniVersions."""
    declared = raw.get("cniVersion")
    versions = raw.get("cniVersions") or []
    if declared is not None and not isinstance(declared, str):
        raise InvalidConfig(f"{source}: cniVersion must be a string", field="cniVersion")
    declared = declared or _version.DEFAULT
    if not isinstance(versions, list) or not all(isinstance(v, str) for v in versions):
        raise InvalidConfig(f"{source}: cniVersions must be a list of strings",
                            field="cniVersions")
    for i, v in enumerate(versions):
        try:
            _version.parse(v)
        except DecodingFailure as exc:
            raise InvalidConfig(f"{source}: invalid cniVersions entry {v!r}", exc.msg,
                                field=f"cniVersions[{i}]") from exc
    candidates: "list[str]" = [v for v in [declared, *versions] if v in _version.SUPPORTED]
    if not candidates:
        return declared  # the plugins will refuse it with code 1, naming what they support
    return max(candidates, key=_version.parse)


def _flag(raw: "dict[str, object]", key: str, source: str) -> bool:
    """libcni's booleans: true/false, or the strings "true"/"false" in any case."""
    value = raw.get(key, False)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise InvalidConfig(f"{source}: {key} must be a boolean, got {json.dumps(value)[:40]}")
    return value


def _subdir_plugins(conf_dir: str, name: str) -> "list[dict[str, object]]":
    """Plugin objects from `<conf_dir>/<name>/*.conf`, in file-name order (libcni 1.3)."""
    directory = os.path.join(conf_dir, name)
    if not os.path.isdir(directory):
        return []
    plugins = []
    for entry in sorted(os.listdir(directory)):
        path = os.path.join(directory, entry)
        if entry.endswith(".conf") and os.path.isfile(path):
            plugins.append(_json_object(_read(path), path))
    return plugins


def conf_files(conf_dir: str) -> "list[str]":
    """Config files in lookup order: lists first, then single plugins; each sorted."""
    try:
        names = os.listdir(conf_dir)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise InvalidConfig(f"cannot read config directory {conf_dir}: {exc.strerror}") from exc
    ordered = []
    for group in (LIST_EXT, SINGLE_EXT):
        for entry in sorted(names):
            path = os.path.join(conf_dir, entry)
            if entry.endswith(group) and os.path.isfile(path):
                ordered.append(path)
    return ordered


def load_file(path: str, conf_dir: str = "") -> NetworkList:
    """One config file as a NetworkList (`conf_dir`: also take `<conf_dir>/<name>/*.conf`)."""
    return parse_list(_read(path), path, conf_dir)


def find_network(name: str, conf_dir: str = DEFAULT_CONF_DIR) -> NetworkList:
    """The network called `name` in `conf_dir` (InvalidConfig naming the file on any error)."""
    validate.network_name(name)
    for path in conf_files(conf_dir):
        network = load_file(path, conf_dir)
        if network.name == name:
            return network
    raise InvalidConfig(f"no network named {name!r} in {conf_dir}",
                        "looked for .conflist, .conf and .json files (NETCONFPATH)")


def _read(path: str) -> bytes:
    from cni import files
    return files.read_limited(path, MAX_FILE)


def _json_object(data: bytes, source: str) -> "dict[str, object]":
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidConfig(f"{source}: not valid JSON", str(exc)) from exc
    if not isinstance(raw, dict):
        raise InvalidConfig(f"{source}: not a JSON object")
    return raw


def plugin_config(network: NetworkList, plugin: "dict[str, object]",
                  prev_result: "dict[str, object] | None" = None,
                  attachment: "Attachment | None" = None,
                  extra: "Mapping[str, object] | None" = None) -> bytes:
    """The stdin of one plugin, built as libcni's buildOneConfig/injectRuntimeConfig."""
    conf = dict(plugin)
    conf["name"] = network.name
    conf["cniVersion"] = network.cni_version
    if prev_result is not None:
        conf["prevResult"] = prev_result
    if attachment is not None:
        capabilities = plugin.get("capabilities")
        runtime_config = {
            key: attachment.capability_args[key]
            for key, enabled in (capabilities.items() if isinstance(capabilities, dict) else ())
            if enabled is True and key in attachment.capability_args}
        if runtime_config:
            conf["runtimeConfig"] = runtime_config
    conf.update(extra or {})
    return json.dumps(conf).encode()


def describe(plugin: "dict[str, object]") -> str:
    """How libcni names a plugin in its errors: type="bridge" (name="..." if set)."""
    out = f"type={json.dumps(plugin.get('type', ''))}"
    if plugin.get("name"):
        out += f" name={json.dumps(plugin['name'])}"
    return out


# -- the result cache ---------------------------------------------------------


class CacheEntry:
    """One cached attachment, read back; `problem` says why it cannot be used."""

    __slots__ = ("path", "network", "container_id", "ifname", "netns", "args",
                 "capability_args", "config", "result", "problem")

    def __init__(self, path: str) -> None:
        self.path = path
        self.network = self.container_id = self.ifname = self.netns = ""
        self.args: "list[tuple[str, str]]" = []
        self.capability_args: "dict[str, object]" = {}
        self.config = b""
        self.result: "dict[str, object] | None" = None
        self.problem = ""

    def attachment(self) -> Attachment:
        return Attachment(self.container_id, self.netns, self.ifname, self.args,
                          self.capability_args)

    def key(self) -> "tuple[str, str, str]":
        return (self.network, self.container_id, self.ifname)


class ResultCache:
    """libcni's result cache under `<cache_dir>/results`."""

    def __init__(self, cache_dir: str = DEFAULT_CACHE_DIR) -> None:
        self.cache_dir = cache_dir
        self.dir = os.path.join(cache_dir, "results")

    def path(self, network: str, attachment: Attachment) -> str:
        attachment.validate()
        return os.path.join(self.dir, f"{network}-{attachment.container_id}-{attachment.ifname}")

    def write(self, network: NetworkList, attachment: Attachment, result: "dict[str, object]") -> str:
        entry: "dict[str, object]" = {"kind": CACHE_KIND, "containerId": attachment.container_id,
                                      "config": base64.b64encode(network.data).decode(),
                                      "ifName": attachment.ifname, "networkName": network.name}
        if attachment.netns:
            entry["netns"] = attachment.netns
        if attachment.args:
            entry["cniArgs"] = [list(pair) for pair in attachment.args]
        if attachment.capability_args:
            entry["capabilityArgs"] = attachment.capability_args
        if result:
            entry["result"] = result
        path = self.path(network.name, attachment)
        self._ensure_dirs()
        from cni import files
        files.replace(path, json.dumps(entry, separators=(",", ":")).encode(), 0o600, tag="")
        return path

    def _ensure_dirs(self) -> None:
        for directory in (self.cache_dir, self.dir):
            try:
                os.mkdir(directory, 0o700)
            except FileExistsError:
                continue
            os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask

    def read(self, network: str, attachment: Attachment) -> "CacheEntry | None":
        """The entry for this attachment, None when there is none."""
        path = self.path(network, attachment)
        if not os.path.lexists(path):
            return None
        return load_entry(path)

    def delete(self, network: str, attachment: Attachment) -> None:
        try:
            os.unlink(self.path(network, attachment))
        except FileNotFoundError:
            pass

    def entries(self) -> "list[CacheEntry]":
        """Every cache file, parsed (unusable ones carry `problem`), in file-name order."""
        try:
            names = sorted(os.listdir(self.dir))
        except FileNotFoundError:
            return []
        return [load_entry(os.path.join(self.dir, n)) for n in names if not n.startswith(".")]


def load_entry(path: str) -> CacheEntry:
    """Parse one cache file; never raises (a bad file is reported through `problem`)."""
    entry = CacheEntry(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            data = f.read(MAX_FILE + 1)
        raw = json.loads(data) if len(data) <= MAX_FILE else None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        entry.problem = f"unreadable: {getattr(exc, 'strerror', None) or exc}"
        return entry
    if not isinstance(raw, dict) or raw.get("kind") != CACHE_KIND:
        entry.problem = "not a cniCacheV1 entry"
        entry.result = raw if isinstance(raw, dict) else None  # libcni's legacy bare result
        return entry
    try:
        _fill(entry, raw)
    except (TypeError, ValueError, CNIError) as exc:
        entry.problem = f"malformed: {exc}"
    return entry


def _fill(entry: CacheEntry, raw: "dict[str, Any]") -> None:
    """The fields of a cniCacheV1 object (arbitrary JSON: a value of the wrong shape
    raises TypeError or ValueError, which load_entry reports as `problem`)."""
    entry.network = validate.network_name(raw.get("networkName"))
    entry.container_id = validate.container_id(str(raw.get("containerId", "")))
    entry.ifname = validate.ifname(str(raw.get("ifName", "")))
    entry.netns = str(raw.get("netns") or "")
    entry.args = [(str(k), str(v)) for k, v in raw.get("cniArgs") or []]
    capability_args = raw.get("capabilityArgs") or {}
    if not isinstance(capability_args, dict):
        raise ValueError("capabilityArgs is not an object")
    entry.capability_args = capability_args
    entry.config = base64.b64decode(raw.get("config") or "", validate=True)
    result = raw.get("result")
    entry.result = result if isinstance(result, dict) else None


def cached_prev_result(entry: "CacheEntry | None", cni_version: str) -> "dict[str, object] | None":
    """The cached result converted to the list's version (libcni getCachedResult)."""
    if entry is None or entry.result is None:
        return None
    return Result.from_dict(entry.result, cni_version, "cached result").to_dict(cni_version)


# -- running plugins ----------------------------------------------------------


class Runtime:
    """Runs network lists with plugins from `path`, caching results in `cache`."""

    def __init__(self, path: "list[str]", cache: ResultCache, env: "dict[str, str] | None" = None,
                 stderr: "TextIO | None" = None) -> None:
        self.path = [p for p in path if p]
        self.cache = cache
        self.env = dict(os.environ) if env is None else dict(env)
        self.stderr = stderr

    # -- verbs --

    def add(self, network: NetworkList, attachment: Attachment) -> "dict[str, object]":
        """ADD each plugin in order, chaining results; cache and return the final result."""
        attachment.validate()
        result: "dict[str, object] | None" = None
        for plugin in network.plugins:
            stdin = plugin_config(network, plugin, result, attachment)
            result = self._chain(plugin, "ADD", stdin, attachment, network)
        assert result is not None  # parse_list guarantees at least one plugin
        try:
            self.cache.write(network, attachment, result)
        except OSError as exc:
            raise CNIError(f"failed to set network {network.name!r} cached result: {exc.strerror}",
                           "the plugins did attach it; DEL undoes that") from exc
        return result

    def delete(self, network: NetworkList, attachment: Attachment) -> None:
        """DEL each plugin in reverse order with the cached result; drop the cache entry."""
        attachment.validate()
        prev = None
        if _version.at_least(network.cni_version, "0.4.0"):
            try:
                prev = cached_prev_result(self.cache.read(network.name, attachment),
                                          network.cni_version)
            except CNIError:
                self.cache.delete(network.name, attachment)  # unreadable: DEL without it
        for plugin in reversed(network.plugins):
            stdin = plugin_config(network, plugin, prev, attachment)
            self._chain(plugin, "DEL", stdin, attachment, network)
        self.cache.delete(network.name, attachment)

    def check(self, network: NetworkList, attachment: Attachment) -> bool:
        """CHECK each plugin in order; False when the list disables CHECK (nothing ran)."""
        attachment.validate()
        if not _version.at_least(network.cni_version, "0.4.0"):
            raise IncompatibleVersion(
                f"configuration version {network.cni_version!r} does not support the CHECK command")
        if network.disable_check:
            return False
        try:
            prev = cached_prev_result(self.cache.read(network.name, attachment),
                                      network.cni_version)
        except CNIError as exc:
            raise CNIError(f"failed to get network {network.name!r} cached result: {exc.msg}",
                           exc.details, exc.code) from exc
        for plugin in network.plugins:
            stdin = plugin_config(network, plugin, prev, attachment)
            self._chain(plugin, "CHECK", stdin, attachment, network)
        return True

    def gc(self, network: NetworkList, is_valid: "Callable[[CacheEntry], bool]",
           also_valid: "list[tuple[str, str]] | None" = None) -> "tuple[list[CacheEntry], list[CNIError]]":
        """DEL cached attachments `is_valid(entry)` rejects, then GC each plugin.

        The plugins' valid attachments are the ones still cached plus `also_valid`
        ((container ID, ifname) pairs the caller knows to be alive). Returns (the
        entries DELeted, every error); GC goes on through errors.
        """
        errors: "list[CNIError]" = []
        deleted: "list[CacheEntry]" = []
        if network.disable_gc:
            return deleted, errors
        for entry in self.cache.entries():
            if entry.problem or entry.network != network.name or is_valid(entry):
                continue
            try:
                self.delete(network, entry.attachment())
                deleted.append(entry)
            except CNIError as exc:
                errors.append(CNIError(f"failed to delete stale attachment {entry.container_id} "
                                       f"{entry.ifname}: {exc.msg}", exc.details, exc.code))
        if _version.at_least(network.cni_version, "1.1.0"):
            pairs = [(e.container_id, e.ifname) for e in self.cache.entries()
                     if not e.problem and e.network == network.name]
            pairs += [p for p in also_valid or [] if p not in pairs]
            valid = [{"containerID": cid, "ifname": ifname} for cid, ifname in pairs]
            extra = {"cni.dev/valid-attachments": valid, "cni.dev/attachments": valid}
            for plugin in network.plugins:
                try:
                    self._chain(plugin, "GC", plugin_config(network, plugin, extra=extra))
                except CNIError as exc:
                    errors.append(exc)
        return deleted, errors

    def status(self, network: NetworkList) -> bool:
        """STATUS each plugin, stopping at the first failure; False below 1.1.0 (nothing ran)."""
        if not _version.at_least(network.cni_version, "1.1.0"):
            return False
        for plugin in network.plugins:
            self._chain(plugin, "STATUS", plugin_config(network, plugin))
        return True

    # -- exec --

    def _chain(self, plugin: "dict[str, Any]", command: str, stdin: bytes,
               attachment: "Attachment | None" = None,
               network: "NetworkList | None" = None) -> "dict[str, object] | None":
        """One plugin of the chain; its error carries libcni's `plugin type=...` prefix."""
        verb = VERBS[command]
        try:
            out = self.exec_plugin(plugin["type"], command, stdin, attachment)
            if command != "ADD":
                return None
            return _result(out, network.cni_version if network else _version.DEFAULT)
        except CNIError as exc:
            raise CNIError(f"plugin {describe(plugin)} failed ({verb}): {exc.msg}",
                           exc.details, exc.code) from exc

    def exec_plugin(self, plugin_type: str, command: str, stdin: bytes,
                    attachment: "Attachment | None" = None) -> bytes:
        """Exec one plugin found on the path; its stdout, or its error as a CNIError."""
        from cni import delegate, process
        found = delegate.find(plugin_type, self.path)
        env = dict(self.env)
        env.update(_cni_env(command, attachment, self.path))
        try:
            status, stdout, stderr = process.run_plugin(found, stdin, env, capture_stderr=True)
        except OSError as exc:
            raise CNIError(f"failed to exec {found}: {exc.strerror}") from exc
        if stderr:  # the plugin's diagnostics are the operator's too
            import sys
            (self.stderr or sys.stderr).write(stderr.decode("utf-8", "replace"))
        if status != 0:
            raise plugin_error(stdout, stderr, status)
        return stdout


def _cni_env(command: str, attachment: "Attachment | None", path: "list[str]") -> "dict[str, str]":
    att = attachment or Attachment("", "", "")
    return {"CNI_COMMAND": command, "CNI_CONTAINERID": att.container_id, "CNI_NETNS": att.netns,
            "CNI_ARGS": ";".join(f"{k}={v}" for k, v in att.args), "CNI_IFNAME": att.ifname,
            "CNI_PATH": ":".join(path)}


def _result(stdout: bytes, cni_version: str) -> "dict[str, object]":
    """A plugin's ADD output, parsed and re-emitted in its own version (as libcni does)."""
    try:
        data = json.loads(stdout)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecodingFailure("plugin printed a result that is not JSON", str(exc)) from exc
    if isinstance(data, dict) and not data.get("cniVersion"):
        data["cniVersion"] = cni_version  # libcni fixupResultVersion
    result = Result.from_dict(data, cni_version, "plugin result")
    return result.to_dict(result.cni_version)


def plugin_error(stdout: bytes, stderr: bytes, status: int) -> CNIError:
    """A failed plugin's error, as libcni's pluginErr reads it."""
    if not stdout.strip():
        text = stderr.decode("utf-8", "replace").strip()
        if not text:
            return CNIError(f"netplugin failed with no error message: exit status {status}")
        return CNIError(f"netplugin failed: {text!r}")
    from cni import process
    return process.error_json(stdout) or CNIError(
        "netplugin failed but error parsing its diagnostic message "
        f"{stdout.decode('utf-8', 'replace')[:200]!r}")


# -- cnitool's conventions ------------------------------------------------------


def cnitool_container_id(netns: str) -> str:
    """cnitool's container ID: 'cnitool-' + the first 10 bytes of sha512(abs netns path)."""
    import hashlib
    return "cnitool-" + hashlib.sha512(os.path.abspath(netns).encode()).hexdigest()[:20]


def parse_cni_args(text: str) -> "list[tuple[str, str]]":
    """CNI_ARGS as cnitool reads it: 'K=V;K=V', every key and value non-empty."""
    pairs = []
    for pair in text.split(";") if text else []:
        parts = pair.split("=")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise InvalidConfig(f"invalid CNI_ARGS pair {pair!r}", "expected KEY=VALUE;KEY=VALUE")
        pairs.append((parts[0], parts[1]))
    return pairs


def parse_cap_args(text: str) -> "dict[str, object]":
    """CAP_ARGS: a JSON object of capability args (e.g. {"portMappings": [...]})."""
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidConfig("CAP_ARGS is not valid JSON", str(exc)) from exc
    if not isinstance(data, dict):
        raise InvalidConfig("CAP_ARGS must be a JSON object")
    return data
