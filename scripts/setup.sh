#!/usr/bin/env bash
# Sets up everything Cordon needs on a Debian/Ubuntu machine, idempotently:
#   - Debian packages: Docker Engine (docker.io), debootstrap,
#     gnome-keyring + D-Bus (a real Secret Service), Xvfb, xclip, Chromium,
#     util-linux's script(1), gcc (the static in-sandbox relay), musl-tools
#     (tests the connect shim under a second C library), qemu-system-x86 (the
#     vm profile's microVMs);
#   - gVisor (runsc) for the strict profile: a pinned, checksum-verified build
#     from Debian 13 (scripts/install-gvisor.sh; Debian 12's cannot run `ls`);
#   - the microVM tier's guest kernel (Debian's cloud kernel, unpacked into
#     /opt/cordon/vm-kernel, not installed: scripts/install-vm-kernel.sh) and
#     virtiofsd (Debian 13's: scripts/install-virtiofsd.sh);
#   - a running Docker Engine (systemd when present, else scripts/start-dockerd.sh);
#   - npm dependencies and the compiled CLI;
#   - the default agent image (cordon image build), unless it already exists.
# Needs root for apt-get, dockerd and debootstrap: it re-runs those parts with
# sudo when started as another user.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

need_pkgs=()
need() { dpkg -s "$1" >/dev/null 2>&1 || need_pkgs+=("$1"); }
for p in docker.io debootstrap gnome-keyring dbus dbus-x11 libsecret-tools xvfb xclip xdotool chromium util-linux gcc libc6-dev musl-tools ca-certificates curl openssl rsyslog rsyslog-gnutls qemu-system-x86 e2fsprogs binutils; do need "$p"; done
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  # Written before docker.io is installed: a systemd host starts the engine
  # during installation, and it must never come up with a private-range bridge.
  as_root mkdir -p /etc/docker
  [ -f /etc/docker/daemon.json ] || echo '{"bridge":"none","iptables":false,"ip-forward":false,"ip-masq":false}' | as_root tee /etc/docker/daemon.json >/dev/null
  echo "setup: installing ${need_pkgs[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "setup: Cordon needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

as_root bash scripts/install-gvisor.sh
as_root bash scripts/install-vm-kernel.sh
as_root bash scripts/install-virtiofsd.sh
# The unprivileged account QEMU runs as when Cordon runs as root (the microVM tier).
id cordon-vm >/dev/null 2>&1 || as_root useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin cordon-vm

# Writes Cordon's daemon.json (no bridge, runsc registered) and (re)starts the
# engine with it, under systemd or by hand.
as_root bash scripts/start-dockerd.sh

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # Electron's binary comes from GitHub, which this kind of machine cannot
  # reach: its package is installed for its types only (`npm run app` says
  # what to do where the binary is missing; `cordon ui` serves the same UI).
  ELECTRON_SKIP_BINARY_DOWNLOAD=1 npm ci --no-audit --no-fund
fi
npm run build --silent

if ! docker image inspect cordon/agent:1 >/dev/null 2>&1; then
  as_root env "PATH=$PATH" node bin/cordon.js image build
fi
echo "setup: done. Try: npx cordon doctor && npx cordon demo"
