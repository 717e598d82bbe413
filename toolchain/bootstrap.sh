#!/usr/bin/env bash
# Prepares the toolchain: on a host that already has Arrow 25 + DuckDB 2.0 this does nothing;
# otherwise it builds (once) a Debian forky root with debootstrap, cached outside the clone, and
# installs into it whatever toolchain/packages.txt lists and the root still lacks.
#
# Usage: toolchain/bootstrap.sh            (prints nothing on success but progress on stderr)
#        toolchain/bootstrap.sh --tests    also toolchain/test-packages.txt (bin/test)
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
with_tests=0
[[ "${1:-}" == "--tests" ]] && with_tests=1

log() { echo "bootstrap: $*" >&2; }

# Each package list has its own stamp in the root: the hash of the list last installed.
list_of() { grep -v '^\s*#' "$1" | awk 'NF {print $1}' | sort -u; }
hash_of() { printf '%s\n' "$1" | sha256sum | cut -d' ' -f1; }
packages=$(list_of "$here/packages.txt")
stamp="$root/.arrowport-packages"
wanted_hash=$(hash_of "$packages")
test_packages=$(list_of "$here/test-packages.txt")
test_stamp="$root/.arrowport-test-packages"
test_hash=$(hash_of "$test_packages")
up_to_date() {
  [[ -f "$stamp" && "$(cat "$stamp")" == "$wanted_hash" ]] || return 1
  [[ $with_tests == 0 ]] && return 0
  [[ -f "$test_stamp" && "$(cat "$test_stamp")" == "$test_hash" ]]
}

if up_to_date; then
  exit 0
fi

# One bootstrap at a time: CI, a test run and a server start may race on a fresh machine.
mkdir -p "$(dirname "$root")"
exec 9>"$root.lock"
flock 9
if up_to_date; then
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

cp -f /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
updated=0
# install LIST STAMP HASH NAME: installs what LIST names into the root, then stamps it.
install() {
  [[ -f "$2" && "$(cat "$2")" == "$3" ]] && return 0
  log "installing packages from toolchain/$4 into $root"
  local update="true"
  [[ $updated == 0 ]] && update="apt-get update -qq"
  # shellcheck disable=SC2086
  arrowport_in_root env DEBIAN_FRONTEND=noninteractive sh -c \
    "$update && apt-get install -y -qq --no-install-recommends $(echo $1)" >&2
  updated=1
  echo "$3" >"$2"
}
install "$packages" "$stamp" "$wanted_hash" packages.txt
[[ $with_tests == 1 ]] && install "$test_packages" "$test_stamp" "$test_hash" test-packages.txt
log "toolchain ready"
