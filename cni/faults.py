"""Test-only fault injection: named points along ADD and DEL where a test can
kill the plugin (SIGKILL, a real crash) or make the step fail.

Where it sits: `point("name")` calls are placed after each state-changing step
(IPAM reserve, veth create, bridge attach, addresses, masquerade, each store
write...). They do nothing unless a test-only environment variable is set; the
variables are read once at import, so an untested exec pays one set lookup.

    PYCNI_TEST_FAULT=<point>[@<n>][,<point>[@<n>]...]   (@n: at the n-th pass, default 1st)
    PYCNI_TEST_FAULT_ACTION=kill (default) | fail | sleep:<seconds>
    PYCNI_TEST_FAULT_TRACE=<file>     append "<pid> <point>\\n" for every point passed

`fail` raises a CNIError (code 999) to exercise the undo path; `kill` sends
SIGKILL to the process itself, to prove crash consistency; `sleep` holds the
call there (a call in flight, for the daemon's drain and kill tests). The trace lets the
reliability suite learn which verb passes which point, so every point found in
the source is injected on every path that reaches it (tests/reliability/); `@n`
reaches a later pass of a point in a loop (the second family of a dual-stack ADD).
"""

import os


def _armed(spec: str) -> "dict[str, int]":
    """'a,b@2' -> {'a': 1, 'b': 2}: the pass of each point that triggers."""
    armed = {}
    for item in filter(None, spec.split(",")):
        name, _, nth = item.partition("@")
        armed[name] = int(nth) if nth.isdigit() and int(nth) > 0 else 1
    return armed


_ARMED = _armed(os.environ.get("PYCNI_TEST_FAULT", ""))
_PASSES: "dict[str, int]" = {}
_TRACE = os.environ.get("PYCNI_TEST_FAULT_TRACE", "")


def arm() -> None:
    """Read the variables again: a daemon's worker gets the call's environment after import."""
    global _ARMED, _TRACE
    _ARMED = _armed(os.environ.get("PYCNI_TEST_FAULT", ""))
    _TRACE = os.environ.get("PYCNI_TEST_FAULT_TRACE", "")
    _PASSES.clear()


def point(name: str) -> None:
    if _TRACE:
        _record(name)
    if name in _ARMED:
        _PASSES[name] = _PASSES.get(name, 0) + 1
        if _PASSES[name] == _ARMED[name]:
            _trigger(name)


def _record(name: str) -> None:
    # O_APPEND writes of one short line are atomic, so concurrent execs may share a file.
    fd = os.open(_TRACE, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, f"{os.getpid()} {name}\n".encode())
    finally:
        os.close(fd)


def _trigger(name: str) -> None:
    action = os.environ.get("PYCNI_TEST_FAULT_ACTION", "kill")
    if action.startswith("sleep:"):
        import time
        time.sleep(float(action[6:]))
        return
    if action == "fail":
        from cni.errors import CNIError
        raise CNIError(f"injected fault at {name}")
    import signal
    os.kill(os.getpid(), signal.SIGKILL)
