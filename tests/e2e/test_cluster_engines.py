"""Engines that are not ours read what three nodes write, while they write (issue 68):
three Arrowport nodes of one cluster commit one Delta table on a real S3 store (MinIO) and
one DuckLake table whose catalog is a real PostgreSQL, a producer per node sending
requests with request ids. Meanwhile a reader asks a node (each in turn) for the table,
fetches the snapshot's endpoints from the nodes they name, and the other engines read that
same version: Trino 476 (its Delta Lake connector, `FOR VERSION AS OF`) and Spark
(delta-spark, `versionAsOf`) for Delta, DuckDB 1.5.5's ducklake extension
(`AT (VERSION => n)`) for DuckLake. Each must agree with Arrowport on the version's rows
(count, distinct ids, sum of x); Trino and DuckDB also read again versions read before.
Once the writes stop, every engine's latest snapshot holds every acknowledged request's
rows exactly once and nothing else. Trino: tests/e2e/trino_server.py. New: no engine of
another project read these while several nodes wrote."""
import json
import threading
import time

import pyarrow.compute as pc
import pyarrow.flight as flight
import pyarrow.fs as pafs
import pytest

from ducklake_peers import ducklake_duckdb
from lake_util import Minio, events, free_port, lake_stream, put_cmd
from spark_jars import delta_spark_fixture
from test_cluster_reads import NODES, Cluster, wait_until
from trino_server import TRINO_VERSION, TrinoMissing, TrinoServer

pytestmark = pytest.mark.slow

ROWS = 400  # rows of one request: request block b holds ids b*ROWS .. b*ROWS+ROWS-1
MIN_ROUNDS, MIN_WRITE_S = 5, 20
BUCKET = "engines"  # not test_lake_slow's: Spark's s3a keeps a bucket's endpoint per JVM


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    minio = Minio(tmp_path_factory.mktemp("minio"), bucket=BUCKET).start()
    yield minio
    minio.stop()


@pytest.fixture(scope="module")
def trino(store, tmp_path_factory):
    """Trino, started (not yet ready: it boots while Spark and the nodes start)."""
    server = TrinoServer(tmp_path_factory.mktemp("trino"), store, free_port())
    try:
        server.start()
    except TrinoMissing as e:
        pytest.fail(str(e), pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def spark(store):
    yield from delta_spark_fixture(store, "arrowport-cluster-engines")


class Writes:
    """A producer per node, each sending requests of ROWS rows with request ids until
    stopped; what was acknowledged, by request block."""

    def __init__(self, cluster, stream, pause_s=1.0):
        self.cluster, self.stream, self.pause_s = cluster, stream, pause_s
        self.lock = threading.Lock()
        self.acknowledged = set()
        self.failures = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._produce, args=(i, name), daemon=True)
                        for i, name in enumerate(NODES)]

    def _produce(self, index, node):
        try:
            client = flight.connect(self.cluster.servers[node].uri)
            block = (index + 1) * 1_000_000  # each node's own blocks (0: the test's)
            while not self.stopping.is_set():
                ids = range(block * ROWS, (block + 1) * ROWS)
                command = {"stream": self.stream, "request_id": f"{self.stream}-{block}"}
                replies = put_cmd(client, events(ids), command)
                assert replies[-1]["committed"] and not replies[-1].get("duplicate"), replies
                with self.lock:
                    self.acknowledged.add(block)
                block += 1
                time.sleep(self.pause_s)
        except Exception as e:  # noqa: BLE001 - the test fails with it
            self.failures.append(f"{node}: {e!r}")
            self.stopping.set()

    def start(self):
        for thread in self.threads:
            thread.start()
        return self

    def count(self):
        with self.lock:
            return len(self.acknowledged)

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=180)
        assert not any(t.is_alive() for t in self.threads), "a producer did not stop"
        assert not self.failures, self.failures
        return sorted(self.acknowledged)


def expected_blocks(acknowledged):
    """Every acknowledged request's block, with ROWS rows and ROWS distinct ids."""
    return {block: (ROWS, ROWS) for block in acknowledged}


