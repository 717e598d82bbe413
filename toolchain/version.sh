#!/usr/bin/env bash
# Prints Arrowport's version, from the git tag (docs/packaging.md#versions):
#   on a tag v0.2.0                      0.2.0
#   5 commits after it, at abc1234       0.2.0+5.gabc1234
#   no tag reachable (a shallow clone)   <CMakeLists.txt's project version>+<commits>.gabc1234
#   uncommitted changes                  ... with .dirty at the end
#   not a git checkout                   <CMakeLists.txt's project version>
# One string serves --version, the .deb (Debian sorts "+" after the release), the wheel
# (PEP 440: a local version label) and the tarball's name; the image tag, which may hold
# no "+", has "-" in its place (package.sh).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
project=$(sed -n 's/^project(arrowport VERSION \([0-9.]*\).*/\1/p' "$repo/CMakeLists.txt")
# (-c safe.directory: a clone owned by another account, as in CI containers, is still read;
# git that is there but fails is an error, never a silent release-looking version.)
git_() { git -c safe.directory="$repo" -C "$repo" "$@"; }
if ! command -v git >/dev/null || [[ ! -e $repo/.git ]]; then
  printf '%s\n' "$project"
  exit 0
fi
dirty=""
if [[ -n "$(git_ status --porcelain --untracked-files=no)" ]]; then dirty=".dirty"; fi
# Release tags only (vX.Y.Z): a pre-release tag (v1.0.0-rc1) is no base for these forms.
if described=$(git_ describe --tags --match 'v[0-9]*.[0-9]*.[0-9]*' --exclude 'v*-*' --long \
                 --abbrev=7 2>/dev/null); then
  # v0.2.0-5-gabc1234
  hash=${described##*-g}
  rest=${described%-g*}
  count=${rest##*-}
  tag=${rest%-*}
  tag=${tag#v}
  if [[ $count == 0 && -z $dirty ]]; then
    printf '%s\n' "$tag"
  else
    printf '%s+%s.g%s%s\n' "$tag" "$count" "$hash" "$dirty"
  fi
else
  # No tag reachable (a shallow clone): the commit count still orders the builds.
  count=$(git_ rev-list --count HEAD) || { echo "version.sh: git rev-list failed" >&2; exit 1; }
  printf '%s+%s.g%s%s\n' "$project" "$count" "$(git_ rev-parse --short=7 HEAD)" "$dirty"
fi
