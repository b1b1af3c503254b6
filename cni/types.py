"""The result of a CNI attachment, and its conversion to and from every spec version.

Where it sits: plugins build one `Result` in the newest (1.1.0) shape; `cni.skel`
prints it with `to_dict(config_version)`. Results that arrive from elsewhere
(`prevResult`, a delegated IPAM's stdout) go through `Result.from_dict`, which
reads any version. Conversion is hub and spoke: every version talks only to the
internal shape, never to another version.

Formats owned here (Go marshalling rules kept, since runtimes parse them):
- 1.1.0: interfaces{name, mac, mtu, sandbox, socketPath, pciID}, ips{interface,
  address, gateway}, routes{dst, gw, mtu, advmss, priority, table, scope}, dns.
- 1.0.0: as 1.1.0 without interface mtu/socketPath/pciID and route mtu..scope.
- 0.3.0 / 0.3.1 / 0.4.0: as 1.0.0 plus ips[].version ("4"/"6").
- 0.1.0 / 0.2.0: ip4{ip, gateway, routes}, ip6{...}, dns; no interfaces;
  the first address of each family; an error when there is no address at all.
Empty lists and empty optional strings are omitted; `dns` is always printed
(`{}` when empty), as the reference plugins print it.
"""

from cni import version as _version
from cni.errors import DecodingFailure, IncompatibleVersion

_NEW_ROUTE_KEYS = ("mtu", "advmss", "priority", "table", "scope")


def _family(address: str) -> int:
    return 6 if ":" in address else 4


class _Value:
    """Equality field by field (the `__slots__` of the subclass), as for plain values."""

    __slots__: "tuple[str, ...]" = ()

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__)


class Interface(_Value):
    __slots__ = ("name", "mac", "mtu", "sandbox", "socket_path", "pci_id")

    def __init__(self, name: str, mac: str = "", sandbox: str = "", mtu: int = 0,
                 socket_path: str = "", pci_id: str = "") -> None:
        self.name = name
        self.mac = mac
        self.sandbox = sandbox
        self.mtu = mtu
        self.socket_path = socket_path
        self.pci_id = pci_id

    def to_dict(self, version: str) -> "dict[str, object]":
        out: "dict[str, object]" = {"name": self.name}
        if self.mac:
            out["mac"] = self.mac
        if self.mtu and _version.has_1_1_fields(version):
            out["mtu"] = self.mtu
        if self.sandbox:
            out["sandbox"] = self.sandbox
        if _version.has_1_1_fields(version):
            if self.socket_path:
                out["socketPath"] = self.socket_path
            if self.pci_id:
                out["pciID"] = self.pci_id
        return out

    def __repr__(self) -> str:
        return f"Interface({self.name!r}, mac={self.mac!r}, sandbox={self.sandbox!r})"


class IPConfig(_Value):
    """An address in CIDR form with the host bits kept (`10.1.0.5/16`)."""

    __slots__ = ("address", "gateway", "interface")

    def __init__(self, address: str, gateway: str = "", interface: "int | None" = None) -> None:
        self.address = address
        self.gateway = gateway
        self.interface = interface

    @property
    def family(self) -> int:
        return _family(self.address)

    def to_dict(self, version: str) -> "dict[str, object]":
        out: "dict[str, object]" = {}
        if not _version.at_least(version, "1.0.0"):
            out["version"] = str(self.family)
        if self.interface is not None:
            out["interface"] = self.interface
        out["address"] = self.address
        if self.gateway:
            out["gateway"] = self.gateway
        return out

    def __repr__(self) -> str:
        return f"IPConfig({self.address!r}, gateway={self.gateway!r}, interface={self.interface!r})"


class Route(_Value):
    __slots__ = ("dst", "gw", "mtu", "advmss", "priority", "table", "scope")

    def __init__(self, dst: str, gw: str = "", mtu: int = 0, advmss: int = 0, priority: int = 0,
                 table: "int | None" = None, scope: "int | None" = None) -> None:
        self.dst = dst
        self.gw = gw
        self.mtu = mtu
        self.advmss = advmss
        self.priority = priority
        self.table = table
        self.scope = scope

    @property
    def family(self) -> int:
        return _family(self.dst)

    def to_dict(self, version: str) -> "dict[str, object]":
        out: "dict[str, object]" = {"dst": self.dst}
        if self.gw:
            out["gw"] = self.gw
        # 0.x routes carry only dst/gw in 0.1.0/0.2.0; the Go types keep the
        # newer fields on 0.3.x+ routes, and so do we, except below 1.1.0 where
        # they do not exist yet.
        if _version.has_1_1_fields(version):
            for key in ("mtu", "advmss", "priority"):
                if getattr(self, key):
                    out[key] = getattr(self, key)
            for key in ("table", "scope"):
                if getattr(self, key) is not None:
                    out[key] = getattr(self, key)
        return out

    def __repr__(self) -> str:
        return f"Route({self.dst!r}, gw={self.gw!r})"


