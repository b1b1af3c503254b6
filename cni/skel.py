"""The verb dispatch: env + stdin in, one result or one error JSON out.

Where it sits: every executable ends up in `run(plugin)`. A plugin is a module
(given by its dotted name, imported only once a verb needs it, so VERSION and
early errors stay cheap) or any object with `NAME` and the verb functions `add`, `delete`, `check`,
`gc`, `status`, each taking a `cni.request.Request`; `add` returns a
`cni.types.Result`, the others return None. Everything else lives here:

1. CNI_COMMAND missing: an about text on stderr, exit 0 (as the Go skel does).
   Unknown: code 4. VERSION: answered at once, stdin only read for its version.
2. The CNI_* variables the verb needs (code 4), then stdin (5), its JSON (6),
   the network name (7) and the version gate (1, or 6 when unparsable).
3. CNI_NETNS must not be our own namespace (code 8, before anything changes;
   CNI_NETNS_OVERRIDE=1 allows it, as in the Go skel).
4. The verb runs with sys.stdout and fd 1 pointed at stderr, so a stray print
   (or a child process's output) cannot corrupt the protocol channel; the
   result is printed in the config's version on the real stdout.
5. A CNIError becomes its JSON; any other exception becomes code 999 with the
   traceback logged. Either way: exactly one JSON object on stdout, exit 1.
6. A channel that cannot carry the answer is one line on stderr and exit 1,
   never a traceback: closed, or a pipe whose reader is gone, is found before
   any work (nothing is done); a write that fails (EPIPE, ENOSPC...) is found
   after it, and an ADD whose result was lost is undone by its own DEL.
7. Daemon mode: a shim (cni/shim/) that could not have the daemon run the call
   execs this entry with PYCNI_SHIM_FALLBACK saying why (`shim_handoff`): the
   daemon away (the call runs here; in strict mode an ADD is code 11 instead),
   lost during the call (an ADD's outcome is unknown: code 11; other verbs are
   idempotent and run here), or the daemon's reply not writable to stdout (as
   in 6: one line, and a successful ADD undone).
"""

import os
import sys

from cni import fastjson as json
from cni import request as _request
from cni import version as _version
from cni.errors import CNIError, InvalidEnvironment, InvalidNetNS, IOFailure
from cni.request import VERBS

TYPE_CHECKING = False  # type checkers read this as True; typing costs ~3 ms per exec
if TYPE_CHECKING:
    from typing import IO, TextIO

    Input = IO[bytes] | IO[str]  # stdin: binary, or text in tests


def run(plugin: "str | object", env: "dict[str, str] | None" = None,
        stdin: "Input | None" = None, stdout: "TextIO | None" = None,
        stderr: "TextIO | None" = None) -> int:
    """Serve one exec; returns the exit status. I/O is injectable for tests."""
    env = dict(os.environ) if env is None else env
    stdin = stdin if stdin is not None else getattr(sys.stdin, "buffer", None)
    handoff = shim_handoff(env)
    channel = stdout if stdout is not None else _protocol_channel()
    stderr = stderr or sys.stderr
    real_stdout, sys.stdout = sys.stdout, stderr  # stray prints go to stderr
    try:
        command = env.get("CNI_COMMAND", "")
        if not command:
            stderr.write(about(_name(plugin)))
            return 0
        if handoff.startswith("unwritten:"):
            return _unwritten(plugin, handoff, command, env, stdin, stderr)
        if isinstance(channel, Unusable):
            _say(stderr, _name(plugin), f"stdout {channel}: nothing done")
            return 1
        status, reply, added = _serve(plugin, command, env, stdin, handoff)
    finally:
        sys.stdout = real_stdout
    try:
        _write(channel, reply)
    except (OSError, ValueError) as exc:  # ValueError: a closed file object (tests)
        _say(stderr, _name(plugin), f"cannot write to stdout: {_reason(exc)}"
             + ("; the ADD was undone" if added is not None and _undo(*added) else ""))
        return 1
    return status


