#!/usr/bin/env bash
# Prints Arrowport's version, from the git tag (docs/packaging.md#versions):
#   on a tag v0.2.0                      0.2.0
#   5 commits after it, at abc1234       0.2.0+5.gabc1234
#   no tag reachable (a shallow clone)   <CMakeLists.txt's project version>+gabc1234
#   not a git checkout                   <CMakeLists.txt's project version>
# One string serves --version, the .deb (Debian sorts "+" after the release), the wheel
# (PEP 440: a local version label) and the tarball's name; the image tag, which may hold
# no "+", has "-" in its place (package.sh).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
project=$(sed -n 's/^project(arrowport VERSION \([0-9.]*\).*/\1/p' "$repo/CMakeLists.txt")
if ! command -v git >/dev/null || ! git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
  printf '%s\n' "$project"
  exit 0
fi
if described=$(git -C "$repo" describe --tags --match 'v[0-9]*' --long --abbrev=7 2>/dev/null); then
  # v0.2.0-5-gabc1234
  hash=${described##*-g}
  rest=${described%-g*}
  count=${rest##*-}
  tag=${rest%-*}
  tag=${tag#v}
  if [[ $count == 0 ]]; then
    printf '%s\n' "$tag"
  else
    printf '%s+%s.g%s\n' "$tag" "$count" "$hash"
  fi
else
  printf '%s+g%s\n' "$project" "$(git -C "$repo" rev-parse --short=7 HEAD)"
fi
