"""The frozen bundle's environment, and what its child processes must not inherit.

Where it sits: whoever spawns a process (the pycni runner exec'ing plugins,
delegation to a foreign IPAM, iptables/nft for masquerade) passes its
environment through `child_env()` first. Outside the bundle it returns the
environment unchanged.

Why: PyInstaller's onedir bootloader on Linux re-executes itself with
LD_LIBRARY_PATH pointing at the bundle's `_internal/` (the previous value saved
in LD_LIBRARY_PATH_ORIG) and a few `_PYI_*` bookkeeping variables. A foreign
binary inheriting them would load the bundle's copies of shared libraries
(libz, libssl, libffi...) instead of the system's, built for another system
perhaps. Our own bundle is the exception: inheriting lets a child of the same
bundle skip the bootloader's restart, so it keeps them.
"""

import os
import sys


def child_env(env: "dict[str, str]", executable: str = "") -> "dict[str, str]":
    """`env` as a child process should get it (a new dict when anything changes)."""
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
