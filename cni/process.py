"""Child processes: finding an executable, its environment, running it, reading its error.

Where it sits: the one place that spawns anything. `cni.delegate` execs a
plugin found on CNI_PATH (an IPAM), `cni.tool.libcni` execs a network's
plugins for `pycni add|check|del|gc|status`, and `cni.host.ipmasq` and
`cni.host.spoofcheck` exec the firewall tools (iptables-save/-restore, nft)
found on PATH. Nothing else in cni/ or ipam/ starts a process.

Why one module, and why not `subprocess`:
- `subprocess` costs ~10 ms of imports per exec (it pulls in threading,
  signal, selectors...), more than a plugin's own work. Here it is
  posix_spawn and a poll loop: children get stdin (bytes through a pipe, or
  /dev/null), stdout through a pipe, stderr through a pipe or our own, and no
  other descriptor; SIGPIPE and SIGXFSZ are reset to their defaults (Python
  ignores them, and an ignored signal survives exec), as `subprocess` does.
- "Text file busy" (a plugin binary being replaced under us) is retried as
  libcni's RawExec.ExecPlugin retries it: the first try and up to 5 more, 1 s
  apart (BUSY_ATTEMPTS, BUSY_DELAY). The firewall tools are not retried.
- A plugin runs without a timeout, as libcni runs it (the runtime bounds the
  whole call); a firewall batch gets TOOL_TIMEOUT, after which its children
  are killed: a hung iptables must not hang the ADD for ever.

The environment (`child_env`), for the frozen bundle: PyInstaller's onedir
bootloader on Linux re-executes itself with LD_LIBRARY_PATH pointing at the
bundle's `_internal/` (the previous value saved in LD_LIBRARY_PATH_ORIG) and a
few `_PYI_*` bookkeeping variables. A foreign binary inheriting them would
load the bundle's copies of shared libraries (libz, libssl, libffi...)
instead of the system's, built for another system perhaps. Our own bundle is
the exception: inheriting lets a child of the same bundle skip the
bootloader's restart, so it keeps them. Outside the bundle the environment is
passed unchanged. `run` applies it to every child, so no caller can forget.

A failed plugin's error (`error_json`): the CNI error object on its stdout,
read once for both callers; each phrases what it reports when there is none
(the runner in libcni's words, delegation as code 111).
"""

import os

from cni.errors import CNIError, FirewallFailure

TYPE_CHECKING = False  # type checkers read this as True; typing costs ~3 ms per exec

# Where the firewall tools are looked for when PATH is unset or empty.
SEARCH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
TOOL_TIMEOUT = 60.0  # seconds for a batch of firewall commands
BUSY_ATTEMPTS = 6  # ETXTBSY: the first exec and 5 retries, as libcni
BUSY_DELAY = 1.0  # seconds between them, as libcni


class TimedOut(Exception):
    """A child outlived the timeout given to `run` (every child of the call was killed)."""

    def __init__(self, argv: "list[str]", timeout: float) -> None:
        super().__init__(f"{argv[0]} did not finish within {timeout:g} s")
        self.argv = argv
        self.timeout = timeout


# -- finding ---------------------------------------------------------------------

