#!/bin/sh
# Builds the in-sandbox relay as a static binary so it runs in any image,
# including ones with no libc (FROM scratch) and under gVisor.
#   sandbox-profiles/relay/build.sh OUTPUT_PATH
set -eu
if [ "$#" -ne 1 ]; then
  echo "usage: $0 OUTPUT_PATH" >&2
  exit 2
fi
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
if ! command -v gcc >/dev/null 2>&1; then
  echo "build.sh: gcc is required to build cordon-relay (apt-get install gcc libc6-dev)" >&2
  exit 1
fi
gcc -O2 -static -s -Wall -Wextra -Werror -std=c11 -o "$1" "$here/cordon-relay.c" "$here/home-seed.c"
