#!/usr/bin/env bash
# A Debian root of an older release for the install tests (tests/e2e/test_install_anywhere.py):
#   toolchain/debian_root.sh bullseye|bookworm|trixie
# makes it once with debootstrap (minbase, with python3 and its venv, CA certificates and
# systemd) from this host's Debian mirror, caches it under $ARROWPORT_CACHE/debian-roots/,
# and prints its path. The tests copy it; nothing runs in the cached one.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=toolchain/env.sh
source "$here/env.sh"
release=${1:?usage: toolchain/debian_root.sh RELEASE}
case "$release" in
  bullseye|bookworm|trixie) ;;
  *) echo "debian_root: no install test root for '$release'" >&2; exit 2 ;;
esac
root="$ARROWPORT_CACHE/debian-roots/$release"
# What the tests use in it: python3 -m venv (the wheel), update-ca-certificates (TLS),
# systemd-analyze (the .deb's unit).
packages=python3,python3-venv,ca-certificates,systemd
mkdir -p "$(dirname "$root")"
exec 7>"$root.lock"
flock 7
if [[ ! -f $root/.arrowport-root-done || "$(cat "$root/.arrowport-root-done")" != "$packages" ]]; then
  if ! command -v debootstrap >/dev/null; then
    echo "debian_root: installing debootstrap on the host" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  mirror="${ARROWPORT_MIRROR:-$(host_mirror)}"
  [[ -n $mirror ]] || { echo "debian_root: no Debian mirror in this host's apt sources; set ARROWPORT_MIRROR" >&2; exit 1; }
  echo "debian_root: making a Debian $release root in $root (once)" >&2
  rm -rf "$root.partial"
  if ! debootstrap --variant=minbase --include="$packages" "$release" "$root.partial" \
       "$mirror" >"$root.log" 2>&1; then
    tail -n 30 "$root.log" >&2
    echo "debian_root: debootstrap of $release failed (log: $root.log)" >&2
    exit 1
  fi
  rm -rf "$root.partial/var/cache/apt/archives/"*.deb
  printf '%s' "$packages" >"$root.partial/.arrowport-root-done"
  rm -rf "$root"
  mv "$root.partial" "$root"
fi
printf '%s\n' "$root"
