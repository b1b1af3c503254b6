"""Delegation: run another plugin (an IPAM) found on CNI_PATH, as the spec says.

Where it sits: main plugins call `call(command, type, request)`; it returns the
delegate's Result for ADD and None otherwise, or raises the delegate's own
error with its code intact (a pool exhausted in the IPAM stays code 104, not 999).

- The type is validated (no '/', '..': CVE-2021-20206) and looked up only in
  the CNI_PATH directories, in order; the first regular executable file wins.
  $PATH is never searched.
- The delegate gets our environment with CNI_COMMAND overridden and our exact
  stdin bytes; its stderr is ours. "Text file busy" (a binary being replaced)
  is retried, as libcni does.
- When the file found is one of our own plugins (its head carries the marker
  `pycni-plugin: <type>`, or it is a link to our frozen bundle), the verb runs
  in-process instead: same semantics, without a second interpreter start-up.
- An exec'd delegate gets PYCNI_DELEGATION_DEPTH one higher than ours; past
  MAX_DEPTH the call is refused (code 7). A config whose IPAM leads back to a
  delegating plugin (`"ipam": {"type": "bridge"}`, or a name linked to it)
  would otherwise exec itself until the node runs out of memory.
"""

import os

from cni import validate
from cni.errors import (CNIError, DelegateFailure, InvalidConfig, InvalidEnvironment,
                        PluginNotFound)
from cni.request import Request
from cni.types import Result

# Our plugins that may be called in-process: type -> module.
IN_PROCESS = {"host-local": "cni.plugins.host_local", "loopback": "cni.plugins.loopback"}
VERBS = {"ADD": "add", "DEL": "delete", "CHECK": "check", "GC": "gc", "STATUS": "status"}
MARKER = b"pycni-plugin: "
DEPTH_ENV = "PYCNI_DELEGATION_DEPTH"
MAX_DEPTH = 8  # real chains are 1 or 2 deep (bridge -> host-local, a meta plugin before it)


def find(plugin_type: str, path: "list[str]") -> str:
    validate.plugin_type(plugin_type)
    if not path:
        raise InvalidEnvironment(f"CNI_PATH is empty: cannot find plugin {plugin_type!r}")
    for directory in path:
        candidate = os.path.join(directory, plugin_type)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise PluginNotFound(f'failed to find plugin "{plugin_type}" in path [{" ".join(path)}]')


def call(command: str, plugin_type: str, req: Request) -> "Result | None":
    """Run `command` on the delegate `plugin_type` for this request."""
    found = find(plugin_type, req.path)
    module = IN_PROCESS.get(plugin_type)
    if module is not None and _is_ours(found, plugin_type):
        plugin = __import__(module, fromlist=["NAME"])
        handler = getattr(plugin, VERBS[command], None)  # none: success, as the skel has it
        return handler(req.with_command(command)) if handler is not None else None
    if _depth(req) >= MAX_DEPTH:
        raise InvalidConfig(f"delegation loop: plugin {plugin_type!r} is {MAX_DEPTH} delegations "
                            "deep", "the ipam type leads back to a plugin that delegates again")
    return _exec(command, found, req)


def _depth(req: Request) -> int:
    value = req.env.get(DEPTH_ENV, "")
    return int(value) if value.isdigit() and value.isascii() else 0


def _is_ours(found: str, plugin_type: str) -> bool:
    import sys
    if getattr(sys, "frozen", False):
        return os.path.realpath(found) == os.path.realpath(sys.executable)
    try:
        with open(found, "rb") as f:
            head = f.read(512)
    except OSError:
        return False
    return head.startswith(b"#!") and MARKER + plugin_type.encode() + b"\n" in head


def _exec(command: str, found: str, req: Request) -> "Result | None":
    import subprocess
    import time
    from cni.frozen import child_env
    env = child_env(dict(req.env), found)  # no bundle library path for a foreign binary
    env["CNI_COMMAND"] = command
    env[DEPTH_ENV] = str(_depth(req) + 1)
    for attempt in range(5):
        try:
            proc = subprocess.run([found], input=req.stdin, env=env, stdout=subprocess.PIPE,
                                  check=False)
            break
        except OSError as exc:
            if exc.errno == 26 and attempt < 4:  # ETXTBSY: the binary is being replaced
                time.sleep(1)
                continue
            kind = PluginNotFound if exc.errno == 2 else DelegateFailure  # ENOENT: removed meanwhile
            raise kind(f"failed to exec plugin {found!r}: {exc.strerror}") from exc
    if proc.returncode != 0:
        raise _error_from(proc.stdout, found, proc.returncode)
    if command != "ADD":
        return None
    import json
    try:
        data = json.loads(proc.stdout)
    except ValueError as exc:
        raise DelegateFailure(f"plugin {found!r} printed an unparseable result") from exc
    return Result.from_dict(data, req.conf.cni_version, f"result of {os.path.basename(found)}")


def _error_from(stdout: bytes, found: str, status: int) -> CNIError:
    """The delegate's error JSON as a CNIError with its own code."""
    import json
    try:
        data = json.loads(stdout)
        code, msg = data["code"], data["msg"]
        if isinstance(code, int) and isinstance(msg, str):
            details = data.get("details")
            return CNIError(msg, details if isinstance(details, str) else "", code=code)
    except (ValueError, KeyError, TypeError):
        pass
    return DelegateFailure(f"plugin {os.path.basename(found)} failed (exit status {status}) "
                           "without a CNI error on stdout")
