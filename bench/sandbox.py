"""The bench's own namespaces: a private "host" and one fresh "container" per ADD.

Where it sits: `bench.suite` enters a `Sandbox` once; every plugin the bench
spawns afterwards inherits its host namespace, as a runtime's plugins inherit
the node's.

How, and why this way:
- The bench process unshares a network namespace and lives in it: that is the
  host side (bridges, iptables/nft rules, ip_forward all land there, never in
  the machine's root namespace). It also unshares a mount namespace (made a
  slave of the real one, so nothing propagates back) and mounts a fresh sysfs,
  so /sys/class/net shows the bench's host, as `ip netns exec` arranges.
- A container namespace is made by unsharing again, keeping an fd on it and
  going back to the host. Plugins get `CNI_NETNS=/proc/<bench pid>/fd/<fd>`
  (an nsfs path both the Go plugins and ours accept).
- Nothing has a name in /run/netns, so two benches (or a bench and the test
  suite) cannot collide, and nothing can outlive the bench: the namespaces
  are held only by its fds and by itself, so the kernel removes them (and
  every veth, bridge and rule in them) when it exits, even on kill -9.
  `close()` drops them early; `Sandbox.__exit__` drops whatever is left.
"""

import ctypes
import os

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_REC = 0x4000
MS_SLAVE = 1 << 19
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def _setns(fd: int) -> None:
    _check(_libc.setns(fd, CLONE_NEWNET), "setns")


def _own_netns() -> int:
    return os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)


class Sandbox:
    """`with Sandbox() as box:` the process runs in a private host namespace."""

    def __init__(self) -> None:
        self.host = -1
        self.containers: "dict[str, int]" = {}

    def __enter__(self) -> "Sandbox":
        if os.geteuid() != 0:
            raise PermissionError("the bench needs root (network namespaces, veths)")
        _unshare(CLONE_NEWNS | CLONE_NEWNET)
        _check(_libc.mount(b"none", b"/", None, MS_REC | MS_SLAVE, None), "mount --make-rslave /")
        _check(_libc.umount2(b"/sys", MNT_DETACH), "umount /sys")
        _check(_libc.mount(b"sysfs", b"/sys", b"sysfs", 0, None), "mount sysfs")
        self.host = _own_netns()
        _set_lo_up()
        return self

    def container(self) -> str:
        """A fresh, empty network namespace; returns its CNI_NETNS path."""
        _unshare(CLONE_NEWNET)
        try:
            fd = _own_netns()
        finally:
            _setns(self.host)
        path = f"/proc/{os.getpid()}/fd/{fd}"
        self.containers[path] = fd
        return path

    def close(self, path: str) -> None:
        """Drop a container namespace (the kernel frees it and its links)."""
        fd = self.containers.pop(path, None)
        if fd is not None:
            os.close(fd)

    def close_all(self) -> None:
        for path in list(self.containers):
            self.close(path)

    def __exit__(self, *exc: object) -> None:
        self.close_all()
        # The host namespace and the mount namespace go with the process.


def _set_lo_up() -> None:
    """Bring the host namespace's `lo` up (SIOCSIFFLAGS, no exec needed)."""
    import fcntl
    import socket
    import struct
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        req = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack_from("16sH", fcntl.ioctl(sock, siocgifflags, req))[1]
        fcntl.ioctl(sock, siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))
