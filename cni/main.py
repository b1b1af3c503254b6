"""Entry points: one per plugin, and one multi-call entry for the frozen bundle.

`bin/<plugin>` calls `run("<plugin>")`; the PyInstaller bundle is a single
executable that each plugin name links to, dispatching on the program name.
"""

import os
import sys


def module_of(name: str) -> str:
    """A plugin's module, by the registry's convention (cni.plugins.MODULES follows it;
    tests/unit/test_main.py checks): VERSION then imports nothing of the plugins."""
    return "cni.plugins." + name.replace("-", "_")


def run(name: str) -> None:
    """Serve one exec of plugin `name`; exits with the skel's status.

    Cyclic garbage collection is off while the verb runs and everything
    alive is frozen before exit: an exec lives for milliseconds and its
    cycles die with it, but the collector would traverse the tens of
    thousands of objects of pyroute2's message classes during the imports
    and again at interpreter shutdown (~5 ms per exec, measured).
    """
    import gc
    gc.disable()
    try:
        from cni import skel
        status = skel.run(module_of(name))
    finally:
        gc.enable()
    gc.freeze()
    sys.exit(status)


def multicall() -> None:
    """Dispatch on argv[0]: `bridge`, `host-local`, `loopback`, else the pycni CLI."""
    from cni.plugins import MODULES
    name = os.path.basename(sys.argv[0])
    if name in MODULES:
        run(name)
    from cni.tool import cli
    cli.main()
