"""The file store: the reference host-local layout, written crash-safely.

Where it sits: `cni.plugins.host_local` opens one `DiskStore` per exec and
works inside `with store.session():`. The format is documented in
`ipam.store`; this module owns every syscall on it.

How a reservation is written (the reference creates the address file and then
writes into it, so a kill in between leaves an empty file that pins the address
forever):
1. the owner text goes to a temp file `.pycni-<pid>-<n>.tmp` (0600), fsynced;
2. link(2) gives it the address name: the commit point. EEXIST means taken;
3. `last_reserved_ip.<set>` is replaced through its own temp file + rename;
4. the temp file is unlinked; `flush()` fsyncs the directory before ADD answers.
Temp files are only made under the lock, so any temp file a lock holder sees
was left by a crash and is removed.

Every open is relative to the network directory's fd and uses O_NOFOLLOW; an
entry named like an address that is a symlink, a directory, oversized or
unparseable is listed with a `problem`, keeps its address taken, is never
followed, and never stops other work. The lock wait is bounded
(TryAgainLater, code 11); EROFS/ENOSPC/EACCES become StoreFailure (code 108)
with the reason, and a failed reservation leaves nothing behind.
"""

import errno
import fcntl
import ipaddress
import os
import stat

from cni import faults, log, validate
from cni.errors import CNIError, StoreFailure, TryAgainLater
from ipam.store import Allocation, Store, release_all

LOCK = "lock"
CURSOR_PREFIX = "last_reserved_ip."
TEMP_PREFIX = ".pycni-"
TEMP_SUFFIX = ".tmp"
MAX_ENTRY = 4096  # a container ID (<= 1024) + CRLF + ifname fits many times over

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_NEW_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

_HINTS: "dict[int | None, str]" = {  # looked up by OSError.errno, which may be None
    errno.EROFS: "the IPAM store is on a read-only filesystem",
    errno.ENOSPC: "the filesystem holding the IPAM store is full",
    errno.EDQUOT: "the disk quota of the IPAM store is exhausted",
    errno.EACCES: "permission denied: the plugin must run as root (or own dataDir)",
    errno.EPERM: "operation not permitted on the IPAM store",
    errno.ELOOP: "a symlink stands where the store expects a directory or file; refusing to follow "
                 "it (set ipam.dataDir to the real path)",
    errno.ENOTDIR: "a path component of the store is not a directory",
}


def is_address_name(name: str) -> bool:
    """A file name the reference would write for an address (canonical text only)."""
    if not name or name[0] not in "0123456789abcdef:" or len(name) > 39:
        return False
    try:
        return str(ipaddress.ip_address(name)) == name
    except ValueError:
        return False


def parse_owner(ip: str, data: bytes, mtime: float = 0.0) -> Allocation:
    """The content of an address file -> its Allocation (problem set when unusable)."""
    text = data.strip()
    if not text:
        return Allocation(ip, mtime=mtime, problem="empty")
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:
        return Allocation(ip, mtime=mtime, problem="garbage (not UTF-8)")
    container_id, sep, ifname = decoded.partition("\r\n")
    owner = Allocation(ip, container_id, ifname if sep else None, mtime)
    if not validate.is_name(container_id) or (sep and not _is_ifname(ifname)):
        owner.problem = "garbage (not a container ID and ifname)"
    return owner


def _is_ifname(value: str) -> bool:
    try:
        validate.ifname(value)
    except CNIError:
        return False
    return True


