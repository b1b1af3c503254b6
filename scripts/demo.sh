#!/usr/bin/env bash
# The README demo: our bridge + host-local (the first plugin of conf/10-pycni.conflist)
# attach two containers, which then ping each other; CHECK, DEL, and everything goes.
#
# It runs entirely in network namespaces it creates: one playing the host (the plugins
# run inside it, so the bridge, veths and sysctls land there) and two containers. The
# real root namespace and /var/lib/cni are never touched: IPAM state lives in a temp dir.
# Everything is removed on exit, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
BIN=$(realpath "$VENV/bin")
PY="$BIN/python"
suffix=$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')
host=pycni-demo-host-$suffix
c1=pycni-demo-c1-$suffix
c2=pycni-demo-c2-$suffix
work=$(mktemp -d /tmp/pycni-demo.XXXXXX)

cleanup() {
  for ns in "$c1" "$c2" "$host"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
for ns in "$host" "$c1" "$c2"; do ip netns add "$ns"; done
ip netns exec "$host" ip link set lo up

# The runtime's job: take the list's first plugin, inject the list's name and the
# newest cniVersion both sides speak (as libcni >= 1.2 does), keep IPAM state in $work.
"$PY" -I - conf/10-pycni.conflist "$work" > "$work/bridge.conf" <<'EOF'
import json, sys
conflist = json.load(open(sys.argv[1]))
plugin = dict(conflist["plugins"][0])
versions = conflist.get("cniVersions") or [conflist["cniVersion"]]
plugin["cniVersion"] = max(versions, key=lambda v: tuple(map(int, v.split("."))))
plugin["name"] = conflist["name"]
plugin["ipam"] = dict(plugin["ipam"], dataDir=sys.argv[2] + "/networks")
print(json.dumps(plugin, indent=2))
EOF

cni() {  # cni VERB CONTAINER-NETNS CONTAINER-ID CONFIG-FILE: exec the plugin as a runtime does
  ip netns exec "$host" env -i PATH="$PATH" CNI_COMMAND="$1" CNI_NETNS="/run/netns/$2" \
    CNI_CONTAINERID="$3" CNI_IFNAME=eth0 CNI_PATH="$BIN" "$BIN/bridge" < "$4"
}

with_prev() {  # with_prev RESULT-FILE OUT-FILE: the config plus prevResult, for CHECK and DEL
  "$PY" -I -c 'import json, sys; c = json.load(open(sys.argv[1])); c["prevResult"] = json.load(open(sys.argv[2])); print(json.dumps(c))' \
    "$work/bridge.conf" "$1" > "$2"
}

ip_of() { "$PY" -I -c 'import json, sys; print(json.load(open(sys.argv[1]))["ips"][0]["address"].split("/")[0])' "$1"; }

echo "== network config (first plugin of conf/10-pycni.conflist, as the runtime sends it)"
cat "$work/bridge.conf"
for n in 1 2; do
  ns=$c1; [ "$n" = 2 ] && ns=$c2
  echo; echo "== bridge ADD container $n (netns $ns)"
  cni ADD "$ns" "demo-$n-$suffix" "$work/bridge.conf" | tee "$work/result$n.json"; echo
  with_prev "$work/result$n.json" "$work/check$n.conf"
done
ip1=$(ip_of "$work/result1.json"); ip2=$(ip_of "$work/result2.json")

echo; echo "== state"
echo "-- host:";        ip netns exec "$host" ip -br addr
echo "-- container 1:"; ip netns exec "$c1" ip -br addr; ip netns exec "$c1" ip route
echo "-- container 2:"; ip netns exec "$c2" ip -br addr
echo "-- reservations:"; ls "$work/networks/pycni"

echo; echo "== ping container 1 ($ip1) -> container 2 ($ip2), and back"
ip netns exec "$c1" ping -c1 -W2 "$ip2" | grep -E "transmitted|rtt"
ip netns exec "$c2" ping -c1 -W2 "$ip1" | grep -E "transmitted|rtt"

echo; echo "== bridge CHECK (prevResult = each ADD result)"
cni CHECK "$c1" "demo-1-$suffix" "$work/check1.conf" && echo "container 1: ok"
cni CHECK "$c2" "demo-2-$suffix" "$work/check2.conf" && echo "container 2: ok"

echo; echo "== bridge DEL both"
cni DEL "$c1" "demo-1-$suffix" "$work/check1.conf" && echo "container 1: deleted"
cni DEL "$c2" "demo-2-$suffix" "$work/check2.conf" && echo "container 2: deleted"
echo "-- host after DEL (the bridge stays, shared by future containers):"
ip netns exec "$host" ip -br link
echo "-- reservations after DEL: $(ls "$work/networks/pycni" | grep -vcE '^(lock|last_reserved_ip)') left"
echo; echo "demo complete; removing the demo namespaces"
