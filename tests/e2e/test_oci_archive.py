"""The image archive checker (oci_archive.py, issue 65) on small archives made here: a
well-formed one passes, and each kind of breakage a loader refuses, or a user would suffer,
is named (a wrong digest or size, a missing blob, a diff_id that is not the layer's, a
manifest.json naming other blobs or another order, root or a user name, a bad tag), so the
check of the real archive (test_packaging.py) cannot pass by looking at nothing. Fast:
no server, no image build."""
import gzip
import hashlib
import io
import json
import tarfile

import pytest

from oci_archive import CONFIG_TYPE, INDEX_TYPE, MANIFEST_TYPE, check_archive

ENTRYPOINT = ["/usr/bin/arrowport", "serve"]
TAG = "localhost/arrowport:0.1.0"


def layer_tar(files):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def sha(data):
    return hashlib.sha256(data).hexdigest()


def descriptor(media_type, data):
    return {"mediaType": media_type, "digest": f"sha256:{sha(data)}", "size": len(data)}


def image_files(user="10001:10001", diff_ids=None, tags=(TAG,)):
    """The files of a two-layer image archive, as package.sh makes its one-layer one:
    {name in the archive: bytes}, every digest right unless told otherwise."""
    plain = [layer_tar({"usr/bin/arrowport": b"#!/bin/sh\n"}),
             layer_tar({"etc/arrowport/config.yaml": b"db_path: /var/lib/x.duckdb\n"})]
    layers = [gzip.compress(p, mtime=0) for p in plain]
    config = json.dumps({
        "created": "2026-11-26T00:00:00Z", "architecture": "amd64", "os": "linux",
        "config": {"User": user, "Entrypoint": ENTRYPOINT},
        "rootfs": {"type": "layers",
                   "diff_ids": diff_ids or [f"sha256:{sha(p)}" for p in plain]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST_TYPE,
        "config": descriptor(CONFIG_TYPE, config),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar+gzip", l)
                   for l in layers]}).encode()
    entry = descriptor(MANIFEST_TYPE, manifest)
    entry["platform"] = {"architecture": "amd64", "os": "linux"}
    entry["annotations"] = {"io.containerd.image.name": TAG}
    index = {"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": [entry]}
    docker = [{"Config": f"blobs/sha256/{sha(config)}", "RepoTags": list(tags),
               "Layers": [f"blobs/sha256/{sha(l)}" for l in layers]}]
    files = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}',
             "index.json": json.dumps(index).encode(),
             "manifest.json": json.dumps(docker).encode()}
    for blob in (*layers, config, manifest):
        files[f"blobs/sha256/{sha(blob)}"] = blob
    return files


def write(tmp_path, files):
    path = tmp_path / "image.oci.tar"
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def problems(tmp_path, files):
    return check_archive(write(tmp_path, files), entrypoint=ENTRYPOINT, repo_tags=[TAG])


def docker_entry(files):
    return json.loads(files["manifest.json"])[0]


def set_docker_entry(files, **changes):
    entry = {**docker_entry(files), **changes}
    files["manifest.json"] = json.dumps([entry]).encode()


def only(found, *fragments):
    """FOUND is one problem naming each of FRAGMENTS (the checker says what broke)."""
    assert len(found) == 1 and all(f in found[0] for f in fragments), found


def test_a_well_formed_archive_passes(tmp_path):
    assert problems(tmp_path, image_files()) == []


def test_a_blob_whose_content_is_not_its_digest(tmp_path):
    files = image_files()
    config = docker_entry(files)["Config"]
    files[config] = files[config].replace(b"2026-11-26", b"2026-11-27")  # same size
    only(problems(tmp_path, files), config, "content has sha256")


def test_a_descriptor_of_the_wrong_size(tmp_path):
    files = image_files()
    index = json.loads(files["index.json"])
    index["manifests"][0]["size"] += 1
    files["index.json"] = json.dumps(index).encode()
    only(problems(tmp_path, files), "manifests[0]", "size")


def test_a_missing_blob(tmp_path):
    files = image_files()
    layer = docker_entry(files)["Layers"][1]
    del files[layer]
    found = problems(tmp_path, files)
    assert any(f"its blob {layer} is missing" in p for p in found), found
    assert any(f"{layer} is not in the archive" in p for p in found), found


