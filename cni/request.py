"""Reading a request: the CNI_* environment, CNI_ARGS and the stdin config.

Where it sits: `cni.skel` builds one `Request` per exec from here and hands it
to the plugin's verb function. Everything in a Request has been validated.

Required variables per verb follow the spec and the Go skel: ADD and CHECK need
CNI_CONTAINERID, CNI_NETNS and CNI_IFNAME; DEL needs CNI_CONTAINERID and
CNI_IFNAME (the netns may be gone); GC, STATUS and VERSION need none. An empty
variable counts as missing. CNI_PATH is only needed when a plugin delegates, so
`cni.delegate` asks for it, not this module.
"""

from cni.errors import InvalidEnvironment

TYPE_CHECKING = False  # type checkers read this as True; typing costs ~3 ms per exec
if TYPE_CHECKING:
    from cni.netconf import NetConf

COMMANDS = ("ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION")
# The function of a plugin module that serves each verb (VERSION is the skel's own).
VERBS = {"ADD": "add", "DEL": "delete", "CHECK": "check", "GC": "gc", "STATUS": "status"}

REQUIRED = {
    "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "DEL": ("CNI_CONTAINERID", "CNI_IFNAME"),
    "GC": (),
    "STATUS": (),
    "VERSION": (),
}

# CNI_ARGS keys this framework understands. Any other key is an error unless
# IgnoreUnknown is true (the reference's strictness, which runtimes expect).
KNOWN_ARGS = ("IgnoreUnknown", "IP", "MAC", "K8S_POD_NAMESPACE", "K8S_POD_NAME",
              "K8S_POD_INFRA_CONTAINER_ID", "K8S_POD_UID")
MAX_ARGS = 64 * 1024


class Request:
    """One exec: the verb, its attachment, the raw stdin and the parsed config."""

    __slots__ = ("command", "container_id", "netns", "ifname", "args", "path", "stdin",
                 "env", "conf")

    def __init__(self, command: str, container_id: str = "", netns: str = "", ifname: str = "",
                 args: "dict[str, str] | None" = None, path: "list[str] | None" = None,
                 stdin: bytes = b"", env: "dict[str, str] | None" = None,
                 conf: "NetConf | None" = None) -> None:
        self.command = command
        self.container_id = container_id
        self.netns = netns
        self.ifname = ifname
        self.args = args or {}
        self.path = path or []
        self.stdin = stdin
        self.env = env if env is not None else {}
        # The skel sets it once stdin is parsed, before any verb sees the request.
        self.conf: "NetConf" = conf  # type: ignore[assignment]  # None only until then

    def with_command(self, command: str) -> "Request":
        """The same request for another verb (in-process delegation)."""
        env = dict(self.env)
        env["CNI_COMMAND"] = command
        return Request(command, self.container_id, self.netns, self.ifname, self.args,
                       self.path, self.stdin, env, self.conf)


def from_env(env: "dict[str, str]", stdin: bytes = b"") -> Request:
    """Validate the CNI_* variables for the verb in CNI_COMMAND (already known)."""
    command = env.get("CNI_COMMAND", "")
    missing = [name for name in REQUIRED[command] if not env.get(name)]
    if missing:
        raise InvalidEnvironment(f"required env variables [{','.join(missing)}] missing")
    request = Request(command, env=dict(env), stdin=stdin)
    if command in ("ADD", "DEL", "CHECK"):
        from cni import validate  # here, not above: VERSION never needs it (nor its `re`)
        request.container_id = validate.container_id(env["CNI_CONTAINERID"])
        request.ifname = validate.ifname(env["CNI_IFNAME"])
        request.netns = env.get("CNI_NETNS", "")
        if len(request.netns) > 4096 or "\0" in request.netns:
            raise InvalidEnvironment("CNI_NETNS is not a valid path")
        request.args = parse_args(env.get("CNI_ARGS", ""), strict=command != "DEL")
    request.path = [p for p in env.get("CNI_PATH", "").split(":") if p]
    return request


def parse_args(text: str, strict: bool = True) -> "dict[str, str]":
    """CNI_ARGS 'K1=V1;K2=V2' -> dict, as strictly as the Go library parses it.

    DEL is not strict: a DEL refused over CNI_ARGS would leave the attachment's
    resources behind, and nothing DEL does depends on them.
    """
    try:
        return _parse_args(text)
    except InvalidEnvironment as exc:
        if strict:
            raise
        from cni import log
        log.warning("ignoring invalid CNI_ARGS on DEL: %s", exc.msg)
        return {}


def _parse_args(text: str) -> "dict[str, str]":
    if not text:
        return {}
    if len(text) > MAX_ARGS:
        raise InvalidEnvironment("CNI_ARGS is too long")
    args: dict[str, str] = {}
    for pair in text.split(";"):
        parts = pair.split("=")
        if len(parts) != 2:
            raise InvalidEnvironment(f"ARGS: invalid pair {_quote(pair)}")
        args[parts[0]] = parts[1]
    ignore = args.get("IgnoreUnknown", "0").lower()
    if ignore not in ("1", "true", "0", "false"):
        raise InvalidEnvironment("ARGS: IgnoreUnknown must be 1, true, 0 or false, "
                                 f"not {_quote(ignore)}")
    unknown = [pair for pair in text.split(";") if pair.split("=")[0] not in KNOWN_ARGS]
    if unknown and ignore in ("0", "false"):
        raise InvalidEnvironment(f"ARGS: unknown args [{' '.join(map(_quote, unknown))}]",
                                 "add IgnoreUnknown=1 to CNI_ARGS to ignore keys the plugin does "
                                 "not use")
    return args


def _quote(text: str) -> str:
    """Go's %q for plain text, so messages read like the reference plugins'."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
