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

# CPU time (user+system, ms) process $1 has used: on a shared machine the
# relay's own CPU per step is steadier than wall time.
cpu_ms() {
  if [ -z "${1:-}" ]; then echo 0; return; fi
  awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) * 1000 / hz }' "/proc/$1/stat"
}

run_all() { # label, relay pid or "", endpoint args
  label=$1
  rpid=$2
  shift 2
  echo "== $label"
  for step in "setup $setup_n" "rtt $rtt_n" "down $mib" "up $mib"; do
    c0=$(cpu_ms "$rpid")
    # shellcheck disable=SC2086
    out=$("$work/relay-bench" ${step%% *} "$@" ${step#* })
    c1=$(cpu_ms "$rpid")
    if [ -n "$rpid" ]; then echo "$out  [relay cpu $(awk -v a="$c0" -v b="$c1" "BEGIN { print b - a }") ms]"; else echo "$out"; fi
  done
}

run_all "direct to the Unix socket" "" --unix "$sock"
port=$((20000 + $$ % 20000))
for bin in "$@"; do
  port=$((port + 1))
  "$bin" --listen "127.0.0.1:$port" --to "$sock" &
  rp=$!
  pids="$pids $rp"
  sleep 0.2
  run_all "through $bin" "$rp" --tcp "$port"
  echo "   relay $(grep VmRSS /proc/$rp/status | tr -s ' \t' ' ')"
  kill "$rp"
done
run_all "direct to the Unix socket (again)" "" --unix "$sock"

# Every relay at once, sessions interleaved with direct ones: the steadiest
# per-tunnel figure on a machine others are using.
ports=""
for bin in "$@"; do
  port=$((port + 1))
  "$bin" --listen "127.0.0.1:$port" --to "$sock" &
  pids="$pids $!"
  ports="$ports $port"
  echo "   relay :$port is $bin"
done
sleep 0.2
echo "== interleaved"
# shellcheck disable=SC2086
"$work/relay-bench" compare "$sock" "$setup_n" $ports
