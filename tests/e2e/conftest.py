"""Fixtures that run the real `arrowport` binary (through bin/arrowport) for e2e tests."""
import json
import os
import re
import resource
import signal
import subprocess
import threading
import time
from pathlib import Path

import pyarrow.flight as flight
import pytest

REPO = Path(__file__).resolve().parents[2]
ARROWPORT = str(REPO / "bin" / "arrowport")
# A server that ended with one of these signals crashed (tests send SIGTERM/SIGKILL).
CRASH_EXIT_CODES = {-signal.SIGSEGV, -signal.SIGABRT, -signal.SIGBUS, -signal.SIGILL,
                    -signal.SIGFPE}
READY = re.compile(r"^arrowport ready flight=(grpc(?:\+tls)?://\S+) http=(https?://\S+)"
                   r"(?: metrics=(https?://\S+))?")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running test (bin/test --slow)")
    config.addinivalue_line("markers", "measures: a slow test whose figures (throughput, "
                                       "latency) need the machine to itself")
    config.addinivalue_line("markers", "malformed_input: hostile or malformed Arrow input must be "
                                       "refused cleanly, never crash the server (design section 7)")
    config.addinivalue_line("markers", "release_only(reason): checks what a sanitizer build cannot "
                                       "show (RSS, the docs' own build): skipped against one")
    config.addinivalue_line("markers", "release_too: runs against a sanitizer build, but what it "
                                       "measures (RSS, an address-space cap) is asserted on the "
                                       "release build only; CI runs it against both")


SANITIZED = os.environ.get("ARROWPORT_SANITIZED") == "1"


