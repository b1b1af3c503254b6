"""The layers, as the source has them: every import in cni/ and ipam/ checked (AST walk).

    entry    cni/main.py           the executables' entry points: may import anything
    tool     cni/tool/             the operator side (pycni CLI): core, host, ipam, plugins, daemon
    daemon   cni/daemon/           `pycni daemon`, the server behind the shims: core, host, ipam, plugins
    plugins  cni/plugins/          bridge, host-local, loopback: core, host, ipam
    host     cni/host/             the kernel side: core only
    ipam     ipam/                 pure allocation and its stores: core only
    core     cni/*.py              the spec: nothing of ours but itself

Only the entry and the tool layer itself import the tool layer. Each heavy
third-party package has one importer (pyroute2: cni/host/pyroute2_lean.py; click:
cni/tool/cli.py; pydantic: cni/tool/models.py; prometheus_client:
cni/daemon/metrics.py; Debian's python3-nftables: cni/daemon/libnft.py); anything
else imported is the standard library. Imports inside functions and under TYPE_CHECKING count the same,
and so do `__import__`/`import_module` calls with a constant name.
"""

import ast
import sys

import pytest
from support import ROOT

ALLOWED = {
    "entry": {"entry", "tool", "daemon", "plugins", "host", "ipam", "core"},
    "tool": {"tool", "daemon", "plugins", "host", "ipam", "core"},
    "daemon": {"daemon", "plugins", "host", "ipam", "core"},
    "plugins": {"plugins", "host", "ipam", "core"},
    "host": {"host", "core"},
    "ipam": {"ipam", "core"},
    "core": {"core"},
}
THIRD_PARTY = {  # package -> the one module allowed to import it
    "pyroute2": "cni/host/pyroute2_lean.py",
    "click": "cni/tool/cli.py",
    "pydantic": "cni/tool/models.py",
    "pydantic_core": "cni/tool/models.py",
    "prometheus_client": "cni/daemon/metrics.py",
    "nftables": "cni/daemon/libnft.py",
}


def layer_of_file(path: str) -> str:
    if path == "cni/main.py":
        return "entry"
    if path.startswith("ipam/"):
        return "ipam"
    for layer in ("host", "plugins", "tool", "daemon"):
        if path.startswith(f"cni/{layer}/"):
            return layer
    return "core"


def layer_of_module(module: str) -> "str | None":
    """The layer of one of our modules (None: not ours)."""
    parts = module.split(".")
    if parts[0] == "ipam":
        return "ipam"
    if parts[0] != "cni":
        return None
    if module == "cni.main":
        return "entry"
    return parts[1] if len(parts) > 1 and parts[1] in ("host", "plugins", "tool", "daemon") else "core"


def imports_of(source: str) -> "list[tuple[int, str]]":
    """(line, module) of every import, including `from a import b` as a.b when b is a
    module of ours, and constant `__import__`/`import_module` arguments."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module))
            if node.module.split(".")[0] in ("cni", "ipam"):
                found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names
                          if _is_package(f"{node.module}.{alias.name}")]
        elif isinstance(node, ast.Call) and node.args and \
                isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str) and \
                getattr(node.func, "id", getattr(node.func, "attr", "")) in ("__import__",
                                                                              "import_module"):
            found.append((node.lineno, node.args[0].value))
    return found


def _is_package(module: str) -> bool:
    path = ROOT / module.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def violations(path: str, source: str) -> "list[str]":
    """Every import of `source` (at `path`) that breaks a rule of the module docstring."""
    layer = layer_of_file(path)
    bad = []
    for line, module in imports_of(source):
        top = module.split(".")[0]
        ours = layer_of_module(module)
        if ours is not None:
            if ours not in ALLOWED[layer]:
                bad.append(f"{path}:{line}: the {layer} layer imports {module} ({ours} layer)")
        elif top in THIRD_PARTY:
            if THIRD_PARTY[top] != path:
                bad.append(f"{path}:{line}: imports {top}, which only {THIRD_PARTY[top]} may")
        elif top not in sys.stdlib_module_names:
            bad.append(f"{path}:{line}: imports {module}, neither ours nor the standard library")
    return bad


SOURCES = sorted(str(p.relative_to(ROOT)) for d in ("cni", "ipam") for p in (ROOT / d).rglob("*.py"))


def test_every_layer_is_populated():
    layers = {layer_of_file(p) for p in SOURCES}
    assert layers == set(ALLOWED), layers


@pytest.mark.parametrize("path", SOURCES)
def test_imports_follow_the_layers(path):
    assert violations(path, (ROOT / path).read_text()) == []


def test_each_heavy_package_has_its_one_importer():
    importers = {top: sorted(p for p in SOURCES for _, m in imports_of((ROOT / p).read_text())
                             if m.split(".")[0] == top) for top in THIRD_PARTY}
    assert {top: set(paths) for top, paths in importers.items()} == \
        {top: {path} for top, path in THIRD_PARTY.items()}


@pytest.mark.parametrize("path, source, expected", [
    ("cni/skel.py", "from cni.host import netlink\n", "the core layer imports cni.host.netlink"),
    ("cni/skel.py", "def f():\n    from cni.plugins import bridge\n", "imports cni.plugins"),
    ("ipam/disk.py", "from cni.host.netns import inside\n", "the ipam layer imports cni.host.netns"),
    ("cni/host/netns.py", "import ipam.store\n", "the host layer imports ipam.store"),
    ("cni/plugins/bridge.py", "from cni.tool import lint\n", "the plugins layer imports cni.tool"),
    ("cni/tool/lint.py", "import click\n", "imports click, which only cni/tool/cli.py may"),
    ("cni/daemon/server.py", "from cni.tool import cli\n", "the daemon layer imports cni.tool"),
    ("cni/plugins/bridge.py", "import cni.daemon.worker\n", "the plugins layer imports cni.daemon"),
    ("cni/netconf.py", "TYPE_CHECKING = True\nif TYPE_CHECKING:\n    import pydantic\n",
     "imports pydantic"),
    ("cni/skel.py", "__import__('cni.tool.cli')\n", "the core layer imports cni.tool.cli"),
    ("cni/errors.py", "import requests\n", "neither ours nor the standard library"),
])
def test_the_checker_catches_each_kind_of_violation(path, source, expected):
    found = violations(path, source)
    assert found and any(expected in line for line in found), found


def test_the_entry_may_import_every_layer():
    assert violations("cni/main.py", "from cni.tool import cli\nfrom cni.plugins import MODULES\n") == []