def shim_handoff(env: "dict[str, str]") -> str:
    """Why a daemon-mode shim ran this entry ('' when none did), 'strict ' prefixed in strict
    mode; the variables are taken out of env and of ours, so no delegate sees them."""
    reason = env.pop("PYCNI_SHIM_FALLBACK", "")
    strict = env.pop("PYCNI_SHIM_STRICT", "") == "1"
    for name in ("PYCNI_SHIM_FALLBACK", "PYCNI_SHIM_STRICT"):
        os.environ.pop(name, None)
    return ("strict " if strict and reason == "away" else "") + reason


def _refuse_handoff(handoff: str, command: str) -> None:
    from cni.errors import TryAgainLater
    if command != "ADD":
        return
    if handoff == "strict away":
        raise TryAgainLater("the pycni daemon is not available, and this node runs in strict "
                            "daemon mode", "start the daemon (pycni daemon), or reinstall without --strict")
    if handoff == "lost":
        raise TryAgainLater("the pycni daemon went away during this ADD: its outcome is unknown",
                            "the runtime's DEL cleans up whatever it did; then ADD again")


def _unwritten(plugin: "str | object", handoff: str, command: str, env: "dict[str, str]",
               stdin: "Input | None", stderr: "TextIO") -> int:
    """The daemon ran the call but its reply could not be written to our stdout."""
    status, _, reason = handoff.partition(":")[2].partition(":")
    undone = False
    if command == "ADD" and status == "0":
        undone = _serve(plugin, "DEL", dict(env, CNI_COMMAND="DEL"), stdin, "")[0] == 0
    _say(stderr, _name(plugin), f"cannot write to stdout: {reason}"
         + ("; the ADD was undone" if undone else ""))
    return 1


def _serve(plugin: "str | object", command: str, env: "dict[str, str]", stdin: "Input | None",
           handoff: str = "") -> "tuple[int, dict[str, object], tuple[object, _request.Request] | None]":
    """(exit status, the JSON to print, (plugin, request) of an ADD that succeeded)."""
    cni_version = _version.CURRENT
    try:
        if command not in _request.COMMANDS:
            raise InvalidEnvironment(f"unknown CNI_COMMAND: {command}")
        if command == "VERSION":
            return 0, version_info(_read(stdin, required=False)), None
        req = _request.from_env(env)
        req.stdin = _read(stdin, required=True)
        from cni import netconf
        conf = netconf.parse(req.stdin)
        from cni import log
        log.configure(conf.log_file, conf.log_level, _name(plugin))  # failures reach logFile
        if conf.cni_version in _version.SUPPORTED:
            cni_version = conf.cni_version
        _version.check(conf.cni_version, command)
        req.conf = conf
        if handoff:
            _refuse_handoff(handoff, command)
        if command in ("ADD", "CHECK", "DEL"):
            refuse_own_netns(req)
        if isinstance(plugin, str):
            plugin = __import__(plugin, fromlist=["NAME"])
        handler = getattr(plugin, VERBS[command], None)
        result = handler(req) if handler is not None else None
        if command == "ADD":
            if result is None:  # a plugin without add(), or one that forgot its result
                raise CNIError(f"{_name(plugin)} returned no result for ADD")
            return 0, result.to_dict(conf.cni_version), (plugin, req)
        return 0, {}, None
    except CNIError as exc:
        from cni import log
        log.error("%s (code %d)", exc, exc.code)
        return 1, exc.to_dict(cni_version), None
    except Exception as exc:  # the contract: never a traceback on stdout
        from cni import log
        log.exception("unexpected failure")
        return 1, CNIError(f"internal error: {exc.__class__.__name__}: {exc}").to_dict(
            cni_version), None


def _name(plugin: "str | object") -> str:
    if isinstance(plugin, str):
        return plugin.rsplit(".", 1)[-1].replace("_", "-")
    return getattr(plugin, "NAME", "pycni")


def about(name: str) -> str:
    from cni import __version__
    return (f"CNI {name} plugin (pycni {__version__})\n"
            f"CNI protocol versions supported: {', '.join(_version.SUPPORTED)}\n")


def version_info(stdin: bytes) -> "dict[str, object]":
    """VERSION answer: echo the caller's cniVersion when we support it, else ours."""
    cni_version = _version.CURRENT
    try:
        asked = json.loads(stdin).get("cniVersion") if stdin.strip() else None
    except (ValueError, AttributeError, UnicodeDecodeError, RecursionError):
        asked = None
    if asked in _version.SUPPORTED:
        cni_version = asked
    return {"cniVersion": cni_version, "supportedVersions": list(_version.SUPPORTED)}


