"""Entry points: one per plugin, and one multi-call entry for the frozen bundle.

`bin/<plugin>` calls `run("<plugin>")`; the PyInstaller bundle is a single
executable that each plugin name links to, dispatching on the program name.
"""

import os
import sys

PLUGINS = {
    "bridge": "cni.plugins.bridge",
    "host-local": "cni.plugins.host_local",
    "loopback": "cni.plugins.loopback",
}


def run(name: str) -> None:
    from cni import skel
    sys.exit(skel.run(PLUGINS[name]))


def multicall() -> None:
    """Dispatch on argv[0]: `bridge`, `host-local`, `loopback`, else the pycni CLI."""
    name = os.path.basename(sys.argv[0])
    if name in PLUGINS:
        run(name)
    from cni import cli
    cli.main()
