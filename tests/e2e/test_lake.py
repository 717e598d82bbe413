"""The lake sink (issue 18; design sections 3 and 4): a stream routed with `sink: lake` lands
in a Delta Lake table, in a local directory (file://) or on S3 (a real MinIO on loopback),
through every ingest path (Flight DoPut, HTTP /ingest, Flight SQL bulk ingest) with the
same commit modes, request ids and schema policies as a DuckDB table; other Delta readers
(delta-rs, Polars) see exactly the committed data, and Arrowport serves the table's latest
snapshot by name on every read surface. Small data: the heavy runs (Spark, kill -9) are in
test_lake_slow.py."""
import contextlib
import datetime
import json
import os
import threading
import time

import adbc_driver_flightsql.dbapi as flight_sql
import deltalake
import grpc
import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.parquet as pq
import pytest
import requests

import rawflight
from conftest import run_cli
from lake_util import (SECRET_KEY, Lake, commit_actions, day_aggregate, events, flight_query,
                       http_ingest, http_query, lake_stream, noisy_events, put_cmd, put_path,
                       rows, start_lake_server, write_config)

COLUMNS = "id, day, x, name"
DAYS = ("2024-01-01", "2024-01-02", "2024-01-03")


class Target:
    """Where a test's lake lives: a local directory or MinIO."""

    def __init__(self, kind, lake, minio=None):
        self.kind, self.lake, self.minio = kind, lake, minio

    def __repr__(self):
        return f"Target({self.kind}, {self.lake.url})"


def local_target(tmp_path, table="events"):
    (tmp_path / "lake").mkdir(exist_ok=True)
    return Target("file", Lake.local(tmp_path / "lake" / table))


def target_of(request, tmp_path):
    if request.param == "file":
        return local_target(tmp_path)
    minio = request.getfixturevalue("minio")
    return Target("s3", minio.lake("events"), minio)


# MinIO's variant of each check takes 3-6 s, its directory's about 1 s: the default lane
# runs them on MinIO through `every_target` (ingest read back by every reader) and the
# store-failure tests, and the rest on MinIO in the slow lane.
@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.slow)])
def target(request, tmp_path):
    """The lake of one test, once in a local directory and once on MinIO."""
    return target_of(request, tmp_path)


@pytest.fixture(params=["file", "s3"])
def every_target(request, tmp_path):
    """As `target`, both in the default lane."""
    return target_of(request, tmp_path)


def serve(start_server, tmp_path, target, name="lake", **stream_options):
    """An Arrowport routing stream "events" to the target's lake."""
    streams = {"events": lake_stream(target.lake.url, **stream_options)}
    return start_lake_server(start_server, tmp_path, streams, minio=target.minio, name=name)


def arrowport_rows(server, table="events"):
    return rows(http_query(server, f"SELECT {COLUMNS} FROM {table} ORDER BY id"))


def put_error(client, table, command, chunk=None, options=None):
    """A DoPut the server refuses: its error (the writer is closed either way)."""
    descriptor = flight.FlightDescriptor.for_command(json.dumps(command))
    writer, metadata = client.do_put(descriptor, table.schema, options=options)
    try:
        writer.write_table(table, max_chunksize=chunk)
        writer.done_writing()
        while metadata.read() is not None:
            pass
        writer.close()
    except pa.ArrowException as e:
        with contextlib.suppress(pa.ArrowException):
            writer.close()
        return e
    raise AssertionError(f"the DoPut {command} was accepted")


def assert_healthy(server):
    health = requests.get(f"{server.http}/healthz", timeout=30).json()
    assert health["status"] == "ok" and health["storage"]["state"] == "ok", health
    body = next(server.client().do_action(flight.Action("health", b""))).body.to_pybytes()
    assert json.loads(body)["status"] == "ok"


# ---- the peers themselves: MinIO and delta-rs, without Arrowport ----

