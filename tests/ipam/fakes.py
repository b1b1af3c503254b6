"""An in-memory `ipam.store.Store` for allocator tests: no files, no lock.

It behaves like the disk store as far as the allocator can see (taken names,
owners, legacy id-only entries, per-set cursors) and records every call, so a
test can also check what was written and in which order.
"""

from ipam.store import Allocation, Store


class FakeStore(Store):
    def __init__(self, entries: "dict[str, str] | None" = None,
                 cursors: "dict[int, str] | None" = None) -> None:
        """`entries`: ip -> "id\\r\\nifname" (or a legacy "id"); `cursors`: set -> last ip."""
        self.entries: "dict[str, Allocation]" = {}
        for ip, content in (entries or {}).items():
            cid, sep, ifname = content.partition("\r\n")
            self.entries[ip] = Allocation(ip, cid, ifname if sep else None)
        self.cursors = dict(cursors or {})
        self.in_session = False
        self.flushed = 0
        self.calls: "list[tuple]" = []
        self.fail_reserve_at: "int | None" = None  # raise on the n-th reserve (1-based)

    def session(self, create: bool = True) -> "FakeStore":
        return self

    def __enter__(self) -> "FakeStore":
        assert not self.in_session, "sessions do not nest"
        self.in_session = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.in_session = False

    def exists(self) -> bool:
        return bool(self.entries or self.cursors)

    def flush(self) -> None:
        self.flushed += 1

    def reserve(self, ip: str, container_id: str, ifname: str, set_index: int) -> bool:
        self.calls.append(("reserve", ip))
        if self.fail_reserve_at is not None and \
                sum(1 for c in self.calls if c[0] == "reserve") == self.fail_reserve_at:
            from cni.errors import StoreFailure
            raise StoreFailure(f"injected failure reserving {ip}")
        if ip in self.entries:
            return False
        self.entries[ip] = Allocation(ip, container_id.strip(), ifname)
        self.cursors[set_index] = ip
        return True

    def release(self, ip: str) -> None:
        self.calls.append(("release", ip))
        self.entries.pop(ip, None)

    def release_by_owner(self, container_id: str, ifname: str) -> "list[str]":
        mine = [a.ip for a in self.entries.values() if a.owned_by(container_id, ifname)]
        if not mine:
            mine = [a.ip for a in self.entries.values() if a.owned_by_legacy(container_id)]
        for ip in mine:
            self.release(ip)
        return mine

    def find_by_owner(self, container_id: str, ifname: str) -> "list[str]":
        return [a.ip for a in self.entries.values()
                if a.owned_by(container_id, ifname) or a.owned_by_legacy(container_id)]

    def owner_of(self, ip: str) -> "Allocation | None":
        return self.entries.get(ip)

    def taken(self) -> "set[str]":
        return set(self.entries)

    def last_reserved(self, set_index: int) -> "str | None":
        return self.cursors.get(set_index)

    def set_last_reserved(self, set_index: int, ip: str) -> None:
        self.cursors[set_index] = ip

    def allocations(self) -> "list[Allocation]":
        return list(self.entries.values())

    def status_problem(self) -> str:
        return ""
