"""Masquerade (ipMasq) for bridge attachments: iptables and nftables backends.

Where it sits: `cni.plugins.bridge` calls `setup()` at the end of an L3 ADD,
`teardown()` on DEL (and to undo a failed ADD) and `gc()` on GC. Everything
runs in the plugin's own network namespace (the host), by exec'ing the
firewall tools found on PATH; nothing here is imported unless ipMasq is on.

Formats owned here, byte for byte those of the reference plugins, so that a
node can switch implementations and either one cleans up the other's rules:

iptables (table nat, one chain per (network, container), ifname ignored as in
the reference):
    chain    CNI-<first 24 hex of sha512(name + containerID)>
    comment  name: "<name>" id: "<containerID>"
    :CNI-x                 -d <ip net/prefix> -j ACCEPT, then
                           ! -d 224.0.0.0/4 (v6: ff00::/8) -j MASQUERADE
    POSTROUTING            -s <ip>/32 (v6 /128) -j CNI-x
  each rule carrying the comment. The reference needs the container addresses
  to find its POSTROUTING jumps; we find them by their target chain, whose
  name depends only on (name, containerID), so DEL works when the netns and
  the interface are gone (the reference leaks the chain then).

nftables (table inet cni_plugins_masquerade):
    chain masq_checks      one rule per address:
        ip saddr == IP ip daddr != NET/LEN masquerade
        comment "<16 hex sha512(name)>-<16 hex sha512(ifname:containerID)>,
                 net: <name>, if: <ifname>, id: <containerID>"   (cut to 128)
    chain postrouting      nat hook postrouting priority 100, rebuilt on each ADD:
        ip daddr == 224.0.0.0/4 return; ip6 daddr == ff00::/8 return; goto masq_checks
  Rules are found again by the hash prefix of their comment.

Speed: the reference execs iptables once per rule and per check. Here each
family costs one `iptables-save -t nat` (to read) and one
`iptables-restore --noflush --wait` (one atomic batch); nftables one listing
and one `nft -f -` transaction; independent reads run concurrently.
"""

import os

from cni.errors import FirewallFailure
from cni.frozen import child_env

TABLE = "cni_plugins_masquerade"
CHAIN = "masq_checks"
COMMENT_MAX = 128
MULTICAST = {4: "224.0.0.0/4", 6: "ff00::/8"}
IPT = {4: ("iptables-save", "iptables-restore"), 6: ("ip6tables-save", "ip6tables-restore")}
SEARCH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


# -- names (pure) --------------------------------------------------------------

def _sha512(text: str) -> str:
    # The builtin module, not hashlib: hashlib loads OpenSSL (~3 ms per exec).
    try:
        from _sha512 import sha512  # Python 3.11
    except ImportError:  # pragma: no cover - 3.12+ renamed it
        from hashlib import sha512
    return sha512(text.encode()).hexdigest()


def chain_name(network: str, container_id: str) -> str:
    return "CNI-" + _sha512(network + container_id)[:24]


def ipt_comment(network: str, container_id: str) -> str:
    """The comment as Go's %q prints it (names and IDs are validated: no escapes needed)."""
    return f'name: "{network}" id: "{container_id}"'


def _quoted(comment: str) -> str:
    """A comment as iptables-save prints it (and iptables-restore reads it)."""
    return '"' + comment.replace("\\", "\\\\").replace('"', '\\"') + '"'


def network_hash(network: str) -> str:
    return _sha512(network)[:16]


def instance_hash(network: str, ifname: str, container_id: str) -> str:
    return network_hash(network) + "-" + _sha512(f"{ifname}:{container_id}")[:16]


def nft_comment(network: str, ifname: str, container_id: str) -> str:
    text = (f"{instance_hash(network, ifname, container_id)}, net: {network.replace(chr(34), '')}, "
            f"if: {ifname.replace(chr(34), '')}, id: {container_id.replace(chr(34), '')}")
    return text[:COMMENT_MAX]


def _split(cidr: str) -> "tuple[int, str, str]":
    """'10.1.2.3/24' -> (4, '10.1.2.3', '10.1.2.0/24')."""
    import ipaddress
    iface = ipaddress.ip_interface(cidr)
    return iface.version, str(iface.ip), str(iface.network)


# -- running the tools -----------------------------------------------------------

