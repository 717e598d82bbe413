# Shared helpers for bin/ and toolchain/ scripts (sourced, not executed).
# Decides whether the host has the libraries (native) or commands must run in the forky root.

# The clone this file is in, never one an environment names: a script of one clone run
# from another's (tests, a user with two clones) built and ran the other's.
ARROWPORT_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Everything set up once per machine lives under one directory outside the clone, which
# fresh clones reuse: the toolchain root, the compiler cache, and bin/test's MinIO, venvs
# and Spark jars (ARROWPORT_CACHE moves them all; each has its own override too).
ARROWPORT_CACHE="${ARROWPORT_CACHE:-/var/cache/arrowport}"
ARROWPORT_ROOT="${ARROWPORT_ROOT:-$ARROWPORT_CACHE/forky}"
ARROWPORT_CCACHE_DIR="${ARROWPORT_CCACHE_DIR:-$ARROWPORT_CACHE/ccache}"
ARROWPORT_GO_CACHE="${ARROWPORT_GO_CACHE:-$ARROWPORT_CACHE/go}"
export ARROWPORT_REPO ARROWPORT_CACHE ARROWPORT_ROOT ARROWPORT_CCACHE_DIR ARROWPORT_GO_CACHE

# The Debian mirror of this host's apt sources (the forky roots are made from it; no
# registry's host is named in the project).
host_mirror() {
  local uri
  uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
        awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}' | grep -v -- '-security' | head -n 1)
  if [[ -z $uri ]]; then
    uri=$(grep -h -E '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
          awk '{for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; break}}' |
          grep -v -- '-security' | head -n 1)
  fi
  printf '%s' "$uri"
}

# True when this host can build and run Arrowport without the forky root.
arrowport_host_is_native() {
  case "${ARROWPORT_NATIVE:-auto}" in
    1) return 0 ;;
    0) return 1 ;;
  esac
  [[ -f /usr/include/duckdb.hpp ]] && command -v cmake >/dev/null &&
    pkg-config --atleast-version=25 arrow-flight-sql 2>/dev/null
}

