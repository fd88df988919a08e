#!/usr/bin/env bash
# Starts a Docker Engine suited to Cordon: no default bridge (so no
# private-range network is ever created), no iptables, and gVisor's runsc
# registered as the "runsc" runtime with host Unix sockets allowed (Cordon's
# egress channel is a bind-mounted Unix socket). Idempotent: an engine that
# already runs with this configuration is left alone; one that runs without
# runsc registered is restarted with it.
set -euo pipefail

mkdir -p /etc/docker
runsc_path=$(command -v runsc || true)
runtimes=""
if [ -n "$runsc_path" ]; then
  runtimes=$(printf ',"runtimes":{"runsc":{"path":"%s","runtimeArgs":["--network=none","--host-uds=open"]}}' "$runsc_path")
fi
want=$(printf '{"bridge":"none","iptables":false,"ip-forward":false,"ip-masq":false%s}' "$runtimes")
changed=0
if [ "$(cat /etc/docker/daemon.json 2>/dev/null || true)" != "$want" ]; then
  printf '%s\n' "$want" >/etc/docker/daemon.json
  changed=1
fi

has_systemd() { command -v systemctl >/dev/null 2>&1 && [ "$(systemctl is-system-running 2>/dev/null || true)" != "offline" ] && [ -d /run/systemd/system ]; }

if docker info >/dev/null 2>&1; then
  if [ "$changed" -eq 0 ] && { [ -z "$runsc_path" ] || docker info --format '{{json .Runtimes}}' | grep -q runsc; }; then
    echo "start-dockerd: Docker Engine already running"
    exit 0
  fi
  echo "start-dockerd: restarting Docker Engine with Cordon's daemon.json"
  if has_systemd; then
    systemctl restart docker
  else
    pkill -x dockerd || true
    for _ in $(seq 1 40); do pgrep -x dockerd >/dev/null || break; sleep 0.25; done
  fi
fi

if ! docker info >/dev/null 2>&1; then
  if has_systemd; then
    systemctl start docker
  else
    log=${DOCKERD_LOG:-/var/log/cordon-dockerd.log}
    nohup dockerd >"$log" 2>&1 &
  fi
fi
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    echo "start-dockerd: Docker Engine is up ($(docker version --format '{{.Server.Version}}'))"
    exit 0
  fi
  sleep 0.5
done
echo "start-dockerd: dockerd did not come up in 30 s; see ${DOCKERD_LOG:-/var/log/cordon-dockerd.log} or journalctl -u docker" >&2
exit 1
