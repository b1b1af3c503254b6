"""libnftables in-process for the daemon's workers, through Debian's python3-nftables.

Where it sits: `cni.daemon.worker` hands `runner()` to cni.host.ipmasq.nftables
(`use_library`): masquerade rules are then applied and listed by libnftables
inside the worker, with the same command texts, instead of by exec'ing nft
(~3-5 ms per nft exec, measured). python3-nftables is a thin ctypes binding;
Debian installs it for the system interpreter only (dist-packages), so when the
daemon's interpreter (a venv, the frozen bundle) cannot import it, it is loaded
from there by path. Without it, or without libnftables, nft is exec'd as on the
exec path.
"""

import importlib.util
import sys
import types

DEBIAN = "/usr/lib/python3/dist-packages/nftables/nftables.py"
_module: "types.ModuleType | bool | None" = False  # False: not looked for yet


def module() -> "types.ModuleType | None":
    """The binding's module (loaded once, in the daemon before the workers fork)."""
    global _module
    if _module is False:
        _module = _load()
    return _module if isinstance(_module, types.ModuleType) else None


def _load() -> "types.ModuleType | None":
    try:
        from nftables import nftables as binding  # type: ignore[import-not-found, unused-ignore]
        return binding  # type: ignore[no-any-return, unused-ignore]
    except ImportError:
        pass
    spec = importlib.util.spec_from_file_location("pycni_libnftables", DEBIAN)
    if spec is None or spec.loader is None:
        return None
    binding = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(binding)
        binding.Nftables()  # dlopen libnftables.so.1 now: a missing library shows here
    except (OSError, ImportError, SyntaxError):
        return None
    sys.modules.setdefault("pycni_libnftables", binding)
    return binding


def runner() -> "types.FunctionType | None":
    """(text, json) -> (status, stdout, stderr), one context per process, made at first use."""
    binding = module()
    if binding is None:
        return None
    context: "list[object]" = []

    def run(text: str, json_output: bool) -> "tuple[int, str, str]":
        if not context:
            context.append(binding.Nftables())
        nft = context[0]
        nft.set_json_output(json_output)  # type: ignore[attr-defined]
        status, out, err = nft.cmd(text)  # type: ignore[attr-defined]
        return int(status), out or "", (err or "").strip()

    return run  # type: ignore[return-value]
