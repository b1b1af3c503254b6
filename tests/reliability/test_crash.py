"""Crash consistency: kill the plugin at every named fault point and at random
instants, play the runtime's recovery, and prove nothing is left behind.

The fault points are read from the sources (`faults.point("...")` in cni/ and
ipam/), so a point added later is covered without editing this file; a traced
ADD/CHECK/DEL/GC tells which verb passes which point. Every kill is a real
SIGKILL (the process must die of it). The runtime then sends DEL without
prevResult, in one of three situations:

  netns-kept     the container's namespace still exists; DEL names it;
  netns-deleted  the namespace was deleted first; DEL names the stale path;
  netns-empty    DEL carries CNI_NETNS="" while the namespace still exists
                 (host state must go at once); the runtime deletes it after.

Right after each kill the store must list (through the operator CLI) with no
empty or half-written claim. Proof of recovery: no host veth, reservation,
temp file or NAT rule (iptables and nftables views) beyond the node's baseline
(taken after a clean ADD+DEL), the store lists cleanly with nothing left for
the container, and a new ADD for the same container gets a valid address (and
its DEL brings the node back to baseline).
Masquerade is on throughout, with both backends, so NAT leaks are visible.
"""

import json
import random
import signal
import time

import pytest
from support import Netns, sh, unique

from reliability import harness
from reliability.harness import KILLED, Bench, leaks, scaled

POINTS = harness.fault_points()
MODES = ("netns-kept", "netns-deleted", "netns-empty")
BACKENDS = ("iptables", "nftables")
# The points the bridge and host-local promise (task brief); more are welcome.
PROMISED = {"add.ipam-reserved", "add.veth-created", "add.bridge-attached",
            "add.addresses-configured", "add.masq-added", "del.link-deleted",
            "del.ipam-released", "del.masq-removed"}


def _matrix() -> list:
    """Every point x recovery mode x masquerade backend."""
    return [pytest.param(p, m, b, id=f"{p}-{m}-{b}") for b in BACKENDS for p in POINTS for m in MODES]


# -- which verb passes which point --------------------------------------------------


@pytest.fixture(scope="module")
def reach(tmp_path_factory) -> "dict[str, list[str]]":
    """point -> the verbs (ADD, CHECK, DEL, GC) whose clean run passes it."""
    tmp = tmp_path_factory.mktemp("trace")
    (tmp / "data").mkdir()
    host, container = Netns(unique()), Netns(unique())
    try:
        for ns in (host, container):
            sh("ip", "netns", "add", ns.name)
        node = Bench(host, tmp / "data")
        verbs: dict[str, list[str]] = {}

        def traced(verb: str, run) -> None:
            trace = tmp / f"{verb}.trace"
            out = run({"PYCNI_TEST_FAULT_TRACE": str(trace)})
            assert out.ok, (verb, out)
            for point in harness.read_trace(trace):
                verbs.setdefault(point, [])
                if verb not in verbs[point]:
                    verbs[point].append(verb)
            return out

        add = traced("ADD", lambda env: node.add(container, "trace-1", env=env))
        traced("CHECK", lambda env: node.check(container, "trace-1", add.json, env=env))
        other = Netns(unique())
        sh("ip", "netns", "add", other.name)
        try:
            assert node.add(other, "trace-2").ok
            traced("GC", lambda env: node.gc([("trace-1", "eth0")], env=env))
        finally:
            other.delete()
        traced("DEL", lambda env: node.delete(container, "trace-1", env=env))
        return verbs
    finally:
        host.delete()
        container.delete()


def test_every_fault_point_is_enumerated_and_reached(reach, record):
    """Nothing: checks that the suite's list of points (grep of the sources) is the
    list the plugins pass (trace), so no point escapes injection."""
    record.add(cases=len(POINTS))
    assert harness.dynamic_point_calls() == [], "fault point names must be literals"
    assert set(POINTS) >= PROMISED, f"missing fault points: {sorted(PROMISED - set(POINTS))}"
    assert set(reach) == set(POINTS), (
        f"traced but not in the sources: {sorted(set(reach) - set(POINTS))}; "
        f"in the sources but never passed: {sorted(set(POINTS) - set(reach))}")


# -- one node per case ----------------------------------------------------------------


