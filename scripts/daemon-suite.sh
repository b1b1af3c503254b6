#!/usr/bin/env bash
# The exec/daemon differential at suite scale: the exec-level suites (conformance,
# bridge, the loopback smoke test) run through daemon-mode shims with a daemon up.
# Every assertion they make of an exec'd plugin (exact stdout, exit status, state
# left behind) must then hold of the shim + daemon.
#     scripts/daemon-suite.sh PYCNI [pytest args...]
# PYCNI is the pycni CLI whose daemon and shims are tested: the venv's, or an
# unpacked release tarball's (whose prebuilt shim is then installed, and whose
# shipped shim source must compile here too).
set -euo pipefail
cd "$(dirname "$0")/.."
pycni=${1:?usage: scripts/daemon-suite.sh PYCNI [pytest args...]}
shift
work=$(mktemp -d)
sock=$work/run/pycni.sock
daemon=
cleanup() {
  if [ -n "$daemon" ] && kill -0 "$daemon" 2>/dev/null; then kill -KILL "$daemon"; fi
  rm -rf "$work"
}
trap cleanup EXIT

source=$(dirname "$(readlink -f "$pycni")")/shim/pycni-shim.c
if [ -f "$source" ]; then  # a release bundle: its shim source builds on this machine
  ${CC:-cc} -O2 -std=gnu11 -Wall -Wextra -Werror -o "$work/pycni-shim" "$source"
  echo "daemon-suite: the bundle's shim source compiles"
fi
"$pycni" install --bin-dir "$work/bin" --mode daemon --socket "$sock"
"$pycni" daemon --socket "$sock" --trace-imports 2>"$work/daemon.log" &
daemon=$!
for _ in $(seq 300); do
  "$pycni" daemon status --socket "$sock" >/dev/null 2>&1 && break
  sleep 0.1
done
"$pycni" daemon status --socket "$sock"

status=0
PYCNI_BIN=$work/bin .venv/bin/pytest -q tests/conformance tests/bridge tests/test_smoke_loopback.py "$@" \
  || status=$?
"$pycni" daemon status --socket "$sock" --json > "$work/status.json" || status=1
kill -TERM "$daemon"
wait "$daemon" || { echo "daemon-suite: the daemon exited with status $?" >&2; status=1; }
daemon=
python3 - "$work/status.json" "$work/daemon.log" <<'PY' || status=1
import json, sys
served = json.load(open(sys.argv[1]))["served"]
log = open(sys.argv[2]).read()
print("daemon-suite: the daemon served", served)
# ~600 calls of the suites go through the daemon; the rest fall back by design (stdout
# not a pipe, the daemon's 413...)
assert served.get("ok", 0) + served.get("error", 0) > 400, "too few calls reached the daemon"
assert "late imports" not in log, [l for l in log.splitlines() if "late imports" in l]
assert "internal error" not in log, log
PY
exit $status