def find_tool(name: str) -> "str | None":
    """The tool's absolute path on PATH (as the reference's exec.LookPath; the usual
    directories only when PATH is unset or empty), or None. Relative PATH entries are
    ignored: they would resolve against whatever directory the runtime left us in."""
    dirs = [d for d in os.environ.get("PATH", "").split(":") if d.startswith("/")] or SEARCH
    for directory in dirs:
        path = os.path.join(directory, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


TIMEOUT = 60.0  # seconds for a batch of firewall commands: no wait is unbounded


def run(jobs: "list[tuple[list[str], bytes | None]]") -> "list[tuple[int, str, str]]":
    """Run commands concurrently: [(argv, stdin)] -> [(status, stdout, stderr)].

    posix_spawn and a select loop instead of `subprocess`, whose import alone costs
    ~10 ms per exec; the children get only their pipes (our fds are all CLOEXEC)."""
    import select
    import time
    procs, out = [], [[b"", b""] for _ in jobs]
    readers: "dict[int, tuple[int, int]]" = {}
    writers: "dict[int, memoryview]" = {}
    try:
        for i, (argv, stdin) in enumerate(jobs):
            procs.append(_spawn(i, argv, stdin, readers, writers))
        deadline = time.monotonic() + TIMEOUT
        while readers or writers:
            left = deadline - time.monotonic()
            ready_r, ready_w, _ = select.select(list(readers), list(writers), [], max(left, 0))
            if not ready_r and not ready_w:
                raise FirewallFailure(f"{jobs[0][0][0]} did not finish within {TIMEOUT:g} s")
            for fd in ready_w:
                _feed(fd, writers)
            for fd in ready_r:
                data = os.read(fd, 1 << 16)
                if data:
                    out[readers[fd][0]][readers[fd][1]] += data
                else:
                    del readers[fd]
                    os.close(fd)
    finally:
        stopped_early = bool(readers or writers)
        for fd in list(readers) + list(writers):
            os.close(fd)
        for pid in procs if stopped_early else []:
            _kill(pid)  # do not leave children behind
        statuses = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in procs]
    return [(status, o.decode(errors="replace"), e.decode(errors="replace").strip())
            for status, (o, e) in zip(statuses, out)]


def _spawn(i: int, argv: "list[str]", stdin: "bytes | None", readers: dict,
           writers: dict) -> int:
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    actions: list = [(os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2)]
    in_r = in_w = -1
    if stdin is not None:
        in_r, in_w = os.pipe()
        actions.append((os.POSIX_SPAWN_DUP2, in_r, 0))
    else:
        actions.append((os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0))
    try:
        pid = os.posix_spawn(argv[0], argv, child_env(dict(os.environ), argv[0]),
                             file_actions=actions)
    except OSError as exc:
        for fd in (out_r, out_w, err_r, err_w, in_r, in_w):
            if fd >= 0:
                os.close(fd)
        raise FirewallFailure(f"failed to run {argv[0]}: {exc.strerror}") from exc
    for fd in (out_w, err_w, in_r):
        if fd >= 0:
            os.close(fd)
    readers[out_r], readers[err_r] = (i, 0), (i, 1)
    if stdin is not None:
        os.set_blocking(in_w, False)
        writers[in_w] = memoryview(stdin)
    return pid


def _feed(fd: int, writers: "dict[int, memoryview]") -> None:
    """Write what the child's stdin pipe takes now; close it when all is written."""
    try:
        written = os.write(fd, writers[fd][:1 << 16])
    except BlockingIOError:
        return
    except BrokenPipeError:  # the child exited early: its status will say why
        written = len(writers[fd])
    writers[fd] = writers[fd][written:]
    if not writers[fd]:
        del writers[fd]
        os.close(fd)


def _kill(pid: int) -> None:
    import signal
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_one(argv: "list[str]", stdin: "bytes | None" = None, what: str = "") -> str:
    """Run one command; its stdout, or FirewallFailure carrying its stderr."""
    status, stdout, stderr = run([(argv, stdin)])[0]
    if status != 0:
        raise FirewallFailure(f"{what or argv[0]} failed (exit status {status})", stderr)
    return stdout


# -- backend choice ----------------------------------------------------------------

def iptables_usable(family: int = 4) -> bool:
    return all(find_tool(t) for t in IPT[family])


def nftables_usable() -> bool:
    return find_tool("nft") is not None


def choose_backend(configured: "str | None") -> str:
    """The configured backend, else iptables when usable, else nftables (as the reference)."""
    if configured:
        return configured
    if not iptables_usable() and nftables_usable():
        return "nftables"
    return "iptables"


# -- public operations ---------------------------------------------------------------

