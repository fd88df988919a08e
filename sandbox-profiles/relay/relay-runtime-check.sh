#!/bin/sh
# Checks the relay byte for byte inside a real container, under each Docker
# runtime given (default: runc and runsc). The relay runs as PID 1 with the
# stand-in proxy's socket folder bind-mounted, as in a session; relay-bench
# inside moves MiB up and down (and both at once) and fails on any wrong byte.
# Curl-sized session tests cannot see a data path that breaks only past the
# first 64 KiB, which is how a gVisor splice defect first showed (issue 3).
#   sandbox-profiles/relay/relay-runtime-check.sh [IMAGE [RUNTIME...]]
# IMAGE needs /bin/sh (default cordon/agent:1). Env: MIB (default 256).
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
image=${1:-cordon/agent:1}
[ "$#" -gt 0 ] && shift
[ "$#" -eq 0 ] && set -- runc runsc
mib=${MIB:-256}
work=$(mktemp -d "${TMPDIR:-/tmp}/relay-check.XXXXXX")
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
sh "$here/build.sh" "$work/cordon-relay"
gcc -O2 -static -Wall -Wextra -Werror -std=c11 -o "$work/relay-bench" "$here/relay-bench.c"
mkdir "$work/sock"
chmod 755 "$work" && chmod 777 "$work/sock"
"$work/relay-bench" serve "$work/sock/proxy.sock" &
server=$!
while [ ! -S "$work/sock/proxy.sock" ]; do sleep 0.05; done
chmod 666 "$work/sock/proxy.sock"
status=0
for rt in "$@"; do
  # Splicing both ways is what runc sessions ask for (--splice both); gVisor never gets it.
  modes="default off"
  [ "$rt" = runc ] && modes="default both off"
  for mode in $modes; do
    extra=""
    [ "$mode" = both ] && extra="--splice both"
    echo "== $rt, CORDON_RELAY_SPLICE=$mode"
    # Background jobs report through files: `wait` alone would hide a failure.
    if ! docker run --rm --runtime="$rt" --network none --cap-drop ALL --security-opt no-new-privileges \
      -e CORDON_RELAY_SPLICE="$mode" \
      -v "$work/cordon-relay:/run/cordon/cordon-relay:ro" -v "$work/relay-bench:/run/cordon/relay-bench:ro" \
      -v "$work/sock:/run/cordon/egress" --entrypoint /run/cordon/cordon-relay "$image" \
      --listen 127.0.0.1:3128 --to /run/cordon/egress/proxy.sock $extra -- sh -c "
        b=/run/cordon/relay-bench
        \$b down --tcp 3128 $mib && \$b up --tcp 3128 $mib || exit 1
        (\$b down --tcp 3128 $((mib / 4)) || echo fail >> /tmp/failed) &
        (\$b up --tcp 3128 $((mib / 4)) || echo fail >> /tmp/failed) &
        (\$b up --tcp 3128 $((mib / 4)) || echo fail >> /tmp/failed) &
        wait
        [ ! -e /tmp/failed ] && \$b setup --tcp 3128 200"; then
      echo "FAILED under $rt ($mode)"
      status=1
    fi
  done
done
exit $status
