"""Spec versions: what we support, how to compare them, which verb needs which.

Where it sits: `cni.skel` gates every request here before any plugin code runs.
"""

from cni.errors import DecodingFailure, IncompatibleVersion

SUPPORTED = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
CURRENT = "1.1.0"
# A config without cniVersion is read as 0.1.0, as the Go library does.
DEFAULT = "0.1.0"

# Minimum config version per verb (the skel refuses older ones with code 1).
MINIMUM = {"CHECK": "0.4.0", "GC": "1.1.0", "STATUS": "1.1.0"}


def parse(version: str) -> "tuple[int, int, int]":
    """'1.0.0' -> (1, 0, 0); anything else is a decoding failure (code 6)."""
    parts = version.split(".") if isinstance(version, str) else []
    if len(parts) != 3 or not all(p.isdigit() and p.isascii() for p in parts):
        raise DecodingFailure(f"invalid version {version!r}: must be MAJOR.MINOR.PATCH")
    return int(parts[0]), int(parts[1]), int(parts[2])


def at_least(version: str, minimum: str) -> bool:
    return parse(version) >= parse(minimum)


def supported_details(version: str) -> str:
    listed = " ".join(f'"{v}"' for v in SUPPORTED)
    return f'config is "{version}", plugin supports [{listed}]'


def check(version: str, command: str) -> None:
    """Refuse a config version this plugin (or this verb) cannot serve."""
    minimum = MINIMUM.get(command)
    if minimum is not None and not at_least(version, minimum):
        raise IncompatibleVersion(f"config version does not allow {command}", field="cniVersion")
    if version not in SUPPORTED:
        raise IncompatibleVersion("incompatible CNI versions", supported_details(version),
                                  field="cniVersion")


def has_interfaces(version: str) -> bool:
    """0.3.0 and later results carry `interfaces` and `ips` (not `ip4`/`ip6`)."""
    return at_least(version, "0.3.0")


def has_1_1_fields(version: str) -> bool:
    """1.1.0 and later results carry interface mtu, socketPath and pciID, and route
    mtu, advmss, priority, table and scope."""
    return at_least(version, "1.1.0")
