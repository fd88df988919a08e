#!/bin/sh
# Builds the microVM guest's init (PID 1 in the initramfs) as a static binary:
# the guest has no C library until its root file system is mounted.
#   sandbox-profiles/vm/build.sh OUTPUT_PATH
set -eu
if [ "$#" -ne 1 ]; then
  echo "usage: $0 OUTPUT_PATH" >&2
  exit 2
fi
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
if ! command -v gcc >/dev/null 2>&1; then
  echo "build.sh: gcc is required to build cordon-vminit (apt-get install gcc libc6-dev)" >&2
  exit 1
fi
gcc -O2 -static -s -Wall -Wextra -Werror -std=c11 -o "$1" "$here/cordon-vminit.c"
