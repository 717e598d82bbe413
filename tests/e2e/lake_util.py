"""Test peers for the lake sink (issue 18; design section 4): a real S3 server (MinIO) on
loopback, the lake as other Delta readers see it (delta-rs, Polars, the raw files and the
`_delta_log`), the YAML that routes a stream to a lake, and small ingest/query helpers.

MinIO is built once from the Go module proxy by bin/test into /var/cache/arrowport/go/bin
(ARROWPORT_MINIO names another binary). The Delta readers are PyPI packages installed by
bin/test (deltalake, polars; Spark for the slow tests only). A missing peer fails the test:
nothing here skips."""
import contextlib
import json
import os
import random
import re
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

import deltalake
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as flight
import pyarrow.fs as pafs
import pyarrow.ipc as ipc
import pytest
import requests

from duckdb_delta import duckdb_delta_query

ARROW = "application/vnd.apache.arrow.stream"
MINIO_DEFAULT = "/var/cache/arrowport/go/bin/minio"
# Fixed root credentials: distinctive, so a test can grep for them in errors and logs.
ACCESS_KEY = "arrowport-lake-key"
SECRET_KEY = "Sekr1t-lake-9f3a7c51"
REGION = "us-east-1"
COMMIT_FILE = re.compile(r"^(\d{20})\.json$")


def minio_binary():
    path = os.environ.get("ARROWPORT_MINIO") or MINIO_DEFAULT
    if not os.access(path, os.X_OK):
        pytest.fail(f"MinIO (the lake tests' S3 server) is not at {path}: bin/test builds it "
                    f"with `go install github.com/minio/minio@...` into /var/cache/arrowport/go/bin "
                    f"(or set ARROWPORT_MINIO)", pytrace=False)
    return path


def free_port():
    """A loopback port nothing listens on, below the kernel's ephemeral range: every server
    the tests start with port 0 gets its port from that range, so none is handed this one
    between the check and the moment the caller binds it (MinIO's readiness probe once
    reached an arrowport server's gRPC port that had taken a port picked so)."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        ephemeral_low = int(f.read().split()[0])
    low = 10000 if ephemeral_low > 12000 else 1024
    for _ in range(200):
        port = random.randrange(low, ephemeral_low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use
            return port
    raise RuntimeError(f"no free loopback port in {low}..{ephemeral_low}")


class Minio:
    """A MinIO server on a loopback port, data under `directory`, one bucket made before it
    starts (a directory in its data dir is a bucket). stop()/start() keep port and data, so
    a test can take the store away and bring it back."""

    def __init__(self, directory, bucket="lake", ca=None, host="127.0.0.1", launcher=()):
        """`ca`: the CA file of the certificate in directory/certs (public.crt, private.key):
        MinIO then speaks HTTPS only. `host`: the address it listens on; `launcher`: words
        before its command (`ip netns exec NS`: a network namespace of its own)."""
        self.directory = Path(directory)
        self.host = host
        self.launcher = list(launcher)
        self.ca = ca
        self.data = self.directory / "data"
        self.bucket = bucket
        self.access_key, self.secret_key, self.region = ACCESS_KEY, SECRET_KEY, REGION
        self.port = free_port()
        self.console_port = free_port()
        self.proc = None
        self.log_path = self.directory / "minio.log"

    @property
    def endpoint(self):
        return f"{'https' if self.ca else 'http'}://{self.host}:{self.port}"

    def start(self, timeout=60):
        (self.data / self.bucket).mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MINIO_"))}
        env.update(MINIO_ROOT_USER=self.access_key, MINIO_ROOT_PASSWORD=self.secret_key,
                   MINIO_BROWSER="off", MINIO_UPDATE="off")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [*self.launcher, minio_binary(), "server", str(self.data), "--quiet",
             "--address", f"{self.host}:{self.port}",
             "--console-address", f"{self.host}:{self.console_port}",
             "--certs-dir", str(self.directory / "certs")],
            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()
        context = ssl.create_default_context(cafile=str(self.ca)) if self.ca else None
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"MinIO exited with {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{self.endpoint}/minio/health/ready", timeout=2,
                                            context=context) as r:
                    if r.status == 200:
                        return self
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"MinIO did not become ready in {timeout}s:\n{self.log()}")

    def pause(self, timeout=60):
        """SIGSTOP, returning once every thread of MinIO is stopped: the signal is only
        queued when kill() returns, and on a loaded machine MinIO went on answering the
        request that followed it (a test then saw a store read succeed past its stop)."""
        self.proc.send_signal(signal.SIGSTOP)
        deadline = time.monotonic() + timeout
        tasks = f"/proc/{self.proc.pid}/task"
        while time.monotonic() < deadline:
            states = []
            for task in os.listdir(tasks):
                with contextlib.suppress(OSError):
                    stat = open(f"{tasks}/{task}/stat").read()
                    states.append(stat[stat.rindex(")") + 2])
            if states and all(state in "Tt" for state in states):
                return
            time.sleep(0.005)
        raise AssertionError(f"MinIO's threads did not all stop within {timeout} s")

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self):
        self.stop(signal.SIGKILL)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def url(self, table, bucket=None):
        return f"s3://{bucket or self.bucket}/{table}"

    def storage_options(self):
        """What delta-rs (and polars.read_delta) need for this server. delta-rs 1.x commits
        on S3 with `PUT If-None-Match: *` (MinIO answers 412 when the version exists), so
        concurrent writers are safe without a locking provider or AWS_S3_ALLOW_UNSAFE_RENAME."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_REGION": self.region,
                "AWS_ALLOW_HTTP": "true"}

    def s3_config(self, **overrides):
        """The Arrowport config's `s3:` block for this server."""
        return {"endpoint": self.endpoint, "region": self.region, "url_style": "path",
                "access_key_id": self.access_key, "secret_access_key": self.secret_key,
                **overrides}

    def filesystem(self):
        return pafs.S3FileSystem(access_key=self.access_key, secret_key=self.secret_key,
                                 region=self.region, scheme="http",
                                 endpoint_override=f"{self.host}:{self.port}",
                                 connect_timeout=5, request_timeout=30)

    def lake(self, table):
        """The lake at s3://BUCKET/table, as the test's readers see it."""
        return Lake(self.url(table), self.storage_options(), self.filesystem(),
                    f"{self.bucket}/{table}", duckdb_secret=self.duckdb_secret())

    def duckdb_secret(self):
        """DuckDB's S3 secret for this server (CREATE SECRET's options)."""
        return {"KEY_ID": self.access_key, "SECRET": self.secret_key, "REGION": self.region,
                "ENDPOINT": f"{self.host}:{self.port}", "URL_STYLE": "path", "USE_SSL": False}


# ---- the lake as other readers see it ----

class Lake:
    """A Delta table location read by the test's peers: delta-rs, Polars, DuckDB's delta
    extension and the files."""

    def __init__(self, url, storage_options=None, fs=None, root=None, duckdb_secret=None):
        self.url, self.storage_options = url, storage_options
        self.fs, self.root = fs, root
        self.duckdb_secret = duckdb_secret

    @classmethod
    def local(cls, directory):
        directory = Path(directory)
        return cls(directory.as_uri(), None, pafs.LocalFileSystem(), str(directory))

    def delta(self):
        return deltalake.DeltaTable(self.url, storage_options=self.storage_options)

    def read(self, sort_by="id", columns=None):
        """The latest snapshot through delta-rs, sorted (a pyarrow Table)."""
        table = self.delta().to_pyarrow_table(columns=columns)
        return table.sort_by(sort_by) if sort_by else table

    def polars(self, sort_by="id"):
        frame = pl.read_delta(self.url, storage_options=self.storage_options)
        return frame.sort(sort_by) if sort_by else frame

    def duckdb(self, sql="SELECT * FROM lake ORDER BY id"):
        """`sql` over the latest snapshot through DuckDB's own Delta reader (its `delta`
        extension, on delta-kernel-rs, with `httpfs` for S3), where `lake` names the
        table: a third engine, not ours and not delta-rs. A pyarrow Table."""
        return duckdb_delta_query(self.url, sql, self.duckdb_secret)

    def _list(self, subdir=""):
        path = f"{self.root}/{subdir}" if subdir else self.root
        try:
            return self.fs.get_file_info(pafs.FileSelector(path, recursive=True,
                                                           allow_not_found=True))
        except FileNotFoundError:
            return []

    def versions(self):
        """The commit versions in `_delta_log/`, sorted."""
        out = []
        for info in self._list("_delta_log"):
            match = COMMIT_FILE.match(info.base_name)
            if info.type == pafs.FileType.File and match:
                out.append(int(match.group(1)))
        return sorted(out)

    def exists(self):
        return bool(self.versions())

    def commit(self, version):
        """The actions of one commit (a list of dicts, one per JSON line)."""
        with self.fs.open_input_stream(f"{self.root}/_delta_log/{version:020d}.json") as f:
            return [json.loads(line) for line in f.read().decode().splitlines() if line.strip()]

    def data_commits(self):
        """Versions whose commit changes the data (an add or remove with dataChange true):
        one per request (per_request) or per batch (per_batch). Compaction (OPTIMIZE,
        dataChange false) rewrites files without changing the rows and is not counted."""
        out = []
        for v in self.versions():
            changes = [a[k] for a in self.commit(v) for k in ("add", "remove") if k in a]
            if any(c.get("dataChange", True) for c in changes):
                out.append(v)
        return out

    def at(self, version, sort_by="id"):
        """The snapshot at `version` through delta-rs (time travel)."""
        table = deltalake.DeltaTable(self.url, version=version,
                                     storage_options=self.storage_options).to_pyarrow_table()
        return table.sort_by(sort_by) if sort_by else table

    def assert_log_sound(self):
        """Versions 0..N with no gap, and every commit that changes no data (compaction)
        leaves the rows exactly as they were."""
        versions = self.versions()
        assert versions == list(range(len(versions))), f"log versions not contiguous: {versions}"
        data = set(self.data_commits())
        for v in versions:
            if v and v not in data:
                assert self.at(v).equals(self.at(v - 1)), f"commit {v} changed rows"

    def data_files(self):
        """Every Parquet file under the table (committed or not), relative to its root."""
        return sorted(info.path[len(self.root) + 1:] for info in self._list()
                      if info.type == pafs.FileType.File and info.path.endswith(".parquet")
                      and "/_delta_log/" not in info.path)


# ---- Arrowport's side: config, ingest, queries ----

def lake_stream(url, *, partition_by=None, commit=None, schema_policy=None, target_table=None,
                **lake_options):
    """One `streams.NAME` entry routing the stream to a Delta table at `url`."""
    lake = {"url": url, **lake_options}
    if partition_by:
        lake["partition_by"] = list(partition_by)
    stream = {"sink": "lake", "lake": lake}
    for key, value in (("commit", commit), ("schema_policy", schema_policy),
                       ("target_table", target_table)):
        if value is not None:
            stream[key] = value
    return stream


def write_config(path, streams, s3=None, extra=None):
    """Writes an Arrowport YAML config (block style at the top, flow style inside: JSON
    values are YAML) and returns its path: its owner's alone, as a config holding S3 keys
    must be (the server refuses one every user may read)."""
    path = Path(path)
    lines = []
    if s3 is not None:
        lines.append(f"s3: {json.dumps(s3)}")
    for key, value in (extra or {}).items():
        lines.append(f"{key}: {json.dumps(value)}")
    lines.append("streams:")
    for name, stream in streams.items():
        lines.append(f"  {name}: {json.dumps(stream)}")
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def start_lake_server(start_server, directory, streams, minio=None, s3=None, name="lake",
                      db=None, env=None, extra=None):
    """An Arrowport server (conftest start_server) whose config routes `streams`; the
    `s3:` block is MinIO's unless `s3` is given. Returns the RunningServer, with .config."""
    directory = Path(directory)
    if s3 is None and minio is not None:
        s3 = minio.s3_config()
    config = write_config(directory / f"{name}.yaml", streams, s3=s3, extra=extra)
    server = start_server("--config", str(config), db=db or directory / f"{name}.duckdb", env=env)
    server.config = config
    return server


def events(ids, days=("2024-01-01", "2024-01-02", "2024-01-03"), **extra_columns):
    """The lake tests' rows: id, day (a partition-friendly string), x, name."""
    ids = list(ids)
    table = pa.table({
        "id": pa.array(ids, pa.int64()),
        "day": pa.array([days[i % len(days)] for i in ids], pa.string()),
        "x": pa.array([i * 3 + 1 for i in ids], pa.int64()),
        "name": pa.array([f"n{i}" for i in ids], pa.string()),
    })
    for column, values in extra_columns.items():
        table = table.append_column(column, values)
    return table


def noisy_events(ids):
    """events() whose names barely compress (hex digests): megabytes of Parquet quickly."""
    table = events(ids)
    names = pa.array([f"{(i * 2654435761) % 4294967296:08x}{(i * 40503) % 65536:04x}"
                      f"{(i * 97) % 1000003:07x}{(i * 7919) % 999983:06x}" for i in ids])
    return table.set_column(3, "name", names)


def _replies(writer, metadata):
    writer.done_writing()
    replies = []
    while (buf := metadata.read()) is not None:
        replies.append(json.loads(buf.to_pybytes()))
    writer.close()
    return replies


def put_path(client, table, stream, chunk=None):
    """Flight DoPut with a PATH descriptor naming the stream; returns the PutResult JSONs."""
    writer, metadata = client.do_put(flight.FlightDescriptor.for_path(stream), table.schema)
    writer.write_table(table, max_chunksize=chunk)
    return _replies(writer, metadata)


def put_cmd(client, table, command, chunk=None):
    """Flight DoPut with a CMD JSON descriptor (stream, request_id, commit, ...)."""
    descriptor = flight.FlightDescriptor.for_command(json.dumps(command))
    writer, metadata = client.do_put(descriptor, table.schema)
    writer.write_table(table, max_chunksize=chunk)
    return _replies(writer, metadata)


def ipc_bytes(table, chunk=None):
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=chunk)
    return sink.getvalue().to_pybytes()


def http_ingest(server, stream, table, chunk=None, headers=None, **params):
    return requests.post(f"{server.http}/ingest/{stream}", data=ipc_bytes(table, chunk),
                         headers={"Content-Type": ARROW, **(headers or {})}, params=params,
                         timeout=120)


def http_query(server, sql):
    """POST /query; the answer as a pyarrow Table (Arrow IPC stream)."""
    r = requests.post(f"{server.http}/query", json={"sql": sql}, timeout=120)
    assert r.status_code == 200, r.text
    return ipc.open_stream(pa.BufferReader(r.content)).read_all()


def flight_query(client, sql):
    return client.do_get(flight.Ticket(json.dumps({"sql": sql}).encode())).read_all()


def rows(table, columns=("id", "day", "x", "name")):
    """Rows as plain dicts over `columns` (types compared by value, not by Arrow type)."""
    if isinstance(table, pl.DataFrame):
        return table.select(list(columns)).to_dicts()
    return table.select(list(columns)).to_pylist()


def day_aggregate(table, day):
    """count(*) and sum(x) of a day's rows of a pyarrow table (the readers' answer)."""
    chosen = table.filter(pc.equal(table.column("day"), day))
    total = pc.sum(chosen.column("x")).as_py() if chosen.num_rows else None
    return chosen.num_rows, total


def commit_actions(lake, version, kind):
    return [a[kind] for a in lake.commit(version) if kind in a]
