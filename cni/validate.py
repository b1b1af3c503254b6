"""Checks for every value that becomes a file name, an interface name or an exec path.

Where it sits: `cni.request` and `cni.netconf` call these at the edge, before any
file, link or process is touched; code inside trusts what passed.
"""

from cni.errors import InvalidConfig, InvalidEnvironment

TYPE_CHECKING = False  # type checkers read this as True; typing costs ~3 ms per exec
if TYPE_CHECKING:
    from typing import TypeGuard

    from cni.errors import CNIError

# The Go library's rule for container IDs and network names: both become path
# components (IPAM directory, result cache), so no '/', no leading '.' or '-'.
# Checked with sets, not a regex: `re` costs ~2 ms of import on every exec.
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_NAME_CHARS = _ALNUM | frozenset("_.-")
MAX_ID = 1024  # generous (runtimes send 64 hex chars) but bounded
MAX_IFNAME = 15  # IFNAMSIZ - 1


def is_name(value: object) -> "TypeGuard[str]":
    return (isinstance(value, str) and 0 < len(value) <= MAX_ID and value[0] in _ALNUM
            and _NAME_CHARS.issuperset(value))


def container_id(value: str) -> str:
    if not is_name(value):
        raise InvalidEnvironment(
            "invalid characters in container ID",
            f"container ID {value[:64]!r} must match [A-Za-z0-9][A-Za-z0-9_.-]* (at most {MAX_ID})")
    return value


def ifname(value: str, error: "type[CNIError]" = InvalidEnvironment) -> str:
    """An interface name: 1-15 bytes, not '.' or '..', no '/', ':' or whitespace."""
    if not value:
        raise error("interface name is empty")
    if len(value.encode("utf-8", "surrogateescape")) > MAX_IFNAME:
        raise error("interface name is too long",
                    f"interface name should be less than {MAX_IFNAME + 1} characters")
    if value in (".", ".."):
        raise error("interface name is . or ..")
    if any(c in "/:" or c.isspace() or c == "\0" for c in value):
        raise error("interface name contains / or : or whitespace characters")
    return value


def network_name(value: object) -> str:
    if value is None or value == "":
        raise InvalidConfig("missing network name", field="name")
    if not is_name(value):
        raise InvalidConfig("invalid network name",
                            f"network name {str(value)[:64]!r} must match "
                            "[A-Za-z0-9][A-Za-z0-9_.-]* and contain no path separators",
                            field="name")
    return value


def plugin_type(value: object, field: str = "type") -> str:
    """A plugin type is a bare file name on CNI_PATH (CVE-2021-20206: no '../x')."""
    if not isinstance(value, str) or not value:
        raise InvalidConfig(f"missing plugin {field}", field=field)
    if value in (".", "..") or any(c in "/\\\0" for c in value) or len(value) > 255:
        raise InvalidConfig(f"invalid plugin {field} {value[:64]!r}",
                            "a plugin type is a file name in CNI_PATH, without path separators",
                            field=field)
    return value