def setup(backend: str, addresses: "list[str]", network: str, ifname: str,
          container_id: str) -> None:
    """Masquerade traffic from each `ip/prefix` to anything outside its subnet."""
    if backend == "nftables":
        _nft_setup(addresses, network, ifname, container_id)
    else:
        _ipt_setup(addresses, network, container_id)


def teardown(network: str, ifname: str, container_id: str) -> None:
    """Remove this attachment's rules from both backends (as the reference does: the
    attachment may date from another configuration). A backend's failure only counts
    when its tools are there."""
    errors = []
    reads = _reads(nft=nftables_usable())
    for family in (4, 6):
        if family in reads:
            try:
                _ipt_teardown(family, reads[family], chain_name(network, container_id))
            except FirewallFailure as exc:
                errors.append(str(exc))
    if "nft" in reads:
        prefix = instance_hash(network, ifname, container_id)
        try:
            _nft_delete([h for h, c in _nft_parse(reads["nft"]) if c.startswith(prefix)])
        except FirewallFailure as exc:
            errors.append(str(exc))
    if errors:
        raise FirewallFailure("failed to remove masquerade rules", "; ".join(errors))


def gc(network: str, valid: "list[tuple[str, str]]") -> None:
    """Remove the rules of this network whose (containerID, ifname) is not valid.

    iptables chains carry no ifname: a chain stays while its container ID has any
    valid attachment. nftables rules are matched by their full comment."""
    errors = []
    reads = _reads(nft=nftables_usable())
    valid_ids = {cid for cid, _ in valid}
    for family in (4, 6):
        if family not in reads:
            continue
        stale = sorted(_ipt_owners(reads[family], network) - valid_ids)
        try:
            _ipt_teardown(family, reads[family], *(chain_name(network, cid) for cid in stale))
        except FirewallFailure as exc:
            errors.append(str(exc))
    if "nft" in reads:
        keep = {nft_comment(network, ifname, cid) for cid, ifname in valid}
        prefix = network_hash(network) + "-"
        try:
            _nft_delete([h for h, c in _nft_parse(reads["nft"])
                         if c.startswith(prefix) and c not in keep])
        except FirewallFailure as exc:
            errors.append(str(exc))
    if errors:
        raise FirewallFailure("failed to garbage-collect masquerade rules", "; ".join(errors))


def _reads(nft: bool) -> dict:
    """Concurrently: iptables-save -t nat per family (where usable), the nft chain listing.
    Returns {4: text, 6: text, "nft": json text}; a missing table reads as empty."""
    jobs, keys = [], []
    for family in (4, 6):
        save = find_tool(IPT[family][0])
        if save and find_tool(IPT[family][1]):
            jobs.append(([save, "-t", "nat"], None))
            keys.append(family)
    if nft:
        jobs.append(([find_tool("nft") or "nft", "-j", "list", "chain", "inet", TABLE, CHAIN], None))
        keys.append("nft")
    out = {}
    for key, (status, stdout, stderr) in zip(keys, run(jobs)):
        if status != 0 and not (key == "nft" and "No such file or directory" in stderr):
            raise FirewallFailure(f"failed to read {'nftables' if key == 'nft' else 'iptables'} "
                                  f"state (exit status {status})", stderr)
        out[key] = stdout if status == 0 else ""
    return out


# -- iptables ------------------------------------------------------------------------

def _ipt_setup(addresses: "list[str]", network: str, container_id: str) -> None:
    chain = chain_name(network, container_id)
    comment = _quoted(ipt_comment(network, container_id))
    by_family: "dict[int, list[tuple[str, str]]]" = {4: [], 6: []}
    for cidr in addresses:
        family, ip, net = _split(cidr)
        by_family[family].append((ip, net))
    for family, pairs in by_family.items():
        if not pairs:
            continue
        saved = run_one([_tool(IPT[family][0]), "-t", "nat"], what=IPT[family][0]).splitlines()
        # Declaring the chain creates it, or (with --noflush) empties it: its content is
        # rewritten whole, which makes a repeated ADD converge like AppendUnique does.
        lines = ["*nat", f":{chain} - [0:0]"]
        lines += [f"-A {chain} -d {net} -m comment --comment {comment} -j ACCEPT" for _, net in pairs]
        lines.append(f"-A {chain} ! -d {MULTICAST[family]} -m comment --comment {comment} "
                     f"-j MASQUERADE")
        host = 32 if family == 4 else 128
        for ip, _ in pairs:
            jump = f"-A POSTROUTING -s {ip}/{host} -m comment --comment {comment} -j {chain}"
            if jump not in saved:
                lines.append(jump)
        _ipt_restore(family, lines)