class DiskStore(Store):
    """The reservations of network `network` under `data_dir` (see module docstring)."""

    __slots__ = ("path", "lock_timeout", "_create", "_dir", "_lock", "_names", "_entries",
                 "_dirty", "_temps")

    def __init__(self, data_dir: str, network: str, lock_timeout: float) -> None:
        if not validate.is_name(network):  # defence in depth: the skel checked it
            raise StoreFailure(f"invalid network name {network[:64]!r} for the IPAM store")
        self.path = os.path.join(data_dir, network)
        self.lock_timeout = lock_timeout
        self._create = True
        self._dir: "int | None" = None
        self._lock: "int | None" = None
        self._names: "set[str]" = set()
        self._entries: "dict[str, Allocation] | None" = None
        self._dirty = False
        self._temps = 0

    # -- session --------------------------------------------------------------

    def session(self, create: bool = True) -> "DiskStore":
        self._create = create
        return self

    def __enter__(self) -> "DiskStore":
        if self._dir is not None:
            raise RuntimeError("DiskStore sessions do not nest")
        try:
            self._dir = self._open_dir(self._create)
            if self._dir is not None:
                self._lock = self._open_lock()
                self._acquire(self._lock)
                self._names = set(os.listdir(self._dir))
                self._sweep_temps()
        except OSError as exc:
            self._close()
            raise self._failure("open the store", exc) from exc
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if self._dirty and exc_type is None:
                try:
                    self.flush()
                except StoreFailure as failure:
                    log.warning("%s", failure)
        finally:
            self._close()

    def flush(self) -> None:
        """Make this session's changes durable (fsync of the directory)."""
        if self._dir is None or not self._dirty:
            return
        try:
            os.fsync(self._dir)
        except OSError as exc:
            raise self._failure("sync the store", exc) from exc
        self._dirty = False

    def exists(self) -> bool:
        try:
            return stat.S_ISDIR(os.lstat(self.path).st_mode)
        except OSError:
            return False

    def _close(self) -> None:
        for fd in (self._lock, self._dir):
            if fd is not None:
                os.close(fd)  # closing the lock fd releases the flock
        self._lock = self._dir = None
        self._names, self._entries, self._dirty = set(), None, False

    def _open_dir(self, create: bool) -> "int | None":
        """The network directory, opened one component at a time from / with O_NOFOLLOW
        (missing ones made 0700 when `create`), so a symlink planted anywhere on the
        path (dataDir, a parent, the network directory) is refused, never followed."""
        fd = os.open("/", _DIR_FLAGS)
        try:
            for part in [p for p in self.path.split("/") if p]:
                try:
                    child = _open_component(fd, part)
                except FileNotFoundError:
                    if not create:
                        os.close(fd)
                        return None
                    try:
                        os.mkdir(part, 0o700, dir_fd=fd)
                    except FileExistsError:  # a racing ADD made it
                        pass
                    child = _open_component(fd, part)
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _open_lock(self) -> int:
        return os.open(LOCK, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                       dir_fd=self._dir)

    def _acquire(self, lock: int) -> None:
        """flock(LOCK_EX) on `lock`, the reference's lock, waiting at most lock_timeout."""
        if _try_lock(lock):
            return
        import time
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.001
        while time.monotonic() < deadline:
            time.sleep(min(delay, max(deadline - time.monotonic(), 0)))
            if _try_lock(lock):
                return
            delay = min(delay * 2, 0.02)
        raise TryAgainLater(f"timed out after {self.lock_timeout:g}s waiting for the lock of {self.path}",
                            "another plugin holds the IPAM store lock; retry later "
                            "(ipam.lockTimeout sets the wait)")

    def _sweep_temps(self) -> None:
        for name in [n for n in self._names if n.startswith(TEMP_PREFIX) and n.endswith(TEMP_SUFFIX)]:
            log.info("removing stale temp file %s/%s left by a crash", self.path, name)
            self._unlink_quiet(name)
            self._names.discard(name)

    # -- reading ----------------------------------------------------------------

    def _scan(self) -> "dict[str, Allocation]":
        if self._entries is None:
            self._entries = {}
            for name in self._names:
                if is_address_name(name):
                    entry = self._read_entry(name)
                    if entry is not None:
                        self._entries[name] = entry
        return self._entries

    def _read_entry(self, name: str) -> "Allocation | None":
        try:
            st = os.stat(name, dir_fd=self._dir, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return Allocation(name, problem=f"unreadable: {exc.strerror}")
        kind = _kind_problem(st)
        if kind:
            return Allocation(name, mtime=st.st_mtime, problem=kind)
        try:
            data = self._read_small(name, MAX_ENTRY)
        except OSError as exc:
            return Allocation(name, mtime=st.st_mtime, problem=f"unreadable: {exc.strerror}")
        if data is None:
            return Allocation(name, mtime=st.st_mtime, problem="oversize")
        return parse_owner(name, data, st.st_mtime)

    def _read_small(self, name: str, limit: int) -> "bytes | None":
        """A regular file's bytes (None when larger than `limit`); never follows symlinks."""
        fd = os.open(name, _READ_FLAGS, dir_fd=self._dir)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise OSError(errno.EINVAL, "not a regular file")
            if st.st_size > limit:
                return None
            data = os.read(fd, limit + 1)
        finally:
            os.close(fd)
        return data if len(data) <= limit else None

    def owner_of(self, ip: str) -> "Allocation | None":
        return self._scan().get(ip)

    def taken(self) -> "set[str]":
        if self._dir is None:  # outside a session: a lock-free snapshot, for STATUS
            try:
                return set(os.listdir(self.path))
            except OSError:
                return set()
        return self._names

    def find_by_owner(self, container_id: str, ifname: str) -> "list[str]":
        return [a.ip for a in self._scan().values()
                if a.owned_by(container_id, ifname) or a.owned_by_legacy(container_id)]

    def allocations(self) -> "list[Allocation]":
        return sorted(self._scan().values(), key=_address_order)

    def last_reserved(self, set_index: int) -> "str | None":
        if self._dir is None:
            return None
        try:
            data = self._read_small(f"{CURSOR_PREFIX}{set_index}", 64)
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("ignoring %s/%s%d: %s", self.path, CURSOR_PREFIX, set_index, exc.strerror)
            return None
        return data.decode("ascii", "replace").strip() if data else None

    # -- writing ----------------------------------------------------------------

    def reserve(self, ip: str, container_id: str, ifname: str, set_index: int) -> bool:
        if ip in self._names:
            return False
        self._need_session()
        owner = f"{container_id.strip()}\r\n{ifname}"
        temp = self._write_temp(owner.encode("utf-8"))
        try:
            faults.point("store.temp-written")
            if not self._link(temp, ip):
                return False
            self._names.add(ip)
            self._scan()[ip] = Allocation(ip, container_id.strip(), ifname)
            try:
                faults.point("store.claimed")
                self.set_last_reserved(set_index, ip)
            except BaseException:
                self._undo_claim(ip)
                raise
        finally:
            self._unlink_quiet(temp)
        return True

    def set_last_reserved(self, set_index: int, ip: str) -> None:
        self._need_session()
        temp = self._write_temp(ip.encode("ascii"))
        try:
            os.replace(temp, f"{CURSOR_PREFIX}{set_index}", src_dir_fd=self._dir, dst_dir_fd=self._dir)
        except OSError as exc:
            self._unlink_quiet(temp)
            raise self._failure(f"write {CURSOR_PREFIX}{set_index}", exc) from exc
        self._dirty = True
        faults.point("store.cursor-written")

    def release(self, ip: str) -> None:
        self._need_session()
        try:
            os.unlink(ip, dir_fd=self._dir)
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            self._rmdir(ip)
        except OSError as exc:
            raise self._failure(f"release {ip}", exc) from exc
        self._names.discard(ip)
        self._scan().pop(ip, None)
        self._dirty = True
        faults.point("store.released")

    def release_by_owner(self, container_id: str, ifname: str) -> "list[str]":
        entries = self._scan().values()
        mine = [a.ip for a in entries if a.owned_by(container_id, ifname)]
        if not mine:  # the reference's fallback to files written before ifnames were stored
            mine = [a.ip for a in entries if a.owned_by_legacy(container_id)]
        release_all(self, mine)
        return mine

    def _rmdir(self, ip: str) -> None:
        try:
            os.rmdir(ip, dir_fd=self._dir)
        except OSError as exc:
            raise self._failure(f"release {ip} (a directory)", exc) from exc

    def _undo_claim(self, ip: str) -> None:
        try:
            self.release(ip)
        except Exception as exc:  # keep the original error; say what stays behind
            log.error("could not undo the reservation of %s: %s", ip, exc)

    def _link(self, temp: str, ip: str) -> bool:
        try:
            os.link(temp, ip, src_dir_fd=self._dir, dst_dir_fd=self._dir, follow_symlinks=False)
        except FileExistsError:
            self._names.add(ip)
            return False
        except OSError as exc:
            raise self._failure(f"reserve {ip}", exc) from exc
        self._dirty = True
        return True

    def _write_temp(self, data: bytes) -> str:
        self._temps += 1
        name = f"{TEMP_PREFIX}{os.getpid()}-{self._temps}{TEMP_SUFFIX}"
        try:
            fd = os.open(name, _NEW_FLAGS, 0o600, dir_fd=self._dir)
        except OSError as exc:
            raise self._failure("create a temp file", exc) from exc
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError as exc:
            os.close(fd)
            self._unlink_quiet(name)
            raise self._failure("write a temp file", exc) from exc
        os.close(fd)
        return name

    def _unlink_quiet(self, name: str) -> None:
        try:
            os.unlink(name, dir_fd=self._dir)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("cannot remove %s/%s: %s", self.path, name, exc.strerror)

    def _need_session(self) -> None:
        if self._dir is None:
            raise RuntimeError("store method called outside a session")

    def _failure(self, action: str, exc: OSError) -> StoreFailure:
        reason = exc.strerror or str(exc)
        return StoreFailure(f"cannot {action} in {self.path}: {reason}", _HINTS.get(exc.errno, ""))

    # -- health -------------------------------------------------------------------

    def status_problem(self) -> str:
        """Could a reservation be written now? Checks only: nothing is created."""
        probe = self.path
        while not os.path.lexists(probe):
            probe = os.path.dirname(probe)
        mode = os.lstat(probe).st_mode
        if probe == self.path and stat.S_ISLNK(mode):
            return f"the IPAM store {self.path} is a symlink"
        if not stat.S_ISDIR(os.stat(probe).st_mode):
            return f"the IPAM store cannot be created: {probe} is not a directory"
        if not os.access(probe, os.W_OK | os.X_OK):
            why = "read-only filesystem" if _read_only(probe) else "permission denied"
            return f"the IPAM store {probe} is not writable ({why})"
        space = os.statvfs(probe)
        if space.f_bfree == 0 or (space.f_files and space.f_ffree == 0):
            return f"no space left on the filesystem holding the IPAM store {probe}"
        return ""


def _address_order(entry: Allocation) -> "tuple[int, int]":
    address = ipaddress.ip_address(entry.ip)
    return address.version, int(address)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _kind_problem(st: os.stat_result) -> str:
    if stat.S_ISREG(st.st_mode):
        return "oversize" if st.st_size > MAX_ENTRY else ""
    if stat.S_ISLNK(st.st_mode):
        return "symlink"
    if stat.S_ISDIR(st.st_mode):
        return "directory"
    return "not a regular file"


def _open_component(dir_fd: int, name: str) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ENOTDIR, errno.ELOOP) and \
                stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
            raise OSError(errno.ELOOP, f"{name!r} on the store's path is a symlink") from None
        raise


def _read_only(path: str) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False