# The files that take longest (serial wall time, 30-90 s each, most of it waiting on
# timeouts and deadlines by design; Spark's in the slow lane), started first: on
# bin/test's workers, a long file started last would run on alone at the end. bin/test
# passes --no-loadscope-reorder, or pytest-xdist would order files by number of tests.
LONGEST_FIRST = ["test_packaging", "test_lake_slow", "test_limits", "test_lake",
                 "test_cluster_engines", "test_ducklake_faults",
                 "test_ducklake", "test_flight_cancellation",
                 "test_memory_limits", "test_docs_examples",
                 "test_flight_sql_write_deadlines",
                 "test_flight_sql_hardening", "test_auth", "test_tls", "test_http_limits",
                 "test_lake_upkeep", "test_lake_full_store", "test_status_page",
                 "test_parallel_reads", "test_flight_sql_review", "test_malformed_arrow",
                 "test_schema_evolution_race", "test_soak"]


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))
    if SANITIZED:
        for item in items:
            marker = item.get_closest_marker("release_only")
            if marker is not None:
                item.add_marker(pytest.mark.skip(reason=marker.args[0] if marker.args
                                                 else "release build only"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """pyarrow raises a gRPC CANCELLED answer as KeyboardInterrupt, which would stop the
    whole run (a CI run once ended after 36 tests): it fails the one test instead. A real
    Ctrl-C does not come out of pyarrow and still stops the run."""
    try:
        return (yield)
    except KeyboardInterrupt as e:
        frames = []
        tb = e.__traceback__
        while tb is not None:
            frames.append(tb.tb_frame.f_code.co_filename)
            tb = tb.tb_next
        if frames and "pyarrow" in frames[-1]:
            raise AssertionError(f"a call was answered CANCELLED (pyarrow raised it as "
                                 f"KeyboardInterrupt): {e!r}") from e
        raise


# ARROWPORT_CPU_REPORT=FILE: each test's wall time and CPU seconds (this pytest process and
# the children it reaped during the test: servers, MinIO, JVMs, CLI runs), a JSON line
# per test appended to FILE. A module's shared servers count for its last test; a child
# never waited for (pyspark's JVM) counts nowhere. bin/test sums them per lane and names the costliest tests:
# on two cores, a lane's time is mostly CPU (docs/testing.md).
CPU_REPORT = os.environ.get("ARROWPORT_CPU_REPORT")


def _cpu_seconds():
    own = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (own.ru_utime + own.ru_stime, reaped.ru_utime + reaped.ru_stime)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    if not CPU_REPORT:
        return (yield)
    began, (own, reaped) = time.monotonic(), _cpu_seconds()
    try:
        return (yield)
    finally:
        own_after, reaped_after = _cpu_seconds()
        try:  # a report that cannot be written fails no test
            with open(CPU_REPORT, "a") as report:
                report.write(json.dumps({
                    "test": item.nodeid, "wall_s": round(time.monotonic() - began, 2),
                    "cpu_s": round(own_after - own + reaped_after - reaped, 2),
                    "children_cpu_s": round(reaped_after - reaped, 2)}) + "\n")
        except OSError:
            pass


def private_config(args, env=None):
    """Makes the config file a server is started with (`--config FILE`, or ARROWPORT_CONFIG)
    readable by its owner only, as a config holding a secret must be: the server refuses
    one that every user may read (docs/security.md#secrets-in-the-config), and the tests
    write theirs under the usual umask (0644). A later write_text keeps the mode."""
    args = [str(a) for a in args]
    paths = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--config"]
    paths += [a.split("=", 1)[1] for a in args if a.startswith("--config=")]
    if env and env.get("ARROWPORT_CONFIG"):
        paths.append(env["ARROWPORT_CONFIG"])
    for path in paths:
        if os.path.isfile(path) and os.stat(path).st_uid == os.geteuid():
            os.chmod(path, 0o600)


class RunningServer:
    """An `arrowport serve` process; stderr is collected for assertions."""

    def __init__(self, args, cwd, env=None, timeout=120, preexec_fn=None,
                 keep_config_mode=False, launcher=()):
        """`launcher`: words before the command (`ip netns exec NS`)."""
        if not keep_config_mode:
            private_config(args, env)
        self.stderr_lines = []
        self.proc = subprocess.Popen(
            [*launcher, ARROWPORT, "serve", *args], cwd=cwd, env=env or os.environ.copy(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
            preexec_fn=preexec_fn)
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        deadline = time.time() + timeout
        self.uri = None
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            match = READY.match(line.strip())
            if match:
                self.uri, self.http, self.metrics = match.group(1), match.group(2), match.group(3)
                break
        if self.uri is None:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("server did not become ready:\n" + self.stderr())

    def _drain_stderr(self):
        for line in self.proc.stderr:
            self.stderr_lines.append(line)

    def stderr(self):
        return "".join(self.stderr_lines)

    def logged(self, text, timeout=30):
        """True once stderr (drained by a thread, so a little behind) holds `text`."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in self.stderr():
                return True
            time.sleep(0.1)
        return False

    def stacks(self):
        """Where each of the server's threads is now (gdb, when the host has it), for a test
        that found a call which should have ended still running: our frames only."""
        import shutil
        if shutil.which("gdb") is None or self.proc.poll() is not None:
            return "(no stacks: no gdb, or the server has exited)"
        # The binary runs through the toolchain root's loader: its symbols are added at the
        # address it was mapped at.
        binary, base = None, None
        with open(f"/proc/{self.proc.pid}/maps") as maps:
            for line in maps:
                fields = line.split()
                if len(fields) >= 6 and fields[5].endswith("/arrowport"):
                    binary, base = fields[5], fields[0].split("-")[0]
                    break
        command = ["gdb", "-p", str(self.proc.pid), "-batch", "-ex", "set pagination off"]
        if binary:
            command += ["-ex", f"add-symbol-file {binary} -o 0x{base}"]
        command += ["-ex", "thread apply all bt"]
        try:
            ran = subprocess.run(command, capture_output=True, text=True, errors="replace",
                                 timeout=120)
        except subprocess.TimeoutExpired:
            return "(no stacks: gdb took over 120 s)"
        threads = re.split(r"\n(?=Thread \d+ )", ran.stdout)
        ours = [t for t in threads if t.startswith("Thread ") and "arrowport::" in t]
        if not ours:
            return f"(no stacks of ours: gdb said {ran.stderr[-2000:]!r})"
        # Each thread's innermost frames (where it waits) and its first of ours; threads in
        # a store request or a lock first, idle ones (waiting for work) last.
        def shown(thread):
            frames = re.sub(r" from /\S+", "", thread).splitlines()
            ours_at = next((i for i, f in enumerate(frames) if "arrowport::" in f), 0)
            return "\n".join(frames[:16] + (["    ..."] + frames[ours_at:ours_at + 4]
                                             if ours_at >= 16 else []))
        busy = ("objectstore", "LakeFileSystem", "Lock", "Wait", "curl")
        ours.sort(key=lambda t: not any(word in t for word in busy))
        return "\n\n".join(shown(t) for t in ours)[:30000]

    @property
    def port(self):
        return int(self.uri.rsplit(":", 1)[1])

    def client(self):
        return flight.connect(self.uri)

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


@pytest.fixture
def start_server(tmp_path):
    """Factory: start_server(*args) -> RunningServer on a fresh file database."""
    servers = []

    def start(*args, db=None, cwd=None, env=None, preexec_fn=None):
        db_args = [] if any(a == "--db" for a in args) else ["--db", str(db or tmp_path / "e2e.duckdb")]
        server = RunningServer([*db_args, "--flight-port", "0", "--http-port", "0", *args],
                               cwd=cwd or tmp_path, env=env, preexec_fn=preexec_fn)
        servers.append(server)
        return server

    yield start
    crashed = []
    for server in servers:
        if server.proc.poll() is None:
            server.stop()
        if server.proc.returncode in CRASH_EXIT_CODES:
            crashed.append(f"server died of signal {-server.proc.returncode}:\n"
                           + server.stderr()[-3000:])
    # A crash is a failure of whichever test saw it, even when its assertions passed.
    assert not crashed, crashed


@pytest.fixture
def server(start_server):
    return start_server()


@pytest.fixture
def compressing_server(start_server):
    """A server that compresses results for this host too (http.compression: always): by
    default a client on the server's own host gets no compression (its link is memory),
    and every e2e client is on it."""
    return start_server(env={**os.environ, "ARROWPORT_HTTP_COMPRESSION": "always"})


@pytest.fixture
def minio(tmp_path):
    """A real S3 server for the lake sink (MinIO, lake_util.Minio) on a free loopback port,
    with a fresh data directory, fixed root credentials and a bucket "lake"; stopped after
    the test (a test may stop() and start() it again: same port, same data)."""
    from lake_util import Minio
    store = Minio(tmp_path / "minio").start()
    yield store
    store.stop()


@pytest.fixture(scope="module")
def postgres():
    """A real PostgreSQL server for the DuckLake catalogs (Debian's, from the toolchain root;
    ducklake_peers.PostgresServer) shared by a test module: each test takes a database of
    its own (create_database). Stopped (fast shutdown) and its files removed after the
    module, whatever its tests did; a test that must stop or restart the server makes a
    PostgresServer of its own."""
    from ducklake_peers import PostgresServer
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def postgres_server(postgres):
    """The libpq conninfo of `postgres`'s database `lake`,
    "host=127.0.0.1 port=N dbname=lake user=postgres"."""
    return postgres.conninfo


def run_cli(*args, cwd=None, input=None, timeout=300, env=None):
    """Runs `bin/arrowport ARGS` (in `env`, default this process's) and returns the
    CompletedProcess."""
    if args and args[0] == "serve":
        private_config(args)
    return subprocess.run([ARROWPORT, *args], cwd=cwd, input=input, capture_output=True,
                          timeout=timeout, env=env)
