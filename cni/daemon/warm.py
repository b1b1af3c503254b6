"""What the daemon imports before it serves: everything any verb of any plugin may need.

Where it sits: `cni.daemon.server` calls `modules()` once at start-up, then
`load(name)` for each, between turns of its loop (so /healthz and /readyz are
answered while it warms). The exec path imports only what a verb needs, lazily,
inside functions; a worker must not: it may have entered a runtime's mount
namespace, where this installation's files need not exist. So every module
the skel and the plugins may import is imported here, found in their compiled
code (IMPORT_NAME), which works from source and from the frozen bundle alike.
The operator's side (cni.tool) and the daemon's own modules are not followed.
"""

import dis
import importlib
import types

NOT_FOLLOWED = ("cni.tool", "cni.daemon", "cni.main")


def modules() -> "list[str]":
    """Every module a call may import, in import order: from the skel and each plugin,
    the closure over our modules' code of every IMPORT_NAME (and `from X import y`
    candidates X.y), whether at the top or inside functions. Not pkgutil: the frozen
    bundle runs without its pkgutil hook (packaging/pycni.spec)."""
    from cni.host import netlink
    from cni.plugins import MODULES
    netlink._load()  # pyroute2 as the exec path loads it (the bundle has no NDB to import)
    names = ["cni.skel", *MODULES.values()]
    seen = set(names)
    for name in names:  # grows while it is walked
        if not load(name) or not name.startswith(("cni.", "ipam.")):
            continue
        module = importlib.import_module(name)
        loader = getattr(module.__spec__, "loader", None)
        code = loader.get_code(name) if loader is not None and hasattr(loader, "get_code") else None
        for imported in _imports(code) if code is not None else ():
            if imported not in seen and not imported.startswith(NOT_FOLLOWED):
                seen.add(imported)
                names.append(imported)
    return [n for n in names if load(n)]


def _imports(code: types.CodeType) -> "list[str]":
    found = []
    last = ""
    for ins in dis.get_instructions(code):
        if ins.opname == "IMPORT_NAME" and isinstance(ins.argval, str):
            last = ins.argval
            found.append(last)
        elif ins.opname == "IMPORT_FROM" and last.startswith(("cni", "ipam")):
            found.append(f"{last}.{ins.argval}")  # a submodule, when it is one
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found += _imports(const)
    return found


def load(name: str) -> bool:
    """Import one; False when it cannot be (an optional module: the code guards it)."""
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True



def netlink_tables() -> int:
    """Compile pyroute2's attribute tables: pyroute2 builds each message class's table on
    its first instance and caches it on the class, so a worker would build the dozens
    a bridge ADD uses again, each time (~1.5 ms). Built here, every worker inherits them.
    Walks the classes reachable from the link, address and route messages: those their
    tables name, and those nested in them (the per-kind link data). The count walked."""
    from cni.host import netlink
    seen: "set[type]" = set()
    stack: "list[type]" = [type(cls()) for cls in netlink._load().values()]
    while stack:
        cls = stack.pop()
        if cls in seen:
            continue
        seen.add(cls)
        try:
            cls()  # compiles the class's table
        except Exception:  # a class that needs arguments: compiled on first use instead
            continue
        table = getattr(cls, "_nlmsg_base__t_nla_map", None)  # pyroute2's compiled table
        primes = table.values() if isinstance(table, dict) else ()
        stack += [p["class"] for p in primes if isinstance(p, dict) and isinstance(p.get("class"), type)]
        stack += [v for v in vars(cls).values() if isinstance(v, type) and hasattr(v, "nla_map")]
    return len(seen)