def expected_summary(acknowledged):
    """(rows, distinct ids, sum of x) of the acknowledged requests' rows (x = 3 id + 1)."""
    ids = sum(block * ROWS * ROWS + ROWS * (ROWS - 1) // 2 for block in acknowledged)
    rows = len(acknowledged) * ROWS
    return rows, rows, 3 * ids + rows


def arrowport_snapshot(cluster, node, stream):
    """(version, (rows, distinct ids, sum of x)) of the snapshot `node` hands out for
    `stream`: every endpoint fetched at its first location (nodes spread them)."""
    info = flight.connect(cluster.servers[node].uri).get_flight_info(
        flight.FlightDescriptor.for_path(stream))
    versions, ids, total = set(), [], 0
    for endpoint in info.endpoints:
        inner = json.loads(endpoint.ticket.ticket.split(b":", 2)[2])
        versions.add(inner["lake"]["version"])
        table = flight.connect(endpoint.locations[0]).do_get(endpoint.ticket).read_all()
        ids.extend(table.column("id").to_pylist())
        total += pc.sum(table.column("x")).as_py() or 0
    assert len(versions) == 1, versions
    return versions.pop(), (len(ids), len(set(ids)), total)


def during_writes(writes, read_round):
    """Calls read_round(round) while the producers write: at least MIN_ROUNDS rounds and
    MIN_WRITE_S seconds, each round after at least one more acknowledgement."""
    wait_until(lambda: writes.count() >= 3 or writes.failures, 120, "the first commits")
    start, rounds = time.time(), 0
    while rounds < MIN_ROUNDS or time.time() - start < MIN_WRITE_S:
        assert not writes.failures, writes.failures
        seen = writes.count()
        read_round(rounds)
        rounds += 1
        wait_until(lambda: writes.count() > seen or writes.failures, 120,
                   "another acknowledged request")
    return rounds


# ---- Delta: Trino and Spark ----

def trino_summary(trino, version=None):
    at = "" if version is None else f" FOR VERSION AS OF {int(version)}"
    (row,) = trino.query(f"SELECT count(*), count(DISTINCT id), coalesce(sum(x), 0) "
                         f"FROM events{at}")
    return tuple(row)


def spark_frame(spark, url, version=None):
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", int(version))
    return reader.load(url)


def spark_summary(spark, url, version=None):
    from pyspark.sql import functions as F
    row = spark_frame(spark, url, version).agg(
        F.count("*"), F.countDistinct("id"), F.coalesce(F.sum("x"), F.lit(0))).collect()[0]
    return tuple(row)


def delta_blocks(trino, spark, s3a):
    """Each engine's latest snapshot, per request block: {block: (rows, distinct ids)}."""
    by_trino = trino.query(f"SELECT id / {ROWS}, count(*), count(DISTINCT id) "
                           f"FROM events GROUP BY 1")
    spark_frame(spark, s3a).createOrReplaceTempView("cluster_events")
    by_spark = spark.sql(f"SELECT id DIV {ROWS} AS b, count(*) AS n, count(DISTINCT id) AS d "
                         f"FROM cluster_events GROUP BY 1").collect()
    return ({b: (n, d) for b, n, d in by_trino},
            {r["b"]: (r["n"], r["d"]) for r in by_spark})


def register_in_trino(trino, url):
    """Waits for Trino, then registers the table (its log must exist) as delta.lake.events."""
    try:
        trino.ready()
    except TrinoMissing as e:
        pytest.fail(str(e), pytrace=False)
    trino.query("CREATE SCHEMA IF NOT EXISTS delta.lake")
    trino.query(f"CALL delta.system.register_table(schema_name => 'lake', "
                f"table_name => 'events', table_location => '{url}')")


def checkpoints(store, table):
    listed = store.filesystem().get_file_info(
        pafs.FileSelector(f"{store.bucket}/{table}/_delta_log"))
    return sum(1 for info in listed if info.base_name.endswith(".checkpoint.parquet"))


class Spent(dict):
    """Seconds spent reading, by engine."""

    def timed(self, engine, read, *args):
        began = time.time()
        try:
            return read(*args)
        finally:
            self[engine] = round(self.get(engine, 0) + time.time() - began, 1)


def test_trino_and_spark_read_the_delta_table_three_nodes_write_as_they_write(
        store, trino, spark, tmp_path):
    url = store.url("events")
    s3a = url.replace("s3://", "s3a://", 1)
    # Upkeep every 10 s: compactions and checkpoints land among the commits the engines read.
    stream = lake_stream(url, partition_by=["day"], compaction_interval_s=10)
    made = Cluster(tmp_path, streams={"events": stream}, extra={"s3": store.s3_config()})
    made.start_all()
    writes, spent, started = Writes(made, "events"), Spent(), time.time()
    try:
        # The table's first commit (block 0: Trino registers a table that exists), then
        # the writes, once Trino is up.
        first = put_cmd(flight.connect(made.servers["a"].uri), events(range(ROWS)),
                        {"stream": "events", "request_id": "events-first"})
        assert first[-1]["committed"], first
        # Spark's first read (its JVM cold: most of a minute on two cores) while Trino starts.
        assert spark_summary(spark, s3a, 0) == expected_summary([0])
        register_in_trino(trino, url)
        trino_ready_s = round(time.time() - started, 1)
        writes.start()
        readings = []  # (version, Arrowport's, Trino's, Spark's)

        def read_round(round_):
            version, ours = spent.timed("arrowport", arrowport_snapshot, made,
                                        NODES[round_ % len(NODES)], "events")
            readings.append((version, ours,
                             spent.timed("trino", trino_summary, trino, version),
                             spent.timed("spark", spark_summary, spark, s3a, version)))
            # A version read before, again (time travel stays put as the log grows).
            old_version, old_ours, *_ = readings[round_ // 2]
            assert trino_summary(trino, old_version) == old_ours, (old_version, readings)

        rounds = during_writes(writes, read_round)
        acknowledged = writes.stop() + [0]
        for version, ours, theirs_trino, theirs_spark in readings:
            assert theirs_trino == ours, ("Trino", version, readings)
            assert theirs_spark == ours, ("Spark", version, readings)
        versions = sorted({r[0] for r in readings})
        assert len(versions) >= 3, readings
        # The writes done: every engine's latest snapshot is every acknowledged request
        # once, and nothing else.
        expected = expected_summary(acknowledged)
        finals = {"trino": trino_summary(trino), "spark": spark_summary(spark, s3a)}
        for node in NODES:
            finals[f"arrowport-{node}"] = arrowport_snapshot(made, node, "events")[1]
        assert all(value == expected for value in finals.values()), (expected, finals)
        by_trino, by_spark = delta_blocks(trino, spark, s3a)
        assert by_trino == expected_blocks(acknowledged)
        assert by_spark == expected_blocks(acknowledged)
        print("engines read the Delta table:", json.dumps({
            "trino": TRINO_VERSION, "trino_ready_s": trino_ready_s, "rounds": rounds,
            "versions": versions, "requests": len(acknowledged), "rows": expected[0],
            "log_versions": len(store.lake("events").versions()),
            "checkpoints": checkpoints(store, "events"), "read_s": spent,
            "seconds": round(time.time() - started, 1)}))
    finally:
        writes.stopping.set()
        made.stop_all()


# ---- DuckLake: DuckDB ----

def duckdb_summary(con, version=None):
    at = "" if version is None else f" AT (VERSION => {int(version)})"
    return tuple(con.execute(f"SELECT count(*), count(DISTINCT id), coalesce(sum(x), 0) "
                             f"FROM lk.dl{at}").fetchone())


def test_duckdb_reads_the_ducklake_table_three_nodes_write_as_they_write(tmp_path, postgres):
    catalog = "postgres:" + postgres.create_database("engines")
    data = tmp_path / "dl-data"
    data.mkdir()
    stream = {"sink": "ducklake", "ducklake": {"catalog": catalog, "table": "dl",
                                               "data_path": str(data)}}
    made = Cluster(tmp_path, streams={"dl": stream}).start_all()
    writes = Writes(made, "dl")
    con = None
    try:
        writes.start()
        readings = []  # (version, Arrowport's, DuckDB's)

        def read_round(round_):
            nonlocal con
            version, ours = arrowport_snapshot(made, NODES[round_ % len(NODES)], "dl")
            if con is None:  # once the table exists
                con = ducklake_duckdb(catalog, data, read_only=True)
            readings.append((version, ours, duckdb_summary(con, version)))
            old_version, old_ours, _ = readings[round_ // 2]
            assert duckdb_summary(con, old_version) == old_ours, (old_version, readings)

        rounds = during_writes(writes, read_round)
        acknowledged = writes.stop()
        for version, ours, theirs in readings:
            assert theirs == ours, ("DuckDB", version, readings)
        versions = sorted({r[0] for r in readings})
        assert len(versions) >= 3, readings
        expected = expected_summary(acknowledged)
        con.close()
        con = ducklake_duckdb(catalog, data, read_only=True)  # a new look at the catalog
        finals = {"duckdb": duckdb_summary(con)}
        for node in NODES:
            finals[f"arrowport-{node}"] = arrowport_snapshot(made, node, "dl")[1]
        assert all(value == expected for value in finals.values()), (expected, finals)
        blocks = con.execute(f"SELECT id // {ROWS}, count(*), count(DISTINCT id) "
                             f"FROM lk.dl GROUP BY 1").fetchall()
        assert {b: (n, d) for b, n, d in blocks} == expected_blocks(acknowledged)
        print("DuckDB read the DuckLake table:", json.dumps({
            "rounds": rounds, "versions": f"{len(versions)}, {versions[0]}..{versions[-1]}",
            "requests": len(acknowledged), "rows": expected[0]}))
    finally:
        writes.stopping.set()
        if con is not None:
            con.close()
        made.stop_all()
