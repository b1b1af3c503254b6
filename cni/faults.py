"""Test-only fault injection: named points along ADD and DEL where a test can
kill the plugin (SIGKILL, a real crash) or make the step fail.

Where it sits: `point("name")` calls are placed after each state-changing step
(IPAM reserve, veth create, bridge attach, addresses, masquerade, each store
write...). They do nothing unless a test-only environment variable is set; the
variables are read once at import, so an untested exec pays one set lookup.

    PYCNI_TEST_FAULT=<point>[,<point>...]
    PYCNI_TEST_FAULT_ACTION=kill (default) | fail
    PYCNI_TEST_FAULT_TRACE=<file>     append "<pid> <point>\\n" for every point passed

`fail` raises a CNIError (code 999) to exercise the undo path; `kill` sends
SIGKILL to the process itself, to prove crash consistency. The trace lets the
reliability suite learn which verb passes which point, so every point found in
the source is injected on every path that reaches it (tests/reliability/).
"""

import os

_ARMED = frozenset(filter(None, os.environ.get("PYCNI_TEST_FAULT", "").split(",")))
_TRACE = os.environ.get("PYCNI_TEST_FAULT_TRACE", "")


def point(name: str) -> None:
    if _TRACE:
        _record(name)
    if name in _ARMED:
        _trigger(name)


def _record(name: str) -> None:
    # O_APPEND writes of one short line are atomic, so concurrent execs may share a file.
    fd = os.open(_TRACE, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, f"{os.getpid()} {name}\n".encode())
    finally:
        os.close(fd)


def _trigger(name: str) -> None:
    if os.environ.get("PYCNI_TEST_FAULT_ACTION", "kill") == "fail":
        from cni.errors import CNIError
        raise CNIError(f"injected fault at {name}")
    import signal
    os.kill(os.getpid(), signal.SIGKILL)
