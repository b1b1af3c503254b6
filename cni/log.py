"""Diagnostics: to stderr, or to the file named by the config's `logFile`.

Where it sits: `cni.skel` calls `configure()` once the config is parsed; any
module calls `debug/info/warning/error`. Never stdout (it carries the result),
and never the raw stdin or CNI_ARGS (they may hold secrets).

Config keys: `logFile` (absolute path; created 0600, never through a symlink)
and `logLevel` (`debug`, `info`, `warning` (default), `error`). The Calico
spellings `log_file_path` and `log_level` are accepted as aliases. The
environment variable PYCNI_LOG_LEVEL overrides the level (for debugging).

The stdlib `logging` module costs ~12 ms of import per exec, so this is a
dozen lines of its own.
"""

import os

TYPE_CHECKING = False  # type checkers read this as True; typing costs ~3 ms per exec
if TYPE_CHECKING:
    from typing import TypedDict

    class _State(TypedDict):
        level: int  # the least level written
        fd: int  # where lines go: 2 or the logFile
        tag: str  # the plugin's name, at the head of each line

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
_state: "_State" = {"level": 30, "fd": 2, "tag": "pycni"}


def configure(log_file: str, log_level: str, tag: str) -> None:
    """Apply the config's logFile/logLevel (cni.netconf parsed them); bad values only warn."""
    _state["tag"] = tag
    level = os.environ.get("PYCNI_LOG_LEVEL") or log_level
    if level.lower() in LEVELS:
        _state["level"] = LEVELS[level.lower()]
    if not log_file:
        return
    if not os.path.isabs(log_file) or "\0" in log_file:
        warning("ignoring logFile %r: not an absolute path", log_file)
        return
    try:
        _state["fd"] = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
                               | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        warning("cannot open logFile %s: %s; logging to stderr", log_file, exc.strerror)


def _emit(level: int, name: str, msg: str, args: "tuple[object, ...]") -> None:
    if level < _state["level"]:
        return
    import time
    try:
        text = msg % args if args else msg
    except (TypeError, ValueError):  # a bad format string must not fail the verb
        text = f"{msg} {args!r}"
    line = (f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {_state['tag']}[{os.getpid()}] "
            f"{name}: {text}\n")
    try:
        os.write(_state["fd"], line.encode("utf-8", "backslashreplace"))
    except OSError:
        pass


def debug(msg: str, *args: object) -> None:
    _emit(10, "debug", msg, args)


def info(msg: str, *args: object) -> None:
    _emit(20, "info", msg, args)


def warning(msg: str, *args: object) -> None:
    _emit(30, "warning", msg, args)


def error(msg: str, *args: object) -> None:
    _emit(40, "error", msg, args)


def exception(msg: str, *args: object) -> None:
    """An error plus the traceback of the exception being handled."""
    import traceback
    _emit(40, "error", msg + "\n%s", (*args, traceback.format_exc().rstrip()))

