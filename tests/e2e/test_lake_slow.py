"""The lake sink's long-running tests (bin/test --slow; issue 18, design section 4): Apache
Spark with Delta Lake (pyspark + delta-spark, local[2], s3a to MinIO with path-style
access) reads the tables Arrowport writes and agrees with Arrowport's own answers, and
kill -9 of the server in the middle of a large upload or between its data files and its
commit leaves no partial data, with every per_batch-acknowledged batch there exactly once.

Spark's jars (delta-spark and delta-storage, hadoop-aws matching pyspark's Hadoop, the AWS
SDK bundle) come from Maven Central through Spark's own resolver, cached outside the clone
in /var/cache/arrowport/ivy (ARROWPORT_IVY_CACHE); pyspark and delta-spark are installed by
bin/test --slow from requirements-slow.txt."""
import json
import random
import signal
import threading
import time

import deltalake
import pyarrow.flight as flight
import pytest

from lake_util import (Minio, day_aggregate, events, http_ingest, http_query, lake_stream,
                       put_cmd, put_path, rows, start_lake_server)
from spark_jars import delta_spark_fixture

pytestmark = pytest.mark.slow

DAYS = ("2024-01-01", "2024-01-02", "2024-01-03")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One MinIO for the module (Spark's s3a client keeps its endpoint per bucket)."""
    minio = Minio(tmp_path_factory.mktemp("minio")).start()
    yield minio
    minio.stop()


@pytest.fixture(scope="module")
def spark(store):
    yield from delta_spark_fixture(store)


def s3a(lake):
    return lake.url.replace("s3://", "s3a://", 1)


def spark_day_aggregates(spark, lake):
    frame = spark.read.format("delta").load(s3a(lake))
    frame.createOrReplaceTempView("lake_table")
    result = spark.sql("SELECT day, count(*) AS n, sum(x) AS s FROM lake_table "
                       "GROUP BY day ORDER BY day").collect()
    return [(r["day"], r["n"], r["s"]) for r in result]


def arrowport_day_aggregates(server, table):
    answer = http_query(server, f"SELECT day, count(*)::BIGINT AS n, sum(x)::BIGINT AS s "
                                f"FROM {table} GROUP BY day ORDER BY day")
    return [(r["day"], r["n"], r["s"]) for r in answer.to_pylist()]


# ---- Spark ----

def test_spark_reads_a_delta_rs_table_on_minio(spark, store):
    """The peers alone: Spark over s3a reads what delta-rs wrote to MinIO."""
    lake = store.lake("spark_peer")
    data = events(range(3000))
    deltalake.write_deltalake(lake.url, data, partition_by=["day"],
                              storage_options=store.storage_options())
    expected = [(d, *day_aggregate(data, d)) for d in DAYS]
    assert spark_day_aggregates(spark, lake) == expected


def test_spark_reads_arrowport_lake_and_agrees(spark, store, start_server, tmp_path):
    lake = store.lake("spark_events")
    # No compaction: its commits, in the background, landed between Spark's history and
    # the listing it is compared with (a CI run under load: versions 6-8 in one only).
    server = start_lake_server(start_server, tmp_path,
                               {"events": lake_stream(lake.url, partition_by=["day"],
                                                      compaction_interval_s=0)},
                               minio=store)
    client = server.client()
    put_path(client, events(range(0, 20_000)), "events", chunk=5000)
    assert http_ingest(server, "events", events(range(20_000, 30_000))).status_code == 200
    put_cmd(client, events(range(30_000, 40_000)), {"stream": "events", "commit": "per_batch"},
            chunk=2500)

    ours = arrowport_day_aggregates(server, "events")
    assert sum(n for _, n, _ in ours) == 40_000
    assert spark_day_aggregates(spark, lake) == ours
    snapshot = lake.read()
    assert [(d, *day_aggregate(snapshot, d)) for d in DAYS] == ours
    frame = spark.read.format("delta").load(s3a(lake))
    assert sorted(frame.columns) == ["day", "id", "name", "x"]
    assert frame.count() == 40_000
    assert sorted(r["day"] for r in frame.select("day").distinct().collect()) == list(DAYS)
    from delta.tables import DeltaTable
    history = DeltaTable.forPath(spark, s3a(lake)).history().collect()
    assert sorted(h["version"] for h in history) == lake.versions()


def test_arrowport_reads_what_spark_appends(spark, store, start_server, tmp_path):
    """Arrowport writes, Spark appends (its own commit format, its own file names), and
    Arrowport's next query and delta-rs see both."""
    lake = store.lake("spark_appended")
    server = start_lake_server(start_server, tmp_path,
                               {"events": lake_stream(lake.url, partition_by=["day"])},
                               minio=store)
    put_path(server.client(), events(range(1000)), "events")
    extra = spark.createDataFrame(rows(events(range(1000, 1500))))
    extra.select("id", "day", "x", "name").write.format("delta").mode("append").save(s3a(lake))
    assert lake.read().num_rows == 1500
    assert http_query(server, "SELECT count(*)::BIGINT AS n FROM events").to_pylist() == \
        [{"n": 1500}]
    assert arrowport_day_aggregates(server, "events") == spark_day_aggregates(spark, lake)


# ---- kill -9 ----

class Upload:
    """A large DoPut streamed from a thread until stop() or the server dies."""

    def __init__(self, client, command, batch_rows=50_000, start_id=10_000_000, limit=None):
        self.client, self.command = client, command
        self.batch_rows, self.next_id, self.limit = batch_rows, start_id, limit
        self.sent, self.acks, self.error = 0, [], None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def batch(self, index):
        start = self.next_id + index * self.batch_rows
        return events(range(start, start + self.batch_rows)).to_batches()[0]

    def _run(self):
        descriptor = flight.FlightDescriptor.for_command(json.dumps(self.command))
        try:
            writer, metadata = self.client.do_put(descriptor, self.batch(0).schema)
            reader = threading.Thread(target=self._read_acks, args=(metadata,), daemon=True)
            reader.start()
            while not self.stopping.is_set() and (self.limit is None or self.sent < self.limit):
                writer.write_batch(self.batch(self.sent))
                self.sent += 1
            writer.done_writing()
            reader.join(timeout=120)
            writer.close()
        except Exception as e:  # noqa: BLE001 - the server was killed under it
            self.error = e

    def _read_acks(self, metadata):
        try:
            while (buf := metadata.read()) is not None:
                self.acks.append(json.loads(buf.to_pybytes()))
        except Exception:  # noqa: BLE001 - the call died with the server
            pass

    def start(self):
        self.thread.start()
        return self

    def acked_batches(self):
        return [a["batch"] for a in self.acks if a.get("committed") is True and "batch" in a]


def wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_kill9_mid_upload_leaves_no_partial_data(store, start_server, tmp_path):
    """per_request: a large upload is killed once its first data files are in the bucket
    (between files and commit), then at a random later moment; after each restart delta-rs
    sees exactly the rows committed before, and the stream takes new requests."""
    lake = store.lake("killed_upload")
    streams = {"events": lake_stream(lake.url, partition_by=["day"], target_file_mb=1)}
    server = start_lake_server(start_server, tmp_path, streams, minio=store, name="k")
    put_path(server.client(), events(range(1000)), "events")
    committed = rows(events(range(1000)))
    rng = random.Random(18)
    for cycle in range(3):
        files_before = set(lake.data_files())
        upload = Upload(server.client(), {"stream": "events"}, start_id=10_000_000 * (cycle + 1))
        upload.start()
        wait_for(lambda: set(lake.data_files()) - files_before or not upload.thread.is_alive(),
                 180, "a data file of the upload (is the request streamed to the lake?)")
        assert upload.thread.is_alive(), f"the upload ended before any file showed: {upload.error}"
        if cycle > 0:
            time.sleep(rng.uniform(0.2, 3.0))
        server.stop(signal.SIGKILL)
        upload.stopping.set()
        upload.thread.join(timeout=60)
        lake.assert_log_sound()
        assert rows(lake.read()) == committed, f"cycle {cycle}: partial data visible"
        server = start_lake_server(start_server, tmp_path, streams, minio=store, name="k")
        assert rows(lake.read()) == committed
        more = events(range(1000 + cycle * 100, 1100 + cycle * 100))
        put_path(server.client(), more, "events")
        committed = sorted(committed + rows(more), key=lambda r: r["id"])
        assert rows(lake.read()) == committed
        assert http_query(server, "SELECT count(*)::BIGINT AS n FROM events").to_pylist() == \
            [{"n": len(committed)}]
    # The killed uploads left files no commit added: vacuum deletes them once they are
    # older than retention_s, and nothing the table holds.
    referenced = {p.split(lake.url.rstrip("/") + "/")[-1] for p in lake.delta().file_uris()}
    assert set(lake.data_files()) - referenced, "the kills left no orphaned file to clean up"
    server.stop()
    streams["events"]["lake"].update(retention_s=2, compaction_interval_s=1)
    server = start_lake_server(start_server, tmp_path, streams, minio=store, name="k")
    wait_for(lambda: set(lake.data_files()) <= {p.split(lake.url.rstrip("/") + "/")[-1]
                                                for p in lake.delta().file_uris()},
             60, "vacuum of the orphaned files")
    assert rows(lake.read()) == committed


def test_kill9_per_batch_every_acknowledged_batch_exactly_once(store, start_server, tmp_path):
    """per_batch with a request id: killed after a random number of acknowledgements; after
    the restart every acknowledged batch is there once, no batch is torn, and re-sending
    the whole request adds exactly the missing batches."""
    lake = store.lake("killed_batches")
    streams = {"events": lake_stream(lake.url, commit="per_batch")}
    server = start_lake_server(start_server, tmp_path, streams, minio=store, name="pb")
    rng = random.Random(1818)
    batch_rows, total_batches = 20_000, 30
    for cycle in range(3):
        request_id = f"crash-{cycle}"
        command = {"stream": "events", "request_id": request_id}
        first_id = 10_000_000 * (cycle + 1)
        upload = Upload(server.client(), command, batch_rows=batch_rows, start_id=first_id,
                        limit=total_batches).start()
        kill_after = rng.randint(2, 12)
        wait_for(lambda: len(upload.acked_batches()) >= kill_after or not upload.thread.is_alive(),
                 180, f"{kill_after} acknowledgements")
        server.stop(signal.SIGKILL)
        upload.thread.join(timeout=60)
        acked = set(upload.acked_batches())
        assert acked, f"cycle {cycle}: no acknowledgement before the kill ({upload.error})"

        server = start_lake_server(start_server, tmp_path, streams, minio=store, name="pb")
        table = lake.read()
        ids = [i for i in table.column("id").to_pylist() if first_id <= i < first_id + 10_000_000]
        assert len(ids) == len(set(ids)), f"cycle {cycle}: a batch landed twice"
        present = {}
        for i in ids:
            present.setdefault((i - first_id) // batch_rows, 0)
            present[(i - first_id) // batch_rows] += 1
        assert all(n == batch_rows for n in present.values()), f"cycle {cycle}: a torn batch"
        assert acked <= set(present), f"cycle {cycle}: acknowledged {sorted(acked - set(present))} lost"
        lake.assert_log_sound()

        # The client retries the whole request: only the missing batches are added.
        retry = Upload(server.client(), command, batch_rows=batch_rows, start_id=first_id,
                       limit=total_batches).start()
        retry.thread.join(timeout=300)
        assert retry.error is None, retry.error
        ids = [i for i in lake.read().column("id").to_pylist()
               if first_id <= i < first_id + 10_000_000]
        assert sorted(ids) == list(range(first_id, first_id + batch_rows * total_batches))
