#!/usr/bin/env bash
# The README demo: run the plugins on the sample config in throwaway namespaces,
# show the results, then tear everything down (also on failure).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
BIN=$(realpath "$VENV/bin")
suffix=$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')
ctr=pycni-demo-$suffix

cleanup() { ip netns del "$ctr" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$ctr"

cni() {  # cni VERB CONFIG
  CNI_COMMAND=$1 CNI_CONTAINERID=demo-$suffix CNI_NETNS=/run/netns/$ctr CNI_IFNAME=lo \
    CNI_PATH=$BIN "$BIN/loopback" < "$2"
}

echo "== loopback ADD (conf/99-loopback.conf) in netns $ctr"
cni ADD conf/99-loopback.conf; echo
ip netns exec "$ctr" ip -br addr show lo
echo "== loopback CHECK"; cni CHECK conf/99-loopback.conf && echo ok
echo "== loopback DEL";   cni DEL conf/99-loopback.conf && echo ok
