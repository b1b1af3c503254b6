"""Test-only fault injection: named points along ADD and DEL where a test can
kill the plugin (SIGKILL, a real crash) or make the step fail.

Where it sits: `point("name")` calls are placed after each state-changing step
(IPAM reserve, veth create, bridge attach, addresses, masquerade, each store
write...). They do nothing unless the test-only environment variable
PYCNI_TEST_FAULT names the point; it is read once at import, so an untested
exec pays one dict lookup.

    PYCNI_TEST_FAULT=<point>[,<point>...]
    PYCNI_TEST_FAULT_ACTION=kill (default) | fail

`fail` raises a CNIError (code 999) to exercise the undo path; `kill` sends
SIGKILL to the process itself, to prove crash consistency.
"""

import os

_ARMED = frozenset(filter(None, os.environ.get("PYCNI_TEST_FAULT", "").split(",")))


def point(name: str) -> None:
    if name in _ARMED:
        _trigger(name)


def _trigger(name: str) -> None:
    if os.environ.get("PYCNI_TEST_FAULT_ACTION", "kill") == "fail":
        from cni.errors import CNIError
        raise CNIError(f"injected fault at {name}")
    import signal
    os.kill(os.getpid(), signal.SIGKILL)
