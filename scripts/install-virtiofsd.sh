#!/usr/bin/env bash
# Installs virtiofsd, which shares workspaces into the microVM tier (issue 21),
# from Debian 13 (trixie), pinned by version and SHA-256. Run as root;
# scripts/setup.sh calls it.
#
# Why from Debian 13: Debian 12's QEMU (7.2) no longer ships the C virtiofsd
# and Debian 12 has no package of the Rust one. Debian 13's binary needs glibc
# 2.39 (pidfd_spawnp), which Debian 12 lacks, so it is not installed as a
# package: it is unpacked with Debian 13's own C library beside it into
# /opt/cordon/virtiofsd and started through that library's loader (the
# `virtiofsd` script there). Nothing of the host's system is replaced.
# Where the distribution has a virtiofsd that runs (Debian 13, Ubuntu 24.04),
# this script does nothing.
#
# Idempotent: nothing is downloaded when the pinned set is installed.
set -euo pipefail

dest=/opt/cordon/virtiofsd
stamp="$dest/.pinned"
mirror=${CORDON_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# From Debian 13's (trixie) signed Packages index for main (amd64).
pins=(
  "pool/main/r/rust-virtiofsd/virtiofsd_1.13.2-1+deb13u1_amd64.deb ff567a8816512252aea55a286772769f6d99fb8bc1ffcb110a9118cf44857829"
  "pool/main/g/glibc/libc6_2.41-12+deb13u5_amd64.deb b59b0625cd1a791375d40dab23a4d5d3d0641e3d0a773501becdc3725b7f99cf"
  "pool/main/libc/libcap-ng/libcap-ng0_0.8.5-4+b1_amd64.deb 20a9e4b0619a3eb2566338223bed135dde5a601eaa2f8fdd5f20b94506addcac"
  "pool/main/g/gcc-14/libgcc-s1_14.2.0-19_amd64.deb 3c71917b490d1a17aed43196a2787a256ecf060526cdb20216a74bedc061b150"
  "pool/main/libs/libseccomp/libseccomp2_2.6.0-2_amd64.deb 89d5138e05fb6a86b9afd8b54dc0fb4b14f4c27c05e6c5f767c2132bdf808531"
)

for system in /usr/libexec/virtiofsd; do  # the Rust one; QEMU 7.2's C one in /usr/lib/qemu takes other options
  if [ -x "$system" ] && "$system" --version >/dev/null 2>&1; then
    echo "install-virtiofsd: the system's $system runs; nothing to install"
    exit 0
  fi
done
want=$(printf '%s\n' "${pins[@]}" | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$dest/virtiofsd" --version >/dev/null 2>&1; then
  echo "install-virtiofsd: $("$dest/virtiofsd" --version | head -1) already installed in $dest"
  exit 0
fi
if [ "$(dpkg --print-architecture)" != amd64 ]; then
  echo "install-virtiofsd: only amd64 is pinned; the vm profile will not be available on $(dpkg --print-architecture)" >&2
  exit 1
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/root"
for pin in "${pins[@]}"; do
  path=${pin% *}
  sha=${pin#* }
  deb="$scratch/$(basename "$path")"
  if ! curl -fsSL --retry 3 -o "$deb" "$mirror/$path"; then
    echo "install-virtiofsd: could not download $mirror/$path. If Debian 13 has since replaced it, take the current Filename and SHA256 from \`apt-cache show\` against trixie and update the pins in $0" >&2
    exit 1
  fi
  # Plain HTTP is fine: nothing is unpacked unless it is exactly the pinned file.
  if ! echo "$sha  $deb" | sha256sum --check --quiet --strict -; then
    echo "install-virtiofsd: $mirror/$path does not have the pinned SHA-256; not installed" >&2
    exit 1
  fi
  dpkg-deb -x "$deb" "$scratch/root"
done

rm -rf "$dest.new"
mkdir -p "$dest.new/lib"
cp -a "$scratch/root/usr/libexec/virtiofsd" "$dest.new/virtiofsd.bin"
# Only the libraries it links against, and the loader that goes with them.
for lib in libc.so.6 libm.so.6 libcap-ng.so.0 libgcc_s.so.1 libseccomp.so.2; do
  cp -aL "$scratch/root/usr/lib/x86_64-linux-gnu/$lib" "$dest.new/lib/$lib"
done
cp -aL "$scratch/root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" "$dest.new/lib/ld-linux-x86-64.so.2"
cat > "$dest.new/virtiofsd" <<'WRAP'
#!/bin/sh
# Debian 13's virtiofsd with Debian 13's C library (see scripts/install-virtiofsd.sh).
here=$(dirname "$(readlink -f "$0")")
exec "$here/lib/ld-linux-x86-64.so.2" --library-path "$here/lib" "$here/virtiofsd.bin" "$@"
WRAP
chmod 0755 "$dest.new/virtiofsd"
echo "$want" > "$dest.new/.pinned"
rm -rf "$dest"
mv "$dest.new" "$dest"
echo "install-virtiofsd: $("$dest/virtiofsd" --version | head -1) in $dest"
