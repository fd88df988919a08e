#!/bin/sh
# Builds the connect shim, a preload library for the sandbox's programs. It
# links against no C library (-nostdlib): it makes its own system calls and
# takes only getenv, errno, memcpy and strlen from whichever C library the
# program loaded, so
# the one file works in glibc and musl images alike.
#   sandbox-profiles/connect-shim/build.sh OUTPUT_PATH
set -eu
if [ "$#" -ne 1 ]; then
  echo "usage: $0 OUTPUT_PATH" >&2
  exit 2
fi
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
if ! command -v gcc >/dev/null 2>&1; then
  echo "build.sh: gcc is required to build cordon-connect (apt-get install gcc libc6-dev)" >&2
  exit 1
fi
gcc -O2 -shared -fPIC -nostdlib -fno-stack-protector -s -Wall -Wextra -Werror -std=c11 \
  -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack -o "$1" "$here/cordon-connect.c"
