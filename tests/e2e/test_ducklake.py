"""The DuckLake sink (issue 38): a stream routed with `sink: ducklake` lands in a DuckLake
table whose catalog is a real SQLite file or a real PostgreSQL database and whose data are
Parquet files under the lake's data path. DuckDB 1.5.5's own ducklake extension reads every
row Arrowport acknowledged, and what DuckDB writes into the same table (rows it keeps in the
catalog, and Parquet files) Arrowport serves: interoperability both ways. Faults and
several writers: test_ducklake_faults.py; kill -9 rounds: test_ducklake_slow.py."""
import itertools
import json
import os
import sqlite3
import time

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.fs as pafs
import pytest
import requests

from ducklake_peers import ducklake_duckdb
from lake_util import http_ingest, http_query, put_cmd, start_lake_server

_databases = itertools.count()


def make_lake(request, tmp_path):
    data = tmp_path / "lake-data"
    data.mkdir()
    if request.param == "sqlite":
        catalog = f"sqlite:{tmp_path / 'catalog.sqlite'}"
    else:
        server = request.getfixturevalue("postgres")
        catalog = "postgres:" + server.create_database(f"lake{next(_databases)}")
    return {"catalog": catalog, "data_path": str(data)}


# Each test runs on SQLite in the default lane and on PostgreSQL in the slow one (the
# default lane's PostgreSQL tests are test_ducklake_faults.py's).
@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.slow)])
def lake(request, tmp_path):
    """A test's DuckLake: its catalog ("sqlite:FILE" or "postgres:CONNINFO") and data path."""
    return make_lake(request, tmp_path)




def ducklake_stream(lake, **options):
    settings = {"catalog": lake["catalog"], "data_path": lake["data_path"], "refresh_ms": 100}
    stream = {"sink": "ducklake", "ducklake": settings}
    for key, value in options.items():
        if key in ("partition_by", "table", "schema", "target_file_mb", "retention_s",
                   "compaction_interval_s", "merge_small_files"):
            settings[key] = value
        else:
            stream[key] = value
    return stream


def serve(start_server, tmp_path, lake, **options):
    return start_lake_server(start_server, tmp_path, {"events": ducklake_stream(lake, **options)})


def readings(ids, day_count=3, **extra):
    ids = list(ids)
    table = pa.table({
        "id": pa.array(ids, pa.int64()),
        "day": pa.array([f"2024-01-0{1 + i % day_count}" for i in ids]),
        "x": pa.array([i * 0.5 for i in ids], pa.float64()),
        "seen": pa.array([1_700_000_000_000_000 + i for i in ids], pa.timestamp("us", "UTC")),
        "ok": pa.array([i % 2 == 0 for i in ids]),
    })
    for name, values in extra.items():
        table = table.append_column(name, values)
    return table


