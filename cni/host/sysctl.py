"""The few /proc/sys/net writes the bridge plugin makes, each a named function.

Where it sits: `cni.plugins.bridge` calls these on the host side (bridge and
host veth) and, inside `cni.host.netns.inside(fd)`, for the container interface:
/proc/sys/net resolves against the calling thread's network namespace, so the
same path means the container's file when called from inside.

Paths are joined with '/' so that dots in interface names stay literal
(`net/ipv6/conf/cni0.100/accept_ra`, as the reference's slash-separated
sysctl names). Interface names were validated at the edge (no '/', not '.' or
'..'), so a name can never leave its directory.

Functions the reference treats as best effort (IPv6 switched off in the
kernel, a missing file) return False instead of raising; the ones whose
failure changes behaviour (forwarding, enabling IPv6 for an IPv6 address)
raise NetlinkFailure (code 107) naming the file.
"""

import os

from cni.errors import NetlinkFailure

ROOT = "/proc/sys/net"


def _path(*parts: str) -> str:
    return "/".join((ROOT, *parts))


def read(*parts: str) -> "str | None":
    """The value of net/<parts...>, or None when the file cannot be read."""
    try:
        with open(_path(*parts), "rb") as f:
            return f.read().decode().strip()
    except OSError:
        return None


def write(value: str, *parts: str) -> bool:
    """Write net/<parts...>; False when the kernel has no such file or refused."""
    try:
        fd = os.open(_path(*parts), os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        os.write(fd, value.encode())
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def ensure(value: str, *parts: str) -> None:
    """Write only when different (a write takes a lock in the kernel); raise on failure."""
    if read(*parts) == value:
        return
    if not write(value, *parts):
        raise NetlinkFailure(f"failed to set net/{'/'.join(parts)} to {value}")


# -- host side ---------------------------------------------------------------

def refuse_router_advertisements(ifname: str) -> bool:
    """accept_ra=0 on a host-side link (CVE-2020-10749: rogue RAs from a pod)."""
    return write("0", "ipv6", "conf", ifname, "accept_ra")


def enable_forwarding(family: int) -> None:
    """ip_forward (4) or conf/all/forwarding (6), written only if not already 1."""
    if family == 4:
        ensure("1", "ipv4", "ip_forward")
    else:
        ensure("1", "ipv6", "conf", "all", "forwarding")


# -- container side (call inside the container's namespace) -------------------

def set_dad(ifname: str, enabled: bool) -> None:
    """enabledad: accept_dad=1 + enhanced_dad=1, else accept_dad=0 (no DAD wait)."""
    if enabled:
        write("1", "ipv6", "conf", ifname, "enhanced_dad")
        write("1", "ipv6", "conf", ifname, "accept_dad")
    else:
        write("0", "ipv6", "conf", ifname, "accept_dad")


def set_arp_notify(ifname: str) -> bool:
    """arp_notify=1: gratuitous ARP when the link comes up (neighbours learn the new MAC)."""
    return write("1", "ipv4", "conf", ifname, "arp_notify")


def enable_ipv6(ifname: str) -> None:
    """disable_ipv6=0 on lo and the interface (an IPv6 address needs both)."""
    for name in ("lo", ifname):
        if read("ipv6", "conf", name, "disable_ipv6") not in (None, "0"):
            ensure("0", "ipv6", "conf", name, "disable_ipv6")


def keep_addr_on_down(ifname: str) -> bool:
    """keep_addr_on_down=1: IPv6 addresses survive the link going down and up."""
    return write("1", "ipv6", "conf", ifname, "keep_addr_on_down")