def find(name: str, dirs: "list[str] | tuple[str, ...]") -> "str | None":
    """`directory/name` for the first of `dirs` holding a regular executable file `name`
    (symlinks followed), or None. A name with a path in it is never looked up."""
    if not name or "/" in name or name in (".", ".."):
        return None
    for directory in dirs:
        path = os.path.join(directory, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def find_tool(name: str) -> "str | None":
    """A host tool on PATH, as the reference's exec.LookPath finds it (the usual
    directories only when PATH is unset or empty), or None. Relative PATH entries are
    ignored: they would resolve against whatever directory the runtime left us in."""
    dirs = [d for d in os.environ.get("PATH", "").split(":") if d.startswith("/")]
    return find(name, dirs or SEARCH)


def child_env(env: "dict[str, str]", executable: str = "") -> "dict[str, str]":
    """`env` as a child process should get it (a new dict when anything changes)."""
    import sys
    if "_PYI_ARCHIVE_FILE" not in env or not getattr(sys, "frozen", False):
        return env
    if executable and os.path.realpath(executable) == os.path.realpath(sys.executable):
        return env
    out = {k: v for k, v in env.items() if not k.startswith("_PYI_")}
    original = out.pop("LD_LIBRARY_PATH_ORIG", None)
    if original is not None:
        out["LD_LIBRARY_PATH"] = original
    else:
        out.pop("LD_LIBRARY_PATH", None)
    return out


# -- running ---------------------------------------------------------------------

def run(jobs: "list[tuple[list[str], bytes | None]]", env: "dict[str, str] | None" = None,
        capture_stderr: bool = True,
        timeout: "float | None" = None) -> "list[tuple[int, bytes, bytes]]":
    """Run commands concurrently: [(argv, stdin)] -> [(exit status, stdout, stderr)].

    stdin is bytes, or None for /dev/null. argv[0] is a path (no PATH search).
    `env` (default: ours) goes through `child_env`. Without `capture_stderr` the
    children write to our stderr and the stderr returned is empty. The status is
    negative for a signal, as in subprocess. Raises OSError (filename: argv[0]) when
    a command cannot be spawned, TimedOut when one is still running `timeout`
    seconds after the start; either way every child of the call is killed and reaped."""
    import select
    import time
    pids: "list[int]" = []
    statuses: "dict[int, int]" = {}  # pid -> exit status, once reaped
    out: "list[tuple[list[bytes], list[bytes]]]" = [([], []) for _ in jobs]
    readers: "dict[int, tuple[int, int]]" = {}  # fd -> (job, 0 stdout / 1 stderr)
    writers: "dict[int, memoryview]" = {}  # fd -> what the job's stdin still has to get
    poller = select.poll()
    finished = False
    try:
        inherited = _inheritable_fds()
        for i, (argv, stdin) in enumerate(jobs):
            pids.append(_spawn(i, argv, stdin, env, capture_stderr, inherited, readers, writers))
        for fd in readers:
            poller.register(fd, select.POLLIN)
        for fd in writers:
            poller.register(fd, select.POLLOUT)
        deadline = None if timeout is None else time.monotonic() + timeout
        while readers or writers:
            left = None if deadline is None else max(deadline - time.monotonic(), 0) * 1000
            events = poller.poll(left)
            if not events:
                late = next(iter(readers.values()), (0, 0))[0]  # one that has not finished
                raise TimedOut(jobs[late][0], timeout or 0)
            for fd, _ in events:
                if fd in writers:
                    _feed(fd, writers)
                    if fd not in writers:
                        poller.unregister(fd)
                elif fd in readers:
                    data = os.read(fd, 1 << 16)
                    if data:
                        job, stream = readers[fd]
                        out[job][stream].append(data)
                    else:
                        poller.unregister(fd)
                        del readers[fd]
                        os.close(fd)
        # Output closed is not exit: a child may close its pipes and linger.
        delay = 0.0001
        while deadline is not None and len(statuses) < len(pids):
            for pid in pids:
                if pid not in statuses:
                    done, status = os.waitpid(pid, os.WNOHANG)
                    if done:
                        statuses[pid] = os.waitstatus_to_exitcode(status)
            if len(statuses) < len(pids):
                if time.monotonic() >= deadline:
                    late = next(i for i, pid in enumerate(pids) if pid not in statuses)
                    raise TimedOut(jobs[late][0], timeout or 0)
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        finished = True
    finally:
        for fd in list(readers) + list(writers):
            os.close(fd)
        for pid in pids:
            if pid not in statuses:
                if not finished:
                    _kill(pid)  # do not leave children behind
                statuses[pid] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    return [(statuses[pid], b"".join(o), b"".join(e)) for pid, (o, e) in zip(pids, out, strict=True)]


def _inheritable_fds() -> "list[int]":
    """Our descriptors above 2 that a child would inherit (Python makes its own
    non-inheritable; these came from whoever started us), to be closed in the child."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:  # no /proc: nothing to go by
        return []
    fds = []
    for name in names:
        fd = int(name)
        try:
            if fd > 2 and os.get_inheritable(fd):
                fds.append(fd)
        except OSError:  # the directory's own descriptor, closed by now
            pass
    return fds


def _spawn(i: int, argv: "list[str]", stdin: "bytes | None", env: "dict[str, str] | None",
           capture_stderr: bool, inherited: "list[int]", readers: "dict[int, tuple[int, int]]",
           writers: "dict[int, memoryview]") -> int:
    if TYPE_CHECKING:
        from signal import SIGPIPE, SIGXFSZ  # typeshed has no _signal; the same numbers
    else:
        from _signal import SIGPIPE, SIGXFSZ  # not `signal`: that one imports enum
    opened: "list[int]" = []
    try:
        out_r, out_w = os.pipe()
        opened += (out_r, out_w)
        actions: "list[tuple[int | str, ...]]" = [(os.POSIX_SPAWN_CLOSE, fd) for fd in inherited]
        actions.append((os.POSIX_SPAWN_DUP2, out_w, 1))
        err_r = err_w = -1
        if capture_stderr:
            err_r, err_w = os.pipe()
            opened += (err_r, err_w)
            actions.append((os.POSIX_SPAWN_DUP2, err_w, 2))
        in_r = in_w = -1
        if stdin is not None:
            in_r, in_w = os.pipe()
            opened += (in_r, in_w)
            actions.append((os.POSIX_SPAWN_DUP2, in_r, 0))
        else:
            actions.append((os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0))
        child = child_env(dict(os.environ) if env is None else env, argv[0])
        try:
            pid = os.posix_spawn(argv[0], argv, child, file_actions=actions,
                                 setsigdef=(SIGPIPE, SIGXFSZ))
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, argv[0]) from exc
    except BaseException:
        for fd in opened:
            os.close(fd)
        raise
    for fd in (out_w, err_w, in_r):  # the child's ends
        if fd >= 0:
            os.close(fd)
    readers[out_r] = (i, 0)
    if err_r >= 0:
        readers[err_r] = (i, 1)
    if in_w >= 0:
        if stdin:
            os.set_blocking(in_w, False)
            writers[in_w] = memoryview(stdin)
        else:
            os.close(in_w)  # nothing to write: the child reads EOF at once
    return pid


def _feed(fd: int, writers: "dict[int, memoryview]") -> None:
    """Write what the child's stdin pipe takes now; close it when all is written."""
    try:
        written = os.write(fd, writers[fd][:1 << 16])
    except BlockingIOError:
        return
    except BrokenPipeError:  # the child exited early: its status will say why
        written = len(writers[fd])
    writers[fd] = writers[fd][written:]
    if not writers[fd]:
        del writers[fd]
        os.close(fd)


def _kill(pid: int) -> None:
    if TYPE_CHECKING:
        from signal import SIGKILL  # typeshed has no _signal; the same number
    else:
        from _signal import SIGKILL
    try:
        os.kill(pid, SIGKILL)
    except ProcessLookupError:
        pass


# -- plugins -----------------------------------------------------------------------

def run_plugin(path: str, stdin: bytes, env: "dict[str, str]",
               capture_stderr: bool) -> "tuple[int, bytes, bytes]":
    """Exec one plugin with `stdin` and `env` (through `child_env`), without a timeout;
    retried while its file is busy (BUSY_ATTEMPTS). (status, stdout, stderr), or the
    OSError of the last exec attempt."""
    import errno
    attempt = 1
    while True:
        try:
            return run([([path], stdin)], env, capture_stderr)[0]
        except OSError as exc:
            if exc.errno != errno.ETXTBSY or attempt >= BUSY_ATTEMPTS:
                raise
        attempt += 1
        import time
        time.sleep(BUSY_DELAY)


def error_json(stdout: bytes) -> "CNIError | None":
    """The CNI error object a failed plugin printed, with its own code. None when its
    stdout holds none: empty, not JSON, not an object, `code` not an integer (a boolean
    is not one, as libcni's Go decoding has it) or `msg` not a string."""
    import json
    try:
        data = json.loads(stdout)
        code, msg = data.get("code"), data.get("msg")
    except (ValueError, AttributeError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    if not isinstance(code, int) or isinstance(code, bool) or not isinstance(msg, str):
        return None
    details = data.get("details")
    return CNIError(msg, details if isinstance(details, str) else "", code=code)


# -- host tools ----------------------------------------------------------------------

def run_tools(jobs: "list[tuple[list[str], bytes | None]]") -> "list[tuple[int, str, str]]":
    """Host tools concurrently: [(argv, stdin)] -> [(status, stdout, stderr stripped)].

    The tools run are the firewall's (iptables, nft): one that cannot be spawned or
    outlives TOOL_TIMEOUT is a FirewallFailure (code 109)."""
    try:
        done = run(jobs, timeout=TOOL_TIMEOUT)
    except TimedOut as exc:
        raise FirewallFailure(str(exc)) from exc
    except OSError as exc:
        raise FirewallFailure(f"failed to run {exc.filename}: {exc.strerror}") from exc
    return [(status, o.decode(errors="replace"), e.decode(errors="replace").strip())
            for status, o, e in done]


def run_tool(argv: "list[str]", stdin: "bytes | None" = None, what: str = "") -> str:
    """Run one host tool; its stdout, or FirewallFailure carrying its stderr."""
    status, stdout, stderr = run_tools([(argv, stdin)])[0]
    if status != 0:
        raise FirewallFailure(f"{what or argv[0]} failed (exit status {status})", stderr)
    return stdout
