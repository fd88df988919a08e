#!/usr/bin/env bash
# Puts the guest kernel of Cordon's microVM tier (issue 21) in /opt/cordon/vm-kernel:
# Debian's cloud kernel (linux-image-cloud-amd64), downloaded with apt and
# unpacked, never installed, so the host's own boot is not touched. Only
# vmlinuz and the modules the guest loads from its initramfs are kept
# (virtio-mmio, virtio-blk, virtio-console, virtiofs, overlayfs and what they
# need); the rest of the package is thrown away.
#
# Layout: /opt/cordon/vm-kernel/<release>/{vmlinuz,modules/*.ko} and
# /opt/cordon/vm-kernel/current -> <release>. Idempotent: a release already
# unpacked is not downloaded again. Run as root; scripts/setup.sh calls it.
set -euo pipefail

dest=/opt/cordon/vm-kernel
# In load order: each only needs the ones before it (checked below against the modules' own `depends=`).
modules=(drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_mmio drivers/block/virtio_blk drivers/char/virtio_console fs/fuse/fuse fs/fuse/virtiofs fs/overlayfs/overlay)

if [ "$(dpkg --print-architecture)" != amd64 ]; then
  echo "install-vm-kernel: only amd64 is supported; the vm profile will not be available" >&2
  exit 1
fi
meta=linux-image-cloud-amd64
pkg=$(apt-cache depends "$meta" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -1)
if [ -z "$pkg" ]; then
  apt-get update -qq
  pkg=$(apt-cache depends "$meta" | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -1)
fi
[ -n "$pkg" ] || { echo "install-vm-kernel: apt knows no $meta (a Debian archive with main is needed)" >&2; exit 1; }
release=${pkg#linux-image-}
if [ -f "$dest/$release/vmlinuz" ] && [ -f "$dest/$release/modules/overlay.ko" ]; then
  ln -sfn "$release" "$dest/current"
  echo "install-vm-kernel: $release already in $dest"
  exit 0
fi

scratch=$(mktemp -d)
chmod 0755 "$scratch"
trap 'rm -rf "$scratch"' EXIT
# apt verifies the package against the archive's signed index.
(cd "$scratch" && apt-get download -q "$pkg" >/dev/null 2>&1) || { echo "install-vm-kernel: could not download $pkg" >&2; exit 1; }
dpkg-deb -x "$scratch"/*.deb "$scratch/x"
mkdir -p "$dest/$release.new/modules"
cp "$scratch/x/boot/vmlinuz-$release" "$dest/$release.new/vmlinuz"
loaded=" "
for m in "${modules[@]}"; do
  ko="$scratch/x/lib/modules/$release/kernel/$m.ko"
  [ -f "$ko" ] || { echo "install-vm-kernel: $pkg has no $m.ko (built in now?); update the list in $0" >&2; exit 1; }
  deps=$(strings "$ko" | sed -n 's/^depends=//p' | head -1)
  for d in ${deps//,/ }; do
    case "$loaded" in *" $d "*) ;; *) echo "install-vm-kernel: $m needs $d loaded before it; update the list in $0" >&2; exit 1 ;; esac
  done
  loaded="$loaded$(basename "$m") "
  cp "$ko" "$dest/$release.new/modules/"
done
printf '%s\n' "${modules[@]##*/}" > "$dest/$release.new/modules/order"
rm -rf "$dest/$release"
mv "$dest/$release.new" "$dest/$release"
ln -sfn "$release" "$dest/current"
echo "install-vm-kernel: $release in $dest"
