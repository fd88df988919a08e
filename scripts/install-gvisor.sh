#!/usr/bin/env bash
# Installs the gVisor runtime (runsc) that Cordon's strict profile is tested
# with: Debian 13's package, pinned by version and SHA-256. Run as root;
# scripts/setup.sh calls it, then scripts/start-dockerd.sh registers runsc
# with Docker Engine.
#
# Why not the distribution's own: Debian 12's runsc (2022-12) answers statx(2)
# with EINVAL, so `ls` fails in every strict sandbox. Debian 13's build
# (2024-07) fixes it, and is a static binary with no package dependencies, so
# it installs on Debian 12 and Ubuntu as well.
#
# Idempotent: nothing is downloaded when the pinned version is installed.
# Docker starts the runtime binary afresh for each container, so the engine
# needs no restart to use a new one.
set -euo pipefail

RUNSC_VERSION='0.0~20240729.0-4+b7'
# From Debian 13's (trixie) signed Packages index for main.
RUNSC_SHA256_amd64=3c25a5130dfac2f71237d5baad56ac86a255de87a0400f11b36a555156dc325a
RUNSC_SHA256_arm64=8e13e0625a094f962da3edcaf81ab0ed779726b6335e385a8148919f2c217c8e
mirror=${CORDON_DEBIAN_MIRROR:-http://deb.debian.org/debian}

installed=$(dpkg-query -W -f '${Version}' runsc 2>/dev/null || true)
if [ "$installed" = "$RUNSC_VERSION" ]; then
  echo "install-gvisor: runsc $RUNSC_VERSION already installed"
  exit 0
fi

arch=$(dpkg --print-architecture)
case "$arch" in
  amd64) sha256=$RUNSC_SHA256_amd64 ;;
  arm64) sha256=$RUNSC_SHA256_arm64 ;;
  *)
    echo "install-gvisor: no pinned runsc for $arch (only amd64 and arm64); the strict profile will not be available" >&2
    exit 1
    ;;
esac

deb="runsc_${RUNSC_VERSION}_${arch}.deb"
url="$mirror/pool/main/g/golang-gvisor-gvisor/$deb"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

echo "install-gvisor: downloading runsc $RUNSC_VERSION (${installed:+replacing $installed, }Debian 13's build)"
if ! curl -fsSL --retry 3 -o "$scratch/$deb" "$url"; then
  echo "install-gvisor: could not download $url. If Debian has since replaced this build, take the current runsc from Debian 13 (trixie): \`apt-cache show runsc\` against trixie gives its Version and SHA256; put them in RUNSC_VERSION and RUNSC_SHA256_$arch in $0" >&2
  exit 1
fi
# Plain HTTP is fine: nothing is installed unless it is exactly the pinned file.
if ! echo "$sha256  $scratch/$deb" | sha256sum --check --quiet --strict -; then
  echo "install-gvisor: $url does not have the pinned SHA-256 ($sha256); not installed. Check the mirror ($mirror, CORDON_DEBIAN_MIRROR) and retry" >&2
  exit 1
fi
DEBIAN_FRONTEND=noninteractive dpkg -i "$scratch/$deb" >/dev/null
echo "install-gvisor: $(runsc --version | head -1)"
