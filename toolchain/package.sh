#!/usr/bin/env bash
# Builds the release packages into dist/ (docs/packaging.md), all of one portable build
# (toolchain/portable.sh: the binary with its libraries, C library and loader):
#   arrowport-<version>-linux-x86_64.tar.gz   the portable build: any x86-64 Linux, no root
#   arrowport_server-<version>-py3-none-manylinux_2_17_x86_64...whl   the same, for pip
#   arrowport_<version>_amd64.deb      the same in /usr/lib/arrowport, a systemd unit, the
#                                      config; no Depends (Debian 11 to forky, Ubuntu)
#   arrowport-<version>.oci.tar        an OCI image (oci-archive): that .deb installed into a
#                                      minimal forky root, made with umoci (no daemon)
#   arrowport-<version>.packages.txt   every Debian package in the image and in the bundle
#   SHA256SUMS
# <version> is toolchain/version.sh's (git describe); the image tag has "-" for its "+".
# Nothing is rebuilt while the binary, packaging/, this script and the package lists are
# unchanged ("up to date"); --force rebuilds anyway (e.g. for newer forky packages).
# Usage: toolchain/package.sh [--force]          (./bin/arrowport package [--force])
#        toolchain/package.sh --runtime-root     prints the cached minimal forky root
#                                                (made or refreshed first; the tests copy it)
# Env:   ARROWPORT_SKIP_BUILD=1  package build/release/arrowport as it is
set -euo pipefail
# Modes in the packages are the ones written here, whatever the caller's umask (077 made
# the .deb's directories 0700, which dpkg-deb refuses for DEBIAN/).
umask 022
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=toolchain/env.sh
source "$here/env.sh"
repo="$ARROWPORT_REPO"
force=0
only_runtime_root=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    --runtime-root) only_runtime_root=1 ;;
    *) echo "usage: toolchain/package.sh [--force] [--runtime-root]" >&2; exit 2 ;;
  esac
done

log() { echo "package: $*" >&2; }
# jq, dpkg-query and dpkg-deb are the toolchain root's (toolchain/packaging-packages.txt).
jq() { arrowport_in_root jq "$@"; }
die() { echo "package: error: $*" >&2; exit 1; }

dist="$repo/dist"
work="$repo/build/package"
binary="$repo/build/release/arrowport"
# The minimal forky root images and tests start from, and apt's downloads, shared by clones.
runtime_root="${ARROWPORT_RUNTIME_ROOT:-$ARROWPORT_CACHE/runtime-forky}"
apt_archives="$ARROWPORT_CACHE/apt-archives"
image_uid=10001
# The image's health check command (podman reads no health check from an OCI image: pass
# it as --health-cmd; docker reads the Healthcheck that add_healthcheck writes).
# /readyz asks no sign-in: a server with users (which a non-loopback bind needs) is still
# checked without a password in the container's environment.
health_command="/usr/bin/arrowport status --ready --server http://127.0.0.1:8888 --connect-wait 0"

# in_chroot DIR CMD...: runs CMD chrooted into DIR (not the toolchain root) in a private
# mount namespace, with /proc, /dev and apt's download cache mounted; gone afterwards.
in_chroot() {
  local dir=$1; shift
  mkdir -p "$apt_archives/partial"
  cp -f /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null || true
  unshare --mount --fork --kill-child sh -c '
    set -e
    root=$1 archives=$2; shift 2
    mount --make-rprivate /
    mount --bind /proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mkdir -p "$root/var/cache/apt/archives"
    mount --bind "$archives" "$root/var/cache/apt/archives"
    exec chroot "$root" /usr/bin/env DEBIAN_FRONTEND=noninteractive "$@"' \
    in-chroot "$dir" "$apt_archives" "$@"
}