# Runs a command inside the forky root (or directly when native), with the repository and the
# ccache directory visible at the same paths, in the caller's working directory when that is
# inside the repository. Mounts are private to the command (unshare --mount).
arrowport_in_root() {
  if arrowport_host_is_native; then
    "$@"
    return
  fi
  local root="$ARROWPORT_ROOT" repo="$ARROWPORT_REPO" cwd="$PWD"
  case "$cwd" in "$repo"|"$repo"/*) ;; *) cwd="$repo" ;; esac
  mkdir -p "$ARROWPORT_CCACHE_DIR"
  # Arguments travel as positional parameters, never re-parsed by a shell.
  unshare --mount --fork --kill-child sh -c '
    set -e
    root=$1 repo=$2 cwd=$3 cc=$4 gobin=$5; shift 5
    mount --make-rprivate /
    mount --bind /proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mkdir -p "$root$repo" "$root$cc" "$root/tmp"
    mount --bind "$repo" "$root$repo"
    mount --bind "$cc" "$root$cc"
    # The Go-built test servers (MinIO), when installed: unit tests start them too.
    if [ -d "$gobin" ]; then mkdir -p "$root$gobin" && mount --bind "$gobin" "$root$gobin"; fi
    exec chroot "$root" /usr/bin/env -C "$cwd" "$@"' \
    arrowport-root "$root" "$repo" "$cwd" "$ARROWPORT_CCACHE_DIR" "$ARROWPORT_GO_CACHE/bin" "$@"
}

# Execs a binary built inside the forky root directly on the host, through the root's own
# dynamic loader and libraries. The process sees the host's file system, so relative paths,
# stdin/stdout, exit codes and signals behave exactly as for a native program.
arrowport_exec_binary() {
  local bin=$1; shift
  if arrowport_host_is_native; then
    exec "$bin" "$@"
  fi
  local root="$ARROWPORT_ROOT"
  local libs="$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu:$root/usr/lib"
  # The kernel names a process after the file it executes: the root's loader, copied under
  # the binary's name, makes ps, pgrep and DuckDB's lock message say arrowport.
  local loader="$ARROWPORT_REPO/build/loaders/$(basename "$bin")"
  if ! cmp -s "$loader" "$root/lib64/ld-linux-x86-64.so.2"; then
    # (A clone this account cannot write to runs under the loader's own name.)
    { mkdir -p "$(dirname "$loader")" && cp "$root/lib64/ld-linux-x86-64.so.2" "$loader.$$" &&
      mv -f "$loader.$$" "$loader"; } 2>/dev/null || loader="$root/lib64/ld-linux-x86-64.so.2"
  fi
  exec "$loader" --library-path "$libs" --argv0 "$bin" "$bin" "$@"
}

# True when this account can build: root (debootstrap, chroot), or a native host.
arrowport_can_build() {
  [[ $(id -u) == 0 ]] || arrowport_host_is_native
}

# bin/arrowport on an account without root: the release build as it is, if one was made
# (by root) and its toolchain root is there; else the portable build from dist/, unpacked
# into build/portable/ once; else what to run instead. Never returns.
arrowport_run_without_root() {
  local built="$ARROWPORT_REPO/build/release/arrowport" tarball name
  if [[ ${1:-} != package && ${1:-} != bench && -x $built &&
        -x $ARROWPORT_ROOT/lib64/ld-linux-x86-64.so.2 ]]; then
    echo "arrowport: running build/release/arrowport as it is (rebuilding needs root)" >&2
    arrowport_exec_binary "${ARROWPORT_BINARY:-$built}" "$@"
  fi
  tarball=$(ls -t "$ARROWPORT_REPO"/dist/arrowport-*-linux-x86_64.tar.gz 2>/dev/null | head -n 1 || true)
  if [[ ${1:-} != package && ${1:-} != bench && -n $tarball ]]; then
    name=$(basename "$tarball" .tar.gz)
    local unpacked="$ARROWPORT_REPO/build/portable/$name"
    # Unpacked again when the tarball is newer (a rebuild under the same name), into a
    # scratch directory first: a run cut short leaves no half bundle to run.
    if [[ ! -x $unpacked/bin/arrowport || $tarball -nt $unpacked ]]; then
      local scratch
      scratch=$(mkdir -p "$ARROWPORT_REPO/build/portable" &&
                mktemp -d "$ARROWPORT_REPO/build/portable/.unpacking.XXXXXX") ||
        { echo "arrowport: cannot unpack $tarball into build/portable/ (a read-only clone?):" \
            "unpack it elsewhere and run its bin/arrowport" >&2; exit 1; }
      tar -C "$scratch" -xzf "$tarball" && rm -rf "$unpacked" &&
        mv "$scratch/$name" "$unpacked" && rm -rf "$scratch" && touch "$unpacked" ||
        { rm -rf "$scratch"; echo "arrowport: unpacking $tarball failed" >&2; exit 1; }
    fi
    exec "$unpacked/bin/arrowport" "$@"
  fi
  cat >&2 <<EOF
arrowport: this account is not root, and a clone builds Arrowport inside a Debian root
made with debootstrap and entered with chroot, which need root. Instead, run the portable
build (any x86-64 Linux, no root, nothing to install):
  tar xzf arrowport-VERSION-linux-x86_64.tar.gz
  ./arrowport-VERSION-linux-x86_64/bin/arrowport serve
or its wheel:  python3 -m venv venv && venv/bin/pip install arrowport_server-VERSION-*.whl
               venv/bin/arrowport serve
Both are made by './bin/arrowport package' (as root, on any machine) into dist/; a
tarball copied into this clone's dist/ is run by ./bin/arrowport directly.
See docs/packaging.md.
EOF
  exit 1
}
