"""loopback: bring `lo` up in the container and report it.

ADD sets `lo` up inside CNI_NETNS (CNI_IFNAME is ignored: it is always `lo`)
and returns it with its loopback addresses, or passes prevResult through
unchanged when the plugin is chained. DEL sets `lo` down; a missing netns, a
path that is no longer a namespace, or an empty CNI_NETNS is success. CHECK
verifies `lo` is up. GC and STATUS have nothing to do.
"""

from cni import log
from cni.errors import CheckFailed, InterfaceNotFound, NetlinkFailure, NetnsNotFound, NotANetns
from cni.host import netns
from cni.host.netlink import Link, Netlink
from cni.request import Request
from cni.types import Interface, IPConfig, Result

NAME = "loopback"
CONFIG = None  # the spec's keys only (cni.netconf)


def add(req: Request) -> Result:
    prev = req.conf.prev_result()  # a bad prevResult fails before anything changes
    with netns.entered(req.netns), Netlink() as nl:
        lo = _lo(nl)
        _refuse_foreign([a for a, _, _ in nl.addresses(lo.index)])
        nl.set_up(lo.index)
        addresses = [a for a, _, _ in nl.addresses(lo.index)]  # the kernel adds them on up
    _refuse_foreign(addresses)
    if prev is not None:
        return prev
    first = [next((a for a in addresses if (":" in a) == v6), None) for v6 in (False, True)]
    return Result(interfaces=[Interface("lo", mac="00:00:00:00:00:00", sandbox=req.netns)],
                  ips=[IPConfig(a, interface=0) for a in first if a])


def delete(req: Request) -> None:
    if not req.netns:
        return
    try:
        with netns.entered(req.netns), Netlink() as nl:
            nl.set_down(_lo(nl).index)
    except (NetnsNotFound, InterfaceNotFound):
        pass  # already gone: DEL is idempotent
    except NotANetns as exc:
        # What an unmounted netns leaves behind (an empty file): the namespace
        # is gone and with it the only thing loopback ever changed.
        log.warning("DEL: %s; nothing to undo", exc)


def check(req: Request) -> None:
    with netns.entered(req.netns), Netlink() as nl:
        if not _lo(nl).up:
            raise CheckFailed("loopback interface is down")


def gc(req: Request) -> None:
    """Nothing of ours outlives the container's namespace."""


def status(req: Request) -> None:
    """Always ready: loopback needs nothing but the kernel."""


def _refuse_foreign(addresses: "list[str]") -> None:
    foreign = [a for a in addresses if not (a.startswith("127.") or a == "::1/128")]
    if foreign:
        raise NetlinkFailure(f"loopback interface found with non-loopback address {foreign[0]!r}")


def _lo(nl: Netlink) -> Link:
    lo = nl.link("lo")
    if lo is None:
        raise InterfaceNotFound("no loopback interface in the container")
    return lo