class DNS:
    __slots__ = ("nameservers", "domain", "search", "options")

    def __init__(self, nameservers: "list[str] | None" = None, domain: str = "",
                 search: "list[str] | None" = None, options: "list[str] | None" = None) -> None:
        self.nameservers = list(nameservers or [])
        self.domain = domain
        self.search = list(search or [])
        self.options = list(options or [])

    def __bool__(self) -> bool:
        return bool(self.nameservers or self.domain or self.search or self.options)

    def to_dict(self) -> "dict[str, object]":
        out: "dict[str, object]" = {}
        if self.nameservers:
            out["nameservers"] = list(self.nameservers)
        if self.domain:
            out["domain"] = self.domain
        if self.search:
            out["search"] = list(self.search)
        if self.options:
            out["options"] = list(self.options)
        return out

    @classmethod
    def from_dict(cls, data: object, where: str = "dns") -> "DNS":
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise DecodingFailure(f"{where} must be an object")
        lists: "dict[str, list[str]]" = {}
        for key in ("nameservers", "search", "options"):
            value = data.get(key)
            value = [] if value is None else value  # only null means absent
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise DecodingFailure(f"{where}.{key} must be a list of strings")
            lists[key] = value
        domain = data.get("domain")
        domain = "" if domain is None else domain
        if not isinstance(domain, str):
            raise DecodingFailure(f"{where}.domain must be a string")
        return cls(lists["nameservers"], domain, lists["search"], lists["options"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DNS) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"DNS({self.to_dict()!r})"


class Result(_Value):
    """A Success result in the newest shape; `cni_version` is where it came from."""

    __slots__ = ("cni_version", "interfaces", "ips", "routes", "dns")

    def __init__(self, cni_version: str = _version.CURRENT,
                 interfaces: "list[Interface] | None" = None, ips: "list[IPConfig] | None" = None,
                 routes: "list[Route] | None" = None, dns: "DNS | None" = None) -> None:
        self.cni_version = cni_version
        self.interfaces = list(interfaces or [])
        self.ips = list(ips or [])
        self.routes = list(routes or [])
        self.dns = dns if dns is not None else DNS()

    def __repr__(self) -> str:
        return f"Result({self.to_dict(_version.CURRENT)!r})"

    # -- output -------------------------------------------------------------

    def to_dict(self, version: str) -> "dict[str, object]":
        """This result as the JSON object of spec `version` (raises code 1 if impossible)."""
        version = version or _version.DEFAULT  # an empty version means 0.1.0 (spec 3.4)
        if version not in _version.SUPPORTED:
            raise IncompatibleVersion("incompatible CNI versions", _version.supported_details(version))
        if not _version.has_interfaces(version):
            return self._to_legacy(version)
        out: "dict[str, object]" = {"cniVersion": version}
        if self.interfaces:
            out["interfaces"] = [i.to_dict(version) for i in self.interfaces]
        if self.ips:
            out["ips"] = [ip.to_dict(version) for ip in self.ips]
        if self.routes:
            out["routes"] = [r.to_dict(version) for r in self.routes]
        out["dns"] = self.dns.to_dict()
        return out

    def _to_legacy(self, version: str) -> "dict[str, object]":
        out: "dict[str, object]" = {"cniVersion": version}
        for family in (4, 6):
            ip = next((ip for ip in self.ips if ip.family == family), None)
            if ip is None:
                continue
            block: "dict[str, object]" = {"ip": ip.address}
            if ip.gateway:
                block["gateway"] = ip.gateway
            routes = [r.to_dict("0.2.0") for r in self.routes if r.family == family]
            if routes:
                block["routes"] = routes
            out[f"ip{family}"] = block
        if len(out) == 1:
            raise IncompatibleVersion("cannot convert: no valid IP addresses",
                                      f"a {version} result needs at least one IP address")
        out["dns"] = self.dns.to_dict()
        return out

    # -- input --------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: object, default_version: str = _version.DEFAULT,
                  where: str = "result") -> "Result":
        """Read a result of any supported version (prevResult, an IPAM's output)."""
        if not isinstance(data, dict):
            raise DecodingFailure(f"{where} must be a JSON object")
        version = data.get("cniVersion")
        version = default_version if version is None or version == "" else version
        if not isinstance(version, str) or version not in _version.SUPPORTED:
            raise DecodingFailure(f"{where} has unsupported cniVersion {version!r}",
                                  _version.supported_details(str(version)))
        try:
            if _version.has_interfaces(version):
                result = cls._from_current(data, version, where)
            else:
                result = cls._from_legacy(data, version, where)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DecodingFailure(f"failed to parse {where}", str(exc)) from exc
        return result

    @classmethod
    def _from_current(cls, data: "dict[str, object]", version: str, where: str) -> "Result":
        interfaces = []
        for i in _list(data, "interfaces", where):
            name = _str(i, "name", where + ".interfaces[]", required=True)
            mtu = i.get("mtu")
            mtu = 0 if mtu is None else mtu
            if not isinstance(mtu, int) or isinstance(mtu, bool) or mtu < 0:
                raise DecodingFailure(f"{where}.interfaces[].mtu must be a non-negative integer")
            interfaces.append(Interface(
                name, mac=_str(i, "mac", where), sandbox=_str(i, "sandbox", where), mtu=mtu,
                socket_path=_str(i, "socketPath", where), pci_id=_str(i, "pciID", where)))
        ips = []
        for ip in _list(data, "ips", where):
            index = ip.get("interface")
            if index is not None and (not isinstance(index, int) or isinstance(index, bool)
                                      or not 0 <= index < len(interfaces)):
                raise DecodingFailure(f"{where}.ips[].interface {index!r} is not an index into interfaces")
            address = _cidr(_str(ip, "address", where + ".ips[]", required=True), where)
            gateway = _ip(_str(ip, "gateway", where), where)
            declared = ip.get("version")
            if declared is not None and declared != str(_family(address)):
                raise DecodingFailure(f"{where}.ips[].version {declared!r} does not match {address}")
            ips.append(IPConfig(address, gateway, index))
        routes = [_route(r, where) for r in _list(data, "routes", where)]
        dns = DNS.from_dict(data.get("dns"), where + ".dns")
        return cls(version, interfaces, ips, routes, dns)

    @classmethod
    def _from_legacy(cls, data: "dict[str, object]", version: str, where: str) -> "Result":
        ips: "list[IPConfig]" = []
        routes: "list[Route]" = []
        for family in (4, 6):
            block = data.get(f"ip{family}")
            if block is None:
                continue
            if not isinstance(block, dict):
                raise DecodingFailure(f"{where}.ip{family} must be an object")
            address = _cidr(_str(block, "ip", f"{where}.ip{family}", required=True), where)
            ips.append(IPConfig(address, _ip(_str(block, "gateway", where), where)))
            routes.extend(_route(r, where) for r in _list(block, "routes", where))
        dns = DNS.from_dict(data.get("dns"), where + ".dns")
        return cls(version, [], ips, routes, dns)


