#!/usr/bin/env bash
# Runs a command against a real, throwaway Secret Service (gnome-keyring over a
# private D-Bus session bus), so keychain tests exercise the same code path as a
# desktop without touching the user's real login keyring.
#
#   scripts/with-secret-service.sh node --test dist/core/keys/*.keyring.test.js
#
# Why each piece:
# - dbus-run-session gives the command its own session bus, which dies with it,
#   so no daemon outlives the test run.
# - HOME and XDG_DATA_HOME point at a temp dir: gnome-keyring writes its keyring
#   files under $XDG_DATA_HOME/keyrings, and we never want to read or modify the
#   invoking user's keyrings (or depend on whether they exist).
# - The daemon is started with --unlock and a fixed throwaway password on stdin,
#   which creates and unlocks the default "login" collection; without it the
#   first write would try to prompt for a password and hang on a headless box.
# - The command's exit status is passed through unchanged.
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 COMMAND [ARG...]" >&2
  exit 2
fi
for tool in dbus-run-session gnome-keyring-daemon secret-tool timeout; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "with-secret-service: '$tool' not found; install the Debian packages gnome-keyring, dbus, dbus-x11 and libsecret-tools (see docs/keys.md)" >&2
    exit 127
  fi
done

scratch="$(mktemp -d "${TMPDIR:-/tmp}/cordon-secret-service.XXXXXX")"
cleanup() { rm -rf "$scratch"; }
trap cleanup EXIT
mkdir -p "$scratch/home" "$scratch/data" "$scratch/runtime"
chmod 700 "$scratch/runtime"

# Not exec: the trap must run after the session ends to remove the scratch dir.
HOME="$scratch/home" XDG_DATA_HOME="$scratch/data" XDG_RUNTIME_DIR="$scratch/runtime" \
  dbus-run-session -- bash -c '
    set -euo pipefail
    # The password only protects this throwaway keyring; it is not a secret.
    # A store/lookup round trip proves the unlocked service answers before the
    # command starts. Seen once: the daemon aborted on its first request, and
    # D-Bus activation then started a locked one that no test could use; so a
    # failed probe replaces the daemon and tries again.
    probe() {
      printf %s probe | timeout 5 secret-tool store --label=cordon-probe cordon-probe 1 2>/dev/null &&
        [ "$(timeout 5 secret-tool lookup cordon-probe 1 2>/dev/null)" = probe ] &&
        timeout 5 secret-tool clear cordon-probe 1 2>/dev/null
    }
    started=""
    for attempt in 1 2 3; do
      printf %s cordon-test-keyring | gnome-keyring-daemon --replace --unlock --components=secrets >/dev/null 2>&1 || true
      if probe; then started=1; break; fi
      echo "with-secret-service: the Secret Service did not answer (attempt $attempt); starting it again" >&2
      sleep 0.5
    done
    if [ -z "$started" ]; then
      echo "with-secret-service: no working Secret Service after 3 attempts" >&2
      exit 1
    fi
    exec "$@"
  ' with-secret-service "$@"
