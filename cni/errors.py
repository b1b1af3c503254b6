"""Typed CNI errors: every failure a plugin reports is one of these.

Where it sits: anything in the flow raises a subclass the moment the fact is
known; only `cni.skel` turns it into the spec's error JSON on stdout.

    CNIError (code 999 unless a subclass says otherwise)
    ├── IncompatibleVersion      1   cniVersion unsupported, or too old for the verb
    ├── UnsupportedField         2   a config key/value we understand but cannot honour
    ├── UnknownContainer         3   the container does not exist (runtime need not DEL)
    ├── InvalidEnvironment       4   missing/invalid CNI_* variable or CNI_ARGS
    ├── IOFailure                5   reading stdin failed
    ├── DecodingFailure          6   stdin / prevResult / version string not decodable
    ├── InvalidConfig            7   network config fails validation
    ├── InvalidNetNS             8   CNI_NETNS is the plugin's own namespace (libcni's code)
    ├── TryAgainLater           11   transient: lock contention, a racing peer
    ├── NotAvailable            50   STATUS: cannot serve ADD
    ├── NotAvailableLimited     51   STATUS: and existing containers may suffer
    └── plugin-specific codes (100+), one class per well-known failure:
        NetnsNotFound 100, NotANetns 101, InterfaceExists 102, BridgeConflict 103,
        PoolExhausted 104, AddressUnavailable 105, PluginNotFound 106,
        NetlinkFailure 107, StoreFailure 108, FirewallFailure 109,
        CheckFailed 110, DelegateFailure 111, InterfaceNotFound 112
"""


class CNIError(Exception):
    """A failure with its CNI code; `msg` is short, `details` optional and long.

    `field` is the JSON path of the config value at fault, when there is one
    (`ipam.ranges[0][0].subnet`): `pycni lint` and the plugins name the same one.
    The error JSON has no such key (the spec fixes its keys): `details` names the
    field when the message does not.
    """

    code = 999

    def __init__(self, msg: str, details: str = "", code: "int | None" = None,
                 field: str = "") -> None:
        super().__init__(msg)
        self.msg = msg
        self.details = details
        self.field = field
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.msg}: {self.details}" if self.details else self.msg

    def to_dict(self, cni_version: str) -> "dict[str, object]":
        out: "dict[str, object]" = {"cniVersion": cni_version, "code": self.code, "msg": self.msg}
        details = self.details
        if self.field and self.field not in f"{self.msg} {details}":
            details = f"{details}; at {self.field}" if details else f"at {self.field}"
        if details:
            out["details"] = details
        return out


class IncompatibleVersion(CNIError):
    code = 1


class UnsupportedField(CNIError):
    code = 2


class UnknownContainer(CNIError):
    code = 3


class InvalidEnvironment(CNIError):
    code = 4


class IOFailure(CNIError):
    code = 5


class DecodingFailure(CNIError):
    code = 6


class InvalidConfig(CNIError):
    code = 7


class InvalidNetNS(CNIError):
    code = 8


class TryAgainLater(CNIError):
    code = 11


class NotAvailable(CNIError):
    code = 50


class NotAvailableLimited(CNIError):
    code = 51


class NetnsNotFound(CNIError):
    """CNI_NETNS names a path that does not exist."""

    code = 100


class NotANetns(CNIError):
    """CNI_NETNS exists but is not a network namespace (regular file, tmpfs...)."""

    code = 101


class InterfaceExists(CNIError):
    """CNI_IFNAME (or a name we must create) is already taken."""

    code = 102


class BridgeConflict(CNIError):
    """The bridge name is used by a link that is not a bridge, or holds another address."""

    code = 103


class PoolExhausted(CNIError):
    """No free address left in a range set."""

    code = 104


class AddressUnavailable(CNIError):
    """A requested address is taken, is the gateway, or lies outside every range."""

    code = 105


class PluginNotFound(CNIError):
    """A delegated plugin type is not on CNI_PATH."""

    code = 106


class NetlinkFailure(CNIError):
    """The kernel refused a netlink request."""

    code = 107


class StoreFailure(CNIError):
    """The IPAM store cannot be read or written (read-only, disk full, corrupt)."""

    code = 108


class FirewallFailure(CNIError):
    """Programming NAT (iptables / nftables) failed."""

    code = 109


class CheckFailed(CNIError):
    """CHECK found the attachment different from its prevResult."""

    code = 110


class DelegateFailure(CNIError):
    """A delegated plugin failed without a parseable CNI error."""

    code = 111


class InterfaceNotFound(CNIError):
    """An interface the verb needs is missing."""

    code = 112
