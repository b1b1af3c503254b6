"""Sustained churn: parallel workers exec the real plugins with random ADD, CHECK,
DEL and GC on two networks, and the node's books are audited as it goes.

The node: one test-made host namespace with two bridge networks, each with its
own bridge and masquerade: `soak-v4` (IPv4 /27, a small pool so allocation
wraps around, iptables) and `soak-dual` (IPv4 + IPv6, nftables). Each worker
thread owns some containers (test-made namespaces) and, for each, plays the
runtime: ADD (eth0 on soak-v4, net1 on soak-dual), CHECK with the cached
result, DEL (with or without prevResult, also for nothing attached), GC with
the live attachment list, abandon (the container's namespace is deleted
without DEL, as after a runtime crash; its stale state is GC's to reclaim), or
kill (an ADD SIGKILLed at a random instant while others run, perhaps holding
the store lock, then the runtime's DEL).
As runtimes must, GC on a network never overlaps an ADD or DEL on it.

Audited after every GC (while it holds its network exclusively): every live
attachment of the network still holds its reservations. At every checkpoint
(workers paused, a runtime GC run first), and at the end after DEL of
everything: no address held by two live attachments; the store holds exactly
the live attachments' reservations; the host holds exactly their veths, each
a port of its network's bridge; masquerade rules exist for exactly their
addresses (iptables and nftables views); each container holds its addresses.

CI: 4 workers, 600 operations; PYCNI_LONG=1: 8 workers, 4000.
"""

import contextlib
import ipaddress
import json
import random
import threading

from support import Netns, read_state, sh, unique

from reliability import harness
from reliability.harness import Bench, leaks

WORKERS = harness.scaled(4, 8)
SLOTS_PER_WORKER = 3
OPS = harness.scaled(600, 4000)
CHECKPOINTS = harness.scaled(4, 10)
IFNAMES = {"soak-v4": "eth0", "soak-dual": "net1"}


