"""Checks an image archive (dist/arrowport-<version>.oci.tar) against what its loaders read
(issue 65; docs/packaging.md#the-oci-image): the OCI image layout (opencontainers/image-spec:
image-layout.md, image-index.md, manifest.md, descriptor.md, config.md), which podman, skopeo,
umoci and Docker's containerd store load, and `docker save`'s format, the top-level
manifest.json, which Docker's classic store loads (moby's image/tarexport/load.go). Standard
library only: `check_archive(path)` returns the problems found, each naming the entry and
what is wrong; an empty list means the archive passes (`python3 tests/e2e/oci_archive.py
ARCHIVE` prints them, exit 1 if any).

What is checked:
- oci-layout holds imageLayoutVersion 1.0.0; index.json is an image index (schemaVersion 2,
  its mediaType) naming image manifests.
- Every descriptor (manifest, config, layer) names a blob present under blobs/<alg>/ of its
  size and sha256; the manifest and config have their OCI media types, the layers a tar
  media type this checker can decompress (plain or gzip).
- The config's rootfs is of type "layers", its diff_ids the sha256 of each layer as
  decompressed, in the manifest's order (Docker refuses the load otherwise); its os and
  architecture are the wanted platform, and so is the index's platform if it names one.
- manifest.json: one entry per image, its Config and Layers paths inside the archive and
  the very blobs the OCI manifest names, in the same order (no copies); RepoTags each a
  name with a tag, as Docker's reference parser accepts them.
- The image runs as a numeric user that is not root, with the wanted Entrypoint.
- Nothing else: no blob that no descriptor names (a copy left behind), no other file."""
import gzip
import hashlib
import json
import posixpath
import re
import sys
import tarfile

LAYOUT_VERSION = "1.0.0"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPES = {"application/vnd.oci.image.layer.v1.tar": None,
               "application/vnd.oci.image.layer.v1.tar+gzip": "gzip"}
SHA256 = re.compile(r"^sha256:([a-f0-9]{64})$")
# Docker's reference grammar (distribution/reference), as `docker load` parses RepoTags:
# an optional domain (with a port), lower-case path components, then a tag (required).
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*" \
          r"[a-zA-Z0-9])?)*(?::[0-9]+)?)"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REPO_TAG = re.compile(rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*:[\w][\w.-]{{0,127}}$")
CHUNK = 1 << 20


def check_archive(path, entrypoint=None, platform=("linux", "amd64"), repo_tags=None):
    """The problems of the image archive at PATH (an empty list: none). ENTRYPOINT and
    REPO_TAGS, when given, are what the config's Entrypoint and manifest.json's RepoTags
    must be; PLATFORM is the (os, architecture) the image must be for."""
    try:
        with tarfile.open(path) as tar:
            return _Check(tar, entrypoint, platform, repo_tags).run()
    except (OSError, tarfile.TarError) as e:
        return [f"{path}: not a readable tar archive: {e}"]


