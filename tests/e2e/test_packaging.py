"""The release packages as an operator uses them (issue 39; docs/packaging.md):
`./bin/arrowport package` makes dist/; the .deb installs with apt into a clean Debian forky
root and its unit's ExecStart serves a query there, as a DynamicUser-like uid in a state
directory; `systemd-analyze verify` accepts the unit; the OCI image unpacks with umoci and
its entrypoint, run as its config says (Env, User, WorkingDir), serves a query; the archive
passes the OCI layout and Docker loader checks (issue 65); podman runs the docs' own lines
where the machine has podman. Slow: the first run makes the packages (minutes)."""
import json
import os
import re
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import requests

from conftest import ARROWPORT, REPO
from lake_util import free_port
from oci_archive import check_archive
from packaging_util import (DIST, DYNAMIC_UID, IMAGE_TAG, VERSION, chroot_cmd, docs_commands,
                            record, run, unit_settings)

pytestmark = [pytest.mark.slow, pytest.mark.release_only("packages the release build")]

DEB = DIST / f"arrowport_{VERSION}_amd64.deb"
OCI_TAR = DIST / f"arrowport-{VERSION}.oci.tar"
SBOM = DIST / f"arrowport-{VERSION}.packages.txt"
CACHE = Path(os.environ.get("ARROWPORT_CACHE", "/var/cache/arrowport"))
# A loaded 2-core machine can take long to load the libraries and open DuckDB.
READY_TIMEOUT = 180


def wait_ready(url, proc, timeout=READY_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited {proc.returncode}: {proc.stderr.read()}")
        try:
            if requests.get(f"{url}/readyz", timeout=10).status_code == 200:
                return
        except requests.RequestException:  # refused, or no answer yet on a loaded machine
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url}/readyz did not answer 200 within {timeout} s")


def query_answer(url):
    reply = requests.post(f"{url}/query?format=csv", json={"sql": "SELECT 40 + 2 AS answer"},
                          timeout=60)
    assert reply.status_code == 200, reply.text
    return reply.text.replace('"', "").split()


def stop(proc):
    """SIGTERM to the server, whose exit status unshare returns. unshare itself ignores
    SIGTERM while it waits: its one child, the namespace's init shell (chroot_cmd), passes
    it on. Killing unshare kills that shell and so everything in the namespace."""
    if proc.poll() is None:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert len(children) == 1, children
        os.kill(int(children[0]), signal.SIGTERM)
    try:
        return proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


