#!/bin/sh
# Builds the host-side sentinel that ends a session's sandbox through the
# engine when its launcher dies (see cordon-sentinel.c).
#   core/sandbox/sentinel/build.sh OUTPUT_PATH
# Dynamically linked: it runs on the host, next to Node.
set -eu
if [ "$#" -ne 1 ]; then
  echo "usage: $0 OUTPUT_PATH" >&2
  exit 2
fi
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
if ! command -v gcc >/dev/null 2>&1; then
  echo "build.sh: gcc is required to build cordon-sentinel (apt-get install gcc libc6-dev)" >&2
  exit 1
fi
gcc -O2 -s -Wall -Wextra -Werror -std=c11 -o "$1" "$here/cordon-sentinel.c"
