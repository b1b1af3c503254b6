"""Files the plugins and the tool read whole, and replacing a file atomically.

`read_limited` reads a file a user points at (a config, a cache entry,
ipam.resolvConf) up to a bound, as a config error (code 7) when it cannot.

Replacing a file atomically: a reader, or a crash, sees the old file or the new,
never half.

Where it sits: `cni.tool.install` replaces plugin executables, their links and
sample configs with it, `cni.tool.libcni` its result-cache entries. (The IPAM
store, `ipam.disk`, does its own: its temp files are written once and then
either linked as an address or renamed over the cursor, relative to the
network directory's fd, with the directory fsynced once per session.)

How: the data goes to a temp file in the same directory (so the rename stays
on one filesystem), `.<name>.<tag><8 hex>.tmp`, created with O_EXCL and
O_NOFOLLOW (nothing planted there is followed or reused) and O_CLOEXEC,
given its mode with fchmod whatever the umask, fsynced, renamed over the
target; then the directory is fsynced, so that the rename itself survives a
crash. The leading dot keeps a leftover temp file out of the way (libcni's
cache scan, Go's and ours, skips it); each caller's tag keeps the name it
has always used (install: `pycni-`, the result cache: none).
"""

import os

from cni.errors import InvalidConfig


def read_limited(path: str, limit: int, what: str = "") -> bytes:
    """The bytes of `path` (named `what` in errors), refused beyond `limit` bytes."""
    what = what or path
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise InvalidConfig(f"cannot read {what}: {exc.strerror}") from None
    if len(data) > limit:
        raise InvalidConfig(f"{what} is larger than {limit} bytes")
    return data


def temp_name(path: str, tag: str = "pycni-") -> str:
    """A fresh name beside `path` for its replacement."""
    directory, base = os.path.split(path)
    return os.path.join(directory, f".{base}.{tag}{os.urandom(4).hex()}.tmp")


def replace(path: str, data: bytes, mode: int, tag: str = "pycni-") -> None:
    """Make `path` hold `data` with permissions `mode`, atomically and durably."""
    tmp = temp_name(path, tag)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fchmod(fd, mode)  # whatever the umask
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except BaseException:
        _unlink_quiet(tmp)
        raise
    sync_dir(os.path.dirname(path))


def symlink(path: str, target: str, tag: str = "pycni-") -> None:
    """Make `path` a symlink to `target`, atomically and durably."""
    tmp = temp_name(path, tag)
    os.symlink(target, tmp)
    try:
        os.rename(tmp, path)
    except BaseException:
        _unlink_quiet(tmp)
        raise
    sync_dir(os.path.dirname(path))


def sync_dir(directory: str) -> None:
    """fsync a directory: what makes a rename (or a new entry) in it durable."""
    fd = os.open(directory or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
