#!/usr/bin/env bash
# Prepares the toolchain: on a host that already has Arrow 25 + DuckDB 2.0 this does nothing;
# otherwise it builds (once) a Debian forky root with debootstrap, cached outside the clone, and
# installs into it whatever toolchain/packages.txt lists and the root still lacks.
#
# Usage: toolchain/bootstrap.sh            (prints nothing on success but progress on stderr)
# Env:   ARROWPORT_ROOT   where the forky root lives (default /var/cache/arrowport/forky)
#        ARROWPORT_NATIVE 1 = use the host's libraries, 0 = force the forky root
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=toolchain/env.sh
source "$here/env.sh"

if arrowport_host_is_native; then
  exit 0
fi

root="$ARROWPORT_ROOT"
mirror="${ARROWPORT_MIRROR:-http://deb.debian.org/debian}"
packages=$(grep -v '^\s*#' "$here/packages.txt" | awk 'NF {print $1}' | sort -u)
stamp="$root/.arrowport-packages"
wanted_hash=$(printf '%s\n' "$packages" | sha256sum | cut -d' ' -f1)

log() { echo "bootstrap: $*" >&2; }

if [[ -f "$stamp" && "$(cat "$stamp")" == "$wanted_hash" ]]; then
  exit 0
fi

# One bootstrap at a time: CI, a test run and a server start may race on a fresh machine.
mkdir -p "$(dirname "$root")"
exec 9>"$root.lock"
flock 9
if [[ -f "$stamp" && "$(cat "$stamp")" == "$wanted_hash" ]]; then
  exit 0
fi

if [[ ! -x "$root/usr/bin/apt-get" || ! -f "$root/.arrowport-debootstrap-done" ]]; then
  if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap on the host"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap) >&2
  fi
  script=/usr/share/debootstrap/scripts/forky
  [[ -e "$script" ]] || script=/usr/share/debootstrap/scripts/sid
  rm -rf "$root.partial"
  log "creating Debian forky root in $root (about a minute)"
  debootstrap --variant=minbase \
    --include=g++,cmake,ninja-build,make,pkg-config,ccache,libarrow-flight-sql-dev,libparquet-dev,libduckdb-dev,libre2-dev \
    forky "$root.partial" "$mirror" "$script" >&2
  echo 'Acquire::Check-Valid-Until "false";' >"$root.partial/etc/apt/apt.conf.d/99arrowport"
  touch "$root.partial/.arrowport-debootstrap-done"
  rm -rf "$root"
  mv "$root.partial" "$root"
fi

log "installing packages from toolchain/packages.txt into $root"
cp -f /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
# shellcheck disable=SC2086
arrowport_in_root env DEBIAN_FRONTEND=noninteractive sh -c \
  "apt-get update -qq && apt-get install -y -qq --no-install-recommends $(echo $packages)" >&2
echo "$wanted_hash" >"$stamp"
log "toolchain ready"
