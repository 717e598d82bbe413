#!/usr/bin/env bash
# The portable build (docs/packaging.md#the-portable-build): the release binary with every
# library it loads, the C library and its loader included, from the toolchain root. It
# needs nothing of the host but a Linux kernel (3.2 or newer: this glibc's floor).
#   toolchain/portable.sh BINARY VERSION WORKDIR
# makes WORKDIR/arrowport-VERSION-linux-x86_64/ (the bundle the tarball, the wheel and the
# .deb are made of) and prints its path. Layout:
#   bin/arrowport                 the launcher (POSIX sh): finds the bundle through
#                                 symlinks and execs the loader on the binary
#   libexec/arrowport/arrowport   the root's dynamic loader, named arrowport: the kernel
#                                 names a process after the file it executes, so ps,
#                                 pgrep, systemd and DuckDB's lock message say arrowport
#   libexec/arrowport/arrowport.bin  the server and CLI, stripped
#   lib/                          every library it needs (ldd in the root)
#   share/doc/arrowport/          LICENSE, NOTICE, README.md, and third-party/<package>/
#                                 copyright for the Debian package of every bundled file
set -euo pipefail
umask 022
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=toolchain/env.sh
source "$here/env.sh"
repo="$ARROWPORT_REPO"
binary=$1 version=$2 work=$3
die() { echo "portable: error: $*" >&2; exit 1; }
[[ -x $binary ]] || die "no binary at $binary"

name="arrowport-$version-linux-x86_64"
bundle="$work/$name"
rm -rf "$bundle"
mkdir -p "$bundle/bin" "$bundle/libexec/arrowport" "$bundle/lib" "$bundle/share/doc/arrowport/third-party"

# What the binary loads, as the root's loader resolves it (the loader itself apart).
mapfile -t libraries < <(arrowport_in_root ldd "$binary" |
  awk '$2 == "=>" && $3 ~ /^\// {print $3}' | LC_ALL=C sort -u)
[[ ${#libraries[@]} -gt 10 ]] || die "ldd listed ${#libraries[@]} libraries of $binary"
loader=$(arrowport_in_root readlink -f /lib64/ld-linux-x86-64.so.2)
root="$ARROWPORT_ROOT"
if arrowport_host_is_native; then root=""; fi
for library in "${libraries[@]}"; do
  cp -L "$root$library" "$bundle/lib/$(basename "$library")"
done
chmod 0644 "$bundle/lib/"*
install -m 0755 "$root$loader" "$bundle/libexec/arrowport/arrowport"
install -m 0755 "$binary" "$bundle/libexec/arrowport/arrowport.bin"
arrowport_in_root strip --strip-unneeded "$bundle/libexec/arrowport/arrowport.bin"

cat >"$bundle/bin/arrowport" <<'LAUNCHER'
#!/bin/sh
# Arrowport's portable build: the server and CLI run through the C library and loader
# bundled beside this script, whatever the host has (docs/packaging.md). --library-path
# (not LD_LIBRARY_PATH) leaves programs it may start with the host's own libraries.
self=$(readlink -f -- "$0") || exit 127
top=${self%/bin/*}
case "$top" in
  *:* | *\;* | *\$*)
    # The loader splits its library path at : and ; and expands $ORIGIN-like words.
    echo "arrowport: cannot run from $top: its path holds ':', ';' or '\$'; move or" \
      "link the unpacked directory to a path without them" >&2
    exit 127 ;;
esac
if [ ! -e "$top/libexec/arrowport/arrowport" ]; then
  echo "arrowport: $self is not in its bundle (no $top/libexec/arrowport/arrowport):" \
    "run it from the unpacked directory, or through a symlink to it, not a copy" >&2
  exit 127
fi
if [ ! -x "$top/libexec/arrowport/arrowport" ]; then
  echo "arrowport: $top/libexec/arrowport/arrowport cannot be executed: its execute bits" \
    "were lost, or $top is on a file system mounted noexec" >&2
  exit 126
fi
exec "$top/libexec/arrowport/arrowport" --library-path "$top/lib" --argv0 "$0" \
  "$top/libexec/arrowport/arrowport.bin" "$@"
LAUNCHER
chmod 0755 "$bundle/bin/arrowport"

# Licences: the project's, and the copyright file of each Debian package a bundled file
# came from (its licence texts, as Debian ships them).
doc="$bundle/share/doc/arrowport"
install -m 0644 "$repo/LICENSE" "$repo/NOTICE" "$repo/README.md" "$doc/"
# (dpkg knows each file by its real path: /usr/lib/..., not the /lib/... ldd may print.)
mapfile -t owned < <(arrowport_in_root readlink -f "${libraries[@]}")
mapfile -t packages < <(arrowport_in_root dpkg -S "${owned[@]}" "$loader" |
  cut -d: -f1 | LC_ALL=C sort -u)
[[ ${#packages[@]} -gt 5 ]] || die "dpkg -S named ${#packages[@]} packages for the bundled files"
for package in "${packages[@]}"; do
  mkdir -p "$doc/third-party/$package"
  cp -L "$root/usr/share/doc/$package/copyright" "$doc/third-party/$package/copyright" ||
    die "no copyright file for $package"
done
# Code compiled into the binary from header-only libraries (JSON, CLI parsing, HTTP, ...):
# their packages' copyright files too.
mapfile -t header_packages < <(arrowport_in_root dpkg -S /usr/include/nlohmann/json.hpp \
  /usr/include/CLI/CLI.hpp /usr/include/httplib.h /usr/include/flatbuffers/flatbuffers.h \
  2>/dev/null | cut -d: -f1 | LC_ALL=C sort -u)
for package in "${header_packages[@]}"; do
  mkdir -p "$doc/third-party/$package"
  cp -L "$root/usr/share/doc/$package/copyright" "$doc/third-party/$package/copyright"
done
packages+=("${header_packages[@]}")
# Apache-licensed components ship NOTICE files their licence asks to pass on.
for package in "${packages[@]}"; do
  for notice in "$root/usr/share/doc/$package"/NOTICE*; do
    [[ -f $notice ]] && cp -L "$notice" "$doc/third-party/$package/"
  done
done
# The licence texts those files name from /usr/share/common-licenses/ (which hosts other
# than Debian's lack, and a wheel never sees): the bundle carries them.
mkdir -p "$doc/third-party/common-licenses"
for licence in $(grep -ho '/usr/share/common-licenses/[A-Za-z0-9.+_-]*' \
                   "$doc"/third-party/*/copyright | sed 's|.*/||; s|[.]$||' | LC_ALL=C sort -u); do
  if [[ -f $root/usr/share/common-licenses/$licence ]]; then
    cp -L "$root/usr/share/common-licenses/$licence" "$doc/third-party/common-licenses/$licence"
  fi
done
{
  echo "# Debian packages whose files this bundle carries (package version)"
  arrowport_in_root dpkg-query -W -f '${Package} ${Version}\n' "${packages[@]}" | LC_ALL=C sort
} >"$doc/third-party/PACKAGES"
chmod -R u=rwX,go=rX "$bundle"
printf '%s\n' "$bundle"
