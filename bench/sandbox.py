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
- CPU groups (`cpu_group()`): a process the bench starts and that outlives a
  call (the pycni daemon and the workers it forks) is charged to no plugin's
  rusage, and /proc/<pid>/stat counts in 10 ms ticks. A cgroup made for it
  (cgroup v2's cpu.stat usage_usec, else v1's cpuacct.usage: nanoseconds,
  every process in it, whether reaped yet or not) measures it. The cgroup
  mounts are opened before the fresh sysfs hides them; a group is removed
  when the bench exits (an empty one left by a kill -9 is removed by the
  next bench). Where no cgroup can be made, `cpu_group()` is None.
"""

import ctypes
import os
import time

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


class CpuGroup:
    """A cgroup of the bench's own: the CPU its processes used, and which are there."""

    def __init__(self, parent: int, name: str, kind: str) -> None:
        self.parent, self.name, self.kind = parent, name, kind  # kind: "v2" or "v1"
        os.mkdir(name, 0o755, dir_fd=parent)
        self.fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=parent)

    def join(self) -> None:
        """Move the calling process into the group (e.g. in a child before its exec)."""
        fd = os.open("cgroup.procs", os.O_WRONLY | os.O_CLOEXEC, dir_fd=self.fd)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)

    def usage_ns(self) -> int:
        """CPU (user + sys) of every process that ever ran in the group."""
        if self.kind == "v2":
            for line in self._read("cpu.stat").splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) * 1000
            raise OSError("no usage_usec in cpu.stat")
        return int(self._read("cpuacct.usage"))

    def pids(self) -> "list[int]":
        """The live processes in the group (not the zombies: their CPU is counted already)."""
        return [int(p) for p in self._read("cgroup.procs").split()]

    def _read(self, name: str) -> str:
        fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=self.fd)
        try:
            return os.read(fd, 65536).decode()
        finally:
            os.close(fd)

    def remove(self, timeout: float = 5.0) -> None:
        """rmdir once its processes are gone (killed workers take a moment to exit)."""
        if self.fd < 0:
            return
        os.close(self.fd)
        self.fd = -1
        deadline = time.monotonic() + timeout
        while True:
            try:
                os.rmdir(self.name, dir_fd=self.parent)
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > deadline:
                    return  # still busy: an empty leftover, removed by the next bench
                time.sleep(0.05)


class Sandbox:
    """`with Sandbox() as box:` the process runs in a private host namespace."""

    def __init__(self) -> None:
        self.host = -1
        self.containers: "dict[str, int]" = {}
        self.cgroup_root: "tuple[int, str] | None" = None
        self.groups: "list[CpuGroup]" = []

    def __enter__(self) -> "Sandbox":
        if os.geteuid() != 0:
            raise PermissionError("the bench needs root (network namespaces, veths)")
        _unshare(CLONE_NEWNS | CLONE_NEWNET)
        self.cgroup_root = _cgroup_root()  # before the fresh sysfs hides /sys/fs/cgroup
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

    def cpu_group(self, tag: str) -> "CpuGroup | None":
        """A new cgroup `pycni-bench-<pid>-<tag>` for CPU accounting, or None where
        cgroups cannot be made here (no mount, read-only, delegated elsewhere)."""
        if self.cgroup_root is None:
            return None
        parent, kind = self.cgroup_root
        try:
            group = CpuGroup(parent, f"pycni-bench-{os.getpid()}-{tag}", kind)
            group.usage_ns()
        except (OSError, ValueError):
            return None
        self.groups.append(group)
        return group

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
        for group in self.groups:
            group.remove()
        if self.cgroup_root is not None:
            os.close(self.cgroup_root[0])
            self.cgroup_root = None
        # The host namespace and the mount namespace go with the process.


def _cgroup_root() -> "tuple[int, str] | None":
    """(a dir fd, "v2" or "v1") on this process's cgroup in the hierarchy that counts
    CPU: cgroup v2 (cpu.stat is always there), else v1's cpuacct; None when neither.
    Empty groups a killed bench left behind are removed on the way."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            mounts = [line.split(" - ", 1) for line in f]
        with open("/proc/self/cgroup", encoding="utf-8") as f:
            own = [line.rstrip("\n").split(":", 2) for line in f]
    except OSError:
        return None
    for kind in ("v2", "v1"):
        for fields in mounts:
            try:
                (root, point), (fstype, _, options) = fields[0].split()[3:5], fields[1].split()[:3]
            except (IndexError, ValueError):
                continue
            if kind == "v2" and fstype == "cgroup2":
                path = next((p for h, c, p in own if h == "0" and c == ""), None)
            elif kind == "v1" and fstype == "cgroup" and "cpuacct" in options.split(","):
                path = next((p for _, c, p in own if "cpuacct" in c.split(",")), None)
            else:
                continue
            if path is None or not (root == "/" or path == root or path.startswith(root + "/")):
                continue
            path = path[len(root):] if root != "/" else path
            try:
                fd = os.open(point + path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError:
                continue
            _remove_leftovers(fd)
            return fd, kind
    return None


def _remove_leftovers(parent: int) -> None:
    for name in os.listdir(parent):
        if not name.startswith("pycni-bench-"):
            continue
        try:
            pid = int(name.split("-")[2])
            os.kill(pid, 0)  # that bench still runs
        except (ValueError, IndexError, ProcessLookupError):
            try:
                os.rmdir(name, dir_fd=parent)
            except OSError:
                pass  # not empty, or not ours to remove
        except PermissionError:
            pass


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