def test_a_diff_id_that_is_not_the_layer_decompressed(tmp_path):
    # The compressed layer's digest: the mistake Docker refuses with "invalid diffID".
    good = image_files()
    compressed = [f"sha256:{p.split('/')[-1]}" for p in docker_entry(good)["Layers"]]
    only(problems(tmp_path, image_files(diff_ids=compressed)), "rootfs.diff_ids",
         "decompressed")


def test_a_layer_count_the_diff_ids_do_not_match(tmp_path):
    good = image_files()
    first = json.loads(good[docker_entry(good)["Config"]])["rootfs"]["diff_ids"][:1]
    only(problems(tmp_path, image_files(diff_ids=first)), "rootfs.diff_ids", "2 layers")


def test_a_docker_manifest_naming_another_config(tmp_path):
    files = image_files()
    set_docker_entry(files, Config=docker_entry(files)["Layers"][0])
    only(problems(tmp_path, files), "manifest.json[0]", "Config", "not the OCI")


def test_a_docker_manifest_with_the_layers_out_of_order(tmp_path):
    files = image_files()
    set_docker_entry(files, Layers=docker_entry(files)["Layers"][::-1])
    only(problems(tmp_path, files), "manifest.json[0]", "in its order")


def test_a_docker_manifest_naming_copies(tmp_path):
    # docker save's pre-25 layout: each layer again as <id>/layer.tar.
    files = image_files()
    copies = []
    for i, layer in enumerate(docker_entry(files)["Layers"]):
        files[f"{i}/layer.tar"] = files[layer]
        copies.append(f"{i}/layer.tar")
    set_docker_entry(files, Layers=copies)
    found = problems(tmp_path, files)
    assert any("in its order" in p for p in found), found
    assert any("0/layer.tar: a file neither" in p for p in found), found


def test_a_docker_manifest_outside_the_archive(tmp_path):
    files = image_files()
    set_docker_entry(files, Config="../config.json")
    found = problems(tmp_path, files)
    assert any("not a path inside the archive" in p for p in found), found


def test_no_docker_manifest(tmp_path):
    files = image_files()
    del files["manifest.json"]
    only(problems(tmp_path, files), "manifest.json: missing")


@pytest.mark.parametrize("tag", ["arrowport", "Arrowport:0.1.0", "localhost/arrowport:"])
def test_a_tag_docker_would_refuse(tmp_path, tag):
    found = check_archive(write(tmp_path, image_files(tags=[tag])))
    only(found, "RepoTags", repr(tag))


def test_a_blob_no_descriptor_names(tmp_path):
    files = image_files()
    files[f"blobs/sha256/{sha(b'left over')}"] = b"left over"
    only(problems(tmp_path, files), "a blob that no descriptor names")


@pytest.mark.parametrize("user", ["0:0", "0", "root", "arrowport:10001", ""])
def test_root_or_a_user_name(tmp_path, user):
    only(problems(tmp_path, image_files(user=user)), "User")


def test_the_wrong_entrypoint_or_platform(tmp_path):
    found = check_archive(write(tmp_path, image_files()), entrypoint=["/bin/sh"],
                          platform=("linux", "arm64"))
    assert len(found) == 3, found  # the Entrypoint, the config's and the index's platform
    assert any("Entrypoint" in p for p in found) and any("platform" in p for p in found)


def test_a_broken_layout_marker_and_index(tmp_path):
    files = image_files()
    files["oci-layout"] = b'{"imageLayoutVersion": "2.0.0"}'
    index = json.loads(files["index.json"])
    del index["mediaType"]
    files["index.json"] = json.dumps(index).encode()
    found = problems(tmp_path, files)
    assert len(found) == 2, found
    assert "imageLayoutVersion" in found[0] and "index.json: mediaType" in found[1], found


def test_a_file_that_is_not_an_archive(tmp_path):
    path = tmp_path / "not.tar"
    path.write_bytes(b"no tar here" * 100)
    only(check_archive(path), "not a readable tar archive")
