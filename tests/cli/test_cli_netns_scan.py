"""cni.tool.netns_scan in real namespaces: what `pycni gc` and `pycni ipam leaks` rely on.

The probe runs inside a test-made host namespace (`ip netns exec`), as the CLI
would on a node, and reports what it saw as JSON.
"""

import json
import subprocess
import sys

from support import ROOT

PROBE = """
import json
from cni.tool import netns_scan
s = netns_scan.scan(bridge={bridge!r})
print(json.dumps({{"held": {{ip: [[h.netns, h.ifname] for h in hs] for ip, hs in s.held.items()}},
                  "hidden": s.hidden_peers, "unreadable": s.unreadable,
                  "alive": [netns_scan.alive(p) for p in {paths!r}]}}))
"""

# Enters a new network namespace, keeps only an fd on it and goes back home: a
# namespace no mount and no process points at, like one a runtime holds by fd.
HIDER = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
home = os.open("/proc/self/ns/net", os.O_RDONLY)
assert libc.unshare(0x40000000) == 0
print(os.getpid(), flush=True)
sys.stdin.readline()
hidden = os.open("/proc/self/ns/net", os.O_RDONLY)
assert libc.setns(home, 0x40000000) == 0
print("hidden", flush=True)
sys.stdin.readline()
"""


def probe(host, bridge: str = "", paths: "list[str] | None" = None) -> dict:
    code = PROBE.format(bridge=bridge, paths=paths or [])
    out = host.sh(sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r})\n" + code)
    return json.loads(out.stdout)


def test_addresses_are_found_in_every_live_namespace(host, container):
    host.sh("ip", "link", "add", "vh1", "type", "veth", "peer", "name", "vc1", "netns", container.name)
    container.sh("ip", "addr", "add", "10.66.0.7/24", "dev", "vc1")
    seen = probe(host, paths=[container.path, "/run/netns/pycni-t-none", "/etc/hostname"])
    assert [container.path, "vc1"] in seen["held"]["10.66.0.7"]
    assert seen["hidden"] == [] and seen["unreadable"] == []
    assert seen["alive"] == [True, False, False]


def test_a_host_veth_whose_peer_no_one_can_see_is_reported(host):
    hider = subprocess.Popen(["ip", "netns", "exec", host.name, sys.executable, "-I", "-c", HIDER],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        pid = hider.stdout.readline().strip()
        host.sh("ip", "link", "add", "vh2", "type", "veth", "peer", "name", "vc2")
        host.sh("ip", "link", "set", "vc2", "netns", pid)
        hider.stdin.write("\n")
        hider.stdin.flush()
        assert hider.stdout.readline() == "hidden\n"
        assert probe(host)["hidden"] == ["vh2"]
        host.sh("ip", "link", "add", "br-probe", "type", "bridge")
        assert probe(host, bridge="br-probe")["hidden"] == []  # not a port of that bridge
        host.sh("ip", "link", "set", "vh2", "master", "br-probe")
        assert probe(host, bridge="br-probe")["hidden"] == ["vh2"]
    finally:
        hider.stdin.close()
        hider.wait(timeout=30)
