#!/usr/bin/env bash
# Configures and builds a preset (release by default) inside the toolchain, quietly:
# output goes to build/<preset>.log and is shown only when the build fails.
# Usage: toolchain/build.sh [release|debug|fuzz|tsan] [--verbose]
#   (fuzz: clang, ASan + UBSan, libFuzzer; tsan: clang, ThreadSanitizer)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"
preset="${1:-release}"
verbose="${2:-}"
"$here/bootstrap.sh"
mkdir -p "$ARROWPORT_REPO/build"
log="$ARROWPORT_REPO/build/$preset.log"
jobs="${ARROWPORT_BUILD_JOBS:-$(nproc)}"
cmd="cd '$ARROWPORT_REPO' && export CCACHE_DIR='$ARROWPORT_CCACHE_DIR' CCACHE_BASEDIR='$ARROWPORT_REPO' CCACHE_NOHASHDIR=1 && \
  { [ -f build/$preset/build.ninja ] || cmake --preset $preset; } && cmake --build build/$preset -j $jobs"
if [[ "$verbose" == "--verbose" ]]; then
  arrowport_in_root sh -c "$cmd" 2>&1 | tee "$log"
  exit "${PIPESTATUS[0]}"
fi
if ! arrowport_in_root sh -c "$cmd" >"$log" 2>&1; then
  echo "arrowport: build failed ($preset); last lines of $log:" >&2
  tail -n 60 "$log" >&2
  exit 1
fi
