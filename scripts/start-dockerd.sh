#!/usr/bin/env bash
# Starts a Docker Engine suited to Cordon's tests on a machine where none runs:
# no default bridge (so no private-range network is ever created), no iptables,
# and gVisor's runsc registered as the "runsc" runtime with host Unix sockets
# allowed (Cordon's egress channel is a bind-mounted Unix socket).
# Idempotent: returns at once when the engine already answers.
set -euo pipefail

if docker info >/dev/null 2>&1; then
  echo "start-dockerd: Docker Engine already running"
  exit 0
fi

mkdir -p /etc/docker
runsc_path=$(command -v runsc || true)
if [ -n "$runsc_path" ]; then
  runtimes=$(printf ',"runtimes":{"runsc":{"path":"%s","runtimeArgs":["--network=none","--host-uds=open"]}}' "$runsc_path")
else
  runtimes=""
fi
printf '{"bridge":"none","iptables":false,"ip-forward":false,"ip-masq":false%s}\n' "$runtimes" >/etc/docker/daemon.json

log=${DOCKERD_LOG:-/var/log/cordon-dockerd.log}
nohup dockerd >"$log" 2>&1 &
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    echo "start-dockerd: Docker Engine is up ($(docker version --format '{{.Server.Version}}'))"
    exit 0
  fi
  sleep 0.5
done
echo "start-dockerd: dockerd did not come up in 30 s; last lines of $log:" >&2
tail -n 30 "$log" >&2
exit 1
