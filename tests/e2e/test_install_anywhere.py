"""Install it anywhere (issue 65; docs/packaging.md): the portable tarball, the pip wheel and
the .deb of `./bin/arrowport package` on Debian 11, 12 and 13 roots made with debootstrap
(toolchain/debian_root.sh, cached), none of which has the forky libraries the build was
made with. In each root, as an unprivileged user: the tarball, reached through a symlink on
PATH, serves a Flight and an HTTP query under the process name arrowport; the wheel installs
into a venv of the root's own python3 and serves; a TLS query trusts the server through
the root's CA store in the Debian, RHEL and SUSE layouts; a host name resolves through the
root's /etc/hosts. In 12 and 13 apt installs the .deb, systemd-analyze verify accepts its
unit and the unit's ExecStart serves. Slow: packages and roots are made once (minutes)."""
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pyarrow.flight as flight
import pytest
import requests

from conftest import ARROWPORT, REPO
from lake_util import free_port
from packaging_util import (DIST, DYNAMIC_UID, VERSION, chroot_cmd, docs_commands, record,
                            run, unit_settings)
from test_tls import make_ca, make_leaf

pytestmark = [pytest.mark.slow, pytest.mark.release_only("packages the release build")]

TARBALL = DIST / f"arrowport-{VERSION}-linux-x86_64.tar.gz"
DEB = DIST / f"arrowport_{VERSION}_amd64.deb"
RELEASES = ["bullseye", "bookworm", "trixie"]  # Debian 11, 12, 13
NOBODY = 65534
READY_TIMEOUT = 180
# A name only the root's /etc/hosts knows.
TEST_HOST = "arrowport-install-test"


