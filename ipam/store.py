"""The reservation store behind host-local, and the on-disk format it shares with the reference.

Where it sits: `cni.plugins.host_local` talks to a `Store` only inside
`with store.session():` (the network's lock held); `ipam.disk.DiskStore` is
the real one, `tests/ipam/fakes.py` an in-memory one for the allocator tests.
Addresses cross this interface as canonical text (the file names).

On-disk format (identical to containernetworking/plugins host-local, so a node
can switch between the two implementations, or run both, on one dataDir):

    <dataDir>/<network>/                 dataDir defaults to /var/lib/cni/networks
        <ip>                             one file per reserved address; the name is
                                         the canonical text (dotted IPv4; RFC 5952
                                         compressed lowercase IPv6)
                                         content: "<containerID>\\r\\n<ifname>", no
                                         trailing newline (legacy files: "<containerID>")
        last_reserved_ip.<set index>     the last address reserved in range set N
                                         (its position in the final ranges list), no newline
        lock                             empty; flock(LOCK_EX) serialises every
                                         reader and writer (Go's and ours)

Owners are compared on the whitespace-trimmed content, as the reference does.
What we add, invisible to the reference: reservations are written to a temp
file `.pycni-<pid>-<n>.tmp` and hard-linked to the address name (so a file named
like an address is never empty or half-written), files are 0600 in a 0700
directory, and temp files left by a crash are removed by the next lock holder.
"""

import abc

from cni.errors import StoreFailure


class Allocation:
    """One entry named like an address: who holds it, or what is wrong with it.

    `ifname` is None for a legacy id-only file. `problem` is empty for a sound
    reservation, else a short reason (empty, symlink, directory, oversize,
    garbage, unreadable...). Any entry, sound or not, keeps its address taken.
    """

    __slots__ = ("ip", "container_id", "ifname", "mtime", "problem")

    def __init__(self, ip: str, container_id: str = "", ifname: "str | None" = None,
                 mtime: float = 0.0, problem: str = "") -> None:
        self.ip = ip
        self.container_id = container_id
        self.ifname = ifname
        self.mtime = mtime
        self.problem = problem

    @property
    def legacy(self) -> bool:
        return not self.problem and self.ifname is None

    def owned_by(self, container_id: str, ifname: str) -> bool:
        """Held by this attachment in the current format."""
        return not self.problem and self.container_id == container_id.strip() and self.ifname == ifname

    def owned_by_legacy(self, container_id: str) -> bool:
        """Held by this container in the legacy id-only format."""
        return self.legacy and self.container_id == container_id.strip()

    def __repr__(self) -> str:
        owner = f"{self.container_id}/{self.ifname}" if self.ifname is not None else self.container_id
        return f"Allocation({self.ip}, {owner!r}{', ' + self.problem if self.problem else ''})"


class Store(abc.ABC):
    """Reservations of one network. Every method but `session`, `exists`, `taken`
    and `status_problem` must be called inside `with store.session():`."""

    @abc.abstractmethod
    def session(self, create: bool = True) -> "Store":
        """Context manager: hold the network's exclusive lock (bounded wait:
        TryAgainLater). `create=False` leaves a missing store missing."""

    @abc.abstractmethod
    def exists(self) -> bool:
        """Whether the network has any state at all (a session would find some)."""

    @abc.abstractmethod
    def reserve(self, ip: str, container_id: str, ifname: str, set_index: int) -> bool:
        """Claim `ip` for the attachment and record it as set `set_index`'s last
        reservation. False when the address is already taken by anything."""

    @abc.abstractmethod
    def flush(self) -> None:
        """Make the session's changes durable before the verb answers."""

    @abc.abstractmethod
    def release(self, ip: str) -> None:
        """Drop one reservation (used to roll back an ADD)."""

    @abc.abstractmethod
    def release_by_owner(self, container_id: str, ifname: str) -> "list[str]":
        """Drop what the attachment holds; when it holds nothing in the current
        format, drop the container's legacy id-only files. Returns the addresses."""

    @abc.abstractmethod
    def find_by_owner(self, container_id: str, ifname: str) -> "list[str]":
        """Addresses held by the attachment, or by the container in legacy format."""

    @abc.abstractmethod
    def owner_of(self, ip: str) -> "Allocation | None":
        """The entry named `ip`, if any."""

    @abc.abstractmethod
    def taken(self) -> "set[str]":
        """Every name in the store that an address could collide with (outside a
        session: a snapshot taken without the lock, for read-only health checks)."""

    @abc.abstractmethod
    def last_reserved(self, set_index: int) -> "str | None":
        """The recorded last reservation of a set, as written (None when absent)."""

    @abc.abstractmethod
    def set_last_reserved(self, set_index: int, ip: str) -> None:
        """Record the last reservation of a set."""

    @abc.abstractmethod
    def allocations(self) -> "list[Allocation]":
        """Every entry named like an address, sorted by address, problems included."""

    @abc.abstractmethod
    def status_problem(self) -> str:
        """Why a reservation could not be written now ('' when it could); writes nothing."""


def release_all(store: Store, ips: "list[str]") -> None:
    """Release each address; keep going on errors and report them together."""
    errors = []
    for ip in ips:
        try:
            store.release(ip)
        except StoreFailure as exc:
            errors.append(str(exc))
    if errors:
        raise StoreFailure(f"could not release {len(errors)} of {len(ips)} reservations",
                           "; ".join(errors))
