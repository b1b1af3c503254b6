"""Network namespaces: open one by path, run a block of work inside it.

Where it sits: plugins call `open_netns(request.netns)` once, then use
`inside(fd)` for the steps that must run in the container (netlink sockets are
bound to the namespace they are opened in, /proc/sys/net follows the caller's).

- A missing path is `NetnsNotFound` (DEL treats it as already gone); a path that
  is not a network namespace (regular file, stale tmpfs bind mount) is
  `NotANetns`. A namespace is never created here (pyroute2's default is to
  create a missing one, which a DEL for a vanished pod must never do).
- `inside()` always returns to the namespace it came from, even on error; if
  it cannot, the process must not go on, so it aborts the exec.

Python 3.11 has no os.setns, so setns(2) is called through `_ctypes`, the C half
of ctypes, directly (`_libc_setns`): `import ctypes` would add ~2 ms to every
exec that enters a namespace (its Python half and ctypes._endian), for one
function taking two ints.
"""

import os

from cni.errors import NetnsNotFound, NotANetns

TYPE_CHECKING = False  # type checkers read this as True; typing costs ~3 ms per exec
if TYPE_CHECKING:
    from collections.abc import Callable

CLONE_NEWNET = 0x40000000
_libc_setns: "Callable[[int, int], int] | None" = None


def _setns(fd: int) -> None:
    setns = getattr(os, "setns", None)
    if setns is not None:  # Python >= 3.12
        setns(fd, CLONE_NEWNET)
        return
    global _libc_setns
    import _ctypes
    if _libc_setns is None:
        _libc_setns = _libc_function("setns")
    if _libc_setns(fd, CLONE_NEWNET) != 0:
        err = _ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _libc_function(name: str) -> "Callable[[int, int], int]":
    """libc's `name` as ctypes.CDLL(None, use_errno=True) would give it, built from
    _ctypes the way ctypes/__init__.py builds it: int arguments, an int result."""
    import _ctypes

    class CInt(_ctypes._SimpleCData):  # type: ignore[type-arg]  # ctypes.c_int; no [] at run time
        _type_ = "i"

    class Function(_ctypes.CFuncPtr):  # CDLL's _FuncPtr, with use_errno
        _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
        _restype_ = CInt

    class Libc:  # what CFuncPtr reads of a CDLL
        _handle = _ctypes.dlopen(None, os.RTLD_NOW)  # type: ignore[arg-type]  # None: the program itself, as CDLL(None)

    function: "Callable[[int, int], int]" = Function((name, Libc()))  # type: ignore[arg-type]  # a CDLL stand-in: only _handle is read
    return function


def open_netns(path: str) -> int:
    """An fd on the namespace at `path`, checked to be a network namespace."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise NetnsNotFound(f"failed to open netns {path!r}: no such file or directory") from exc
    except OSError as exc:
        raise NotANetns(f"failed to open netns {path!r}: {exc.strerror}") from exc
    try:
        own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        os.close(fd)
        raise
    try:
        # Entering and leaving is the one reliable test: setns() refuses (EINVAL)
        # any fd that is not a network namespace, whatever filesystem it is on.
        try:
            _setns(fd)
        except OSError as exc:
            raise NotANetns(f"{path!r} is not a network namespace",
                            f"setns: {exc.strerror}") from exc
        _restore(own)
    except BaseException:
        os.close(fd)
        raise
    finally:
        os.close(own)
    return fd


class inside:
    """`with inside(fd):` runs the block in that namespace and always comes back."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.home = -1

    def __enter__(self) -> "inside":
        self.home = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(self.fd)
        except BaseException:
            os.close(self.home)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            _restore(self.home)
        finally:
            os.close(self.home)


def _restore(home: int) -> None:
    try:
        _setns(home)
    except OSError as exc:  # pragma: no cover - kernel refused to take us back
        os.write(2, f"fatal: cannot return to the original netns: {exc}\n".encode())
        os._exit(70)


class entered(inside):
    """`with entered(path):` open the namespace at `path` and run the block in it."""

    def __init__(self, path: str) -> None:
        super().__init__(open_netns(path))

    def __exit__(self, *exc: object) -> None:
        try:
            super().__exit__(*exc)
        finally:
            os.close(self.fd)