def refuse_own_netns(req: "_request.Request") -> None:
    """CNI_NETNS naming the namespace we run in would rename/address host links."""
    if not req.netns or req.env.get("CNI_NETNS_OVERRIDE", "").lower() in ("1", "true"):
        return
    try:
        target = os.stat(req.netns)
        own = os.stat("/proc/self/ns/net")
    except OSError:
        return  # a missing netns is the plugin's business (DEL tolerates it)
    if (target.st_dev, target.st_ino) == (own.st_dev, own.st_ino):
        raise InvalidNetNS(f"CNI_NETNS {req.netns} is the plugin's own network namespace",
                           "set CNI_NETNS_OVERRIDE=1 to allow it")


def _read(stdin: "Input | None", required: bool) -> bytes:
    if stdin is None:
        if required:
            raise IOFailure("error reading from stdin: no stdin")
        return b""
    try:
        # VERSION must not wait on a terminal; any other stream (pipe, file,
        # an in-memory buffer in tests) is read.
        if not required and getattr(stdin, "isatty", lambda: False)():
            return b""
        data = stdin.read()
    except (OSError, ValueError) as exc:
        if required:
            raise IOFailure(f"error reading from stdin: {exc}") from exc
        return b""
    return data.encode() if isinstance(data, str) else data


class Unusable(str):
    """Why the protocol channel cannot carry an answer (it is not one to write to)."""


def _protocol_channel() -> "int | Unusable":
    """The real stdout as a descriptor moved off fd 1, which then points at stderr.

    Only the skel writes the protocol channel: whatever a verb, a C library or
    a child process (ip, iptables) writes to fd 1 lands on stderr instead. The
    moved descriptor is not inherited by children (os.dup makes it CLOEXEC).
    A channel that is already unusable is found here, before any work: fd 1
    closed when we started (Python then sets sys.stdout to None; whatever holds
    fd 1 now is not ours to write), or a pipe whose reader is gone (the runtime
    died): no verb may change anything whose outcome nobody can learn.
    """
    if sys.stdout is None:
        return Unusable("is closed")
    try:
        sys.stdout.flush()
        fd = os.dup(1)
    except (OSError, ValueError):
        return Unusable("is closed")
    if _reader_gone(fd):
        os.close(fd)
        return Unusable("is a pipe whose reader is gone")
    try:
        os.dup2(2, 1)
    except OSError:  # no stderr to point at: keep fd 1 as it is
        pass
    return fd


def _reader_gone(fd: int) -> bool:
    """A pipe with no reader left reports POLLERR (only pipes are polled)."""
    import stat
    if not stat.S_ISFIFO(os.fstat(fd).st_mode):
        return False
    import select
    poller = select.poll()
    poller.register(fd, 0)
    return any(events & select.POLLERR for _, events in poller.poll(0))


def _write(channel: "int | TextIO", obj: "dict[str, object]") -> None:
    """The answer on the protocol channel: a descriptor (written whole, unbuffered, so
    that nothing is left to fail again at exit) or, in tests, a text stream."""
    if not obj:
        return
    text = json.dumps(obj, indent=4)
    if isinstance(channel, int):
        data = memoryview(text.encode())
        while data:
            data = data[os.write(channel, data):]
    else:
        channel.write(text)  # a text stream, in tests
        channel.flush()


def _undo(plugin: object, req: "_request.Request") -> bool:
    """DEL what an ADD did whose result cannot be delivered: the runtime will never
    learn of the attachment, so nothing may be left behind for it."""
    from cni import log
    try:
        getattr(plugin, VERBS["DEL"])(req.with_command("DEL"))
    except Exception as exc:  # keep the one line on stderr; the rest goes to the log
        log.error("undoing the ADD whose result could not be written failed: %s", exc)
        return False
    return True


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__


def _say(stderr: "TextIO", name: str, text: str) -> None:
    """One line on stderr, whatever state stderr is in."""
    try:
        stderr.write(f"{name}: {text}\n")
        stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass
