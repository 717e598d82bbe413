"""The peers of the DuckLake tests (issue 38): DuckDB 1.5.5's own `ducklake` extension
(with `sqlite` and `postgres` for the two catalogs), from the PyPI packages that carry the
signed binaries DuckDB would download (this machine cannot fetch them at run time), and a
real PostgreSQL server (Debian's, from the toolchain root: toolchain/test-packages.txt)
for the catalog several nodes share. See tests/e2e/requirements.txt."""
import atexit
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import duckdb
import duckdb_extension_ducklake
import duckdb_extension_postgres
import duckdb_extension_sqlite

REPO = Path(__file__).resolve().parents[2]

# DuckDB names an extension's entry point after its file name: the packages' files are
# sqlite.duckdb_extension and postgres.duckdb_extension, whose canonical names (the ones
# LOAD and ATTACH 'ducklake:sqlite:' look for) are sqlite_scanner and postgres_scanner.
_EXTENSIONS = {"ducklake": (duckdb_extension_ducklake, "ducklake"),
               "sqlite_scanner": (duckdb_extension_sqlite, "sqlite"),
               "postgres_scanner": (duckdb_extension_postgres, "postgres")}
_extension_directory = None


def _packaged_extension(module, name):
    found = sorted(Path(module.__file__).parent.glob(f"extensions/*/{name}.duckdb_extension"))
    assert found, f"no {name}.duckdb_extension in {module.__name__} (tests/e2e/requirements.txt)"
    return found[-1]


def extension_directory():
    """A DuckDB extension directory (made once per process) holding links to the packaged
    extensions under their canonical names, in DuckDB's own layout (VERSION/PLATFORM/)."""
    global _extension_directory
    if _extension_directory is None:
        platform = duckdb.execute("PRAGMA platform").fetchone()[0]
        directory = Path(tempfile.mkdtemp(prefix="arrowport-duckdb-ext-"))
        versioned = directory / f"v{duckdb.__version__}" / platform
        versioned.mkdir(parents=True)
        for canonical, (module, name) in _EXTENSIONS.items():
            (versioned / f"{canonical}.duckdb_extension").symlink_to(
                _packaged_extension(module, name))
        _extension_directory = directory
        atexit.register(shutil.rmtree, directory, True)
    return str(_extension_directory)


def _sql_string(text):
    return "'" + str(text).replace("'", "''") + "'"


def ducklake_duckdb(catalog, data_path, name="lk", read_only=False):
    """A DuckDB 1.5.5 connection with the lake ATTACHed as `name` (default `lk`).
    `catalog` is Arrowport's form, "sqlite:/path/catalog.sqlite" or "postgres:CONNINFO";
    `data_path` the lake's data directory (DuckDB wants it to end in '/')."""
    kind, _, target = catalog.partition(":")
    assert kind in ("sqlite", "postgres") and target, f"not a DuckLake catalog: {catalog!r}"
    con = duckdb.connect(config={"extension_directory": extension_directory(),
                                 "autoinstall_known_extensions": False,
                                 "autoload_known_extensions": False})
    try:
        con.execute("LOAD ducklake")
        con.execute("LOAD sqlite_scanner" if kind == "sqlite" else "LOAD postgres_scanner")
        data_path = str(data_path)
        if not data_path.endswith("/"):
            data_path += "/"
        options = f"DATA_PATH {_sql_string(data_path)}" + (", READ_ONLY" if read_only else "")
        if kind == "sqlite":
            # DuckDB's SQLite catalog waits 5 s for a lock by default: a server appending
            # back to back on a loaded machine kept it out that long once (its ATTACH
            # failed "database is locked"). Arrowport's own calls wait 30 s.
            options += ", META_BUSY_TIMEOUT 60000"
        con.execute(f"ATTACH {_sql_string('ducklake:' + catalog)} AS {name} ({options})")
    except BaseException:
        con.close()
        raise
    return con


def _root_view():
    """(native, root): whether this host runs the toolchain's programs itself, and where
    the Debian root lives (toolchain/env.sh decides both)."""
    out = subprocess.run(
        ["bash", "-c", 'source "$0/toolchain/env.sh"; '
                       'if arrowport_host_is_native; then echo native; else echo "$ARROWPORT_ROOT"; fi',
         str(REPO)], capture_output=True, text=True, check=True).stdout.strip()
    return (True, None) if out == "native" else (False, Path(out))


# Runs inside the root (arrowport_in_root): initdb on the first start, then the server in
# the foreground of this shell until stdin closes (the test's end, or the test process
# dying any way at all), then a fast shutdown. PostgreSQL refuses to run as root: as root
# (CI, and the root's chroot always), the server runs as the `postgres` account Debian's
# package makes (`nobody` if there is none). Prints "ready" once it accepts connections.
_SERVER_SCRIPT = r'''
set -u
dir=$1 port=$2 database=$3 address=${4:-127.0.0.1}
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as=""
if [ "$(id -u)" = 0 ]; then
  user=postgres
  id "$user" >/dev/null 2>&1 || user=nobody
  chown "$user" "$dir"
  as="setpriv --reuid=$user --regid=$(id -g "$user") --init-groups"
fi
if [ ! -f "$dir/data/PG_VERSION" ]; then
  if ! $as "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
      --no-instructions >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    exit 1
  fi
  # initdb trusts loopback only: clients of another address (other network namespaces
  # on a bridge) too.
  if [ "$address" != 127.0.0.1 ]; then
    echo "host all all $address/24 trust" >>"$dir/data/pg_hba.conf"
  fi
fi
$as "$bin/postgres" -D "$dir/data" -p "$port" -k "$dir" -c listen_addresses="$address" \
  -c fsync=off -c shared_buffers=32MB -c max_connections=200 >>"$dir/postgres.log" 2>&1 &
pid=$!
until "$bin/pg_isready" -q -h "$dir" -p "$port"; do
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid"
    echo "postgres exited before it was ready" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -n "$database" ]; then
  "$bin/createdb" -h "$dir" -p "$port" -U postgres "$database" || { kill -INT "$pid"; wait "$pid"; exit 1; }
fi
echo ready
cat >/dev/null
kill -INT "$pid" 2>/dev/null
wait "$pid"
'''


class PostgresServer:
    """Debian's PostgreSQL server from the toolchain root on a free loopback port, its data
    and unix socket in a fresh directory, trust authentication, user `postgres`, and a
    database `lake` made on the first start. stop() and start() again keep the port and
    the data (a test may take the catalog away mid-commit). close() stops it for good and
    removes its files."""

    def __init__(self, database="lake", timeout=180, host="127.0.0.1"):
        """`host`: the address it listens on (another of this machine's than loopback, for
        clients in other network namespaces)."""
        self.database = database
        self.host = host
        self.timeout = timeout
        native, root = _root_view()
        # The directory must be seen from inside the root: its /tmp is $ARROWPORT_ROOT/tmp.
        parent = None if native else root / "tmp"
        self.dir = Path(tempfile.mkdtemp(prefix="arrowport-pg-", dir=parent))
        self.inside = self.dir if native else Path("/") / self.dir.relative_to(root)
        os.chmod(self.dir, 0o755)
        self.port = None
        self.proc = None
        self._created = False
        self._last_code = None

    @property
    def conninfo(self):
        """libpq's key=value connection string of the `lake` database."""
        return f"host={self.host} port={self.port} dbname={self.database} user=postgres"

    @property
    def log(self):
        path = self.dir / "postgres.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self):
        assert self.proc is None, "already running"
        # Another process may take a free port between the probe and the server's bind:
        # then another port (only on the first start: a restart keeps its port).
        for _ in range(5 if self.port is None else 1):
            if self.port is None or not self._created:
                with socket.socket() as probe:
                    probe.bind((self.host, 0))
                    self.port = probe.getsockname()[1]
            log_before = len(self.log)
            error = self._launch()
            if error is None:
                self._created = True
                return self
            if "could not bind" not in self.log[log_before:] or self._created:
                break
        raise RuntimeError(f"PostgreSQL did not start: {error}\n--- postgres.log:\n"
                           f"{self.log[-4000:]}")

    def _launch(self):
        """Starts the server; None once it is ready, else why not (the process is gone)."""
        self.proc = subprocess.Popen(
            ["bash", "-c", 'source "$0/toolchain/env.sh"; arrowport_in_root sh -c "$@"',
             str(REPO), _SERVER_SCRIPT, "sh", str(self.inside), str(self.port),
             "" if self._created else self.database, self.host],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True)
        deadline = time.monotonic() + self.timeout
        line = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 1.0)
            if ready:
                line = self.proc.stdout.readline()
                break
        if line.strip() == b"ready":
            return None
        if not line and self.proc.poll() is None:
            why = "not ready within %d s" % self.timeout
        elif not line:
            why = "the start script ended"
        else:
            why = "unexpected output %r" % line
        self._halt(grace=30)
        stderr = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
        self.proc = None
        return f"{why}; exit {self._last_code}; stderr: {stderr[-2000:]}"

    def _halt(self, grace):
        """Closes the script's stdin (a fast shutdown), waits, then kills what is left."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self._last_code = self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self._kill_postmaster()
            os.killpg(self.proc.pid, signal.SIGKILL)
            self._last_code = self.proc.wait()

    def _kill_postmaster(self):
        pid_file = self.dir / "data" / "postmaster.pid"
        try:
            os.kill(int(pid_file.read_text().split("\n", 1)[0]), signal.SIGKILL)
        except (OSError, ValueError):
            pass

    def stop(self, grace=120):
        """A fast shutdown (clients are disconnected, nothing committed is lost)."""
        if self.proc is not None:
            self._halt(grace)
            self.proc.stdout.close()
            self.proc.stderr.close()
            self.proc = None

    def create_database(self, name):
        """Another database on this server; its conninfo."""
        result = subprocess.run(
            ["bash", "-c", 'source "$0/toolchain/env.sh"; arrowport_in_root sh -c "$@"',
             str(REPO), 'bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1); '
                        'exec "$bin/createdb" -h "$1" -p "$2" -U postgres "$3"',
             "sh", str(self.inside), str(self.port), name],
            capture_output=True, text=True, timeout=self.timeout)
        assert result.returncode == 0, result.stderr
        return f"host={self.host} port={self.port} dbname={name} user=postgres"

    def close(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
