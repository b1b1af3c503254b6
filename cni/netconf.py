"""The network configuration every plugin reads on stdin: the spec's own keys.

Where it sits: `cni.skel` calls `parse(stdin)` for every verb but VERSION and
stores the `NetConf` on the request. Each plugin declares its own keys in a
config class of its own (`cni.plugins.bridge.BridgeConf`,
`ipam.config.HostLocalConf`) and parses them from the same `raw` object; keys
nobody declares stay in `raw`, untouched, for chained plugins. How keys are
declared and matched (case-insensitively, as Go decodes them) is
`cni.schema`'s business; `pycni lint` derives its models from these classes.

Keys (spec 1.1.0 section 1, plus logging):
  cniVersion (absent or "": 0.1.0, as the Go library reads it; not a string:
  code 6), cniVersions, name (required), type, args, ipMasq, ipam (its `type`
  here; the IPAM reads the rest), dns, runtimeConfig, capabilities,
  prevResult, logFile/logLevel (with Calico's spellings log_file_path and
  log_level). GC's cni.dev/valid-attachments is read by `valid_attachments()`.
"""

from cni import fastjson as json
from cni import validate
from cni import version as _version
from cni.errors import DecodingFailure, InvalidConfig
from cni.schema import Config, fold, key
from cni.types import DNS, Result

VALID_ATTACHMENTS_KEYS = ("cni.dev/valid-attachments", "cni.dev/attachments")


def _version_or_default(value: str) -> str:
    return value or _version.DEFAULT


class IPAMRef(Config):
    """`ipam` as every plugin sees it: which plugin to delegate to."""

    type: str = key("type", "")


class DNSConf(Config):
    """`dns`: what the runtime should configure as the container's resolver."""

    nameservers: list[str] = key("nameservers", [])
    domain: str = key("domain", "")
    search: list[str] = key("search", [])
    options: list[str] = key("options", [])

    def to_dns(self) -> DNS:
        return DNS(self.nameservers, self.domain, self.search, self.options)


def _attachment_id(value: str) -> str:
    if not validate.is_name(value):
        raise InvalidConfig("invalid container ID in the valid attachments",
                            "a container ID matches [A-Za-z0-9][A-Za-z0-9_.-]*")
    return value


def _attachment_ifname(value: str) -> str:
    return validate.ifname(value, InvalidConfig)


class Attachment(Config):
    """One entry of GC's cni.dev/valid-attachments."""

    container_id: str = key("containerID", missing="missing containerID", check=_attachment_id)
    ifname: str = key("ifname", missing="missing ifname", check=_attachment_ifname)


class NetConf(Config):
    """The spec's keys of a network config, as every plugin receives them (stdin)."""

    cni_version: str = key("cniVersion", _version.DEFAULT, check=_version_or_default,
                           error=DecodingFailure)
    cni_versions: list[str] = key("cniVersions", [])
    name: str = key("name", missing="missing network name", check=validate.network_name)
    type: str = key("type", "")
    args: dict[str, object] = key("args", {})
    ip_masq: bool = key("ipMasq", False)
    ipam: IPAMRef = key("ipam")
    dns: DNSConf = key("dns")
    runtime_config: dict[str, object] = key("runtimeConfig", {})
    capabilities: dict[str, bool | None] = key("capabilities", {})
    prev_result_raw: dict[str, object] | None = key("prevResult", None)
    log_file: str = key("logFile", "", also=("log_file_path",))
    log_level: str = key("logLevel", "", also=("log_level",))

    def prev_result(self) -> "Result | None":
        """prevResult in any version, read into the internal shape."""
        if self.prev_result_raw is None:
            return None
        return Result.from_dict(self.prev_result_raw, self.cni_version, "prevResult")

    def valid_attachments(self) -> "list[tuple[str, str]] | None":
        """GC's (containerID, ifname) pairs that are still in use. None when the key is
        absent (nobody said what is stale: release nothing); libcni sends null for an
        empty list (release everything), so null is [] here, unlike other keys."""
        found = [k for k in self.raw if type(k) is str
                 and fold(k) in {fold(name) for name in VALID_ATTACHMENTS_KEYS}]
        if not found:
            return None
        where = found[-1]
        value = self.raw[where]
        if value is None:
            return []
        if type(value) is not list:
            raise InvalidConfig(f"invalid field {where}",
                                f"{where} must be a list of {{containerID, ifname}}", field=where)
        pairs = []
        for index, entry in enumerate(value):
            path = f"{where}[{index}]"
            if type(entry) is not dict:
                raise InvalidConfig(f"invalid field {path}", f"{path} must be an object",
                                    field=path)
            attachment = Attachment.parse(entry, where=path + ".")
            pairs.append((attachment.container_id, attachment.ifname))
        return pairs


def load(stdin: bytes) -> "dict[str, object]":
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
    return NetConf.parse(load(stdin))