class RWLock:
    """Many ADD/DEL (shared) or one GC (exclusive) per network."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.readers = 0
        self.writer = False

    @contextlib.contextmanager
    def shared(self):
        with self.cond:
            self.cond.wait_for(lambda: not self.writer)
            self.readers += 1
        try:
            yield
        finally:
            with self.cond:
                self.readers -= 1
                self.cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self):
        with self.cond:
            self.cond.wait_for(lambda: not self.writer and not self.readers)
            self.writer = True
        try:
            yield
        finally:
            with self.cond:
                self.writer = False
                self.cond.notify_all()


class Slot:
    """One container: its namespace, ID and attachments (network -> ADD result)."""

    def __init__(self, made: "list[Netns]") -> None:
        self.made = made
        self.renew()

    def renew(self) -> None:
        self.netns = Netns(unique())
        sh("ip", "netns", "add", self.netns.name)
        self.made.append(self.netns)
        self.container_id = unique("soak-")
        self.attached: dict[str, dict] = {}


class Soak:
    def __init__(self, host: Netns, data_dir, made: "list[Netns]", seed: str) -> None:
        self.host = host
        self.nets = {
            "soak-v4": Bench(host, data_dir, backend="iptables", name="soak-v4", subnet_index=1),
            "soak-dual": Bench(host, data_dir, backend="nftables", name="soak-dual",
                               dual_stack=True, subnet_index=2)}
        self.nets["soak-v4"].subnet4 = ipaddress.ip_network("10.21.0.0/27")
        self.locks = {name: RWLock() for name in self.nets}
        self.registry = threading.Lock()
        self.live: dict[tuple[str, str, str], tuple[Slot, dict]] = {}
        self.slots = [[Slot(made) for _ in range(SLOTS_PER_WORKER)] for _ in range(WORKERS)]
        self.errors: list[str] = []
        self.ops = 0
        self.kills = 0
        self.by_op: dict[str, int] = {}
        self.most_live = 0
        self.duplicates = 0
        self.violations = 0
        self.seed = seed

    # -- one operation, as the runtime of one container would do it --------------------------

    def step(self, rng: random.Random, slots: "list[Slot]") -> None:
        slot = rng.choice(slots)
        net = rng.choice(sorted(self.nets))
        roll = rng.random()
        if net in slot.attached:
            op = "CHECK" if roll < 0.3 else "DEL" if roll < 0.8 else "GC" if roll < 0.9 else "ABANDON"
        else:
            op = "ADD" if roll < 0.75 else "KILL" if roll < 0.85 else "DEL" if roll < 0.93 else "GC"
        getattr(self, "op_" + op.lower())(rng, slot, net)
        with self.registry:
            self.ops += 1
            self.by_op[op] = self.by_op.get(op, 0) + 1
            self.most_live = max(self.most_live, len(self.live))

    def op_add(self, rng, slot: Slot, net: str) -> None:
        node, ifname = self.nets[net], IFNAMES[net]
        with self.locks[net].shared():  # registered before a GC can look
            out = node.add(slot.netns, slot.container_id, ifname)
            if not out.ok:
                return self.fail(f"ADD {net} {slot.container_id}: {out}")
            slot.attached[net] = out.json
            with self.registry:
                self.live[(net, slot.container_id, ifname)] = (slot, out.json)

    def op_kill(self, rng, slot: Slot, net: str) -> None:
        """ADD SIGKILLed at a random instant (maybe holding the store lock while others
        wait on it), then the runtime's DEL for it."""
        node, ifname = self.nets[net], IFNAMES[net]
        with self.locks[net].shared():
            proc = node.spawn("ADD", slot.netns, slot.container_id, ifname)
            threading.Event().wait(rng.uniform(0, 0.2))
            proc.kill()
            rc = proc.wait()
            proc.stdout.close()
            proc.stderr.close()
            out = node.delete(slot.netns, slot.container_id, ifname)
        with self.registry:
            self.kills += rc in harness.KILLED
        if not out.ok:
            self.fail(f"DEL after a killed ADD {net} {slot.container_id}: {out}")

    def op_check(self, rng, slot: Slot, net: str) -> None:
        node, ifname = self.nets[net], IFNAMES[net]
        with self.locks[net].shared():
            out = node.check(slot.netns, slot.container_id, slot.attached[net], ifname)
        if not out.ok:
            self.fail(f"CHECK {net} {slot.container_id}: {out}")

    def op_del(self, rng, slot: Slot, net: str) -> None:
        node, ifname = self.nets[net], IFNAMES[net]
        prev = slot.attached.get(net)
        conf = node.conf(prevResult=prev) if prev and rng.random() < 0.5 else node.conf()
        with self.registry:
            self.live.pop((net, slot.container_id, ifname), None)
        with self.locks[net].shared():
            out = node.delete(slot.netns, slot.container_id, ifname, conf=conf)
        slot.attached.pop(net, None)
        if not out.ok:
            self.fail(f"DEL {net} {slot.container_id}: {out}")

    def op_gc(self, rng, slot: Slot, net: str) -> None:
        node = self.nets[net]
        with self.locks[net].exclusive():
            with self.registry:
                valid = [(cid, ifname) for (n, cid, ifname) in self.live if n == net]
            out = node.gc(valid)
            if not out.ok:
                return self.fail(f"GC {net}: {out}")
            self.audit_reservations(net, after_gc=True)

    def op_abandon(self, rng, slot: Slot, net: str) -> None:
        """The container dies without DEL: its state is stale until GC."""
        with self.registry:
            for name in slot.attached:
                self.live.pop((name, slot.container_id, IFNAMES[name]), None)
        slot.netns.delete()
        slot.renew()

    def fail(self, message: str) -> None:
        with self.registry:
            self.errors.append(message)

    # -- the audit ---------------------------------------------------------------------------

    def audit_reservations(self, net: str, after_gc: bool = False) -> None:
        """Every live attachment holds its addresses; at checkpoints, nothing else is held."""
        node = self.nets[net]
        held = harness.reservations(node.data_dir, net)
        with self.registry:
            expected = {}
            for (n, cid, ifname), (_, result) in self.live.items():
                if n == net:
                    for ip in node.check_result(result):
                        expected[ip] = f"{cid}/{ifname}"
        missing = {ip: owner for ip, owner in expected.items() if held.get(ip) != owner}
        if missing:
            self.violations += len(missing)
            self.fail(f"{net}: live reservations lost{' by GC' if after_gc else ''}: {missing}")
        stray = {ip: owner for ip, owner in held.items() if ip not in expected}
        if stray and not after_gc:
            self.violations += len(stray)
            self.fail(f"{net}: reservations without a live attachment: {stray}")

    def checkpoint(self) -> None:
        for net, node in self.nets.items():  # the runtime's periodic GC reclaims abandoned ones
            with self.registry:
                valid = [(cid, ifname) for (n, cid, ifname) in self.live if n == net]
            out = node.gc(valid)
            if not out.ok:
                self.fail(f"checkpoint GC {net}: {out}")
        self.audit_duplicates()
        for net in self.nets:
            self.audit_reservations(net)
        self.audit_host()
        self.audit_containers()

    def audit_duplicates(self) -> None:
        seen: dict[str, str] = {}
        for (net, cid, ifname), (_, result) in self.live.items():
            for ip in self.nets[net].check_result(result):
                if ip in seen:
                    self.duplicates += 1
                    self.fail(f"address {ip} held by {seen[ip]} and {net}/{cid}/{ifname}")
                seen[ip] = f"{net}/{cid}/{ifname}"

    def audit_host(self) -> None:
        want_veths = {result["interfaces"][1]["name"]: net
                      for (net, _, _), (_, result) in self.live.items()}
        # veths of abandoned namespaces go when the kernel finishes tearing them down
        harness.wait_gone(lambda: set(self.veths()) == set(want_veths), 15)
        veths = self.veths()
        if set(veths) != set(want_veths):
            self.violations += len(set(veths) ^ set(want_veths))
            self.fail(f"host veths {sorted(veths)} != live {sorted(want_veths)}")
        for name, master in veths.items():
            if name in want_veths and master != self.nets[want_veths[name]].bridge:
                self.fail(f"veth {name} is a port of {master!r}, not of {want_veths[name]}'s bridge")
        want_masq = {ip for (net, _, _), (_, r) in self.live.items()
                     for ip in self.nets[net].check_result(r)}
        masq = masq_sources(self.host)
        if masq != want_masq:
            self.violations += len(masq ^ want_masq)
            self.fail(f"masquerade sources: stray {sorted(masq - want_masq)}, "
                      f"missing {sorted(want_masq - masq)}")
        chains = {line.split()[1] for line in harness.nat_rules(self.host)
                  if line.startswith("iptables-save: :CNI-")}
        want_chains = {cid for (net, cid, _) in self.live if net == "soak-v4"}
        if len(chains) != len(want_chains):
            self.violations += abs(len(chains) - len(want_chains))
            self.fail(f"{len(chains)} CNI- chains for {len(want_chains)} live soak-v4 containers")

    def veths(self) -> "dict[str, str]":
        return {link["ifname"]: link.get("master", "") for link in harness.links_of(self.host)
                if link.get("linkinfo", {}).get("info_kind") == "veth"}

    def audit_containers(self) -> None:
        for (_net, cid, ifname), (slot, result) in list(self.live.items()):
            have = set(slot.netns.addrs(ifname))
            want = {ip["address"] for ip in result["ips"]}
            if not want <= have:
                self.fail(f"{cid}/{ifname} holds {sorted(have)}, its result says {sorted(want)}")