# Makes (once) the minimal forky root, and refreshes its apt lists when they are older
# than the toolchain root's (whose libraries the .deb's Depends name) or than a day.
ensure_runtime_root() {
  mkdir -p "$(dirname "$runtime_root")"
  exec 7>"$runtime_root.lock"
  flock 7
  if [[ ! -f "$runtime_root/.arrowport-runtime-done" ]]; then
    if ! command -v debootstrap >/dev/null; then
      log "installing debootstrap on the host"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    fi
    local mirror="${ARROWPORT_MIRROR:-$(host_mirror)}"
    [[ -n $mirror ]] || die "no Debian mirror in this host's apt sources; set ARROWPORT_MIRROR"
    local script=/usr/share/debootstrap/scripts/forky
    [[ -e $script ]] || script=/usr/share/debootstrap/scripts/sid
    log "creating a minimal Debian forky root in $runtime_root (once)"
    rm -rf "$runtime_root.partial"
    debootstrap --variant=minbase forky "$runtime_root.partial" "$mirror" "$script" \
      >"$runtime_root.log" 2>&1 || { tail -n 30 "$runtime_root.log" >&2; die "debootstrap failed"; }
    echo 'Acquire::Check-Valid-Until "false";' >"$runtime_root.partial/etc/apt/apt.conf.d/99arrowport"
    rm -rf "$runtime_root.partial/var/cache/apt/archives"/*.deb
    touch "$runtime_root.partial/.arrowport-runtime-done"
    rm -rf "$runtime_root"
    mv "$runtime_root.partial" "$runtime_root"
  fi
  local lists="$runtime_root/var/lib/apt/lists"
  if [[ -z $(find "$lists" -maxdepth 1 -name '*Packages*' -newer "$ARROWPORT_ROOT/var/lib/apt/lists" -mmin -1440 2>/dev/null) ]]; then
    log "refreshing the apt lists of $runtime_root"
    in_chroot "$runtime_root" apt-get update -qq >/dev/null
    touch "$lists"/*Packages* 2>/dev/null || true
  fi
  exec 7>&-
}

if [[ $only_runtime_root == 1 ]]; then
  ensure_runtime_root
  printf '%s\n' "$runtime_root"
  exit 0
fi

"$here/bootstrap.sh" --packaging
if [[ "${ARROWPORT_SKIP_BUILD:-0}" != 1 || ! -x "$binary" ]]; then
  "$here/build.sh" release --target arrowport
fi
# The binary's own version (build.sh wrote it from git describe when it built it): the
# files are named as `arrowport --version` says, whatever was committed since.
version=$(sed -n 's/^#define ARROWPORT_VERSION_STRING "\(.*\)"$/\1/p' \
  "$repo/build/release/generated/arrowport/version_string.h")
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+(\+[0-9]+\.g[0-9a-f]+(\.dirty)?)?$ ]] ||
  die "the release build's version is '$version' (build/release/generated/arrowport/version_string.h)"
deb="$dist/arrowport_${version}_amd64.deb"
portable_name="arrowport-$version-linux-x86_64"
tarball="$dist/$portable_name.tar.gz"
wheel_glob="arrowport_server-$version-py3-none-*.whl"
oci_tar="$dist/arrowport-$version.oci.tar"
sbom="$dist/arrowport-$version.packages.txt"
image_tag=${version//+/-}
image_name="localhost/arrowport:$image_tag"
doc_files=(README.md docs/configuration.md docs/security.md docs/packaging.md docs/cluster.md)

mkdir -p "$dist" "$work"
exec 8>"$work/../.package.lock"
if ! flock -n 8; then
  log "another packaging run of this clone is under way; waiting for it"
  flock 8
fi

# What the packages are made of: when none of it changed, they are not made again.
inputs_hash() {
  {
    echo "$version"
    sha256sum "$binary" | cut -d' ' -f1
    (cd "$repo" && find packaging -type f | LC_ALL=C sort | xargs sha256sum)
    # The root's packages: a newer OpenSSL or glibc there is a newer bundle.
    arrowport_in_root dpkg-query -W -f '${Package} ${Version}\n' | sha256sum
    (cd "$repo" && sha256sum toolchain/package.sh toolchain/portable.sh \
       toolchain/make_wheel.py toolchain/packages.txt toolchain/packaging-packages.txt \
       LICENSE NOTICE "${doc_files[@]}")
  } | sha256sum | cut -d' ' -f1
}
stamp="$dist/.arrowport-package-inputs"
wanted=$(inputs_hash)
if [[ $force == 0 && -f $stamp && "$(cat "$stamp")" == "$wanted" && -f $deb && -f $oci_tar &&
      -f $sbom && -f $tarball && -n "$(compgen -G "$dist/$wheel_glob")" &&
      -f "$dist/SHA256SUMS" ]]; then
  log "up to date: $(basename "$deb"), $(basename "$oci_tar") (--force rebuilds)"
  exit 0
fi
rm -f "$stamp" "$dist/SHA256SUMS"

# The portable build (toolchain/portable.sh) and what is made of it alone: the tarball
# and the wheel.
build_portable() {
  rm -rf "$work/portable"
  portable_dir=$("$here/portable.sh" "$binary" "$version" "$work/portable")
  # Every version's artefacts go (dist/ holds one version: SHA256SUMS names it).
  rm -f "$dist"/arrowport-*-linux-x86_64.tar.gz "$dist"/arrowport_server-*.whl \
    "$dist"/arrowport_*_amd64.deb "$dist"/arrowport-*.oci.tar "$dist"/arrowport-*.packages.txt
  # (2020-01-01: a zip made of it takes no date before 1980.)
  tar -C "$work/portable" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1577836800 \
    -cf - "$portable_name" | gzip -6n >"$tarball.partial"
  mv "$tarball.partial" "$tarball"
  python3 "$here/make_wheel.py" "$portable_dir" "$version" "$dist" >/dev/null
}

# The Debian changelog: packaging/deb/changelog, under an entry for this version when it
# has none (a build between tags).
deb_changelog() {
  if ! head -n 1 "$repo/packaging/deb/changelog" | grep -q "^arrowport ($version)"; then
    printf 'arrowport (%s) unstable; urgency=medium\n\n  * A build of %s, after the last release below.\n\n -- Arrowport developers <arrowport@localhost>  %s\n\n' \
      "$version" "$version" "$(date -R -d @0)"
  fi
  cat "$repo/packaging/deb/changelog"
}

build_deb() {
  local stage="$work/deb"
  rm -rf "$stage"
  # The portable build as it is, in /usr/lib/arrowport: it needs no library of the system
  # (Depends: none), so one .deb installs on every Debian and Ubuntu release.
  mkdir -p "$stage/usr/lib" "$stage/usr/bin"
  cp -a "$portable_dir" "$stage/usr/lib/arrowport"
  ln -s ../lib/arrowport/bin/arrowport "$stage/usr/bin/arrowport"
  # Secrets go in the config: root's alone; the unit hands the service a copy
  # (LoadCredential=).
  install -D -m 0600 "$repo/packaging/config.yaml" "$stage/etc/arrowport/config.yaml"
  install -D -m 0644 "$repo/packaging/arrowport.service" \
    "$stage/usr/lib/systemd/system/arrowport.service"
  # The cluster node's template (docs/cluster.md): arrowport@NODE.service.
  install -m 0644 "$repo/packaging/arrowport@.service" "$stage/usr/lib/systemd/system/"
  local doc="$stage/usr/share/doc/arrowport" f
  install -D -m 0644 "$repo/packaging/deb/copyright" "$doc/copyright"
  deb_changelog | gzip -9n >"$doc/changelog.Debian.gz"
  for f in "${doc_files[@]}"; do install -m 0644 "$repo/$f" "$doc/$(basename "$f")"; done
  # The balancer's config for a cluster (docs/cluster.md), to copy to /etc/haproxy/.
  install -D -m 0644 "$repo/packaging/haproxy/arrowport.cfg" "$doc/examples/haproxy.cfg"
  mkdir -p "$stage/DEBIAN"
  sed -e "s/@VERSION@/$version/" \
      -e "s/@INSTALLED_SIZE@/$(du -sk --exclude=DEBIAN "$stage" | cut -f1)/" \
      "$repo/packaging/deb/control.in" >"$stage/DEBIAN/control"
  echo /etc/arrowport/config.yaml >"$stage/DEBIAN/conffiles"
  install -m 0755 "$repo/packaging/deb/postinst" "$repo/packaging/deb/prerm" \
    "$repo/packaging/deb/postrm" "$stage/DEBIAN/"
  (cd "$stage" && find usr -type f | LC_ALL=C sort | xargs md5sum >DEBIAN/md5sums)
  rm -f "$deb"
  # xz: what dpkg reads on every release it is meant for (Debian 11's has no zstd).
  arrowport_in_root dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb.partial" >/dev/null
  mv "$deb.partial" "$deb"
}

# The image's root: the minimal forky root with the .deb installed by apt, a numeric
# non-root user owning the state directory, and no caches, lists, docs or device nodes.
build_rootfs() {
  local rootfs=$1
  rm -rf "$rootfs"
  cp -a "$runtime_root" "$rootfs"
  rm -f "$rootfs"/.arrowport-*
  cp "$deb" "$rootfs/tmp/arrowport.deb"
  in_chroot "$rootfs" apt-get install -y -qq --no-install-recommends /tmp/arrowport.deb \
    >"$work/image-apt.log" 2>&1 || { tail -n 30 "$work/image-apt.log" >&2; die "apt install in the image failed"; }
  in_chroot "$rootfs" sh -c "groupadd --system -K SYS_GID_MAX=$image_uid --gid $image_uid arrowport &&
    useradd --system -K SYS_UID_MAX=$image_uid -K SYS_GID_MAX=$image_uid --uid $image_uid --gid $image_uid --home-dir /var/lib/arrowport \
      --no-create-home --shell /usr/sbin/nologin arrowport &&
    install -d -o $image_uid -g 0 -m 0770 /var/lib/arrowport"
  # Group 0 may write the volume: a runtime that picks another uid (OpenShift, a
  # Kubernetes runAsUser) runs it with group 0.
  # The image's own config (all addresses, the volume's database), in place of the
  # package's loopback one: settings in a file a mounted config replaces whole, not in
  # ARROWPORT_* variables that would override the operator's file. It holds no secret,
  # and the image's user must read it.
  install -m 0644 "$repo/packaging/image-config.yaml" "$rootfs/etc/arrowport/config.yaml"
  # No program in the image raises privileges: minbase's setuid and setgid programs (su,
  # mount, passwd, chage, ...) keep working for root and lose their bits (the test also
  # checks that none has file capabilities).
  find "$rootfs" -xdev -type f -perm /6000 -exec chmod ug-s {} +
  rm -rf "$rootfs/tmp/"* "$rootfs/var/lib/apt/lists/"* "$rootfs/var/cache/apt/"*.bin \
    "$rootfs/var/cache/apt/archives" "$rootfs/var/cache/debconf/"*-old \
    "$rootfs/var/lib/dpkg/"*-old "$rootfs/usr/share/man" "$rootfs/usr/share/info" \
    "$rootfs/etc/resolv.conf" "$rootfs/dev/"*
  mkdir -p "$rootfs/var/cache/apt/archives/partial"
  find "$rootfs/var/log" -type f -delete
  find "$rootfs/usr/share/doc" -type f ! -name copyright ! -path '*/arrowport/*' -delete
  find "$rootfs/usr/share/doc" -type d -empty -delete
}

# Every Debian package in the image with its version, and the .deb's Depends.
write_sbom() {
  {
    echo "# arrowport $version: the Debian packages inside $(basename "$oci_tar")"
    echo "# (arrowport's own bundle, in it and in every package, carries files of these:"
    grep -v '^#' "$portable_dir/share/doc/arrowport/third-party/PACKAGES" | sed 's/^/#   /'
    echo "# package version architecture"
    arrowport_in_root dpkg-query --admindir="$1/var/lib/dpkg" -W -f '${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\n' |
      awk -F'\t' '$1 ~ /^ii/ {print $2, $3, $4}' | LC_ALL=C sort
  } >"$sbom"
}

# umoci edits images only through its own options, and OCI's image config has no health
# check: Docker's "Healthcheck" is added to the config blob here, and the manifest and the
# index re-digested. Docker reads it; podman and OCI-only runtimes do not (the label
# org.arrowport.healthcheck carries the command for --health-cmd and probes).
add_healthcheck() {
  local layout=$1 manifest config
  manifest=$(jq -r '.manifests[0].digest' "$layout/index.json" | cut -d: -f2)
  config=$(jq -r '.config.digest' "$layout/blobs/sha256/$manifest" | cut -d: -f2)
  local check="/usr/bin/arrowport status --ready --server http://127.0.0.1:\${ARROWPORT_HTTP_PORT:-8888} --connect-wait 0 >/dev/null"
  jq -c --arg check "$check" '.config.Healthcheck = {Test: ["CMD-SHELL", $check],
      Interval: 30000000000, Timeout: 10000000000, StartPeriod: 60000000000, Retries: 3}' \
    "$layout/blobs/sha256/$config" >"$work/config.json"
  local new_config new_manifest
  new_config=$(sha256sum "$work/config.json" | cut -d' ' -f1)
  mv "$work/config.json" "$layout/blobs/sha256/$new_config"
  jq -c --arg d "sha256:$new_config" --argjson s "$(stat -c %s "$layout/blobs/sha256/$new_config")" \
    '.config.digest = $d | .config.size = $s' "$layout/blobs/sha256/$manifest" >"$work/manifest.json"
  new_manifest=$(sha256sum "$work/manifest.json" | cut -d' ' -f1)
  mv "$work/manifest.json" "$layout/blobs/sha256/$new_manifest"
  rm -f "$layout/blobs/sha256/$manifest" "$layout/blobs/sha256/$config"
  # The platform in the index too, as its config says (OCI's optional descriptor field: a
  # runtime choosing by platform need not open the manifest).
  jq -c --arg d "sha256:$new_manifest" --argjson s "$(stat -c %s "$layout/blobs/sha256/$new_manifest")" \
    --arg name "$image_name" --slurpfile config "$layout/blobs/sha256/$new_config" \
    '.manifests[0].digest = $d | .manifests[0].size = $s |
      .manifests[0].platform = {architecture: $config[0].architecture, os: $config[0].os} |
      .manifests[0].annotations["io.containerd.image.name"] = $name' \
    "$layout/index.json" >"$work/index.json"
  mv "$work/index.json" "$layout/index.json"
}

# Docker's loader format beside the OCI layout: the top-level manifest.json that
# `docker save` writes, naming the very blobs the OCI manifest names (no copies), in its
# order. Docker's classic image store reads only this file (the layers may be gzip; each
# must decompress to its diff_id); its containerd store and podman read index.json. No
# `repositories` file: only the pre-1.10 loader read it. The tag is the index's name, so
# both stores and podman load the image as localhost/arrowport:<version>.
add_docker_manifest() {
  local layout=$1 manifest
  manifest=$(jq -r '.manifests[0].digest' "$layout/index.json" | cut -d: -f2)
  jq -c --arg tag "$image_name" '[{Config: ("blobs/" + (.config.digest | sub(":"; "/"))),
      RepoTags: [$tag], Layers: [.layers[].digest | "blobs/" + sub(":"; "/")]}]' \
    "$layout/blobs/sha256/$manifest" >"$layout/manifest.json"
}

build_image() {
  local layout="$work/oci" bundle="$work/bundle" ref="$work/oci:$image_tag"
  rm -rf "$layout" "$bundle"
  arrowport_in_root umoci init --layout "$layout"
  arrowport_in_root umoci new --image "$ref"
  arrowport_in_root umoci unpack --image "$ref" "$bundle" >/dev/null
  rmdir "$bundle/rootfs"
  build_rootfs "$bundle/rootfs"
  write_sbom "$bundle/rootfs"
  arrowport_in_root umoci repack --image "$ref" "$bundle" >/dev/null
  arrowport_in_root umoci config --image "$ref" --os linux --architecture amd64 \
    --author "Arrowport developers" \
    --config.entrypoint /usr/bin/arrowport --config.entrypoint serve \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --config.env ARROWPORT_CONFIG=/etc/arrowport/config.yaml \
    --config.exposedports 8815/tcp --config.exposedports 8888/tcp \
    --config.volume /var/lib/arrowport --config.workingdir /var/lib/arrowport \
    --config.user "$image_uid:$image_uid" \
    --config.label "org.opencontainers.image.title=arrowport" \
    --config.label "org.opencontainers.image.version=$version" \
    --config.label "org.opencontainers.image.description=Arrow Flight and HTTP server for an embedded DuckDB database" \
    --config.label "org.arrowport.healthcheck=$health_command"
  arrowport_in_root umoci gc --layout "$layout"
  add_healthcheck "$layout"
  add_docker_manifest "$layout"
  rm -rf "$bundle"
  rm -f "$oci_tar"
  # Every blob readable (umoci writes the layer 0600): a layout unpacked by one account
  # is read by another's engine.
  chmod -R u+rwX,go+rX "$layout"
  tar -C "$layout" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1577836800 \
    -cf "$oci_tar.partial" oci-layout index.json manifest.json blobs
  mv "$oci_tar.partial" "$oci_tar"
}

start=$SECONDS
ensure_runtime_root
log "building the portable build: $(basename "$tarball") and the wheel"
build_portable
log "building $(basename "$deb")"
build_deb
log "building $(basename "$oci_tar") (the .deb installed into a minimal forky root)"
build_image
artefacts=("$(basename "$tarball")" $(cd "$dist" && compgen -G "$wheel_glob")
           "$(basename "$deb")" "$(basename "$oci_tar")" "$(basename "$sbom")")
(cd "$dist" && sha256sum "${artefacts[@]}" >SHA256SUMS)
echo "$wanted" >"$stamp"
log "done in $((SECONDS - start)) s:"
(cd "$dist" && ls -l "${artefacts[@]}" SHA256SUMS) >&2