def test_minio_is_a_real_s3_for_delta_rs_and_survives_a_restart(minio):
    lake = minio.lake("peer_check")
    data = events(range(20))
    deltalake.write_deltalake(lake.url, data.slice(0, 10), partition_by=["day"],
                              storage_options=minio.storage_options())
    deltalake.write_deltalake(lake.url, data.slice(10), mode="append",
                              storage_options=minio.storage_options())
    assert lake.versions() == [0, 1]
    assert rows(lake.read()) == rows(data)
    assert rows(lake.polars()) == rows(data)
    assert {f.split("/")[0] for f in lake.data_files()} == {f"day={d}" for d in DAYS}
    # Taken away: readers fail; back on the same port and data: everything is there.
    minio.stop()
    with pytest.raises(OSError):
        deltalake.DeltaTable(lake.url, storage_options={**minio.storage_options(),
                                                        "max_retries": "1"})
    minio.start()
    assert rows(lake.read()) == rows(data)
    # Wrong credentials are refused by the server (MinIO checks signatures).
    wrong = {**minio.storage_options(), "AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    with pytest.raises(OSError):
        deltalake.DeltaTable(lake.url, storage_options=wrong)


# ---- ingest to a lake, read by every reader ----

@pytest.mark.parametrize("protocol", ["flight", "http"])
def test_ingest_lands_in_a_delta_table_every_reader_agrees(start_server, tmp_path,
                                                           every_target, protocol):
    server = serve(start_server, tmp_path, every_target)
    data = events(range(1000))
    if protocol == "flight":
        summary = put_path(server.client(), data, "events", chunk=250)[-1]
    else:
        r = http_ingest(server, "events", data, chunk=250)
        assert r.status_code == 200, r.text
        summary = r.json()
    # "table" names where the rows landed: the table's name or the lake's URL.
    assert summary["rows"] == 1000 and summary["table"] in ("events", every_target.lake.url), summary

    lake = every_target.lake
    assert lake.data_commits() == [0], "per_request: one Delta commit for the request"
    lake.assert_log_sound()
    actions = lake.commit(0)
    assert [a for a in actions if "protocol" in a] and [a for a in actions if "metaData" in a]
    adds = commit_actions(lake, 0, "add")
    assert adds and all(a["path"].endswith(".parquet") and a["dataChange"] for a in adds)
    stats = [json.loads(a["stats"]) for a in adds if a.get("stats")]
    if stats:   # optional in Delta; when written, they must be right (readers skip by them)
        assert sum(s["numRecords"] for s in stats) == 1000
        assert min(s["minValues"]["id"] for s in stats) == 0
        assert max(s["maxValues"]["id"] for s in stats) == 999
    assert {a["path"] for a in adds} <= set(lake.data_files())
    schema = json.loads(commit_actions(lake, 0, "metaData")[0]["schemaString"])
    assert [f["name"] for f in schema["fields"]] == ["id", "day", "x", "name"]

    expected = rows(data)
    assert rows(lake.read()) == expected                       # delta-rs
    assert rows(lake.polars()) == expected                     # polars.read_delta
    assert arrowport_rows(server) == expected                  # Arrowport, HTTP /query
    assert rows(flight_query(server.client(), f"SELECT {COLUMNS} FROM events ORDER BY id")) \
        == expected                                            # Arrowport, DoGet
    assert lake.delta().version() == lake.versions()[-1]


def column_encodings(lake, path):
    """Column name -> the Parquet encodings of its first row group, in a data file."""
    with lake.fs.open_input_file(f"{lake.root}/{path}") as f:
        metadata = pq.ParquetFile(f).metadata
        group = metadata.row_group(0)
        return {group.column(i).path_in_schema: set(group.column(i).encodings)
                for i in range(group.num_columns)}


def test_delta_encoded_columns_read_alike_by_every_engine(start_server, tmp_path, target):
    """Batches large enough for the writer to choose encodings: the sorted integer columns
    (ids, x, event times, an int32 with nulls, dates) are written DELTA_BINARY_PACKED, the
    unique strings plain, the days with a dictionary; delta-rs, Polars, DuckDB's own delta
    extension and Arrowport read the same rows."""
    server = serve(start_server, tmp_path, target)
    n = 30000
    times = pa.array([1_700_000_000_000_000 + i * 1000 + (i * 7919) % 500 for i in range(n)],
                     pa.timestamp("us", tz="UTC"))
    digests = pa.array([f"{(i * 2654435761) % 4294967296:08x}{(i * 40503) % 65536:04x}"
                        for i in range(n)])
    # int32 and date pages, and a delta column with nulls (definition levels).
    sequence = pa.array([None if i % 7 == 3 else 5 * i for i in range(n)], pa.int32())
    dates = pa.array([datetime.date(2000, 1, 1) + datetime.timedelta(days=i) for i in range(n)])
    data = events(range(n), seen_at=times, digest=digests, seq=sequence, born_on=dates)
    assert put_path(server.client(), data, "events", chunk=10000)[-1]["rows"] == n
    lake = target.lake
    (path,) = lake.data_files()
    encodings = column_encodings(lake, path)
    for column in ("id", "x", "seen_at", "seq", "born_on"):
        assert "DELTA_BINARY_PACKED" in encodings[column], (column, encodings)
    for column in ("name", "digest"):
        assert not (encodings[column] & {"DELTA_BINARY_PACKED", "RLE_DICTIONARY"}), \
            (column, encodings)
    assert "RLE_DICTIONARY" in encodings["day"], encodings

    columns = ("id", "day", "x", "name", "seen_at", "digest", "seq", "born_on")
    expected = rows(data, columns)
    assert rows(lake.read(), columns) == expected                          # delta-rs
    assert rows(lake.polars(), columns) == expected                        # polars.read_delta
    assert rows(lake.duckdb(), columns) == expected                        # DuckDB's delta
    assert rows(flight_query(server.client(), "SELECT * FROM events ORDER BY id"),
                columns) == expected                                       # Arrowport
    aggregate = "SELECT day, count(*) AS n, sum(x) AS total, max(seen_at) AS latest FROM {} " \
                "GROUP BY day ORDER BY day"
    assert lake.duckdb(aggregate.format("lake")).to_pylist() == \
        http_query(server, aggregate.format("events")).to_pylist()


def test_delta_encodings_off_for_older_readers(start_server, tmp_path):
    """lake.delta_encodings: false keeps to Parquet 1.0's encodings (readers older than
    Spark 3.3); a value that is not a boolean stops the server at start, naming the key."""
    target = local_target(tmp_path)
    server = serve(start_server, tmp_path, target, delta_encodings=False)
    data = events(range(20000))
    assert put_path(server.client(), data, "events", chunk=10000)[-1]["rows"] == 20000
    (path,) = target.lake.data_files()
    encodings = column_encodings(target.lake, path)
    assert not [e for found in encodings.values() for e in found if e.startswith("DELTA")], \
        encodings
    assert rows(target.lake.read()) == rows(data)

    bad = write_config(tmp_path / "bad.yaml",
                       {"events": lake_stream(target.lake.url, delta_encodings="maybe")})
    proc = run_cli("serve", "--config", str(bad), "--db", str(tmp_path / "bad.duckdb"),
                   "--flight-port", "0", "--http-port", "0", timeout=60)
    assert proc.returncode != 0
    assert "streams.events.lake.delta_encodings" in proc.stderr.decode(), proc.stderr


def test_partitioned_by_day_hive_folders(start_server, tmp_path, target):
    server = serve(start_server, tmp_path, target, partition_by=["day"])
    data = events(range(300))
    assert put_path(server.client(), data, "events", chunk=100)[-1]["rows"] == 300
    lake = target.lake
    files = lake.data_files()
    assert files and all(f.split("/")[0] in {f"day={d}" for d in DAYS} and
                         f.split("/")[1].startswith("part-") and f.count("/") == 1
                         for f in files), files
    assert {f.split("/")[0] for f in files} == {f"day={d}" for d in DAYS}
    assert commit_actions(lake, 0, "metaData")[0]["partitionColumns"] == ["day"]
    for add in commit_actions(lake, 0, "add"):
        assert add["path"].startswith(f"day={add['partitionValues']['day']}/"), add
    table = lake.delta()
    assert table.metadata().partition_columns == ["day"]
    assert sorted({p["day"] for p in table.partitions()}) == list(DAYS)
    for day in DAYS:
        chosen = table.to_pyarrow_table(filters=[("day", "=", day)]).sort_by("id")
        assert rows(chosen) == [r for r in rows(data) if r["day"] == day]
    assert rows(lake.read()) == rows(data)
    assert rows(lake.polars()) == rows(data)
    assert arrowport_rows(server) == rows(data)


def test_flight_sql_bulk_ingest_lands_in_the_lake(start_server, tmp_path):
    target = local_target(tmp_path)
    server = serve(start_server, tmp_path, target)
    data = events(range(40))
    with flight_sql.connect(server.uri) as conn, conn.cursor() as cur:
        assert cur.adbc_ingest("events", data, mode="create_append") == 40
        assert cur.adbc_ingest("events", events(range(40, 50)), mode="append") == 10
        cur.execute("SELECT count(*) FROM events")
        assert cur.fetchone()[0] == 50
    assert len(target.lake.data_commits()) == 2
    assert rows(target.lake.read()) == rows(events(range(50)))


def test_lake_options_compression_and_file_size(start_server, tmp_path):
    """lake.compression and lake.target_file_mb shape the Parquet files."""
    target = local_target(tmp_path)
    server = serve(start_server, tmp_path, target, compression="zstd", target_file_mb=1)
    n = 200_000
    data = noisy_events(range(n))
    assert put_path(server.client(), data, "events", chunk=20_000)[-1]["rows"] == n
    adds = commit_actions(target.lake, 0, "add")
    assert len(adds) >= 2, f"about 3 MB of Parquet in 1 MB files: {len(adds)} file(s)"
    for add in adds:
        meta = pq.ParquetFile(str(target.lake.root) + "/" + add["path"]).metadata
        codecs = {meta.row_group(g).column(c).compression
                  for g in range(meta.num_row_groups) for c in range(meta.num_columns)}
        assert codecs == {"ZSTD"}, (add["path"], codecs)
        assert add["size"] < 4 * 1024 * 1024, add
    assert target.lake.read().num_rows == n


def test_routing_to_the_lake_is_hot_reloaded(start_server, tmp_path):
    """A stream first lands in DuckDB; the config is edited to route it to a lake, reloaded,
    and the next request lands in the Delta table (the DuckDB table keeps its rows)."""
    target = local_target(tmp_path, "moved")
    config = write_config(tmp_path / "reload.yaml", {"moved": {"target_table": "moved_db"}})
    server = start_server("--config", str(config), db=tmp_path / "reload.duckdb")
    client = server.client()
    put_path(client, events(range(5)), "moved")
    assert not target.lake.exists()
    write_config(config, {"moved": lake_stream(target.lake.url, target_table="moved_lake")})
    reply = next(client.do_action(flight.Action("reload_config", b""))).body.to_pybytes()
    assert json.loads(reply)["status"] == "ok"
    summary = put_path(client, events(range(5, 12)), "moved")[-1]
    assert summary["table"] in ("moved_lake", target.lake.url), summary
    assert rows(target.lake.read()) == rows(events(range(5, 12)))
    assert rows(http_query(server, f"SELECT {COLUMNS} FROM moved_db ORDER BY id")) == \
        rows(events(range(5)))
    assert rows(http_query(server, f"SELECT {COLUMNS} FROM moved_lake ORDER BY id")) == \
        rows(events(range(5, 12)))


# ---- commit modes ----

def schema_change_frames(good_batches, bad_batch):
    first = rawflight.ipc_messages(good_batches)
    other = rawflight.ipc_messages([bad_batch])
    descriptor = rawflight.command_descriptor(json.dumps({"stream": "events"}).encode())
    frames = [rawflight.flight_data(first[0][0], b"", descriptor)]
    frames += [rawflight.flight_data(h, b) for h, b in first[1:]]
    frames += [rawflight.flight_data(h, b) for h, b in other]   # x is now a string
    return frames


def truncated_frames(batches):
    messages = rawflight.ipc_messages(batches)
    descriptor = rawflight.command_descriptor(json.dumps({"stream": "events"}).encode())
    frames = [rawflight.flight_data(messages[0][0], b"", descriptor)]
    frames += [rawflight.flight_data(h, b) for h, b in messages[1:-1]]
    header, body = messages[-1]
    frames.append(rawflight.flight_data(header, body[: len(body) // 2]))
    return frames


@pytest.mark.parametrize("failure", ["type_change", "truncated_batch", "http_truncated"])
def test_per_request_failure_mid_stream_commits_nothing(start_server, tmp_path, target, failure):
    """A request that fails after some batches (megabytes over 1 MB files, so Parquet files
    are already written) adds no commit: delta-rs sees exactly the rows it saw before."""
    server = serve(start_server, tmp_path, target, commit="per_request", schema_policy="strict",
                   target_file_mb=1)
    first = events(range(100))
    put_path(server.client(), first, "events")
    assert target.lake.data_commits() == [0]

    big = noisy_events(range(100, 300_100)).to_batches(max_chunksize=50_000)
    if failure == "type_change":
        bad = pa.record_batch({"id": pa.array([1], pa.int64()), "day": ["2024-01-01"],
                               "x": pa.array(["not a number"]), "name": ["bad"]})
        with pytest.raises(grpc.RpcError) as err:
            rawflight.do_put(server.port, schema_change_frames(big, bad), timeout=120)
        assert err.value.code() != grpc.StatusCode.OK and err.value.details()
    elif failure == "truncated_batch":
        with pytest.raises(grpc.RpcError) as err:
            rawflight.do_put(server.port, truncated_frames(big), timeout=120)
        assert err.value.details()
    else:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, big[0].schema) as writer:
            for batch in big:
                writer.write_batch(batch)
        body = sink.getvalue().to_pybytes()
        r = requests.post(f"{server.http}/ingest/events", data=body[: len(body) - 1000],
                          headers={"Content-Type": "application/vnd.apache.arrow.stream"},
                          timeout=120)
        assert 400 <= r.status_code < 500, r.text
        assert r.json()["error"]["message"]

    orphans = len(target.lake.data_files()) - len(commit_actions(target.lake, 0, "add"))
    print(f"{failure}: {orphans} data file(s) written by the failed request, never committed")
    assert target.lake.data_commits() == [0], "the failed request made a commit"
    target.lake.assert_log_sound()
    assert rows(target.lake.read()) == rows(first)
    assert arrowport_rows(server) == rows(first)
    assert_healthy(server)
    # The stream still takes the next request.
    put_path(server.client(), events(range(100, 110)), "events")
    assert len(target.lake.data_commits()) == 2
    assert rows(target.lake.read()) == rows(events(range(110)))


def test_per_batch_each_acknowledged_batch_is_visible(start_server, tmp_path, target):
    server = serve(start_server, tmp_path, target, commit="per_batch")
    client = server.client()
    data = events(range(200))
    batches = data.to_batches(max_chunksize=50)
    descriptor = flight.FlightDescriptor.for_command(json.dumps({"stream": "events"}))
    writer, metadata = client.do_put(descriptor, data.schema)
    for i, batch in enumerate(batches):
        writer.write_batch(batch)
        buf = metadata.read()
        if buf is None:       # the call ended: closing the writer raises the server's error
            writer.close()
            raise AssertionError(f"no acknowledgement for batch {i}")
        ack = json.loads(buf.to_pybytes())
        assert ack == {"batch": i, "rows": 50, "committed": True}, ack
        # Acknowledged means committed: another Delta reader sees it now, mid-request.
        assert rows(target.lake.read()) == rows(data.slice(0, 50 * (i + 1)))
        assert len(target.lake.data_commits()) == i + 1
    writer.done_writing()
    tail = []
    while (buf := metadata.read()) is not None:
        tail.append(json.loads(buf.to_pybytes()))
    writer.close()
    assert tail and tail[-1]["rows"] == 200, tail
    target.lake.assert_log_sound()
    assert rows(target.lake.polars()) == rows(data)


def test_http_per_batch_reports_committed_batches(start_server, tmp_path):
    target = local_target(tmp_path)
    server = serve(start_server, tmp_path, target, commit="per_batch")
    r = http_ingest(server, "events", events(range(90)), chunk=30)
    assert r.status_code == 200, r.text
    assert len(target.lake.data_commits()) == 3
    assert rows(target.lake.read()) == rows(events(range(90)))


# ---- request ids ----

def test_request_id_retry_does_not_double_rows(start_server, tmp_path, target):
    server = serve(start_server, tmp_path, target)
    client = server.client()
    data = events(range(100))
    first = put_cmd(client, data, {"stream": "events", "request_id": "req-1"})[-1]
    again = put_cmd(client, data, {"stream": "events", "request_id": "req-1"})[-1]
    assert first["duplicate"] is False and again["duplicate"] is True, (first, again)
    assert again["rows"] == 100
    assert len(target.lake.data_commits()) == 1
    assert target.lake.read().num_rows == 100

    more = events(range(100, 150))
    headers = {"Idempotency-Key": "http-1"}
    r1 = http_ingest(server, "events", more, headers=headers)
    r2 = http_ingest(server, "events", more, headers=headers)
    assert r1.status_code == r2.status_code == 200, (r1.text, r2.text)
    assert (r1.json()["duplicate"], r2.json()["duplicate"]) == (False, True)
    assert rows(target.lake.read()) == rows(events(range(150)))
    assert len(target.lake.data_commits()) == 2

    # A retry after a restart is still recognised.
    server.stop()
    server = serve(start_server, tmp_path, target)
    again = put_cmd(server.client(), data, {"stream": "events", "request_id": "req-1"})[-1]
    assert again["duplicate"] is True
    assert target.lake.read().num_rows == 150
    assert arrowport_rows(server) == rows(events(range(150)))


def test_per_batch_retry_skips_committed_batches(start_server, tmp_path):
    target = local_target(tmp_path)
    server = serve(start_server, tmp_path, target)
    client = server.client()
    data = events(range(50))
    command = {"stream": "events", "commit": "per_batch", "request_id": "pb"}
    put_cmd(client, data.slice(0, 30), command, chunk=10)       # batches 0-2, then "lost"
    partly = put_cmd(client, data, command, chunk=10)[-1]       # all five: 3 and 4 are new
    assert partly["duplicate"] is False, partly
    assert rows(target.lake.read()) == rows(data)
    assert len(target.lake.data_commits()) == 5
    again = put_cmd(client, data, command, chunk=10)[-1]        # nothing new: a duplicate
    assert (again["duplicate"], again["rows"], again["bytes"]) == (True, 50, 0), again
    assert rows(target.lake.read()) == rows(data)
    assert len(target.lake.data_commits()) == 5
    # The stream's counters hold what was written, not the batches received again.
    listed = json.loads(next(client.do_action(flight.Action("list_streams", b""))).body.to_pybytes())
    counters = [s for s in listed["streams"] if s["stream"] == "events"][0]
    assert (counters["rows"], counters["batches"]) == (50, 5), counters
    # Without an id, an empty batch (nothing for the lake to commit) is still a batch
    # written, as in a DuckDB table (a review: it was counted as repeated).
    rows10 = data.slice(0, 10).combine_chunks().to_batches()[0]
    descriptor = flight.FlightDescriptor.for_command(
        json.dumps({"stream": "events", "commit": "per_batch"}))
    writer, metadata = client.do_put(descriptor, data.schema)
    for batch in (rows10, rows10.slice(0, 0), rows10):
        writer.write_batch(batch)
    writer.done_writing()
    while metadata.read() is not None:
        pass
    writer.close()
    listed = json.loads(next(client.do_action(flight.Action("list_streams", b""))).body.to_pybytes())
    counters = [s for s in listed["streams"] if s["stream"] == "events"][0]
    assert (counters["rows"], counters["batches"]) == (70, 8), counters


# ---- schema policies ----

def test_add_columns_evolves_the_delta_schema(start_server, tmp_path, target):
    server = serve(start_server, tmp_path, target, schema_policy="add_columns")
    client = server.client()
    put_path(client, events(range(10)), "events")
    notes = pa.array([f"note {i}" for i in range(10, 20)])
    put_path(client, events(range(10, 20), note=notes), "events")

    lake = target.lake
    changes = lake.data_commits()
    assert len(changes) == 2
    assert commit_actions(lake, changes[1], "metaData"), "the schema change is a metaData action"
    schema = lake.delta().schema().to_arrow()
    assert schema.names == ["id", "day", "x", "name", "note"]
    table = lake.read()
    assert table.column("note").to_pylist() == [None] * 10 + [f"note {i}" for i in range(10, 20)]
    assert rows(table) == rows(events(range(20)))
    assert lake.polars()["note"].to_list() == table.column("note").to_pylist()
    served = http_query(server, "SELECT id, note FROM events ORDER BY id")
    assert served.column("note").to_pylist() == table.column("note").to_pylist()


def test_strict_refuses_a_new_column_and_commits_nothing(start_server, tmp_path):
    target = local_target(tmp_path)
    server = serve(start_server, tmp_path, target, schema_policy="strict")
    client = server.client()
    put_path(client, events(range(10)), "events")
    notes = pa.array([f"note {i}" for i in range(10, 20)])
    err = put_error(client, events(range(10, 20), note=notes), {"stream": "events"})
    assert "note" in str(err), err
    assert target.lake.data_commits() == [0]
    assert target.lake.delta().schema().to_arrow().names == ["id", "day", "x", "name"]
    assert rows(target.lake.read()) == rows(events(range(10)))


# ---- the other direction: a table another writer made ----

def test_arrowport_appends_to_a_table_written_by_delta_rs(start_server, tmp_path, target):
    lake = target.lake
    deltalake.write_deltalake(lake.url, events(range(50)), partition_by=["day"],
                              storage_options=lake.storage_options)
    assert lake.versions() == [0]
    server = serve(start_server, tmp_path, target, partition_by=["day"])
    assert put_path(server.client(), events(range(50, 120)), "events")[-1]["rows"] == 70
    changes = lake.data_commits()
    assert changes[0] == 0 and len(changes) == 2
    assert rows(lake.read()) == rows(events(range(120)))
    assert rows(lake.polars()) == rows(events(range(120)))
    for add in commit_actions(lake, changes[1], "add"):
        assert add["path"].startswith(f"day={add['partitionValues']['day']}/"), add
    # delta-rs writes again; Arrowport serves the latest snapshot.
    deltalake.write_deltalake(lake.url, events(range(120, 130)), mode="append",
                              storage_options=lake.storage_options)
    assert arrowport_rows(server) == rows(events(range(130)))


# ---- several writers ----

@pytest.mark.slow
def test_two_servers_write_one_lake_concurrently(start_server, tmp_path, minio):
    lake = minio.lake("events")
    streams = {"events": lake_stream(lake.url, partition_by=["day"])}
    servers = [start_lake_server(start_server, tmp_path, streams, minio=minio, name=f"node{n}")
               for n in range(2)]
    threads_per_server, requests_each, rows_each = 2, 10, 5
    errors, done = [], []

    def produce(server, worker):
        client = server.client()
        for r in range(requests_each):
            start = ((worker * requests_each) + r) * rows_each
            try:
                summary = put_path(client, events(range(start, start + rows_each)), "events")[-1]
                done.append(summary["rows"])
            except Exception as e:  # noqa: BLE001 - every failure is reported below
                errors.append(f"worker {worker} request {r}: {e}")

    threads = []
    for s, server in enumerate(servers):
        for t in range(threads_per_server):
            threads.append(threading.Thread(target=produce, args=(server, s * threads_per_server + t)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    requests_total = len(threads) * requests_each
    assert len(done) == requests_total

    total = requests_total * rows_each
    table = lake.read()
    ids = table.column("id").to_pylist()
    assert len(ids) == total and len(set(ids)) == total, "rows lost or doubled"
    assert rows(table) == rows(events(range(total)))
    lake.assert_log_sound()
    assert len(lake.data_commits()) == requests_total
    for server in servers:
        assert http_query(server, "SELECT count(*)::BIGINT AS n FROM events").to_pylist() == \
            [{"n": total}]


# ---- bad input and a failing store ----

def test_partition_column_missing_from_the_stream(start_server, tmp_path, target):
    server = serve(start_server, tmp_path, target, partition_by=["day"])
    client = server.client()
    no_day = pa.table({"id": pa.array([1, 2], pa.int64()), "x": pa.array([4, 7], pa.int64())})
    err = put_error(client, no_day, {"stream": "events"})
    assert "day" in str(err) and "partition" in str(err).lower(), err
    r = http_ingest(server, "events", no_day)
    assert 400 <= r.status_code < 500, r.text
    assert "day" in r.json()["error"]["message"], r.text
    assert not target.lake.exists()
    assert target.lake.data_files() == []
    assert_healthy(server)


def test_a_lake_stream_named_in_another_case_writes_the_lake(start_server, tmp_path):
    """The lake stream "events" publishes a view; DuckDB's names ignore case, so a DoPut to
    "Events" met that view and was answered "the transaction was aborted" (later: told
    that "events" is a view). A stream's name now matches its configured route in any
    case, as DuckDB matches table names: "Events" and "EVENTS" write the lake."""
    target = local_target(tmp_path)
    server = serve(start_server, tmp_path, target)
    client = server.client()
    put_cmd(client, events(range(4)), {"stream": "events"})
    put_cmd(client, events(range(4, 6)), {"stream": "Events"})
    r = http_ingest(server, "EVENTS", events(range(6, 8)))
    assert r.status_code == 200, r.text
    assert sorted(r["id"] for r in rows(target.lake.read())) == list(range(8))
    assert_healthy(server)


def assert_no_secret(text, *secrets):
    for secret in secrets:
        assert secret not in text, f"a secret shows: ...{text[max(0, text.find(secret) - 200):][:400]}"


def test_wrong_s3_credentials_clear_error_and_no_secret(start_server, tmp_path, minio):
    wrong_secret = "Wr0ng-secret-5be1d9e2a7"
    lake = minio.lake("events")
    server = start_lake_server(start_server, tmp_path, {"events": lake_stream(lake.url)},
                               s3=minio.s3_config(secret_access_key=wrong_secret))
    err = put_error(server.client(), events(range(10)), {"stream": "events"})
    message = str(err)
    words = ("credential", "access denied", "accessdenied", "signature", "invalidaccesskeyid",
             "forbidden", "403", "not authorized", "unauthorized")
    assert any(w in message.lower() for w in words), message
    r = http_ingest(server, "events", events(range(10)))
    assert r.status_code >= 400, r.text
    assert any(w in r.text.lower() for w in words), r.text
    assert not lake.exists() and lake.data_files() == []
    time.sleep(0.5)  # the server's log is drained by a thread
    for text in (message, r.text, server.stderr(),
                 requests.get(f"{server.http}/streams", timeout=30).text,
                 requests.get(f"{server.http}/status", timeout=30).text):
        assert_no_secret(text, wrong_secret, SECRET_KEY)
    assert_healthy(server)


def test_s3_credentials_from_the_environment_never_shown(start_server, tmp_path, minio):
    """No keys in the config: the server takes AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY from
    its environment; the secret shows nowhere (log, /streams, /status, list_streams)."""
    lake = minio.lake("events")
    s3 = {"endpoint": minio.endpoint, "region": minio.region, "url_style": "path"}
    env = {**os.environ, "AWS_ACCESS_KEY_ID": minio.access_key,
           "AWS_SECRET_ACCESS_KEY": minio.secret_key}
    config = write_config(tmp_path / "env.yaml", {"events": lake_stream(lake.url)}, s3=s3)
    server = start_server("--config", str(config), db=tmp_path / "env.duckdb", env=env)
    put_path(server.client(), events(range(30)), "events")
    assert rows(lake.read()) == rows(events(range(30)))
    listed = next(server.client().do_action(flight.Action("list_streams", b""))).body.to_pybytes()
    time.sleep(0.5)
    for text in (server.stderr(), listed.decode(),
                 requests.get(f"{server.http}/streams", timeout=30).text,
                 requests.get(f"{server.http}/status", timeout=30).text,
                 requests.get(f"{server.http}/metrics", timeout=30).text):
        assert_no_secret(text, minio.secret_key)


def test_missing_bucket_is_a_clear_error(start_server, tmp_path, minio):
    url = minio.url("events", bucket="no-such-bucket")
    server = start_lake_server(start_server, tmp_path, {"events": lake_stream(url)}, minio=minio)
    err = put_error(server.client(), events(range(5)), {"stream": "events"})
    assert "no-such-bucket" in str(err) or "nosuchbucket" in str(err).lower(), err
    r = http_ingest(server, "events", events(range(5)))
    assert r.status_code >= 400 and "no-such-bucket" in r.text, r.text
    assert not (minio.data / "no-such-bucket").exists(), "the bucket is not created behind our back"
    assert_healthy(server)


def test_store_unreachable_mid_way_then_recovers(start_server, tmp_path, minio):
    lake = minio.lake("events")
    server = start_lake_server(start_server, tmp_path, {"events": lake_stream(lake.url)},
                               minio=minio)
    client = server.client()
    put_path(client, events(range(10)), "events")
    minio.stop()
    started = time.time()
    err = put_error(client, events(range(10, 20)), {"stream": "events"},
                    options=flight.FlightCallOptions(timeout=180))
    assert time.time() - started < 150, "the store's absence must end the request, not hang it"
    assert str(err)
    r = http_ingest(server, "events", events(range(10, 20)))
    assert r.status_code >= 500 or r.status_code == 409, r.text
    assert_healthy(server)
    minio.start()
    put_path(client, events(range(20, 30)), "events")
    assert rows(lake.read()) == rows(events(range(10))) + rows(events(range(20, 30)))
    assert len(lake.data_commits()) == 2
    lake.assert_log_sound()
    assert arrowport_rows(server) == rows(lake.read())


# ---- queries over the lake ----

def test_aggregates_over_http_and_flight_sql_match_delta_rs(start_server, tmp_path, minio):
    lake = minio.lake("clicks_lake")
    streams = {"clicks": lake_stream(lake.url, partition_by=["day"], target_table="click_events")}
    server = start_lake_server(start_server, tmp_path, streams, minio=minio)
    client = server.client()
    put_path(client, events(range(400)), "clicks")
    assert http_ingest(server, "clicks", events(range(400, 600))).status_code == 200
    snapshot = lake.read()
    assert snapshot.num_rows == 600
    with flight_sql.connect(server.uri) as conn:
        for day in DAYS:
            expected = day_aggregate(snapshot, day)
            sql = (f"SELECT count(*)::BIGINT AS n, sum(x)::BIGINT AS s FROM click_events "
                   f"WHERE day = '{day}'")
            assert tuple(http_query(server, sql).to_pylist()[0].values()) == expected
            with conn.cursor() as cur:
                cur.execute(sql)
                assert cur.fetchone() == expected
            assert tuple(flight_query(client, sql).to_pylist()[0].values()) == expected
    whole = client.do_get(flight.Ticket(json.dumps({"table": "click_events"}).encode())).read_all()
    assert rows(whole.sort_by("id")) == rows(snapshot)
