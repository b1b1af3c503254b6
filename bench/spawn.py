"""Spawning a plugin as a runtime does, and timing the whole process.

Where it sits: `bench.suite` builds the env and stdin; this module execs the
plugin with posix_spawn (no Python-side fork cost in the measurement), waits
with wait4 and returns an `Exec`: wall time from spawn to reap, CPU time
(user + sys of the child and of every child it waited for, e.g. the Go
bridge's host-local and iptables), exit status, stdout and stderr.

stdin and stderr are memfds: the config is in place before the spawn, and
stderr never blocks however much a plugin logs. stdout is a pipe, as a
runtime gives it (libcni reads the result from one), and as the daemon-mode
shims require (they hand a call to the daemon only when stdout is a pipe or a
socket); it is enlarged to 1 MiB and read once the plugin has exited, so none
of the results here (< 2 KiB) can block a plugin on it.
"""

import fcntl
import json
import os
import time

PIPE_SIZE = 1 << 20


class Exec:
    __slots__ = ("argv", "rc", "wall_ms", "cpu_ms", "stdout", "stderr", "start", "end")

    def __init__(self, argv: "list[str]") -> None:
        self.argv = argv
        self.rc = -1
        self.wall_ms = self.cpu_ms = 0.0
        self.stdout = self.stderr = b""
        self.start = self.end = 0

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def json(self) -> "dict | None":
        try:
            data = json.loads(self.stdout)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def describe(self) -> str:
        return (f"{' '.join(self.argv)} exited {self.rc}\nstdout: {self.stdout.decode(errors='replace')}"
                f"\nstderr: {self.stderr.decode(errors='replace')[-2000:]}")


class _Pending:
    """One spawned process and the fds that hold its stdio."""

    def __init__(self, argv: "list[str]", env: "dict[str, str]", stdin: bytes) -> None:
        self.result = Exec(argv)
        self.fds: "list[int]" = []  # ours to close: stdin, stdout's read end, stderr
        stdin_fd = self._keep(os.memfd_create("stdin"))
        self.out, out_w = os.pipe()
        self._keep(self.out)
        self.err = self._keep(os.memfd_create("stderr"))
        try:
            os.write(stdin_fd, stdin)
            os.lseek(stdin_fd, 0, os.SEEK_SET)
            os.set_blocking(self.out, False)  # the read end only: the plugin's end blocks
            try:
                fcntl.fcntl(self.out, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
            except OSError:
                pass  # 64 KiB then, still far above any result
            actions = [(os.POSIX_SPAWN_DUP2, fd, i) for i, fd in enumerate((stdin_fd, out_w, self.err))]
            self.result.start = time.perf_counter_ns()
            # Its own process group: an abandoned plugin is killed with whatever it
            # exec'd (the Go bridge's host-local, iptables...).
            self.pid = os.posix_spawn(argv[0], argv, env, file_actions=actions, setpgroup=0)
        except OSError:
            self.close()
            raise
        finally:
            os.close(out_w)  # the plugin holds it now

    def _keep(self, fd: int) -> int:
        self.fds.append(fd)
        return fd

    def finish(self, status: int, usage: object, end: int) -> Exec:
        result = self.result
        result.end = end
        result.rc = os.waitstatus_to_exitcode(status)
        result.wall_ms = (end - result.start) / 1e6
        result.cpu_ms = (usage.ru_utime + usage.ru_stime) * 1e3  # type: ignore[attr-defined]
        result.stdout = _drain(self.out)
        result.stderr = _read_all(self.err)
        self.close()
        return result

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []


def _drain(fd: int) -> bytes:
    """What is in a pipe now (non-blocking: a child the plugin left may hold it open)."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, PIPE_SIZE)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _read_all(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    return os.pread(fd, size, 0) if size else b""


def run(argv: "list[str]", env: "dict[str, str]", stdin: bytes) -> Exec:
    """Exec one plugin and wait for it."""
    return burst([(argv, env, stdin)])[0]


def burst(jobs: "list[tuple[list[str], dict[str, str], bytes]]") -> "list[Exec]":
    """Spawn every job at once, reap each as it exits; results in job order.

    On any interruption (Ctrl-C) the processes still running are killed and
    reaped before the exception goes on, so no plugin outlives the bench.
    """
    pending: "dict[int, _Pending]" = {}
    order: "list[_Pending]" = []
    try:
        for argv, env, stdin in jobs:
            job = _Pending(argv, env, stdin)
            pending[job.pid] = job
            order.append(job)
        while pending:
            pid, status, usage = os.wait4(-1, 0)
            end = time.perf_counter_ns()
            job = pending.pop(pid, None)
            if job is not None:
                job.finish(status, usage, end)
    finally:
        _abandon(pending)
    return [job.result for job in order]


def _abandon(pending: "dict[int, _Pending]") -> None:
    for pid, job in pending.items():
        try:
            os.killpg(pid, 9)
            os.waitpid(pid, 0)
        except OSError:
            pass
        job.close()