def masq_sources(host: Netns) -> "set[str]":
    """Addresses that have a masquerade rule: iptables POSTROUTING -s, nftables saddr."""
    sources = set()
    for tool in ("iptables-save", "ip6tables-save"):
        for line in read_state(host, tool, "-t", "nat").splitlines():
            words = line.split()
            if words[:2] == ["-A", "POSTROUTING"] and "-s" in words:
                sources.add(str(ipaddress.ip_interface(words[words.index("-s") + 1]).ip))
    ruleset = json.loads(read_state(host, "nft", "-j", "list", "ruleset") or "{}")
    for item in ruleset.get("nftables", []):
        rule = item.get("rule")
        if not rule or rule.get("table") != "cni_plugins_masquerade":
            continue
        for expr in rule.get("expr", []):
            match = expr.get("match", {})
            if match.get("left", {}).get("payload", {}).get("field") == "saddr":
                sources.add(str(match["right"]))
    return sources


def test_churn(host, tmp_path, record):
    """Random ADD/CHECK/DEL/GC/abandon/killed-ADD by parallel workers on an IPv4 and a
    dual-stack network (iptables and nftables masquerade), audited at checkpoints and at the end."""
    made: list[Netns] = []
    data = tmp_path / "soak"
    data.mkdir()
    soak = None
    try:
        soak = Soak(host, data, made, "soak")
        baseline = _warm_up(soak)
        per_round = OPS // CHECKPOINTS // WORKERS
        for round_ in range(CHECKPOINTS):
            threads = [threading.Thread(target=_work, args=(soak, w, round_, per_round))
                       for w in range(WORKERS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert not soak.errors, soak.errors[:5]
            soak.checkpoint()
            assert not soak.errors, soak.errors[:5]
        for slots in soak.slots:  # the runtime tears every pod down
            for slot in slots:
                for net in sorted(slot.attached):
                    soak.op_del(random.Random(0), slot, net)
        for slot in [s for slots in soak.slots for s in slots]:
            slot.netns.delete()
        soak.checkpoint()
        assert not soak.errors, soak.errors[:5]
        assert set(soak.by_op) == {"ADD", "CHECK", "DEL", "GC", "ABANDON", "KILL"}, soak.by_op
        assert soak.kills > 0, "no ADD was ever killed mid-way"
        assert soak.most_live >= WORKERS * SLOTS_PER_WORKER // 2, "the node was never busy"
        found = leaks(baseline, soak.nets["soak-v4"].state())
        soak.violations += len(found)
        assert found == [], found
    finally:
        if soak is not None:
            record.add(ops=soak.ops, kills=soak.kills, duplicates=soak.duplicates,
                       leaks=soak.violations)
        for ns in made:
            ns.delete()


def _warm_up(soak: Soak) -> dict:
    """One clean ADD+DEL per network (bridges and NAT skeletons exist), then the baseline."""
    for net, node in soak.nets.items():
        probe = Netns(unique())
        sh("ip", "netns", "add", probe.name)
        try:
            out = node.add(probe, "warm-up", IFNAMES[net])
            assert out.ok, out
            assert node.delete(probe, "warm-up", IFNAMES[net]).ok
        finally:
            probe.delete()
    return soak.nets["soak-v4"].state()


def _work(soak: Soak, worker: int, round_: int, count: int) -> None:
    rng = random.Random(f"{soak.seed}-{worker}-{round_}")
    try:
        for _ in range(count):
            soak.step(rng, soak.slots[worker])
    except Exception as exc:
        soak.fail(f"worker {worker}: {exc.__class__.__name__}: {exc}")