def _ipt_teardown(family: int, saved: str, *chains: str) -> None:
    """Delete every rule jumping to each chain, then flush and delete it (one batch)."""
    lines = ["*nat"]
    for chain in chains:
        lines += ["-D" + line[2:] for line in saved.splitlines()
                  if line.startswith("-A ") and line.endswith(f" -j {chain}")]
    for chain in chains:
        if f"\n:{chain} " in "\n" + saved:
            lines += [f"-F {chain}", f"-X {chain}"]
    if len(lines) > 1:
        _ipt_restore(family, lines)


def _ipt_owners(saved: str, network: str) -> "set[str]":
    """Container IDs of this network's chains, read back from the rule comments."""
    marker = f'--comment "name: \\"{network}\\" id: \\"'
    owners = set()
    for line in saved.splitlines():
        start = line.find(marker)
        if not line.startswith("-A ") or start < 0:
            continue
        rest = line[start + len(marker):]
        cid = rest[:rest.find('\\"')] if '\\"' in rest else ""
        # Trust a comment only if the chain it sits in (or jumps to) is the one its
        # (network, id) hashes to: a foreign rule cannot make us delete other chains.
        chain = chain_name(network, cid)
        if line.startswith(f"-A {chain} ") or line.endswith(f" -j {chain}"):
            owners.add(cid)
    return owners


def _ipt_restore(family: int, lines: "list[str]") -> None:
    script = ("\n".join(lines + ["COMMIT"]) + "\n").encode()
    run_one([_tool(IPT[family][1]), "--noflush", "--wait"], script, what=IPT[family][1])


def _tool(name: str) -> str:
    path = find_tool(name)
    if path is None:
        raise FirewallFailure(f"{name} not found", "install iptables, or set ipMasqBackend "
                              "to nftables")
    return path


# -- nftables --------------------------------------------------------------------------

def _nft_setup(addresses: "list[str]", network: str, ifname: str, container_id: str) -> None:
    nft = find_tool("nft")
    if nft is None:
        raise FirewallFailure("nft not found", "install nftables, or set ipMasqBackend to iptables")
    status, listing, stderr = run([([nft, "-j", "list", "chain", "inet", TABLE, CHAIN], None)])[0]
    if status != 0 and "No such file or directory" not in stderr:
        raise FirewallFailure(f"failed to read nftables state (exit status {status})", stderr)
    prefix = instance_hash(network, ifname, container_id)
    stale = [h for h, c in _nft_parse(listing if status == 0 else "") if c.startswith(prefix)]
    comment = nft_comment(network, ifname, container_id)
    t = f"inet {TABLE}"
    lines = [
        f'add table {t} {{ comment "Masquerading for plugins from '
        f'github.com/containernetworking/plugins" ; }}',
        f'add chain {t} {CHAIN} {{ comment "Masquerade traffic from certain IPs to any '
        f'(non-multicast) IP outside their subnet" ; }}',
        f"add chain {t} postrouting {{ type nat hook postrouting priority 100 ; }}",
        f"flush chain {t} postrouting",
        f"add rule {t} postrouting ip daddr == 224.0.0.0/4  return",
        f"add rule {t} postrouting ip6 daddr == ff00::/8  return",
        f"add rule {t} postrouting goto {CHAIN}",
    ]
    lines += [f"delete rule {t} {CHAIN} handle {h}" for h in stale]
    for cidr in addresses:
        family, ip, net = _split(cidr)
        proto = "ip" if family == 4 else "ip6"
        lines.append(f'add rule {t} {CHAIN} {proto} saddr == {ip} {proto} daddr != {net} '
                     f'masquerade comment "{comment}"')
    run_one([nft, "-f", "-"], ("\n".join(lines) + "\n").encode(), what="nft")


def _nft_parse(listing: str) -> "list[tuple[int, str]]":
    """(handle, comment) of each rule in an `nft -j list chain` output."""
    if not listing.strip():
        return []
    import json
    try:
        items = json.loads(listing).get("nftables", [])
    except (ValueError, AttributeError) as exc:
        raise FirewallFailure("failed to parse nft -j output", str(exc)) from exc
    return [(i["rule"]["handle"], i["rule"].get("comment") or "") for i in items
            if isinstance(i, dict) and "rule" in i]


def _nft_delete(handles: "list[int]") -> None:
    if not handles:
        return
    t = f"inet {TABLE}"
    script = "".join(f"delete rule {t} {CHAIN} handle {h}\n" for h in handles)
    run_one([find_tool("nft") or "nft", "-f", "-"], script.encode(), what="nft")