@pytest.fixture(scope="module")
def packages():
    began = time.monotonic()
    proc = subprocess.run([ARROWPORT, "package"], capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr
    record("package_s", time.monotonic() - began)
    for path in (DEB, OCI_TAR, SBOM, DIST / "SHA256SUMS"):
        assert path.is_file(), f"{path} missing after ./bin/arrowport package:\n{proc.stderr}"
    return proc.stderr


@pytest.fixture(scope="module")
def runtime_root(packages):
    return Path(run([str(REPO / "toolchain" / "package.sh"), "--runtime-root"]).strip())


@pytest.fixture(scope="module")
def installed_root(runtime_root, tmp_path_factory):
    """A copy of the clean minimal forky root with the .deb installed by apt; the seconds
    from the start of `apt install` are kept for the first-query measure."""
    root = tmp_path_factory.mktemp("deb") / "root"
    run(["cp", "-a", str(runtime_root), str(root)])
    shutil.copy(DEB, root / "tmp" / DEB.name)
    began = time.monotonic()
    run(chroot_cmd(root, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y",
                   "-q", "--no-install-recommends", f"/tmp/{DEB.name}"), timeout=1800)
    yield root, began
    shutil.rmtree(root, ignore_errors=True)


def test_second_run_is_up_to_date(packages):
    began = time.monotonic()
    proc = subprocess.run([ARROWPORT, "package"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "up to date" in proc.stderr
    record("package_warm_s", time.monotonic() - began)
    sums = (DIST / "SHA256SUMS").read_text()
    for path in (DEB, OCI_TAR, SBOM):
        assert path.name in sums
    run(["sha256sum", "-c", "SHA256SUMS"], cwd=DIST)


# A POSIX access ACL as Linux stores it (system.posix_acl_access): version 2, then (tag,
# permissions, id) entries; tags user_obj 1, user 2, group_obj 4, mask 0x10, other 0x20.
def acl(owner, named_uid, perm):
    unset = 0xFFFFFFFF
    entries = [(1, owner, unset), (2, perm, named_uid), (4, 0, unset), (0x10, perm, unset),
               (0x20, 0, unset)]
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


def credentials_as_systemd_makes_them(root, unit, uid):
    """What systemd does for the unit's LoadCredential=ID:PATH before ExecStart: a copy of
    PATH in /run/credentials/<unit>/ID, 0400 root's, with an ACL letting the service's
    user read it (so its mode reads 0440); the directory 0500 with the same for search."""
    directory = root / "run/credentials/arrowport.service"
    directory.mkdir(parents=True, exist_ok=True)
    name, source = unit["LoadCredential"].split(":", 1)
    copy = directory / name
    shutil.copyfile(root / source.lstrip("/"), copy)
    copy.chmod(0o400)
    os.setxattr(copy, "system.posix_acl_access", acl(4, uid, 4))
    directory.chmod(0o500)
    os.setxattr(directory, "system.posix_acl_access", acl(5, uid, 5))
    assert copy.stat().st_mode & 0o777 == 0o440
    return "/run/credentials/arrowport.service"


def test_deb_serves_a_query_as_the_unit_runs_it(installed_root):
    root, began = installed_root
    unit = unit_settings(root)
    assert unit["Type"] == "notify" and unit["DynamicUser"] == "yes"
    assert unit["StateDirectory"] == "arrowport" and unit["ProtectSystem"] == "strict"
    # The config, root's alone, reaches the service as a credential (issue 64): with a
    # secret in it (as an operator adds one), the server starts on systemd's copy.
    assert unit["LoadCredential"] == "config.yaml:/etc/arrowport/config.yaml"
    with open(root / "etc/arrowport/config.yaml", "a") as config:
        config.write(f"auth: {{token_secret: {'s' * 40}}}\n")
    credentials = credentials_as_systemd_makes_them(root, unit, DYNAMIC_UID)
    argv = [a.replace("${CREDENTIALS_DIRECTORY}", credentials)
            for a in shlex.split(unit["ExecStart"])]
    assert argv[-2:] == ["--config", f"{credentials}/config.yaml"], unit["ExecStart"]
    assert argv[0] == "/usr/bin/arrowport" and (root / argv[0].lstrip("/")).is_file()
    # systemd's StateDirectory: /var/lib/<name>, owned by the service's uid.
    state = root / "var/lib" / unit["StateDirectory"]
    state.mkdir(mode=0o750, exist_ok=True)
    os.chown(state, DYNAMIC_UID, DYNAMIC_UID)
    flight_port, http_port = free_port(), free_port()
    # Ports as a drop-in's Environment= would set them (the config's are 8815/8888).
    env = ["env", "-i", "-C", unit["WorkingDirectory"], "PATH=/usr/sbin:/usr/bin",
           f"CREDENTIALS_DIRECTORY={credentials}",
           f"ARROWPORT_FLIGHT_PORT={flight_port}", f"ARROWPORT_HTTP_PORT={http_port}"]
    cmd = chroot_cmd(root, "setpriv", f"--reuid={DYNAMIC_UID}", f"--regid={DYNAMIC_UID}",
                     "--clear-groups", *env, *argv, private_pid=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{http_port}"
        wait_ready(url, proc)
        assert query_answer(url) == ["answer", "42"]
        record("apt_install_to_first_query_s", time.monotonic() - began)
    finally:
        code = stop(proc)
    log = proc.stderr.read()
    assert code == 0, log
    assert "holds secrets" not in log, log  # neither refused nor warned of
    db = state / "arrowport.duckdb"
    assert db.is_file() and db.stat().st_uid == DYNAMIC_UID


def test_deb_metadata(installed_root):
    root, _ = installed_root
    status = run(chroot_cmd(root, "dpkg", "-s", "arrowport"))
    # The portable build needs no library of the system: no Depends, so the .deb
    # installs on every Debian and Ubuntu release (test_install_anywhere.py).
    assert "\nDepends:" not in status, status
    assert re.search(r"^Conffiles:\n /etc/arrowport/config\.yaml [0-9a-f]{32}$", status,
                     re.MULTILINE), status
    # The config holds the secrets: root's alone, in the .deb and installed (issue 64: it
    # was 0644, and any local user read auth.token_secret from it).
    listing = run(chroot_cmd(root, "dpkg-deb", "-c", f"/tmp/{DEB.name}"))
    entry = next(l for l in listing.splitlines() if l.endswith("./etc/arrowport/config.yaml"))
    assert entry.split()[:2] == ["-rw-------", "root/root"], entry
    config = (root / "etc/arrowport/config.yaml").stat()
    assert (config.st_mode & 0o7777, config.st_uid, config.st_gid) == (0o600, 0, 0)
    peek = subprocess.run(chroot_cmd(root, "setpriv", "--reuid=65534", "--regid=65534",
                                     "--clear-groups", "cat", "/etc/arrowport/config.yaml"),
                          capture_output=True, text=True, timeout=300)
    assert peek.returncode != 0 and "Permission denied" in peek.stderr, peek
    assert f"Version: {VERSION}" in status
    files = run(chroot_cmd(root, "dpkg", "-L", "arrowport")).split()
    assert "/usr/lib/systemd/system/arrowport.service" in files
    # A cluster node's template and the balancer's config (docs/cluster.md).
    assert "/usr/lib/systemd/system/arrowport@.service" in files
    assert "/usr/share/doc/arrowport/examples/haproxy.cfg" in files
    assert "/usr/share/doc/arrowport/cluster.md" in files
    assert "/usr/share/doc/arrowport/copyright" in files
    # The binary is stripped: no symbol table.
    assert os.readlink(root / "usr/bin/arrowport") == "../lib/arrowport/bin/arrowport"
    binary = (root / "usr/lib/arrowport/libexec/arrowport/arrowport.bin").read_bytes()
    assert b".symtab" not in binary


def test_systemd_analyze_verify(installed_root):
    root, _ = installed_root
    run(chroot_cmd(root, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y",
                   "-q", "--no-install-recommends", "systemd"), timeout=1800)
    # The server's unit, and an instance of the cluster node's template (docs/cluster.md).
    for unit in ("/usr/lib/systemd/system/arrowport.service", "arrowport@a.service"):
        proc = subprocess.run(chroot_cmd(root, "systemd-analyze", "verify", unit),
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        complaints = [l for l in (proc.stdout + proc.stderr).splitlines() if "arrowport" in l]
        assert not complaints, complaints
        # The hardening holds: exposure at most 3.0 of 10 (docs/packaging.md says 2.8).
        security = subprocess.run(
            chroot_cmd(root, "systemd-analyze", "security", "--offline=yes", "--threshold=30",
                       "--no-pager", unit), capture_output=True, text=True, timeout=300)
        assert security.returncode == 0, security.stdout[-3000:] + security.stderr


def image_manifest(layout):
    index = json.loads((layout / "index.json").read_text())
    assert len(index["manifests"]) == 1
    entry = index["manifests"][0]
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == IMAGE_TAG
    return json.loads((layout / "blobs/sha256" / entry["digest"].split(":")[1]).read_text())


def image_config(layout):
    manifest = image_manifest(layout)
    return json.loads((layout / "blobs/sha256" / manifest["config"]["digest"].split(":")[1])
                      .read_text())


def test_image_archive_passes_the_layout_and_loader_checks(packages):
    """The archive as shipped is an OCI image layout and `docker save`'s format at once,
    both naming the same blobs, its user not root (issue 65: the checks are oci_archive.py's,
    and test_oci_archive.py shows each one catching its breakage)."""
    problems = check_archive(OCI_TAR, entrypoint=["/usr/bin/arrowport", "serve"],
                             repo_tags=[f"localhost/arrowport:{IMAGE_TAG}"])
    assert problems == [], "\n".join(problems)


@pytest.fixture(scope="module")
def unpacked_image(packages):
    """The image unpacked by umoci (the toolchain root's) under build/: umoci runs inside
    that root, which sees the repository only."""
    work = REPO / "build" / "package-test"
    shutil.rmtree(work, ignore_errors=True)
    (work / "layout").mkdir(parents=True)
    with tarfile.open(OCI_TAR) as tar:
        tar.extractall(work / "layout", filter="data")
    run([str(REPO / "toolchain" / "tool"), "--chroot", "umoci", "unpack", "--image",
         f"{work / 'layout'}:{IMAGE_TAG}", str(work / "bundle")])
    yield work / "layout", work / "bundle" / "rootfs"
    shutil.rmtree(work, ignore_errors=True)


def test_image_config(unpacked_image):
    layout, rootfs = unpacked_image
    config = image_config(layout)["config"]
    assert config["Entrypoint"] == ["/usr/bin/arrowport", "serve"]
    assert set(config["ExposedPorts"]) == {"8815/tcp", "8888/tcp"}
    assert set(config["Volumes"]) == {"/var/lib/arrowport"}
    uid, gid = (int(x) for x in config["User"].split(":"))
    assert uid != 0 and gid != 0
    assert config["WorkingDir"] == "/var/lib/arrowport"
    env = dict(e.split("=", 1) for e in config["Env"])
    # The image's settings are in its config file, which a mounted one replaces whole: no
    # ARROWPORT_* variable of the image overrides a key of the operator's file.
    assert {k for k in env if k.startswith("ARROWPORT_")} == {"ARROWPORT_CONFIG"}, env
    own = (rootfs / env["ARROWPORT_CONFIG"].lstrip("/")).read_text()
    assert "host: 0.0.0.0" in own and "db_path: /var/lib/arrowport/arrowport.duckdb" in own
    # The health check asks /readyz, which needs no password (a server with users).
    assert config["Healthcheck"]["Test"][0] == "CMD-SHELL"
    assert "status --ready" in config["Healthcheck"]["Test"][1]
    assert "status --ready" in config["Labels"]["org.arrowport.healthcheck"]
    # The volume: the image's user, and group 0 for a runtime that picks another uid.
    state = rootfs / "var/lib/arrowport"
    assert (state.stat().st_uid, state.stat().st_gid) == (uid, 0)
    assert state.stat().st_mode & 0o777 == 0o770
    # No program in the image can raise privileges (issue 64: su, mount, passwd, ... were
    # setuid root): no setuid or setgid file, no file capabilities, in the layers as shipped.
    privileged = []
    for layer in image_manifest(layout)["layers"]:
        with tarfile.open(layout / "blobs/sha256" / layer["digest"].split(":")[1]) as tar:
            for member in tar:
                if member.isfile() and member.mode & 0o6000:
                    privileged.append(f"{member.name} {oct(member.mode)}")
                if any("security.capability" in key for key in member.pax_headers):
                    privileged.append(f"{member.name} has file capabilities")
    assert not privileged, privileged
    # The image's own config holds no secret, and its user must read it.
    assert "token_secret" not in own and "password_hash:" not in own
    # The image is the .deb installed by apt: dpkg knows it, and the SBOM lists it.
    assert f"arrowport {VERSION} amd64" in SBOM.read_text().splitlines()
    assert not list((rootfs / "var/lib/apt/lists").glob("*Packages*"))


# Runs inside the server's network namespace (nsenter): waits for /readyz, then queries.
CLIENT = """
import sys, time, requests
url = sys.argv[1]
deadline = time.monotonic() + float(sys.argv[2])
while True:
    try:
        if requests.get(url + "/readyz", timeout=10).status_code == 200:
            break
    except requests.RequestException:  # refused, or no answer yet on a loaded machine
        pass
    if time.monotonic() > deadline:
        sys.exit("not ready")
    time.sleep(0.2)
r = requests.post(url + "/query?format=csv", json={"sql": "SELECT 40 + 2 AS answer"}, timeout=60)
print(r.status_code, " ".join(r.text.replace('"', "").split()))
"""


def netns_of(proc, timeout=60):
    """/proc/PID/ns/net of an `unshare --net` process once it has its own network
    namespace: until unshare(2) has run, that link is still this process's namespace."""
    own = os.readlink("/proc/self/ns/net")
    path = f"/proc/{proc.pid}/ns/net"
    deadline = time.monotonic() + timeout
    while os.readlink(path) == own:
        assert proc.poll() is None and time.monotonic() < deadline, "no network namespace"
        time.sleep(0.05)
    return path


def image_command(rootfs, config, extra_env):
    uid, gid = config["User"].split(":")
    env = ["env", "-i", "-C", config["WorkingDir"], *config["Env"], *extra_env]
    return chroot_cmd(rootfs, "setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
                      *env, *config["Entrypoint"], *(config.get("Cmd") or []),
                      private_pid=True, net_ns=True)


def test_image_entrypoint_serves_a_query(unpacked_image):
    layout, rootfs = unpacked_image
    config = image_config(layout)["config"]
    # As the image is: 0.0.0.0 without users is refused (exit 2), naming the fix.
    refused = subprocess.run(image_command(rootfs, config, []), capture_output=True, text=True,
                             timeout=300)
    assert refused.returncode == 2, refused.stderr
    assert "auth" in refused.stderr
    # A try-out as the README shows it: authentication off explicitly, in the container's
    # own network namespace (only its loopback).
    proc = subprocess.Popen(image_command(rootfs, config, ["ARROWPORT_AUTH_ENABLED=false"]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        answer = subprocess.run(
            ["nsenter", f"--net={netns_of(proc)}", sys.executable, "-c", CLIENT,
             "http://127.0.0.1:8888", str(READY_TIMEOUT)],
            capture_output=True, text=True, timeout=READY_TIMEOUT + 120)
    finally:
        code = stop(proc)
    log = proc.stderr.read()
    assert answer.stdout.split() == ["200", "answer", "42"], answer.stderr + log
    assert code == 0, log
    assert (rootfs / "var/lib/arrowport/arrowport.duckdb").stat().st_uid == int(
        config["User"].split(":")[0])


PODMAN_PACKAGES = ["podman", "crun", "conmon", "netavark", "catatonit", "nftables", "curl"]
# Podman needs a real root: crun pivots into the container and `podman exec` (health
# checks) joins it, which a chroot breaks; so the podman root is pivot_root'ed into, in
# private mount, pid and network namespaces, with a private /run and /dev/shm and only the
# cgroup2 hierarchy (crun refuses a hybrid v1+v2 tree; containers run --cgroups=disabled).
PIVOT = """set -e
root=$1; shift
ip link set lo up
mount --make-rprivate /
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t tmpfs tmpfs "$root/dev/shm"
mount --rbind /sys "$root/sys"
if [ -d /sys/fs/cgroup/unified ]; then mount --bind /sys/fs/cgroup/unified "$root/sys/fs/cgroup"; fi
mount -t tmpfs tmpfs "$root/run"
if [ -n "$SYSROOT" ]; then mkdir -p "$root/mnt/sysroot"; mount --bind "$SYSROOT" "$root/mnt/sysroot"; fi
mkdir -p "$root/.oldroot"
cd "$root"
pivot_root . .oldroot
umount -l /.oldroot
exec "$@"
"""
# Inside the podman root (a private mount namespace: podman's storage is the test's
# directory, bound over /var/lib/containers/storage; containers.conf's override turns
# cgroups off, which crun needs here, so the docs' lines run without a flag of the test's).
PODMAN_PRELUDE = """set -e
export PODMAN_IGNORE_CGROUPSV1_WARNING=1 CONTAINERS_CONF_OVERRIDE=/tmp/podman-test/containers.conf
mkdir -p /tmp/podman-test/storage /var/lib/containers/storage
mount --bind /tmp/podman-test/storage /var/lib/containers/storage
cd /tmp/podman-test
"""
PODMAN_CONF = """[containers]
cgroups = "disabled"
[engine]
events_logger = "file"
"""
# After a docs block's `podman run -d`: what a reader does before the next line, waiting
# until the server answers on the published port (up to 300 s: a loaded machine).
WAIT_READY = """i=0
until curl -sf -o /dev/null http://127.0.0.1:8888/readyz; do
  i=$((i + 1)); [ $i -lt 1200 ] || { podman logs arrowport >&2; echo "not ready" >&2; exit 1; }
  sleep 0.25
done
"""
STOP = """podman stop -t 60 arrowport >/dev/null
echo "exit=$(podman inspect --format '{{.State.ExitCode}}' arrowport)"
podman rm arrowport >/dev/null
"""


def as_a_reader_runs(commands):
    """COMMANDS as a script, waiting for the server after each `podman run -d`."""
    script = ""
    for command in commands:
        script += command + "\n"
        if re.match(r"podman run -d\b", command):
            script += WAIT_READY
    return script


def podman_root(runtime_root):
    """A copy of the minimal forky root with podman installed, made once and cached."""
    root = CACHE / "podman-forky"
    stamp = root / ".arrowport-podman-packages"
    if not stamp.exists() or stamp.read_text() != " ".join(PODMAN_PACKAGES):
        shutil.rmtree(root, ignore_errors=True)
        run(["cp", "-a", str(runtime_root), str(root)])
        run(chroot_cmd(root, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install",
                       "-y", "-q", "--no-install-recommends", *PODMAN_PACKAGES), timeout=1800)
        stamp.write_text(" ".join(PODMAN_PACKAGES))
    return root


def test_podman_run(runtime_root):
    """The image under Debian forky's podman, as the docs run it: README.md's lines (load,
    a volume, `run` with ports published, the curl query: issue 65 asks that they work as
    written), then docs/packaging.md's run with the label's health check. Before them the
    archive is read as `docker save`'s format (containers/image's docker-archive: its
    manifest.json, the layers checked against the diff_ids), the stand-in here for `docker
    load`, which needs a Docker daemon this machine lacks."""
    if not Path("/sys/fs/cgroup").is_dir() or not shutil.which("pivot_root"):
        pytest.skip("no /sys/fs/cgroup or pivot_root on this host: podman cannot run here")
    root = podman_root(runtime_root)
    work = root / "tmp" / "podman-test"
    shutil.rmtree(work, ignore_errors=True)
    (work / "dist").mkdir(parents=True)
    shutil.copy(OCI_TAR, work / "dist" / OCI_TAR.name)
    (work / "containers.conf").write_text(PODMAN_CONF)
    image = f"localhost/arrowport:{IMAGE_TAG}"
    script = PODMAN_PRELUDE + f"""
podman pull -q docker-archive:/tmp/podman-test/dist/{OCI_TAR.name} >/dev/null
echo "docker_archive=$(podman image inspect --format '{{{{.Config.User}}}}' {image})"
podman rmi {image} >/dev/null
""" + as_a_reader_runs(docs_commands("README.md", "container-image")) + \
        'echo "uid=$(podman exec arrowport id -u)"\n' + STOP + \
        as_a_reader_runs(docs_commands("docs/packaging.md", "podman-health-check")) + STOP
    try:
        proc = subprocess.run(
            ["env", "SYSROOT=", "unshare", "--mount", "--pid", "--net", "--fork", "--kill-child",
             "sh", "-c", PIVOT, "pivot", str(root), "/bin/bash", "-c", script, "podman-test"],
            capture_output=True, text=True, timeout=READY_TIMEOUT * 2 + 600)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    lines = out.splitlines()
    assert f"Loaded image: {image}" in lines, out
    csv = [line.replace('"', "") for line in lines]  # the README's query, answered
    assert ["answer", "42"] in [csv[i:i + 2] for i in range(len(csv))], out
    values = [line.split("=", 1) for line in lines if "=" in line]
    # Its non-root user kept: in the config read from Docker's format, and in the container.
    assert ["docker_archive", "10001:10001"] in values, out
    assert ["uid", "10001"] in values, out
    assert values.count(["exit", "0"]) == 2, out  # both stopped cleanly (SIGTERM)
    assert "healthy" in lines, out + proc.stderr


# Inside the podman root: systemd 262 booted in a container from the root where the .deb
# is installed; the unit started, checked, stopped. Privileged: the unit's sandboxing makes
# mount namespaces, which an unprivileged container refuses (226/NAMESPACE).
SYSTEMD_SCRIPT = """set -e
export PODMAN_IGNORE_CGROUPSV1_WARNING=1
p() { podman --root /tmp/systemd-test --events-backend=file "$@"; }
p run -d --name sd --privileged --cgroups=disabled --network none --systemd=always \\
  --rootfs /mnt/sysroot /usr/lib/systemd/systemd >/dev/null
i=0
until state=$(p exec sd systemctl is-system-running 2>/dev/null) || [ "$state" = degraded ]; do
  i=$((i + 1)); [ $i -lt 600 ] || { echo "systemd did not boot: $state"; exit 1; }; sleep 0.2
done
echo "start=$(p exec sd systemctl start arrowport >/dev/null 2>&1; echo $?)"
echo "etc_mode=$(p exec sd stat -c %a:%u /etc/arrowport/config.yaml)"
echo "status=$(p exec sd /usr/bin/arrowport status --server http://127.0.0.1:8888 \\
  --connect-wait 0 >/dev/null 2>&1; echo $?)"
pid=$(p exec sd systemctl show -P MainPID arrowport)
echo "user=$(p exec sd stat -c %u /proc/$pid)"
# As the service sees it (systemd may id-map the state directory: on disk it is nobody's).
echo "owner=$(p exec sd stat -c %u /proc/$pid/root/var/lib/arrowport/arrowport.duckdb)"
echo "on_disk=$(p exec sd test -f /var/lib/private/arrowport/arrowport.duckdb && echo yes)"
# The config as the service reads it: systemd's copy (LoadCredential=), the service's alone.
echo "credential=$(p exec sd stat -c %a:%u /proc/$pid/root/run/credentials/arrowport.service/config.yaml)"
echo "warned=$(p exec sd journalctl -u arrowport --no-pager -o cat | grep -c 'holds secrets' || true)"
echo "stop=$(p exec sd systemctl stop arrowport >/dev/null 2>&1; echo $?)"
p exec sd systemctl show arrowport -p Result -p ExecMainStatus -p ExecMainCode
p exec sd journalctl -u arrowport --no-pager -o cat | tail -n 20 >&2
p rm -f sd >/dev/null
"""


def test_systemd_runs_the_unit(runtime_root, tmp_path):
    """The unit under a real systemd (booted in a podman container from a root with the
    .deb and systemd apt-installed): `systemctl start` returns once the server serves
    (Type=notify), as a dynamic uid owning the database in the StateDirectory, and
    `systemctl stop` ends it with exit 0."""
    root = tmp_path / "root"
    run(["cp", "-a", str(runtime_root), str(root)])
    shutil.copy(DEB, root / "tmp" / DEB.name)
    run(chroot_cmd(root, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y",
                   "-q", "--no-install-recommends", f"/tmp/{DEB.name}", "systemd"),
        timeout=1800)
    # A secret in the config, as an operator adds one: the service still starts, on the
    # copy systemd hands it, without a warning.
    with open(root / "etc/arrowport/config.yaml", "a") as config:
        config.write(f"auth: {{token_secret: {'s' * 40}}}\n")
    podman = podman_root(runtime_root)
    shutil.rmtree(podman / "tmp" / "systemd-test", ignore_errors=True)
    try:
        proc = subprocess.run(
            ["env", f"SYSROOT={root}", "unshare", "--mount", "--pid", "--net", "--fork",
             "--kill-child", "sh", "-c", PIVOT, "pivot", str(podman), "/bin/sh", "-c",
             SYSTEMD_SCRIPT], capture_output=True, text=True, timeout=600)
    finally:
        shutil.rmtree(podman / "tmp" / "systemd-test", ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
    out = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out["start"] == "0" and out["status"] == "0", proc.stdout + proc.stderr
    assert int(out["user"]) >= DYNAMIC_UID and out["owner"] == out["user"], proc.stdout
    assert out["on_disk"] == "yes", proc.stdout
    assert out["etc_mode"] == "600:0", proc.stdout
    mode, owner = out["credential"].split(":")
    assert int(mode, 8) & 0o077 in (0, 0o040) and owner in ("0", out["user"]), proc.stdout
    assert out["warned"] == "0", proc.stdout + proc.stderr
    assert out["stop"] == "0", proc.stdout + proc.stderr
    assert out["Result"] == "success" and out["ExecMainStatus"] == "0", proc.stdout
