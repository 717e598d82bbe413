"""Trino (test only, issue 68): a single-node Trino whose Delta Lake connector reads the
tables Arrowport writes to MinIO, queried over Trino's own HTTP protocol.

The server is Maven Central's `io.trino:trino-server` tarball, fetched by Maven (`mvn`)
into a cache outside the clone (ARROWPORT_TRINO_CACHE, default /var/cache/arrowport/trino)
once, under a lock, and unpacked there; bin/test --slow starts this file as a script beside
the compile, so that the tests seldom wait for it. Trino 476 needs Java 24 or later:
ARROWPORT_TRINO_JAVA_HOME (default: this machine's Temurin 25).
Of the tarball's plugins only the Delta Lake connector's is kept (400 of its 900 MB).
A missing peer fails the test: nothing here skips."""
import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import requests

TRINO_VERSION = "476"
CACHE = Path(os.environ.get("ARROWPORT_TRINO_CACHE", "/var/cache/arrowport/trino"))
JAVA_HOME = Path(os.environ.get("ARROWPORT_TRINO_JAVA_HOME",
                                "/usr/lib/jvm/temurin-25-jdk-amd64"))
ARTIFACT = f"io.trino:trino-server:{TRINO_VERSION}:tar.gz"
# JVM options as Trino's deployment guide has them, with a small heap.
JVM_OPTIONS = ["-server", "-Xmx2G", "-XX:+UseG1GC", "-XX:+ExitOnOutOfMemoryError",
               "-XX:-OmitStackTraceInFastThrow", "-XX:+EnableDynamicAgentLoading",
               "-Djdk.attach.allowAttachSelf=true", "-Djdk.nio.maxCachedBufferSize=2000000",
               "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow",
               "-Dfile.encoding=UTF-8"]


class TrinoMissing(Exception):
    """Trino cannot be fetched or run here; the message says why and what to do."""


class NoNodesYet(AssertionError):
    """A query Trino could not run: no worker has announced itself yet."""


def java():
    path = JAVA_HOME / "bin" / "java"
    if not os.access(path, os.X_OK):
        raise TrinoMissing(f"Trino {TRINO_VERSION} needs Java 24 or later: no {path} (set "
                           f"ARROWPORT_TRINO_JAVA_HOME to a JDK 24+ home)")
    return path


def install():
    """The unpacked server directory (lib/, plugin/), fetched and unpacked once."""
    home = CACHE / f"trino-server-{TRINO_VERSION}"
    done = home / ".unpacked"
    if done.exists():
        return home
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return home
        if shutil.which("mvn") is None:
            raise TrinoMissing("fetching Trino needs Maven (`mvn` on PATH: Debian's maven)")
        repository = CACHE / "m2"
        command = ["mvn", "-B", "-q", "--strict-checksums", "dependency:get",
                   f"-Dartifact={ARTIFACT}", "-Dtransitive=false",
                   f"-Dmaven.repo.local={repository}"]
        fetched = subprocess.run(command, capture_output=True, text=True, timeout=1800)
        tarball = (repository / "io" / "trino" / "trino-server" / TRINO_VERSION /
                   f"trino-server-{TRINO_VERSION}.tar.gz")
        if fetched.returncode != 0 or not tarball.exists():
            raise TrinoMissing(f"`{' '.join(command)}` failed ({fetched.returncode}):\n"
                               f"{fetched.stdout[-2000:]}{fetched.stderr[-2000:]}")
        partial = CACHE / f".unpacking-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        unpacked = subprocess.run(["tar", "xzf", str(tarball), "-C", str(partial)],
                                  capture_output=True, text=True, timeout=1800)
        if unpacked.returncode != 0:
            raise TrinoMissing(f"unpacking {tarball} failed: {unpacked.stderr[-2000:]}")
        unpacked_home = partial / f"trino-server-{TRINO_VERSION}"
        for plugin in (unpacked_home / "plugin").iterdir():  # the one the tests load
            if plugin.name != "delta-lake":
                shutil.rmtree(plugin)
        shutil.rmtree(home, ignore_errors=True)
        unpacked_home.rename(home)
        partial.rmdir()
        done.touch()
        tarball.unlink()  # 800 MB; the unpacked tree is what runs
    return home


def _properties(path, values):
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items()))