class Case:
    """A node with its baseline (after a clean ADD+DEL) and the proofs of recovery."""

    def __init__(self, host, data_dir, make_netns, backend: str, record,
                 dual_stack: bool = False) -> None:
        self.node = Bench(host, data_dir, backend=backend, dual_stack=dual_stack)
        self.make_netns = make_netns
        self.record = record
        probe = make_netns()
        started = time.monotonic()
        added = self.node.add(probe, "baseline")
        self.add_seconds = time.monotonic() - started
        assert added.ok, added
        assert self.node.delete(probe, "baseline").ok
        self.baseline = self.node.state()
        assert harness.reservations(data_dir, self.node.name) == {}

    def attach(self, container_id: str) -> "tuple[Netns, dict]":
        container = self.make_netns()
        out = self.node.add(container, container_id)
        assert out.ok, out
        return container, out.json

    def recover(self, container: Netns, container_id: str, mode: str) -> None:
        """The runtime's DEL (no prevResult) for an attachment whose last verb died."""
        if mode == "netns-kept":
            out = self.node.delete(container, container_id)
        elif mode == "netns-deleted":
            container.delete()
            out = self.node.delete(container, container_id)
        else:
            out = self.node.delete("", container_id)
        assert out.ok, (mode, out)
        if mode == "netns-empty":  # host state must be gone before the runtime drops the netns
            self.assert_clean(allow_veths=True)
            container.delete()
        # A deleted namespace takes its veth (and the host peer) with it asynchronously.
        harness.wait_gone(lambda: not self.found(), 10)
        self.assert_clean()

    def found(self, allow_veths: bool = False) -> "list[str]":
        found = leaks(self.baseline, self.node.state())
        return [f for f in found if not (allow_veths and f.startswith("host link veth"))]

    def assert_clean(self, allow_veths: bool = False) -> None:
        found = self.found(allow_veths)
        self.record.add(leaks=len(found))
        assert found == [], f"left behind: {found}"

    def assert_no_torn_entries(self) -> None:
        """Right after a crash: the store lists, and holds no empty or half-written claim."""
        listing = harness.operator_listing(self.node.data_dir, self.node.name)
        assert [e for e in listing if e.get("problem")] == [], listing

    def assert_store_sound(self, container_id: str) -> None:
        """After recovery: the store lists cleanly and holds nothing for the container."""
        listing = harness.operator_listing(self.node.data_dir, self.node.name)
        assert [e for e in listing if e.get("problem")] == [], listing
        assert [e for e in listing if e.get("containerID") == container_id] == [], listing

    def assert_fresh_add_works(self, container_id: str) -> None:
        container, result = self.attach(container_id)
        self.node.check_result(result)
        assert self.node.delete(container, container_id).ok
        self.assert_clean()


@pytest.fixture
def case_factory(make_netns, tmp_path, record):
    """Case(backend, dual_stack=False): each on its own node (host namespace and dataDir)."""
    def make(backend: str, dual_stack: bool = False) -> Case:
        data_dir = tmp_path / unique("data-")
        data_dir.mkdir()
        return Case(make_netns(), data_dir, make_netns, backend, record, dual_stack)
    return make


def _kill_at(case: Case, point: str, verb: str, container_id: str) -> Netns:
    """Run `verb` for a new attachment with the point armed; it must die of SIGKILL."""
    env = {"PYCNI_TEST_FAULT": point}
    if verb == "ADD":
        container = case.make_netns()
        out = case.node.add(container, container_id, env=env)
    elif verb == "CHECK":
        container, result = case.attach(container_id)
        out = case.node.check(container, container_id, result, env=env)
    else:
        container, _ = case.attach(container_id)
        out = case.node.delete(container, container_id, env=env)
    assert out.rc in KILLED, f"{verb} with {point} armed was not killed: {out}"
    case.record.add(kills=1)
    return container


@pytest.mark.parametrize("point, mode, backend", _matrix())
def test_kill_at_fault_point_then_runtime_del(point, mode, backend, reach, case_factory, record):
    """SIGKILL at the named point of every verb (ADD, CHECK, DEL) that passes it, then DEL
    without prevResult (netns kept / deleted / empty); GC passes are covered below."""
    case = case_factory(backend)
    verbs = [v for v in reach.get(point, []) if v != "GC"]
    if not verbs:
        assert "GC" in reach.get(point, []), f"{point} is passed by no verb"
        return  # only GC passes it: test_kill_during_gc injects it
    for verb in verbs:
        container_id = unique("crash-")
        container = _kill_at(case, point, verb, container_id)
        case.assert_no_torn_entries()
        case.recover(container, container_id, mode)
        case.assert_store_sound(container_id)
        case.assert_fresh_add_works(container_id)


@pytest.mark.parametrize("backend", BACKENDS)
def test_kill_during_gc(backend, reach, case_factory, record):
    """SIGKILL at every point GC passes while it releases a stale attachment; the
    runtime's next GC finishes the job and never touches the live attachment."""
    points = [p for p in POINTS if "GC" in reach.get(p, [])]
    case = case_factory(backend)
    for point in points:
        live, live_result = case.attach("gc-live")
        stale_id = unique("gc-stale-")
        stale, _ = case.attach(stale_id)
        stale.delete()  # the pod is gone; its reservation and NAT rules are not
        out = case.node.gc([("gc-live", "eth0")], env={"PYCNI_TEST_FAULT": point})
        assert out.rc in KILLED, f"GC with {point} armed was not killed: {out}"
        record.add(kills=1)
        again = case.node.gc([("gc-live", "eth0")])
        assert again.ok, again
        live_ips = case.node.check_result(live_result)
        held = harness.reservations(case.node.data_dir, case.node.name)
        assert sorted(held) == sorted(live_ips), held
        assert case.node.check(live, "gc-live", live_result).ok
        assert case.node.delete(live, "gc-live").ok
        harness.wait_gone(lambda: not case.found(), 10)
        case.assert_clean()
        case.assert_store_sound(stale_id)
    record.add(cases=len(points))


