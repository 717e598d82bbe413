#!/usr/bin/env bash
# Configures and builds a preset (release by default) inside the toolchain, quietly:
# output goes to build/<preset>.log and is shown only when the build fails; on a terminal,
# one progress line says how far it is.
# Usage: toolchain/build.sh [release|debug|fuzz|tsan] [--verbose] [--target NAME]...
#   (fuzz: clang, ASan + UBSan, libFuzzer; tsan: clang, ThreadSanitizer)
#   --target: build only these targets (bin/arrowport builds the server alone)
# One build of a clone's preset at a time: a second waits for the first (saying so), so
# that a server started in the background and a command run beside it never configure or
# build the same directory at once.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"
preset="release"
verbose=0
targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --verbose) verbose=1; shift ;;
    --target) targets+=("$2"); shift 2 ;;
    release|debug|fuzz|tsan) preset="$1"; shift ;;
    *) echo "usage: toolchain/build.sh [release|debug|fuzz|tsan] [--verbose] [--target NAME]..." >&2
       exit 2 ;;
  esac
done
case "$preset" in
  fuzz|tsan) "$here/bootstrap.sh" --sanitizers ;;
  *) "$here/bootstrap.sh" ;;
esac
mkdir -p "$ARROWPORT_REPO/build"
exec 8>"$ARROWPORT_REPO/build/.$preset.lock"
if ! flock -n 8; then
  echo "arrowport: another build of this clone ($preset) is running; waiting for it to finish" >&2
  flock 8
fi
log="$ARROWPORT_REPO/build/$preset.log"
# The version (git describe: the toolchain root has no git) reaches the build as a header
# rewritten only when it changes, so a new commit recompiles one file (common/version.cc).
version_header="$ARROWPORT_REPO/build/$preset/generated/arrowport/version_string.h"
mkdir -p "$(dirname "$version_header")"
version_line="#define ARROWPORT_VERSION_STRING \"$("$here/version.sh")\""
if [[ ! -f $version_header || "$(cat "$version_header")" != "$version_line" ]]; then
  printf '%s\n' "$version_line" >"$version_header"
fi
jobs="${ARROWPORT_BUILD_JOBS:-$(nproc)}"
target_args=""
for target in "${targets[@]}"; do target_args+=" --target $target"; done
cmd="cd '$ARROWPORT_REPO' && export CCACHE_DIR='$ARROWPORT_CCACHE_DIR' CCACHE_BASEDIR='$ARROWPORT_REPO' CCACHE_NOHASHDIR=1 && \
  { [ -f build/$preset/build.ninja ] && [ build/$preset/CMakeCache.txt -nt CMakePresets.json ] || cmake --preset $preset; } && cmake --build build/$preset -j $jobs$target_args"
if [[ $verbose == 1 ]]; then
  arrowport_in_root sh -c "$cmd" 2>&1 | tee "$log"
  exit "${PIPESTATUS[0]}"
fi
# progress: copies the build's output to the log and, on a terminal, shows ninja's
# "[done/total]" as one line that is cleared when the build ends.
progress() {
  local line shown=0
  while IFS= read -r line; do
    printf '%s\n' "$line" >>"$log"
    if [[ -t 2 && $line =~ ^\[([0-9]+)/([0-9]+)\] ]]; then
      printf '\r\033[Karrowport: building (%s) %s/%s' "$preset" \
        "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" >&2
      shown=1
    fi
  done
  [[ $shown == 0 ]] || printf '\r\033[K' >&2
}
: >"$log"
set +e
arrowport_in_root sh -c "$cmd" 2>&1 | progress
status=${PIPESTATUS[0]}
set -e
if [[ $status != 0 ]]; then
  echo "arrowport: build failed ($preset); last lines of $log:" >&2
  tail -n 60 "$log" >&2
  exit 1
fi