class TrinoServer:
    """One Trino (coordinator and worker) on a loopback port, its catalog `delta` on the
    Delta Lake connector: native S3 to `store` (path style, its keys), a file metastore in
    `directory`."""

    def __init__(self, directory, store, port):
        self.directory = Path(directory)
        self.store, self.port = store, port
        self.url = f"http://127.0.0.1:{port}"
        self.proc = None
        self.log_path = self.directory / "server.log"

    def start(self):
        """Starts the JVM and returns at once: ready() waits for it."""
        java_path = java()  # before the 800 MB fetch
        home = install()
        etc = self.directory / "etc"
        for made in (etc / "catalog", self.directory / "data", self.directory / "metastore"):
            made.mkdir(parents=True, exist_ok=True)
        _properties(etc / "config.properties", {
            "coordinator": "true", "node-scheduler.include-coordinator": "true",
            "http-server.http.port": self.port, "discovery.uri": self.url,
            "query.max-memory": "512MB", "query.max-memory-per-node": "512MB",
            "plugin.dir": home / "plugin", "log.path": self.log_path})
        store = self.store
        _properties(etc / "catalog" / "delta.properties", {
            "connector.name": "delta_lake", "hive.metastore": "file",
            # The file metastore's root: the local file system rooted in the test's directory.
            "fs.native-local.enabled": "true",
            "local.location": self.directory / "metastore",
            "hive.metastore.catalog.dir": "local:///",
            "fs.native-s3.enabled": "true", "s3.endpoint": store.endpoint,
            "s3.region": store.region, "s3.path-style-access": "true",
            "s3.aws-access-key": store.access_key, "s3.aws-secret-key": store.secret_key,
            "delta.register-table-procedure.enabled": "true"})
        command = [str(java_path), *JVM_OPTIONS, "-Dnode.environment=arrowport_test",
                   f"-Dnode.id=arrowport-{os.getpid()}",
                   # Loopback, not the host's address it would announce: once that did
                   # not answer Trino's own checks in time, its failure detector took the
                   # node out and queries failed NO_NODES_AVAILABLE.
                   "-Dnode.internal-address=127.0.0.1",
                   f"-Dnode.data-dir={self.directory / 'data'}",
                   f"-Dconfig={etc / 'config.properties'}",
                   f"-Dcatalog.config-dir={etc / 'catalog'}",
                   "-cp", f"{home / 'lib'}/*", "io.trino.server.TrinoServer"]
        with open(self.directory / "stdout.log", "ab") as out:
            self.proc = subprocess.Popen(command, cwd=self.directory, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        return self

    def log(self):
        text = ""
        for name in ("stdout.log", "server.log"):
            path = self.directory / name
            if path.exists():
                text += path.read_text(errors="replace")[-6000:]
        return text

    def ready(self, timeout=240):
        """Waits until the server has started (GET /v1/info: "starting": false) and lists
        itself as an active node: its worker (itself) announces itself a moment after the
        start, and until then queries of tables fail NO_NODES_AVAILABLE (a `SELECT 1`,
        run by the coordinator alone, does not)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise TrinoMissing(f"Trino exited with {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(requests.RequestException, ValueError, NoNodesYet):
                info = requests.get(f"{self.url}/v1/info", timeout=5).json()
                if info.get("starting") is False and self.query(
                        "SELECT count(*) FROM system.runtime.nodes "
                        "WHERE state = 'active'") == [[1]]:
                    return self
            time.sleep(0.5)
        raise TrinoMissing(f"Trino did not start within {timeout} s:\n{self.log()}")

    def query(self, sql, timeout=180):
        """Rows of `sql` (lists), over Trino's client protocol: POST /v1/statement, then
        each nextUri until there is none."""
        headers = {"X-Trino-User": "arrowport-tests", "X-Trino-Catalog": "delta",
                   "X-Trino-Schema": "lake"}
        deadline = time.time() + timeout
        answer = requests.post(f"{self.url}/v1/statement", data=sql.encode(),
                               headers=headers, timeout=60)
        answer.raise_for_status()
        page, rows = answer.json(), []
        while True:
            if "error" in page:
                error = page["error"]
                if error.get("errorName") == "NO_NODES_AVAILABLE":
                    raise NoNodesYet(error.get("message"))
                raise AssertionError(f"Trino: {sql}: {error.get('errorName')}: "
                                     f"{error.get('message')}")
            rows.extend(page.get("data") or [])
            if "nextUri" not in page:
                return rows
            assert time.time() < deadline, f"Trino: {sql}: no answer within {timeout} s"
            answer = requests.get(page["nextUri"], headers=headers, timeout=60)
            answer.raise_for_status()
            page = answer.json()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def main():
    """Fetches and unpacks the server (bin/test --slow, in the background)."""
    try:
        print(f"trino_server: Trino {TRINO_VERSION} at {install()}")
    except TrinoMissing as e:
        print(f"trino_server: {e}; the Trino test will say so", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
