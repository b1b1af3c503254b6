"""cni.host.pyroute2_lean: pyroute2's message classes, with its heavy imports deferred, not lost.

Each case runs in a fresh interpreter: what matters is what a plugin exec's
sys.modules holds, and a test process has long since imported everything.
"""

import subprocess
import sys
import textwrap

DEFERRED = ("logging", "typing", "traceback", "pkgutil", "socket", "multiprocessing", "platform",
            "asyncio")


def fresh(code: str) -> str:
    proc = subprocess.run([sys.executable, "-I", "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


def test_the_classes_load_without_the_deferred_modules_and_encode_like_pyroute2():
    out = fresh(f"""
        import sys
        from cni.host.pyroute2_lean import message_classes
        classes = message_classes()
        print(sorted(m for m in {DEFERRED!r} if m in sys.modules))
        link = classes["link"]()
        link["index"] = 7
        link["attrs"] = [["IFLA_IFNAME", "eth0"], ["IFLA_MTU", 1400]]
        link.encode()
        back = classes["link"](link.data)
        back.decode()
        print(back["index"], back.get_attr("IFLA_IFNAME"), back.get_attr("IFLA_MTU"))
        """)
    assert out.splitlines() == ["[]", "7 eth0 1400"]


def test_every_deferred_module_is_the_real_one_when_used():
    out = fresh("""
        import sys
        from cni.host.pyroute2_lean import message_classes
        message_classes()
        common = sys.modules["pyroute2.common"]
        netlink = sys.modules["pyroute2.netlink"]
        # later imports by anyone get the real modules, not stand-ins
        import logging, typing, socket, traceback
        print(type(logging.getLogger("x")).__name__, typing.Dict is not None,
              type(socket.AF_INET).__name__, callable(traceback.format_exc))
        # pyroute2's own references reach the real things on first use
        netlink.log.warning("pyroute2 logs through the real logging")
        print(common.socket.inet_pton(common.socket.AF_INET, "10.1.2.3") == b"\\n\\x01\\x02\\x03")
        print(netlink.traceback.format_exc().strip())
        # the package and its config run their real code on the first name they lack
        import pyroute2
        from pyroute2 import config
        print(config.AF_BRIDGE, type(config.kernel).__name__, pyroute2.IPRoute.__name__)
        """)
    assert out.splitlines() == ["Logger True AddressFamily True", "True", "NoneType: None",
                                "7 list IPRoute", "pyroute2 logs through the real logging"]


def test_modules_already_imported_are_used_as_they_are():
    out = fresh("""
        import logging, socket, sys, typing
        from cni.host.pyroute2_lean import message_classes
        message_classes()
        netlink = sys.modules["pyroute2.netlink"]
        print(netlink.logging is logging, sys.modules["pyroute2.common"].socket is socket)
        """)
    assert out.splitlines() == ["True True"]
