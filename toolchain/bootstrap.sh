#!/usr/bin/env bash
# Prepares the toolchain: on a host that already has Arrow 25 + DuckDB 2.0 this does nothing;
# otherwise it builds (once) a Debian forky root with debootstrap, cached outside the clone, and
# installs into it whatever toolchain/packages.txt lists and the root still lacks.
#
# Usage: toolchain/bootstrap.sh            (prints nothing on success but progress on stderr)
#        toolchain/bootstrap.sh --tests    also toolchain/test-packages.txt (bin/test)
#        toolchain/bootstrap.sh --sanitizers  also toolchain/sanitizer-packages.txt (clang:
#                                          the fuzz and tsan presets; build.sh asks for it)
#        toolchain/bootstrap.sh --packaging   also toolchain/packaging-packages.txt (dpkg-dev,
#                                          umoci: toolchain/package.sh asks for it)
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
with_tests=0
with_sanitizers=0
with_packaging=0
for arg in "$@"; do
  case "$arg" in
    --tests) with_tests=1 ;;
    --sanitizers) with_sanitizers=1 ;;
    --packaging) with_packaging=1 ;;
    *) echo "usage: toolchain/bootstrap.sh [--tests] [--sanitizers] [--packaging]" >&2; exit 2 ;;
  esac
done

log() { echo "bootstrap: $*" >&2; }

# The Debian mirror this host's apt already uses (its deb822 `URIs:` or its one-line
# `deb` entries), for the main archive: not named here, so a host behind its own mirror
# uses that. ARROWPORT_MIRROR overrides it.
mirror="${ARROWPORT_MIRROR:-$(host_mirror)}"

# quietly LOG CMD...: runs CMD with its output appended to LOG; on a terminal one line
# shows its latest step (debootstrap's "I: Retrieving x", apt's "Unpacking y").
setup_log="$(dirname "$root")/bootstrap.log"
quietly() {
  local line status
  set +e
  "$@" 2>&1 | while IFS= read -r line; do
    printf '%s\n' "$line" >>"$setup_log"
    if [[ -t 2 ]]; then
      printf '\r\033[Karrowport: setting up the toolchain (once): %.60s' "$line" >&2
    fi
  done
  status=${PIPESTATUS[0]}
  set -e
  [[ -t 2 ]] && printf '\r\033[K' >&2
  if [[ $status != 0 ]]; then
    echo "arrowport: toolchain set-up failed; last lines of $setup_log:" >&2
    tail -n 40 "$setup_log" >&2
    exit 1
  fi
}

# Each package list has its own stamp in the root: the hash of the list last installed.
list_of() { grep -v '^\s*#' "$1" | awk 'NF {print $1}' | sort -u; }
hash_of() { printf '%s\n' "$1" | sha256sum | cut -d' ' -f1; }
packages=$(list_of "$here/packages.txt")
stamp="$root/.arrowport-packages"
wanted_hash=$(hash_of "$packages")
test_packages=$(list_of "$here/test-packages.txt")
test_stamp="$root/.arrowport-test-packages"
test_hash=$(hash_of "$test_packages")
sanitizer_packages=$(list_of "$here/sanitizer-packages.txt")
sanitizer_stamp="$root/.arrowport-sanitizer-packages"
sanitizer_hash=$(hash_of "$sanitizer_packages")
packaging_packages=$(list_of "$here/packaging-packages.txt")
packaging_stamp="$root/.arrowport-packaging-packages"
packaging_hash=$(hash_of "$packaging_packages")
up_to_date() {
  [[ -f "$stamp" && "$(cat "$stamp")" == "$wanted_hash" ]] || return 1
  if [[ $with_tests == 1 ]]; then
    [[ -f "$test_stamp" && "$(cat "$test_stamp")" == "$test_hash" ]] || return 1
  fi
  if [[ $with_sanitizers == 1 ]]; then
    [[ -f "$sanitizer_stamp" && "$(cat "$sanitizer_stamp")" == "$sanitizer_hash" ]] || return 1
  fi
  if [[ $with_packaging == 1 ]]; then
    [[ -f "$packaging_stamp" && "$(cat "$packaging_stamp")" == "$packaging_hash" ]] || return 1
  fi
  return 0
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
  if [[ -z $mirror ]]; then
    echo "arrowport: no Debian mirror in this host's apt sources; set ARROWPORT_MIRROR" >&2
    exit 1
  fi
  if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap on the host"
    quietly sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap'
  fi
  script=/usr/share/debootstrap/scripts/forky
  [[ -e "$script" ]] || script=/usr/share/debootstrap/scripts/sid
  rm -rf "$root.partial"
  log "creating Debian forky root in $root (about a minute)"
  quietly debootstrap --variant=minbase \
    --include=g++,cmake,ninja-build,make,pkg-config,ccache,libarrow-flight-sql-dev,libparquet-dev,libduckdb-dev,libre2-dev \
    forky "$root.partial" "$mirror" "$script"
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
  quietly arrowport_in_root env DEBIAN_FRONTEND=noninteractive sh -c \
    "$update && apt-get install -y -qq --no-install-recommends $(echo $1)"
  updated=1
  echo "$3" >"$2"
}
install "$packages" "$stamp" "$wanted_hash" packages.txt
[[ $with_tests == 1 ]] && install "$test_packages" "$test_stamp" "$test_hash" test-packages.txt
[[ $with_sanitizers == 1 ]] &&
  install "$sanitizer_packages" "$sanitizer_stamp" "$sanitizer_hash" sanitizer-packages.txt
[[ $with_packaging == 1 ]] &&
  install "$packaging_packages" "$packaging_stamp" "$packaging_hash" packaging-packages.txt
log "toolchain ready"
