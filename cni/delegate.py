"""Delegation: run another plugin (an IPAM) found on CNI_PATH, as the spec says.

Where it sits: main plugins call `call(command, type, request, in_process)`; it
returns the delegate's Result for ADD and None otherwise, or raises the
delegate's own error with its code intact (a pool exhausted in the IPAM stays
code 104, not 999). The core knows no plugin: `in_process` (type -> module,
`cni.plugins.LEAVES`) says which of ours may run inside the caller.

- The type is validated (no '/', '..': CVE-2021-20206) and looked up only in
  the CNI_PATH directories, in order; the first regular executable file wins.
  $PATH is never searched.
- The delegate gets our environment with CNI_COMMAND overridden and our exact
  stdin bytes; its stderr is ours; no timeout, as libcni sets none. Spawning,
  the "text file busy" retry (a binary being replaced) and reading its error
  JSON are `cni.process`'s, shared with the pycni runner.
- When the file found is one of our own plugins named in `in_process` (its head
  carries the marker `pycni-plugin: <type>`, it is a native daemon-mode shim
  (SHIM_MARKER), or a link to our frozen bundle), the verb runs in-process
  instead: same semantics, without a second interpreter start-up, and in the
  daemon never a second trip through its socket.
- An exec'd delegate gets PYCNI_DELEGATION_DEPTH one higher than ours; past
  MAX_DEPTH the call is refused (code 7). A config whose IPAM leads back to a
  delegating plugin (`"ipam": {"type": "bridge"}`, or a name linked to it)
  would otherwise exec itself until the node runs out of memory.
"""

import os

from cni import process, validate
from cni.errors import DelegateFailure, InvalidConfig, InvalidEnvironment, PluginNotFound
from cni.request import VERBS, Request
from cni.types import Result

MARKER = b"pycni-plugin: "
SHIM_MARKER = b"pycni-shim-marker: "  # in the native shim's binary (cni/shim/pycni-shim.c)
DEPTH_ENV = "PYCNI_DELEGATION_DEPTH"
MAX_DEPTH = 8  # real chains are 1 or 2 deep (bridge -> host-local, a meta plugin before it)


def find(plugin_type: str, path: "list[str]") -> str:
    validate.plugin_type(plugin_type)
    if not path:
        raise InvalidEnvironment(f"CNI_PATH is empty: cannot find plugin {plugin_type!r}")
    found = process.find(plugin_type, path)
    if found is not None:
        return found
    raise PluginNotFound(f'failed to find plugin "{plugin_type}" in path [{" ".join(path)}]')


def call(command: str, plugin_type: str, req: Request,
         in_process: "dict[str, str] | None" = None) -> "Result | None":
    """Run `command` on the delegate `plugin_type` for this request."""
    found = find(plugin_type, req.path)
    module = (in_process or {}).get(plugin_type)
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
    if getattr(sys, "frozen", False) and os.path.realpath(found) == os.path.realpath(sys.executable):
        return True
    try:
        with open(found, "rb") as f:
            head = f.read(512)
            if head.startswith(b"\x7fELF"):  # a native shim (daemon mode), whatever its name
                return SHIM_MARKER in head + f.read((1 << 16) - 512)
    except OSError:
        return False
    return head.startswith(b"#!") and MARKER + plugin_type.encode() + b"\n" in head


def _exec(command: str, found: str, req: Request) -> "Result | None":
    env = dict(req.env)
    env["CNI_COMMAND"] = command
    env[DEPTH_ENV] = str(_depth(req) + 1)
    try:
        status, stdout, _ = process.run_plugin(found, req.stdin, env, capture_stderr=False)
    except OSError as exc:
        import errno
        # ENOENT: removed meanwhile, or a script whose interpreter is missing
        kind = PluginNotFound if exc.errno == errno.ENOENT else DelegateFailure
        raise kind(f"failed to exec plugin {found!r}: {exc.strerror}") from exc
    if status != 0:
        raise process.error_json(stdout) or DelegateFailure(
            f"plugin {os.path.basename(found)} failed (exit status {status}) "
            "without a CNI error on stdout")
    if command != "ADD":
        return None
    import json
    try:
        data = json.loads(stdout)
    except ValueError as exc:
        raise DelegateFailure(f"plugin {found!r} printed an unparseable result") from exc
    return Result.from_dict(data, req.conf.cni_version, f"result of {os.path.basename(found)}")