class _Check:
    def __init__(self, tar, entrypoint, platform, repo_tags):
        self.tar = tar
        self.entrypoint = entrypoint
        self.platform = platform
        self.repo_tags = repo_tags
        self.problems = []
        self.files = {}          # normalized name -> TarInfo of each regular file
        self.referenced = set()  # blob paths a descriptor named

    def problem(self, text):
        self.problems.append(text)

    def run(self):
        self._list_entries()
        self._check_layout_file()
        images = self._check_index()
        self._check_docker_manifest(images)
        for name in sorted(self.files):
            if name.startswith("blobs/") and name not in self.referenced:
                self.problem(f"{name}: a blob that no descriptor names (a copy, or left "
                             f"behind by an edit of the image)")
        return self.problems

    def _list_entries(self):
        allowed = {"oci-layout", "index.json", "manifest.json"}
        for member in self.tar:
            name = posixpath.normpath(member.name)
            if member.name.startswith("/") or name == ".." or name.startswith("../"):
                self.problem(f"{member.name}: an entry outside the archive's directory")
            elif member.isdir():
                continue
            elif not member.isfile():
                self.problem(f"{member.name}: not a regular file (the layout holds files "
                             f"and directories only)")
            elif name in self.files:
                self.problem(f"{name}: in the archive twice")
            else:
                self.files[name] = member
                if name not in allowed and not name.startswith("blobs/"):
                    self.problem(f"{name}: a file neither the OCI layout nor Docker's "
                                 f"loader format has")

    def _read(self, name, limit=4 << 20):
        member = self.files[name]
        if member.size > limit:
            raise ValueError(f"{member.size} bytes, more than a JSON document here holds")
        return self.tar.extractfile(member).read()

    def _json(self, name, what):
        if name not in self.files:
            self.problem(f"{name}: missing ({what})")
            return None
        try:
            return json.loads(self._read(name))
        except ValueError as e:
            self.problem(f"{name}: not JSON ({what}): {e}")
            return None

    def _check_layout_file(self):
        layout = self._json("oci-layout", "the OCI image layout's marker")
        if layout is None:
            return
        version = layout.get("imageLayoutVersion") if isinstance(layout, dict) else None
        if version != LAYOUT_VERSION:
            self.problem(f"oci-layout: imageLayoutVersion is {version!r}, not "
                         f"{LAYOUT_VERSION!r}")

    def _blob(self, where, descriptor, media_types):
        """The path of the blob DESCRIPTOR names, when it is in the archive (its media
        type, size and digest checked, a wrong one noted: the walk goes on, to name every
        problem at once); None if it is not."""
        if not isinstance(descriptor, dict):
            self.problem(f"{where}: not a descriptor (a JSON object)")
            return None
        media_type = descriptor.get("mediaType")
        if media_type not in media_types:
            self.problem(f"{where}: mediaType {media_type!r}, not "
                         f"{' or '.join(sorted(media_types))}")
        match = SHA256.match(str(descriptor.get("digest")))
        if not match:
            self.problem(f"{where}: digest {descriptor.get('digest')!r} is not "
                         f"sha256:<64 lower-case hex digits>")
            return None
        name = f"blobs/sha256/{match.group(1)}"
        self.referenced.add(name)
        if name not in self.files:
            self.problem(f"{where}: its blob {name} is missing")
            return None
        size = descriptor.get("size")
        if type(size) is not int or size != self.files[name].size:
            self.problem(f"{where}: size {size!r}, but {name} holds "
                         f"{self.files[name].size} bytes")
        digest = self._sha256(self.tar.extractfile(self.files[name]))
        if digest != match.group(1):
            self.problem(f"{where}: {name}'s content has sha256 {digest}, not its name")
        return name

    @staticmethod
    def _sha256(stream):
        hasher = hashlib.sha256()
        while chunk := stream.read(CHUNK):
            hasher.update(chunk)
        return hasher.hexdigest()

    def _check_index(self):
        """The index's images, as (manifest, config) of each: JSON objects, or None."""
        index = self._json("index.json", "the OCI image index")
        if not isinstance(index, dict):
            return []
        if index.get("schemaVersion") != 2:
            self.problem(f"index.json: schemaVersion {index.get('schemaVersion')!r}, not 2")
        if index.get("mediaType") != INDEX_TYPE:
            self.problem(f"index.json: mediaType {index.get('mediaType')!r}, not "
                         f"{INDEX_TYPE}")
        manifests = index.get("manifests")
        if not isinstance(manifests, list) or not manifests:
            self.problem("index.json: no manifests")
            return []
        images = []
        for i, descriptor in enumerate(manifests):
            where = f"index.json manifests[{i}]"
            name = self._blob(where, descriptor, {MANIFEST_TYPE})
            if name is None:
                images.append((None, None))
                continue
            manifest, config = self._check_manifest(name)
            platform = descriptor.get("platform")
            if platform is not None:
                wanted = {"os": self.platform[0], "architecture": self.platform[1]}
                if {k: platform.get(k) for k in wanted} != wanted:
                    self.problem(f"{where}: platform {platform}, not {wanted}")
            images.append((manifest, config))
        return images

    def _check_manifest(self, name):
        manifest = self._json(name, "an image manifest")
        if not isinstance(manifest, dict):
            return None, None
        if manifest.get("schemaVersion") != 2:
            self.problem(f"{name}: schemaVersion {manifest.get('schemaVersion')!r}, not 2")
        if manifest.get("mediaType") != MANIFEST_TYPE:
            self.problem(f"{name}: mediaType {manifest.get('mediaType')!r}, not "
                         f"{MANIFEST_TYPE}")
        config_name = self._blob(f"{name} config", manifest.get("config"), {CONFIG_TYPE})
        layers = manifest.get("layers")
        if not isinstance(layers, list) or not layers:
            self.problem(f"{name}: no layers")
            layers = []
        diff_ids = []
        for i, layer in enumerate(layers):
            layer_name = self._blob(f"{name} layers[{i}]", layer, set(LAYER_TYPES))
            if layer_name is not None and layer.get("mediaType") in LAYER_TYPES:
                diff_ids.append(self._diff_id(layer_name, LAYER_TYPES[layer["mediaType"]]))
            else:
                diff_ids.append(None)
        config = self._json(config_name, "the image config") if config_name else None
        if isinstance(config, dict):
            self._check_config(config_name, config, diff_ids)
        return manifest, config

    def _diff_id(self, name, compression):
        """sha256:<hex> of the layer decompressed, or None if it does not decompress."""
        stream = self.tar.extractfile(self.files[name])
        try:
            if compression == "gzip":
                stream = gzip.GzipFile(fileobj=stream)
            return f"sha256:{self._sha256(stream)}"
        except (OSError, EOFError) as e:
            self.problem(f"{name}: does not decompress as its mediaType says: {e}")
            return None

    def _check_config(self, name, config, diff_ids):
        rootfs = config.get("rootfs") if isinstance(config.get("rootfs"), dict) else {}
        if rootfs.get("type") != "layers":
            self.problem(f"{name}: rootfs.type {rootfs.get('type')!r}, not 'layers'")
        found_ids = rootfs.get("diff_ids")
        if not isinstance(found_ids, list) or len(found_ids) != len(diff_ids):
            self.problem(f"{name}: rootfs.diff_ids {found_ids} do not name the manifest's "
                         f"{len(diff_ids)} layers")
        elif None not in diff_ids and found_ids != diff_ids:
            self.problem(f"{name}: rootfs.diff_ids {rootfs.get('diff_ids')} are not the "
                         f"sha256 of the layers decompressed, {diff_ids}")
        found = (config.get("os"), config.get("architecture"))
        if found != tuple(self.platform):
            self.problem(f"{name}: os/architecture {found}, not {tuple(self.platform)}")
        settings = config.get("config") if isinstance(config.get("config"), dict) else {}
        user = str(settings.get("User") or "")
        match = re.fullmatch(r"([0-9]+)(?::([0-9]+))?", user)
        if not match:
            self.problem(f"{name}: User {user!r} is not a numeric uid[:gid] (a runtime "
                         f"that must refuse root can check only a number)")
        elif int(match.group(1)) == 0:
            self.problem(f"{name}: User {user!r} is root")
        if self.entrypoint is not None and settings.get("Entrypoint") != self.entrypoint:
            self.problem(f"{name}: Entrypoint {settings.get('Entrypoint')}, not "
                         f"{self.entrypoint}")

    def _check_docker_manifest(self, images):
        entries = self._json("manifest.json", "Docker's loader format, `docker save`'s")
        if entries is None:
            return
        if not isinstance(entries, list) or len(entries) != len(images):
            self.problem(f"manifest.json: {len(entries) if isinstance(entries, list) else 0}"
                         f" entries for the index's {len(images)} images")
            return
        for i, (entry, (manifest, _)) in enumerate(zip(entries, images)):
            where = f"manifest.json[{i}]"
            if not isinstance(entry, dict):
                self.problem(f"{where}: not a JSON object")
                continue
            paths = [entry.get("Config"), *(entry.get("Layers") or [])]
            for path in paths:
                normal = posixpath.normpath(str(path))
                if path is None or normal.startswith(("/", "../")) or normal == "..":
                    self.problem(f"{where}: {path!r} is not a path inside the archive")
                elif normal not in self.files:
                    self.problem(f"{where}: {path} is not in the archive")
            if isinstance(manifest, dict):
                self._same_blobs(where, entry, manifest)
            tags = entry.get("RepoTags")
            if not isinstance(tags, list) or not tags:
                self.problem(f"{where}: no RepoTags: the image would load without a name")
                continue
            for tag in tags:
                if not isinstance(tag, str) or not REPO_TAG.match(tag):
                    self.problem(f"{where}: RepoTags {tag!r} is not name:tag as Docker "
                                 f"parses it")
            if self.repo_tags is not None and tags != self.repo_tags:
                self.problem(f"{where}: RepoTags {tags}, not {self.repo_tags}")

    def _same_blobs(self, where, entry, manifest):
        def blob_path(descriptor):
            match = SHA256.match(str((descriptor or {}).get("digest")))
            return f"blobs/sha256/{match.group(1)}" if match else None

        config = blob_path(manifest.get("config"))
        if posixpath.normpath(str(entry.get("Config"))) != config:
            self.problem(f"{where}: Config {entry.get('Config')!r} is not the OCI "
                         f"manifest's config, {config}")
        layers = [blob_path(layer) for layer in manifest.get("layers") or []]
        named = [posixpath.normpath(str(p)) for p in entry.get("Layers") or []]
        if named != layers:
            self.problem(f"{where}: Layers {entry.get('Layers')} are not the OCI "
                         f"manifest's layers, in its order: {layers}")


def main(argv):
    """`python3 tests/e2e/oci_archive.py ARCHIVE...`: each archive's problems; exit 1 if any."""
    failed = False
    for path in argv:
        problems = check_archive(path)
        failed = failed or bool(problems)
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        print(f"{path}: {count if problems else 'passes'}")
        for problem in problems:
            print(f"  {problem}")
    return 1 if failed or not argv else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