def _list(data: "dict[str, object]", key: str, where: str) -> "list[dict[str, object]]":
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise DecodingFailure(f"{where}.{key} must be a list of objects")
    return value


def _str(data: "dict[str, object]", key: str, where: str, required: bool = False) -> str:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise DecodingFailure(f"{where}.{key} is required")
        return ""
    if not isinstance(value, str):
        raise DecodingFailure(f"{where}.{key} must be a string")
    return value


def _cidr(text: str, where: str) -> str:
    import ipaddress
    if "/" in text:
        try:
            return str(ipaddress.ip_interface(text))
        except ValueError:
            pass
    raise DecodingFailure(f"{where}: invalid CIDR address {text!r}")


def _ip(text: str, where: str) -> str:
    if not text:
        return ""
    import ipaddress
    try:
        return str(ipaddress.ip_address(text))
    except ValueError as exc:
        raise DecodingFailure(f"{where}: invalid IP address {text!r}") from exc


def _route(data: "dict[str, object]", where: str) -> Route:
    dst = _cidr(_str(data, "dst", where + ".routes[]", required=True), where)
    import ipaddress
    dst = str(ipaddress.ip_network(dst, strict=False))
    numbers: "dict[str, int | None]" = {}
    for key in _NEW_ROUTE_KEYS:
        value = data.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise DecodingFailure(f"{where}.routes[].{key} must be a non-negative integer")
        numbers[key] = value
    return Route(dst, _ip(_str(data, "gw", where), where), mtu=numbers["mtu"] or 0,
                 advmss=numbers["advmss"] or 0, priority=numbers["priority"] or 0,
                 table=numbers["table"], scope=numbers["scope"])