def duckdb_rows(lake, sql):
    con = ducklake_duckdb(lake["catalog"], lake["data_path"], read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def arrowport_rows(server, sql):
    return [tuple(row.values()) for row in http_query(server, sql).to_pylist()]


def wait_for(check, what, timeout=60):
    """`check()` until it returns true (another writer's commit shows after a poll)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_rows_land_once_and_every_reader_sees_them(start_server, tmp_path, lake):
    server = serve(start_server, tmp_path, lake, partition_by=["day"])
    client = flight.connect(server.uri)
    first = readings(range(0, 1000))
    reply = put_cmd(client, first, {"stream": "events", "request_id": "r-1"}, chunk=300)
    assert reply[-1]["committed"] and not reply[-1]["duplicate"], reply
    # A retry of the acknowledged request commits nothing twice.
    again = put_cmd(client, first, {"stream": "events", "request_id": "r-1"})
    assert again[-1]["duplicate"] and again[-1]["rows"] == 1000, again
    assert http_ingest(server, "events", readings(range(1000, 1500))).status_code == 200
    total = sum(range(1500))
    # DuckDB's own reader: every row once, the partition column in the files, types kept.
    assert duckdb_rows(lake, "SELECT count(*), sum(id), count(DISTINCT day), "
                             "sum(CASE WHEN ok THEN 1 ELSE 0 END) FROM lk.events") == [
        (1500, total, 3, 750)]
    assert duckdb_rows(lake, "SELECT id, day, x, CAST(seen AS VARCHAR) FROM lk.events "
                             "WHERE day = '2024-01-02' AND id < 5 ORDER BY id") == [
        (1, "2024-01-02", 0.5, "2023-11-14 22:13:20.000001+00"),
        (4, "2024-01-02", 2.0, "2023-11-14 22:13:20.000004+00")]
    # Its statistics bound the rows: DuckDB trusts them (filters and min/max).
    assert duckdb_rows(lake, "SELECT min(id), max(id), max(x) FROM lk.events") == [
        (0, 1499, 749.5)]
    assert duckdb_rows(lake, "SELECT count(*) FROM lk.events WHERE id >= 1400") == [(100,)]
    # Arrowport's readers: HTTP, Flight, Flight SQL (ADBC).
    assert arrowport_rows(server, "SELECT count(*), sum(id) FROM events") == [(1500, total)]
    flight_rows = client.do_get(flight.Ticket(json.dumps(
        {"sql": "SELECT count(*) AS n FROM events WHERE day = '2024-01-03'"}).encode())).read_all()
    assert flight_rows.to_pylist() == [{"n": 500}]
    with flight_sql.connect(server.uri) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT max(id) FROM events")
        assert cursor.fetchall() == [(1499,)]


def test_rows_duckdb_writes_are_served_by_arrowport(start_server, tmp_path, lake):
    server = serve(start_server, tmp_path, lake)
    client = flight.connect(server.uri)
    put_cmd(client, readings(range(10)), {"stream": "events", "request_id": "a"})
    con = ducklake_duckdb(lake["catalog"], lake["data_path"])
    try:
        # Few rows: DuckDB keeps them in the catalog itself (data inlining); many: a file.
        con.execute("INSERT INTO lk.events (id, day, x, seen, ok) VALUES "
                    "(100, 'inlined', 1.25, TIMESTAMPTZ '2024-05-01 10:00:00+00', true), "
                    "(101, NULL, NULL, NULL, NULL)")
        con.execute("INSERT INTO lk.events SELECT 200 + i, 'file', i, NULL, false "
                    "FROM range(50) t(i)")
    finally:
        con.close()
    expected = 45 + 100 + 101 + sum(200 + i for i in range(50))
    wait_for(lambda: arrowport_rows(server, "SELECT count(*), sum(id) FROM events") ==
             [(62, expected)], "DuckDB's rows in Arrowport's view")
    assert arrowport_rows(server, "SELECT id, day, x, CAST(seen AS VARCHAR), ok FROM events "
                                  "WHERE id IN (100, 101) ORDER BY id") == [
        (100, "inlined", 1.25, "2024-05-01 10:00:00+00", True),
        (101, None, None, None, None)]
    # Arrowport appends after DuckDB's commits (no conflict: appends go together).
    put_cmd(client, readings(range(300, 310)), {"stream": "events", "request_id": "b"})
    assert duckdb_rows(lake, "SELECT count(*), sum(id) FROM lk.events") == [
        (72, expected + sum(range(300, 310)))]


def test_add_columns_evolves_the_table_for_every_reader(start_server, tmp_path, lake):
    server = serve(start_server, tmp_path, lake, schema_policy="add_columns")
    client = flight.connect(server.uri)
    put_cmd(client, readings(range(5)), {"stream": "events"})
    wider = readings(range(5, 8), note=pa.array(["n5", "n6", "n7"]))
    put_cmd(client, wider, {"stream": "events"})
    assert duckdb_rows(lake, "SELECT id, note FROM lk.events WHERE id >= 4 ORDER BY id") == [
        (4, None), (5, "n5"), (6, "n6"), (7, "n7")]
    assert arrowport_rows(server, "SELECT count(note), count(*) FROM events") == [(3, 8)]
    # The column DuckDB numbers as Arrowport's files do (Parquet field ids).
    columns = duckdb_rows(lake, "SELECT column_name FROM (DESCRIBE lk.events)")
    assert [name for (name,) in columns] == ["id", "day", "x", "seen", "ok", "note"]


def test_per_batch_commits_are_each_a_snapshot(start_server, tmp_path, lake):
    server = serve(start_server, tmp_path, lake, commit="per_batch")
    client = flight.connect(server.uri)
    replies = put_cmd(client, readings(range(30)), {"stream": "events", "request_id": "pb"},
                      chunk=10)
    assert [reply.get("rows") for reply in replies][-1] == 30, replies
    con = ducklake_duckdb(lake["catalog"], lake["data_path"], read_only=True)
    try:
        snapshots = con.execute("SELECT count(*) FROM ducklake_snapshots('lk') "
                                "WHERE commit_extra_info LIKE '%arrowport:pb%'").fetchone()[0]
        assert snapshots == 3
        assert con.execute("SELECT count(*), sum(id) FROM lk.events").fetchone() == (30, 435)
    finally:
        con.close()
    # A retry of the whole request after every batch landed adds nothing.
    put_cmd(client, readings(range(30)), {"stream": "events", "request_id": "pb"}, chunk=10)
    assert duckdb_rows(lake, "SELECT count(*) FROM lk.events") == [(30,)]


def test_replace_keeps_the_table_and_drops_its_rows(start_server, tmp_path, lake):
    server = serve(start_server, tmp_path, lake)
    client = flight.connect(server.uri)
    put_cmd(client, readings(range(20)), {"stream": "events"})
    put_cmd(client, readings(range(100, 105)), {"stream": "events", "mode": "replace"})
    assert duckdb_rows(lake, "SELECT count(*), min(id) FROM lk.events") == [(5, 100)]
    assert arrowport_rows(server, "SELECT count(*), min(id) FROM events") == [(5, 100)]


def test_a_catalog_for_another_data_path_is_refused_clearly(start_server, tmp_path):
    catalog = f"sqlite:{tmp_path / 'catalog.sqlite'}"
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    first = serve(start_server, tmp_path, {"catalog": catalog, "data_path": str(tmp_path / "first")})
    put_cmd(flight.connect(first.uri), readings(range(3)), {"stream": "events"})
    first.stop()
    second = start_lake_server(start_server, tmp_path, {"events": ducklake_stream(
        {"catalog": catalog, "data_path": str(tmp_path / "second")})}, name="second")
    with pytest.raises(flight.FlightError, match="data path"):
        put_cmd(flight.connect(second.uri), readings(range(3, 6)), {"stream": "events"})
    assert requests.get(f"{second.http}/healthz", timeout=30).status_code == 200
    assert duckdb_rows({"catalog": catalog, "data_path": str(tmp_path / "first")},
                       "SELECT count(*) FROM lk.events") == [(3,)]


def test_partitions_group_files_and_duckdb_partition_values_are_read(start_server, tmp_path,
                                                                     lake):
    server = serve(start_server, tmp_path, lake, partition_by=["day"])
    client = flight.connect(server.uri)
    put_cmd(client, readings(range(300)), {"stream": "events"})
    nulls = readings(range(300, 310)).set_column(1, "day", pa.array([None] * 10, pa.string()))
    put_cmd(client, nulls, {"stream": "events"})
    con = ducklake_duckdb(lake["catalog"], lake["data_path"])
    try:
        con.execute("CALL lk.set_option('data_inlining_row_limit', 0)")
        con.execute("INSERT INTO lk.events SELECT 1000 + i, '2024-01-02', 0, NULL, true "
                    "FROM range(5) t(i)")
        assert con.execute("SELECT count(*) FROM lk.events WHERE day IS NULL").fetchone() == (10,)
    finally:
        con.close()
    wait_for(lambda: arrowport_rows(server, "SELECT count(*) FROM events") == [(315,)],
             "DuckDB's file in Arrowport's view")
    assert arrowport_rows(server, "SELECT day, count(*) FROM events GROUP BY day ORDER BY day "
                                  "NULLS LAST") == [
        ("2024-01-01", 100), ("2024-01-02", 105), ("2024-01-03", 100), (None, 10)]
    # A filter on the partition column leaves the other partitions' files out of the plan.
    def scans(sql):
        plan = str(arrowport_rows(server, "EXPLAIN " + sql))
        return plan.count("READ_PARQUET") + plan.count("PARQUET_SCAN")

    everything = scans("SELECT count(*) FROM events")
    assert 0 < scans("SELECT count(*) FROM events WHERE day = '2024-01-02'") < everything


def test_get_flight_info_splits_a_large_table_into_endpoints(start_server, tmp_path, lake):
    server = serve(start_server, tmp_path, lake, target_file_mb=1)
    client = flight.connect(server.uri)
    n = 400_000
    # Incompressible text: files of about 10 MB in all, over the 4 MB a part needs.
    noise = os.urandom(20 * n).hex()
    noisy = readings(range(n)).append_column(
        "noise", pa.array([noise[40 * i:40 * (i + 1)] for i in range(n)]))
    put_cmd(client, noisy, {"stream": "events"}, chunk=20_000)
    info = client.get_flight_info(flight.FlightDescriptor.for_path("events"))
    assert len(info.endpoints) > 1
    parts = [client.do_get(e.ticket).read_all() for e in info.endpoints]
    ids = [i for part in parts for i in part.column("id").to_pylist()]
    assert len(ids) == n and len(set(ids)) == n  # each row exactly once


def test_upkeep_expires_old_snapshots_and_deletes_only_unnamed_files(start_server, tmp_path,
                                                                     lake):
    server = serve(start_server, tmp_path, lake, retention_s=1, compaction_interval_s=1)
    client = flight.connect(server.uri)
    put_cmd(client, readings(range(10)), {"stream": "events"})
    folder = tmp_path / "lake-data" / "main" / "events"
    first_files = set(folder.glob("*.parquet"))
    # Replaced: its files leave the latest snapshot (older snapshots still name them).
    put_cmd(client, readings(range(100, 110)), {"stream": "events", "mode": "replace"})
    # A writer that died between its file and its commit left this one.
    orphan = folder / "part-00000-dead.c000.zstd.parquet"
    orphan.write_bytes(b"PAR1 not really")
    wait_for(lambda: not orphan.exists() and not any(f.exists() for f in first_files),
             "the orphan and the replaced files deleted", timeout=90)
    con = ducklake_duckdb(lake["catalog"], lake["data_path"], read_only=True)
    try:
        assert con.execute("SELECT count(*), min(id) FROM lk.events").fetchone() == (10, 100)
        # Only the latest snapshot's files and rows are left; older snapshots expired.
        assert con.execute("SELECT count(*) FROM ducklake_snapshots('lk')").fetchone()[0] <= 2
    finally:
        con.close()
    assert arrowport_rows(server, "SELECT count(*), min(id) FROM events") == [(10, 100)]


def test_upkeep_merges_adjacent_small_files_keeping_row_ids(start_server, tmp_path, lake):
    server = serve(start_server, tmp_path, lake, compaction_interval_s=1, merge_small_files=True)
    client = flight.connect(server.uri)
    for start in range(0, 50, 10):
        put_cmd(client, readings(range(start, start + 10)), {"stream": "events"})
    con = ducklake_duckdb(lake["catalog"], lake["data_path"], read_only=True)
    try:
        before = con.execute("SELECT id, rowid FROM lk.events ORDER BY id").fetchall()
    finally:
        con.close()

    def merged():
        rows = duckdb_rows(lake, "SELECT count(*) FROM ducklake_table_info('lk') "
                                 "WHERE table_name = 'events' AND file_count = 1")
        return rows == [(1,)]

    wait_for(merged, "the five files merged into one", timeout=90)
    con = ducklake_duckdb(lake["catalog"], lake["data_path"], read_only=True)
    try:
        # The same rows, each with the row id it had (row lineage), and the statistics.
        assert con.execute("SELECT id, rowid FROM lk.events ORDER BY id").fetchall() == before
        assert con.execute("SELECT count(*), max(id) FROM lk.events WHERE id >= 25").fetchone() \
            == (25, 49)
        changes = con.execute("SELECT changes FROM ducklake_snapshots('lk') "
                              "ORDER BY snapshot_id DESC LIMIT 1").fetchone()[0]
        assert "merge" in str(changes) or "compact" in str(changes), changes
    finally:
        con.close()
    assert arrowport_rows(server, "SELECT count(*), sum(id) FROM events") == [(50, 1225)]


def test_nan_rows_are_found_by_range_and_equality_filters(start_server, tmp_path, lake):
    server = serve(start_server, tmp_path, lake)
    values = [float("nan"), 5.0, 7.0, float("nan"), -1.0]
    rows = readings(range(5)).set_column(2, "x", pa.array(values, pa.float64()))
    put_cmd(flight.connect(server.uri), rows, {"stream": "events"})
    # NaN sorts above every number in DuckDB: no file or row group may be skipped by bounds
    # that leave it out.
    expected = [(0,), (2,), (3,)]
    assert arrowport_rows(server, "SELECT id FROM events WHERE x > 5 ORDER BY id") == expected
    assert duckdb_rows(lake, "SELECT id FROM lk.events WHERE x > 5 ORDER BY id") == expected
    assert duckdb_rows(lake, "SELECT count(*) FROM lk.events WHERE x = 'nan'") == [(2,)]
    assert duckdb_rows(lake, "SELECT isnan(max(x)) FROM lk.events") == [(True,)]


def test_rows_duckdb_deletes_updates_and_alters_are_served_as_duckdb_reads_them(
        start_server, tmp_path, lake):
    """DuckDB's DELETE (delete files), UPDATE, RENAME COLUMN, ADD COLUMN ... DEFAULT and a
    column dropped and added again: Arrowport reads every file by field id and leaves
    deleted rows out, so HTTP and each Flight endpoint serve what DuckDB's own reader does;
    Arrowport's appends in the table's new shape land with the columns' current ids. (DuckDB
    1.5.5 writes no inlined deletes of file rows; newer ones do, read the same way.)"""
    server = serve(start_server, tmp_path, lake, partition_by=["day"])
    client = flight.connect(server.uri)
    for start, stop in ((0, 10), (10, 20), (20, 300)):
        put_cmd(client, readings(range(start, stop)), {"stream": "events"})
    con = ducklake_duckdb(lake["catalog"], lake["data_path"])
    try:
        con.execute("DELETE FROM lk.events WHERE id = 1")
        con.execute("DELETE FROM lk.events WHERE id BETWEEN 100 AND 250")
        con.execute("UPDATE lk.events SET x = 99 WHERE id = 2")
        con.execute("ALTER TABLE lk.events RENAME COLUMN x TO y")
        con.execute("ALTER TABLE lk.events ADD COLUMN note VARCHAR DEFAULT 'none'")
        con.execute("INSERT INTO lk.events (id, day, y, note) "
                    "VALUES (900, '2024-01-02', 1.5, 'n')")
        con.execute("ALTER TABLE lk.events DROP COLUMN ok")
        con.execute("ALTER TABLE lk.events ADD COLUMN ok INTEGER DEFAULT 7")
        con.execute("INSERT INTO lk.events (id, day, y, ok) VALUES (901, '2024-01-03', 2.5, 8)")
        con.execute("DELETE FROM lk.events WHERE id = 900")
        meta = "__ducklake_metadata_lk"
        delete_files = con.execute(f"SELECT count(*) FROM {meta}.ducklake_delete_file "
                                   "WHERE end_snapshot IS NULL").fetchone()[0]
    finally:
        con.close()
    assert delete_files > 0  # or the test would not test them

    everything = "SELECT id, day, y, epoch_us(seen), note, ok FROM events ORDER BY id"
    expected = duckdb_rows(lake, everything.replace("events", "lk.events"))
    assert len(expected) == 300 - 1 - 151 + 1
    assert [row[:3] + row[4:] for row in expected if row[0] in (2, 3, 901)] == [
        (2, "2024-01-03", 99.0, "none", 7),
        (3, "2024-01-01", 1.5, "none", 7),
        (901, "2024-01-03", 2.5, "none", 8)]

    def served():
        reply = requests.post(f"{server.http}/query", json={"sql": everything}, timeout=60)
        return reply.status_code == 200 and arrowport_rows(server, everything) == expected

    wait_for(served, "Arrowport serving DuckDB's deletes, updates and alters")
    assert arrowport_rows(server, everything) == expected
    # Flight: the endpoints of GetFlightInfo together, each row once.
    info = client.get_flight_info(flight.FlightDescriptor.for_path("events"))
    parts = [client.do_get(e.ticket).read_all() for e in info.endpoints]
    rows = sorted((r["id"], r["day"], r["y"], r["note"], r["ok"])
                  for part in parts for r in part.to_pylist())
    assert rows == [row[:3] + row[4:] for row in expected]
    # An append in the table's new shape lands beside them, each value in its column.
    more = pa.table({"id": pa.array([1000], pa.int64()), "day": ["2024-01-01"],
                     "y": pa.array([3.5]), "note": ["late"], "ok": pa.array([9], pa.int32())})
    put_cmd(client, more, {"stream": "events"})
    after = duckdb_rows(lake, everything.replace("events", "lk.events"))
    assert after == expected + [(1000, "2024-01-01", 3.5, None, "late", 9)]
    assert arrowport_rows(server, everything) == after


@pytest.mark.parametrize("lake", ["sqlite"], indirect=True)  # PostgreSQL locks rows
def test_duckdb_commits_beside_arrowport_upkeep_never_find_the_catalog_locked(
        start_server, tmp_path, lake):
    """Upkeep every second on a lake with nothing to expire takes no write transaction: a
    SQLite catalog stays open to DuckDB's commits (they failed with "database is locked")."""
    server = serve(start_server, tmp_path, lake, compaction_interval_s=1)
    put_cmd(flight.connect(server.uri), readings(range(10)), {"stream": "events"})
    con = ducklake_duckdb(lake["catalog"], lake["data_path"])
    try:
        deadline = time.monotonic() + 6  # six upkeep rounds
        inserted = 0
        while time.monotonic() < deadline:
            con.execute("INSERT INTO lk.events (id) VALUES (?)", [1000 + inserted])
            inserted += 1
    finally:
        con.close()
    assert inserted > 5
    assert duckdb_rows(lake, "SELECT count(*) FROM lk.events") == [(10 + inserted,)]


