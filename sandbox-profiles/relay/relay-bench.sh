#!/bin/sh
# Measures cordon-relay alone against a direct Unix-socket connection, in the
# same run, on loopback (see relay-bench.c). Run it under the shared bench lock:
#   flock /tmp/cordon-bench.lock sandbox-profiles/relay/relay-bench.sh [RELAY_BIN...]
# With no arguments it builds and measures the relay in this tree; give several
# binaries (e.g. one built from an older commit) to compare them in one run.
# Env: SETUP_N (default 2000), RTT_N (5000), MIB (1024).
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/relay-bench.XXXXXX")
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
gcc -O2 -Wall -Wextra -Werror -std=c11 -o "$work/relay-bench" "$here/relay-bench.c"
if [ "$#" -eq 0 ]; then
  sh "$here/build.sh" "$work/cordon-relay"
  set -- "$work/cordon-relay"
fi
setup_n=${SETUP_N:-2000}
rtt_n=${RTT_N:-5000}
mib=${MIB:-1024}
sock="$work/proxy.sock"
"$work/relay-bench" serve "$sock" &
pids="$pids $!"
while [ ! -S "$sock" ]; do sleep 0.05; done

run_all() { # label, endpoint args
  label=$1
  shift
  echo "== $label"
  "$work/relay-bench" setup "$@" "$setup_n"
  "$work/relay-bench" rtt "$@" "$rtt_n"
  "$work/relay-bench" down "$@" "$mib"
  "$work/relay-bench" up "$@" "$mib"
}

run_all "direct to the Unix socket" --unix "$sock"
port=$((20000 + $$ % 20000))
for bin in "$@"; do
  port=$((port + 1))
  "$bin" --listen "127.0.0.1:$port" --to "$sock" &
  rp=$!
  pids="$pids $rp"
  sleep 0.2
  run_all "through $bin" --tcp "$port"
  echo "   relay $(grep VmRSS /proc/$rp/status | tr -s ' \t' ' ')"
  kill "$rp"
done
run_all "direct to the Unix socket (again)" --unix "$sock"