@pytest.mark.parametrize("point", POINTS)
def test_failed_step_undoes_everything(point, reach, case_factory, record):
    """A step failing (PYCNI_TEST_FAULT_ACTION=fail) at the point: a failed ADD leaves the
    node exactly at baseline with no DEL at all; a failed DEL or GC is finished by a retry."""
    case = case_factory("iptables" if POINTS.index(point) % 2 else "nftables")
    env = {"PYCNI_TEST_FAULT": point, "PYCNI_TEST_FAULT_ACTION": "fail"}
    for verb in reach.get(point, []):
        container_id = unique("fail-")
        if verb == "ADD":
            container = case.make_netns()
            out = case.node.add(container, container_id, env=env)
            _assert_error(out, point)
            case.assert_clean()
            assert harness.link_names(container) == ["lo"]
        elif verb == "DEL":
            container, _ = case.attach(container_id)
            _assert_error(case.node.delete(container, container_id, env=env), point)
            assert case.node.delete(container, container_id).ok
            case.assert_clean()
        elif verb == "GC":
            stale, _ = case.attach(container_id)
            stale.delete()
            _assert_error(case.node.gc([], env=env), point)
            assert case.node.gc([]).ok
            harness.wait_gone(lambda: not case.found(), 10)
            case.assert_clean()
        else:  # CHECK changes nothing: a failure there is only an error
            container, result = case.attach(container_id)
            _assert_error(case.node.check(container, container_id, result, env=env), point)
            assert case.node.delete(container, container_id).ok
            case.assert_clean()
        record.add(faults=1)
        case.assert_store_sound(container_id)


def _assert_error(out, point: str) -> None:
    assert out.rc == 1, out
    assert isinstance(out.json, dict) and out.json.get("code") and point in out.json["msg"], out


def test_second_family_of_a_dual_stack_add(case_factory, make_netns, tmp_path, record):
    """Dual-stack ADD, the IPv6 reservation's store writes hit (the 2nd pass of each store
    point): a failure there rolls the IPv4 reservation back (node at baseline, no DEL); a
    SIGKILL there is recovered by the runtime's DEL (recovery modes rotating)."""
    case = case_factory("nftables", dual_stack=True)
    trace = tmp_path / "dual.trace"
    probe = make_netns()
    assert case.node.add(probe, "dual-trace", env={"PYCNI_TEST_FAULT_TRACE": str(trace)}).ok
    assert case.node.delete(probe, "dual-trace").ok
    passes = harness.read_trace(trace)
    twice = sorted({p for p in passes if passes.count(p) >= 2})
    assert twice, f"no point passed twice by a dual-stack ADD: {passes}"
    for k, point in enumerate(twice):
        container_id = unique("dual-")
        container = make_netns()
        out = case.node.add(container, container_id, env={
            "PYCNI_TEST_FAULT": f"{point}@2", "PYCNI_TEST_FAULT_ACTION": "fail"})
        _assert_error(out, point)
        record.add(faults=1)
        case.assert_clean()
        out = case.node.add(container, container_id, env={"PYCNI_TEST_FAULT": f"{point}@2"})
        assert out.rc in KILLED, out
        record.add(kills=1)
        case.assert_no_torn_entries()
        case.recover(container, container_id, MODES[k % len(MODES)])
        case.assert_store_sound(container_id)
        case.assert_fresh_add_works(container_id)
    record.add(cases=len(twice))


@pytest.mark.parametrize("verb, trials", [("ADD", scaled(100, 1000)), ("DEL", scaled(30, 300))])
def test_kill_at_random_instants(verb, trials, case_factory, make_netns, record):
    """SIGKILL after a random delay (0 to 1.3x a clean ADD's duration), backends alternating,
    then the runtime's DEL in a random recovery mode, with every proof after each trial."""
    rng = random.Random(f"{verb}-{trials}")
    cases = {b: case_factory(b) for b in BACKENDS}
    killed = 0
    for trial in range(trials):
        case = cases[BACKENDS[trial % 2]]
        container_id = unique("rand-")
        if verb == "ADD":
            container = make_netns()
        else:
            container, _ = case.attach(container_id)
        delay = rng.uniform(0, 1.3 * case.add_seconds)
        proc = case.node.spawn(verb, container, container_id)
        record.add(execs=1)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        rc = proc.wait(timeout=60)
        out = proc.stdout.read().decode(errors="replace")
        proc.stdout.close()
        proc.stderr.close()
        if rc in KILLED:
            killed += 1
        else:  # it finished first: its answer must be a complete one
            assert rc in (0, 1) and (rc == 1) == bool(json.loads(out or "{}").get("code")), out
        case.assert_no_torn_entries()
        case.recover(container, container_id, rng.choice(MODES))
        case.assert_store_sound(container_id)
        if trial % 4 == 0:  # the fresh ADD costs two execs: often enough to show it works
            case.assert_fresh_add_works(container_id)
    record.add(kills=killed, cases=trials)
    assert killed >= trials // 3, f"only {killed} of {trials} trials were killed mid-{verb}"