def test_a_lake_whose_data_path_is_on_s3(start_server, tmp_path, minio):
    """data_path s3://...: the files go to a real S3 server (MinIO) under the table's
    folder, the catalog names them relative to it, a retry lands once, and Arrowport serves
    the rows, by partition and by Flight endpoints."""
    lake = {"catalog": f"sqlite:{tmp_path / 'catalog.sqlite'}",
            "data_path": minio.url("dl") + "/"}
    server = start_lake_server(start_server, tmp_path, {"events": ducklake_stream(
        lake, partition_by=["day"])}, minio=minio)
    client = flight.connect(server.uri)
    for start in (0, 100):
        reply = put_cmd(client, readings(range(start, start + 100)),
                        {"stream": "events", "request_id": f"s3-{start}"})
        assert reply[-1]["committed"]
    again = put_cmd(client, readings(range(0, 100)), {"stream": "events", "request_id": "s3-0"})
    assert again[-1]["duplicate"]
    assert arrowport_rows(server, "SELECT count(*), sum(id) FROM events") == [(200, 19900)]
    assert arrowport_rows(server, "SELECT count(*) FROM events WHERE day = '2024-01-02'") \
        == [(67,)]
    info = client.get_flight_info(flight.FlightDescriptor.for_path("events"))
    assert sum(client.do_get(e.ticket).read_all().num_rows for e in info.endpoints) == 200
    # The objects, named in the catalog relative to the table's folder.
    catalog = sqlite3.connect(str(tmp_path / "catalog.sqlite"))
    paths = [r[0] for r in catalog.execute(
        "SELECT path FROM ducklake_data_file WHERE end_snapshot IS NULL AND path_is_relative")]
    catalog.close()
    fs = minio.filesystem()
    stored = {info.path for info in fs.get_file_info(
        pafs.FileSelector("lake/dl/main/events", recursive=True)) if info.is_file}
    assert paths and all(f"lake/dl/main/events/{p}" in stored for p in paths), (paths, stored)
