"""pyroute2's rtnetlink message classes, without pyroute2's import cost.

Where it sits: `cni.host.netlink._load()` calls `message_classes()` the first time
a `Netlink` socket opens in an exec; it is the only way pyroute2 gets imported
on a plugin's ADD/CHECK/DEL path.

What a plain `from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg` costs
(pyroute2 0.9.7, Python 3.11, `python -X importtime`, 2 vCPUs), and what is
done about it. pyroute2 keeps every one of these references; each reaches the
real thing on first use, so nothing pyroute2 does behaves differently.
- `pyroute2/__init__.py` imports every subsystem (IPRoute, NDB, asyncio,
  nftables...): ~120 ms. The package is registered bare (the real `__path__`),
  so submodules load without it; the real `__init__` runs into that same
  module object the first time anyone asks it for a name it lacks.
- `pyroute2.config`: ~5 ms (multiprocessing, platform.uname(), signal,
  typing). The message modules read three values from it (AF_BRIDGE and the
  two extra-link-kind plugin lists, empty by default); a stand-in carries
  those, and the real config runs into it on the first other name.
- `logging`: ~7 ms (with threading, traceback, string, weakref) for module
  loggers made at import and used only on malformed messages. Stand-in
  loggers load the real logging on their first call.
- `typing`: ~3 ms, for annotations only (`Dict`, `Callable[...]`, `TypeVar`).
  Stand-in names are inert placeholders (nothing reads pyroute2's hints).
- `traceback`, `pkgutil`: ~3 ms, used in error paths and in plugin discovery
  that the empty lists above never trigger. Loaded on first use.
- `socket`: ~5 ms (selectors, the IntEnum views of every constant) for AF_*
  values and inet_pton/ntop, which `_socket` has. Used only if no one has
  imported socket yet (cni.host.netlink can use `_socket` itself).
The stdlib stand-ins are in sys.modules only while pyroute2's modules execute:
any later `import logging` or `import typing` gets the real module. A module
already imported (a test run, the CLI) is used as it is, with no stand-in.
"""

import sys

TYPE_CHECKING = False  # type checkers read this as True; typing costs ~3 ms per exec
if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType as _Module
    from typing import Any
else:
    _Module = type(sys)  # types.ModuleType, without importing types

_STDLIB_LAZY = ("traceback", "pkgutil")


def message_classes() -> "dict[str, Any]":
    """{'link': ifinfmsg, 'addr': ifaddrmsg, 'route': rtmsg}."""
    _register_packages()
    placed = _place_stand_ins()
    try:
        from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
        from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
        from pyroute2.netlink.rtnl.rtmsg import rtmsg
    finally:
        for name, module in placed.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
    return {"link": ifinfmsg, "addr": ifaddrmsg, "route": rtmsg}


def _register_packages() -> None:
    if "pyroute2" in sys.modules:
        return
    package = _Package(_find_spec("pyroute2"))
    sys.modules["pyroute2"] = package
    if "pyroute2.config" not in sys.modules:
        config = _Package(_find_spec("pyroute2.config", package.__path__))
        config.AF_BRIDGE = 7  # socket.AF_BRIDGE, the value pyroute2.config computes
        config.data_plugins_pkgs = []
        config.data_plugins_path = []
        sys.modules["pyroute2.config"] = config
        package.config = config


def _find_spec(name: str, path: "Sequence[str] | None" = None) -> "ModuleSpec":
    """importlib.util.find_spec without importing importlib.util (~1 ms)."""
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        spec: "ModuleSpec | None" = find(name, path) if find is not None else None
        if spec is not None:
            return spec
    raise ImportError(f"no module named {name!r}", name=name)


class _Package(_Module):
    """A pyroute2 package whose `__init__` runs on the first name it lacks."""

    def __init__(self, spec: "ModuleSpec") -> None:
        super().__init__(spec.name)
        self.__spec__ = spec
        self.__loader__ = spec.loader
        self.__file__ = spec.origin
        self.__path__ = list(spec.submodule_search_locations or [])
        self.__package__ = spec.name

    if TYPE_CHECKING:  # a module takes any attribute; typeshed's ModuleType declares only reads
        def __setattr__(self, name: str, value: object) -> None: ...

    def __getattr__(self, name: str) -> object:
        state = self.__dict__
        if name.startswith("__") or state.get("_pycni_loaded"):
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        state["_pycni_loaded"] = True
        self.__spec__.loader.exec_module(self)  # type: ignore[union-attr]  # a package spec has a loader
        return getattr(self, name)


class _Lazy(_Module):
    """A stdlib module's stand-in: each attribute comes from the real module."""

    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(_real(self.__name__), name)


class _LazyLogging(_Lazy):
    def getLogger(self, name: "str | None" = None) -> "_Logger":
        return _Logger(name)


class _Logger:
    """A logger made at import; the real one is looked up on its first call."""

    __slots__ = ("name",)

    def __init__(self, name: "str | None") -> None:
        self.name = name

    def __getattr__(self, attr: str) -> object:
        return getattr(_real("logging").getLogger(self.name), attr)


class _Socket(_Lazy):
    """`socket` as pyroute2 uses it: the constants and functions of `_socket`.

    socket.py adds Python socket objects and IntEnum views of the constants
    (~5 ms of import: selectors, enum conversions); pyroute2's message modules
    only use AF_* values, inet_pton/ntop and, in annotations, AddressFamily.
    """

    def __getattr__(self, name: str) -> object:
        import _socket
        if not name.startswith("__") and hasattr(_socket, name):
            return getattr(_socket, name)
        if name == "AddressFamily" and sys.modules.get("socket", self) is self:
            return _HINT  # an annotation in pyroute2.common; the real one if loaded
        return super().__getattr__(name)


class _Hint:
    """Any typing construct in an annotation: subscript it, call it, it stays itself."""

    def __getitem__(self, item: object) -> "_Hint":
        return self

    def __call__(self, *args: object, **kwargs: object) -> "_Hint":
        return self

    def __or__(self, other: object) -> "_Hint":
        return self

    __ror__ = __or__


class _Typing(_Module):
    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):
            raise AttributeError(name)
        return _HINT


_HINT = _Hint()


def _place_stand_ins() -> "dict[str, _Module]":
    stand_ins = {"logging": _LazyLogging("logging"), "typing": _Typing("typing"),
                 "socket": _Socket("socket")}
    stand_ins.update((name, _Lazy(name)) for name in _STDLIB_LAZY)
    placed: "dict[str, _Module]" = {}
    for name, module in stand_ins.items():
        if name not in sys.modules:
            sys.modules[name] = placed[name] = module
    return placed


def _real(name: str) -> "_Module":
    """The real module `name`, importing it (past its stand-in) if needed."""
    module = sys.modules.get(name)
    if module is None or isinstance(module, (_Lazy, _Typing)):
        sys.modules.pop(name, None)
        __import__(name)
        module = sys.modules[name]
    return module