def wheel_path():
    wheels = sorted(DIST.glob(f"arrowport_server-{VERSION}-py3-none-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def packages():
    proc = subprocess.run([ARROWPORT, "package"], capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr
    for path in (TARBALL, DEB, wheel_path()):
        assert path.is_file(), f"{path} missing after ./bin/arrowport package:\n{proc.stderr}"
    record("tarball_mib", TARBALL.stat().st_size / 2**20)
    record("wheel_mib", wheel_path().stat().st_size / 2**20)
    record("deb_mib", DEB.stat().st_size / 2**20)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("install-certs")
    make_ca(d, "ca")
    make_leaf(d, "server", "ca", f"subjectAltName=DNS:localhost,DNS:{TEST_HOST},"
                                 "IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    return d


class ReleaseRoot(type(Path())):
    """A root's path that knows its release."""
    release = None


@pytest.fixture(scope="module", params=RELEASES)
def root(request, packages, certs, tmp_path_factory):
    """A copy of the cached root of one release, with the packages in /tmp, the test CA
    in its CA store (update-ca-certificates) and TEST_HOST in its /etc/hosts."""
    release = request.param
    cached = Path(run([str(REPO / "toolchain" / "debian_root.sh"), release],
                      timeout=1800).strip())
    root = ReleaseRoot(tmp_path_factory.mktemp(release) / "root")
    run(["cp", "-a", str(cached), str(root)])
    for path in (TARBALL, DEB, wheel_path()):
        shutil.copy(path, root / "tmp" / path.name)
    for name in ("server.pem", "server.key"):
        shutil.copy(certs / name, root / "tmp" / name)
    os.chmod(root / "tmp" / "server.pem", 0o644)
    # The key is the server's user's alone (one others may read is refused at start).
    os.chown(root / "tmp" / "server.key", NOBODY, NOBODY)
    os.chmod(root / "tmp" / "server.key", 0o600)
    shutil.copy(certs / "ca.pem", root / "usr/local/share/ca-certificates/arrowport-test.crt")
    run(chroot_cmd(root, "update-ca-certificates"))
    # debootstrap leaves /etc/hosts empty; an installed system names localhost there.
    with open(root / "etc/hosts", "a") as hosts:
        hosts.write(f"127.0.0.1 localhost\n127.0.0.1 {TEST_HOST}\n")
    (root / "tmp/home").mkdir(mode=0o777)
    os.chmod(root / "tmp/home", 0o777)
    root.release = release
    yield root
    shutil.rmtree(root.parent, ignore_errors=True)


def as_nobody(root, script, env=(), private_pid=True):
    """`sh -c script` as uid 65534 in the root, in /tmp/home."""
    return chroot_cmd(root, "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                      "--clear-groups", "env", "-i", "HOME=/tmp/home",
                      "PATH=/tmp/home/bin:/usr/local/bin:/usr/bin:/bin", *env,
                      "sh", "-c", f"cd /tmp/home && {script}", private_pid=private_pid)


class Served:
    """A server started in the root (its chroot_cmd Popen), its ports and log."""

    def __init__(self, root, cmd, flight_port, http_port, tls=False):
        self.root = root
        self.flight_port, self.http_port = flight_port, http_port
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{http_port}"
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited {self.proc.returncode}:\n"
                                     f"{self.proc.stderr.read()}")
            try:
                # (Readiness only: the TLS test checks the certificate with the CLI.)
                if requests.get(f"{self.url}/readyz", timeout=5,
                                verify=False).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        log = self.stop()
        raise AssertionError(f"not ready within {READY_TIMEOUT} s:\n{log}")

    def stop(self):
        if self.proc.poll() is None:
            # SIGTERM to the server itself (a README line runs it under a shell that does
            # not exec it), as Ctrl-C or systemd would: it ends gracefully, then its shell.
            for pid in arrowport_processes(self.root):
                os.kill(pid, 15)
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.proc.stderr.read()


def serve(root, launch, extra_env=(), private_pid=True, tls=False):
    return serve_line(root, f"exec {launch} serve", extra_env, private_pid, tls)


def serve_line(root, line, extra_env=(), private_pid=True, tls=False):
    """`line` (a shell line that ends by serving) run as uid 65534, on free ports."""
    flight_port, http_port = free_port(), free_port()
    env = [f"ARROWPORT_FLIGHT_PORT={flight_port}", f"ARROWPORT_HTTP_PORT={http_port}",
           *extra_env]
    return Served(root, as_nobody(root, line, env, private_pid), flight_port, http_port, tls)


def readme_line(block_id):
    """The one command of README.md's install block `block_id`, for this build's files."""
    commands = docs_commands("README.md", block_id)
    assert len(commands) == 1, commands
    return commands[0]


def arrowport_processes(root):
    """PIDs whose process name (comm) is arrowport and whose root is `root`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if ((entry / "comm").read_text().strip() == "arrowport" and
                    os.path.realpath(entry / "root") == str(root)):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def assert_answers(served):
    reply = requests.post(f"{served.url}/query?format=csv",
                          json={"sql": "SELECT 40 + 2 AS answer"}, timeout=60)
    assert reply.status_code == 200 and reply.text.replace('"', "").split() == \
        ["answer", "42"], reply.text
    client = flight.FlightClient(f"grpc://127.0.0.1:{served.flight_port}")
    ticket = flight.Ticket(b'{"sql": "SELECT 7 * 6 AS answer"}')
    assert client.do_get(ticket).read_all().column("answer").to_pylist() == [42]
    client.close()


def csv_cells(text):
    return text.replace('"', "").split()


UNPACK = (f"tar xzf /tmp/{TARBALL.name} && mkdir -p bin && "
          f"ln -sfn /tmp/home/{TARBALL.name[:-len('.tar.gz')]}/bin/arrowport bin/arrowport")


def test_readmes_tarball_line_serves(root):
    shutil.copy(TARBALL, root / "tmp/home" / TARBALL.name)
    served = serve_line(root, readme_line("install-tarball"))
    try:
        assert_answers(served)
    finally:
        log = served.stop()
    assert served.proc.returncode == 0, log


def test_tarball_serves_as_an_unprivileged_user_through_a_symlink(root):
    run(as_nobody(root, UNPACK))
    # (Both servers in the host's PID namespace: DuckDB names a lock's holder by its PID,
    # which a sibling namespace sees as 0.)
    # From / (any directory), the database named by path.
    served = serve_line(root, "cd / && exec arrowport serve --db /tmp/home/symlinked.duckdb",
                        private_pid=False)
    try:
        assert_answers(served)
        # The kernel's name of the process: ps, pgrep and systemd show it.
        assert arrowport_processes(root), "no process named arrowport in the root"
        # DuckDB's lock message names the process holding the database.
        second = subprocess.run(as_nobody(root, "arrowport serve --flight-port 0 "
                                                "--http-port 0 --db /tmp/home/symlinked.duckdb",
                                          private_pid=False),
                                capture_output=True, text=True, timeout=300)
        assert second.returncode != 0 and "Conflicting lock is held in" in second.stderr, \
            second.stderr
        holder = second.stderr.split("Conflicting lock is held in", 1)[1].split("(PID")[0]
        assert "arrowport" in os.path.basename(holder.strip()), second.stderr
        # A name the root's /etc/hosts gives, through the bundled C library's resolver.
        sql = run(as_nobody(root, f"arrowport sql --server grpc://{TEST_HOST}:"
                                  f"{served.flight_port} --mode csv -c 'SELECT 6 * 7 AS n'"))
        assert csv_cells(sql) == ["n", "42"], sql
    finally:
        served.stop()


def test_names_resolve_through_the_roots_nss_for_flight_and_http(root, tmp_path):
    """A name only an NSS module of the root knows (tests/e2e/nss/nss_onlyname.c, as sssd,
    mDNS or systemd's resolve are to a host), named in its /etc/nsswitch.conf: the Flight
    and HTTP clients both find it. gRPC's own resolver, which reads /etc/hosts alone, did
    not (the attack on issue 65)."""
    module = tmp_path / "libnss_onlyname.so.2"
    run(["cc", "-shared", "-fPIC", "-O2", "-o", str(module),
         str(REPO / "tests/e2e/nss/nss_onlyname.c")])
    shutil.copy(module, root / "lib/x86_64-linux-gnu/libnss_onlyname.so.2")
    nsswitch = root / "etc/nsswitch.conf"
    original = nsswitch.read_text()
    nsswitch.write_text(re.sub(r"(?m)^hosts:.*$", "hosts: files onlyname dns", original))
    run(as_nobody(root, UNPACK))
    served = serve(root, "arrowport")
    try:
        flight_sql = run(as_nobody(root, f"arrowport sql --server grpc://only-nss.test:"
                                         f"{served.flight_port} --connect-wait 0 --mode csv "
                                         "-c 'SELECT 6 * 7 AS n'"))
        assert csv_cells(flight_sql) == ["n", "42"], flight_sql
        http = run(as_nobody(root, f"arrowport query --server http://only-nss.test:"
                                   f"{served.http_port} --format csv 'SELECT 6 * 7 AS n'"))
        assert csv_cells(http) == ["n", "42"], http
    finally:
        served.stop()
        nsswitch.write_text(original)


def test_tarball_tls_trusts_the_roots_ca_store_in_every_layout(root):
    """The server's certificate is signed by a CA only the root's store holds; the CLI is
    given no CA: it finds the store in the Debian layout, then with the bundle moved to the
    RHEL and SUSE paths, then through SSL_CERT_FILE."""
    run(as_nobody(root, UNPACK))
    served = serve(root, "arrowport", ["ARROWPORT_TLS_CERT=/tmp/server.pem",
                                       "ARROWPORT_TLS_KEY=/tmp/server.key"], tls=True)
    query = (f"arrowport sql --server grpc+tls://localhost:{served.flight_port} "
             "--connect-wait 0 --mode csv -c 'SELECT 42 AS n'")
    bundle = root / "etc/ssl/certs/ca-certificates.crt"
    pem = bundle.read_text()
    try:
        assert csv_cells(run(as_nobody(root, query))) == ["n", "42"]
        shutil.move(root / "etc/ssl/certs", root / "etc/ssl/certs.away")
        refused = subprocess.run(as_nobody(root, query), capture_output=True, text=True,
                                 timeout=300)
        assert refused.returncode != 0 and "SSL_CERT_FILE" in refused.stderr, refused
        for layout in ("etc/pki/tls/certs/ca-bundle.crt", "etc/ssl/ca-bundle.pem"):
            (root / layout).parent.mkdir(parents=True, exist_ok=True)
            (root / layout).write_text(pem)
            assert csv_cells(run(as_nobody(root, query))) == ["n", "42"], layout
            (root / layout).unlink()
        (root / "tmp/elsewhere.pem").write_text(pem)
        assert csv_cells(run(as_nobody(root, query, ["SSL_CERT_FILE=/tmp/elsewhere.pem"]))) == \
            ["n", "42"]
    finally:
        if (root / "etc/ssl/certs.away").exists():
            shutil.move(root / "etc/ssl/certs.away", root / "etc/ssl/certs")
        served.stop()


def test_readmes_pip_line_installs_into_a_fresh_venv_and_serves(root):
    """The README's line: a venv of the root's own python3, pip install, serve (offline:
    the wheel asks for nothing more)."""
    shutil.copy(wheel_path(), root / "tmp/home" / wheel_path().name)
    line = readme_line("install-pip")
    assert "pip install ./" in line, line
    began = time.monotonic()
    served = serve_line(root, line.replace("pip install ", "pip install -q --no-index "),
                        ["PIP_NO_CACHE_DIR=1"])
    try:
        assert_answers(served)
        record(f"pip_install_to_first_query_s_{root.release}", time.monotonic() - began)
        assert arrowport_processes(root), "no process named arrowport in the root"
    finally:
        served.stop()
    version = run(as_nobody(root, "venv/bin/arrowport --version"))
    assert version.strip() == f"arrowport {VERSION}", version


def test_deb_installs_with_apt_and_its_unit_serves(root):
    shutil.copy(DEB, root / "root" / DEB.name)
    line = readme_line("install-apt")
    assert line.startswith("sudo apt install ./"), line
    # As root (no sudo in the root), in root's home where the .deb is.
    run(chroot_cmd(root, "env", "DEBIAN_FRONTEND=noninteractive", "sh", "-c",
                   f"cd /root && {line.removeprefix('sudo ')} -y -q"), timeout=900)
    status = run(chroot_cmd(root, "dpkg", "-s", "arrowport"))
    assert "\nDepends:" not in status, status
    # (Debian 11's systemd 247 cannot verify in a chroot: its manager looks for its own
    # cgroup first. The issue asks it of 12 and 13; the unit's settings are 247's too.)
    if root.release != "bullseye":
        verify = subprocess.run(chroot_cmd(root, "systemd-analyze", "verify",
                                           "/usr/lib/systemd/system/arrowport.service"),
                                capture_output=True, text=True, timeout=300)
        assert verify.returncode == 0, verify.stderr
    unit = unit_settings(root)
    credentials = "/run/credentials/arrowport.service"
    (root / credentials.lstrip("/")).mkdir(parents=True)
    shutil.copy(root / "etc/arrowport/config.yaml", root / credentials.lstrip("/") /
                "config.yaml")
    os.chown(root / credentials.lstrip("/") / "config.yaml", DYNAMIC_UID, DYNAMIC_UID)
    state = root / "var/lib/arrowport"
    state.mkdir(exist_ok=True)
    os.chown(state, DYNAMIC_UID, DYNAMIC_UID)
    argv = unit["ExecStart"].replace("${CREDENTIALS_DIRECTORY}", credentials)
    flight_port, http_port = free_port(), free_port()
    cmd = chroot_cmd(root, "setpriv", f"--reuid={DYNAMIC_UID}", f"--regid={DYNAMIC_UID}",
                     "--clear-groups", "env", "-i", "-C", unit["WorkingDirectory"],
                     "PATH=/usr/sbin:/usr/bin", f"CREDENTIALS_DIRECTORY={credentials}",
                     f"ARROWPORT_FLIGHT_PORT={flight_port}",
                     f"ARROWPORT_HTTP_PORT={http_port}", *argv.split(), private_pid=True)
    served = Served(root, cmd, flight_port, http_port)
    try:
        assert_answers(served)
    finally:
        log = served.stop()
    assert served.proc.returncode == 0, log
