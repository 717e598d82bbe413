"""Lake tables over time (issue 18): compaction while readers read, checkpoints that
delta-rs starts from, vacuum of orphaned files, Flight endpoints per group of files, a log
holding actions Arrowport does not write, rights of restricted readers, the lake metrics,
and a store that is down when the server starts."""
import json
import threading
import time

import pyarrow as pa
import pyarrow.flight as flight
import pytest
import requests

from conftest import run_cli
from lake_util import (ARROW, Lake, events, http_ingest, http_query, ipc_bytes, lake_stream,
                       noisy_events, put_path, rows, start_lake_server)


def hash_password(password):
    proc = run_cli("hash-password", input=(password + "\n").encode(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.decode().strip().splitlines()[-1]


def local_lake(tmp_path, name="events"):
    (tmp_path / "lake").mkdir(exist_ok=True)
    return Lake.local(tmp_path / "lake" / name)


def wait_for(predicate, timeout=60, what="the condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def count(server, table="events"):
    return http_query(server, f"SELECT count(*) AS n FROM {table}").column("n")[0].as_py()


def test_compaction_keeps_every_row_for_readers_reading_meanwhile(start_server, tmp_path):
    lake = local_lake(tmp_path)
    server = start_lake_server(start_server, tmp_path, {"events": lake_stream(
        lake.url, partition_by=["day"], compaction_interval_s=1, retention_s=3600,
        checkpoint_interval=0)})
    client = server.client()
    # Many small requests: many small files per partition, compacted in the background.
    for i in range(12):
        put_path(client, events(range(i * 50, (i + 1) * 50)), "events")
    expected = sum(range(600))
    seen, errors, stop = [], [], threading.Event()

    def read():
        while not stop.is_set():
            try:
                table = http_query(server, "SELECT count(*) AS n, sum(id) AS s FROM events")
                seen.append((table.column("n")[0].as_py(), table.column("s")[0].as_py()))
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        wait_for(lambda: any(c.get("commitInfo", {}).get("operation") == "OPTIMIZE"
                             for v in lake.versions() for c in lake.commit(v)),
                 what="a compaction commit")
        time.sleep(0.5)
    finally:
        stop.set()
        reader.join()
    assert not errors, errors[:3]
    assert seen and all(s == (600, expected) for s in seen), set(seen)
    # delta-rs sees the same rows, in fewer files; every compaction left the rows as they were.
    assert rows(lake.read()) == rows(events(range(600)))
    assert len(lake.delta().file_uris()) < 36
    lake.assert_log_sound()
    # Compaction changes no data: dataChange false on both sides.
    optimize = [a for v in lake.versions() for a in lake.commit(v)
                if any(a2.get("commitInfo", {}).get("operation") == "OPTIMIZE"
                       for a2 in lake.commit(v))]
    assert all(not a[k]["dataChange"] for a in optimize for k in ("add", "remove") if k in a)


def test_checkpoints_are_read_by_delta_rs_and_by_a_fresh_server(start_server, tmp_path):
    lake = local_lake(tmp_path)
    stream = lake_stream(lake.url, partition_by=["day"], checkpoint_interval=3,
                         compaction_interval_s=1, retention_s=3600)
    server = start_lake_server(start_server, tmp_path, {"events": stream})
    client = server.client()
    for i in range(5):
        put_path(client, events(range(i * 10, (i + 1) * 10)), "events")
    log = tmp_path / "lake" / "events" / "_delta_log"
    # The checkpoint's file is written first, then _last_checkpoint points at it (the
    # Delta protocol's order): wait for both.
    wait_for(lambda: (log / "_last_checkpoint").exists(), what="a checkpoint")
    last = json.loads((log / "_last_checkpoint").read_text())
    assert (log / f"{last['version']:020d}.checkpoint.parquet").exists()
    # delta-rs reads the table starting from our checkpoint.
    assert rows(lake.read()) == rows(events(range(50)))
    server.stop()
    # Older commit files gone: only the checkpoint can rebuild the state up to it.
    for v in range(last["version"]):
        (tmp_path / "lake" / "events" / "_delta_log" / f"{v:020d}.json").unlink()
    assert rows(lake.read()) == rows(events(range(50)))
    again = start_lake_server(start_server, tmp_path, {"events": stream}, name="again")
    assert count(again) == 50
    put_path(again.client(), events(range(50, 60)), "events")
    assert rows(lake.read()) == rows(events(range(60)))


def test_vacuum_deletes_orphaned_files_and_keeps_committed_ones(start_server, tmp_path):
    lake = local_lake(tmp_path)
    server = start_lake_server(start_server, tmp_path, {"events": lake_stream(
        lake.url, retention_s=1, compaction_interval_s=1, checkpoint_interval=0,
        target_file_mb=1)})
    put_path(server.client(), events(range(100)), "events")
    # A file a writer uploaded and never committed (it died between files and commit).
    orphan = tmp_path / "lake" / "events" / "part-00000-dead.c000.zstd.parquet"
    orphan.write_bytes(b"PAR1 not really")
    wait_for(lambda: not orphan.exists(), what="vacuum of the orphan")
    assert rows(lake.read()) == rows(events(range(100)))
    assert count(server) == 100


def lake_of_many_files(start_server, tmp_path):
    """A server whose lake stream `events` holds 3 x 250,000 rows in many 1 MB files (no
    compaction): a table GetFlightInfo hands out in several endpoints."""
    lake = local_lake(tmp_path)
    server = start_lake_server(start_server, tmp_path, {"events": lake_stream(
        lake.url, partition_by=["day"], target_file_mb=1, compaction_interval_s=0)})
    client = server.client()
    n = 250_000
    for i in range(3):
        put_path(client, noisy_events(range(i * n, (i + 1) * n)), "events", chunk=10_000)
    return server, client, n


def test_get_flight_info_splits_a_lake_table_into_endpoints(start_server, tmp_path):
    server, client, n = lake_of_many_files(start_server, tmp_path)
    info = client.get_flight_info(flight.FlightDescriptor.for_path("events"))
    assert len(info.endpoints) > 1
    assert info.total_records == 3 * n
    parts = [client.do_get(e.ticket).read_all() for e in info.endpoints]
    ids = pa.concat_arrays([c for p in parts for c in p.column("id").chunks])
    assert len(ids) == 3 * n and len(set(ids.to_pylist())) == 3 * n  # each row exactly once
    # A ticket stays valid for its snapshot after newer commits.
    put_path(client, events(range(10 * n, 10 * n + 5)), "events")
    again = sum(client.do_get(e.ticket).read_all().num_rows for e in info.endpoints)
    assert again == 3 * n
    # Forged parts are refused, not read.
    forged = json.dumps({"table": "events", "lake": {"version": 0, "part": 0, "parts": 999}})
    with pytest.raises(pa.ArrowInvalid, match="parts do not match"):
        client.do_get(flight.Ticket(forged)).read_all()


def test_foreign_actions_refuse_writes_and_keep_reads(start_server, tmp_path):
    lake = local_lake(tmp_path)
    server = start_lake_server(start_server, tmp_path, {"events": lake_stream(lake.url)})
    put_path(server.client(), events(range(10)), "events")
    # Another tool commits an action Arrowport does not write.
    log = tmp_path / "lake" / "events" / "_delta_log"
    (log / f"{1:020d}.json").write_text(json.dumps(
        {"domainMetadata": {"domain": "other.tool", "configuration": "{}", "removed": False}})
        + "\n" + json.dumps({"commitInfo": {"operation": "OTHER"}}) + "\n")
    body = http_ingest(server, "events", events(range(10, 20)))
    assert body.status_code == 501, body.text
    assert "domainMetadata" in body.text
    assert count(server) == 10
    assert lake.versions() == [0, 1]


def test_restricted_readers_and_the_lake_metrics(start_server, tmp_path):
    lake = local_lake(tmp_path)
    digest = hash_password("lake-reader-pw")
    users = [{"name": "admin", "password_hash": digest, "role": "admin"},
             {"name": "ana", "password_hash": digest, "role": "reader", "tables": ["events"]},
             {"name": "bob", "password_hash": digest, "role": "reader", "tables": ["other"]}]
    server = start_lake_server(start_server, tmp_path, {"events": lake_stream(lake.url)},
                               extra={"auth": {"users": users}})
    body = requests.post(f"{server.http}/ingest/events", data=ipc_bytes(events(range(30))),
                         headers={"Content-Type": ARROW}, auth=("admin", "lake-reader-pw"),
                         timeout=60)
    assert body.status_code == 200, body.text
    query = lambda user, sql: requests.post(f"{server.http}/query?format=csv", data=sql,
                                            auth=(user, "lake-reader-pw"), timeout=60)
    assert query("ana", "SELECT count(*) FROM events").text.split()[-1] == "30"
    assert query("bob", "SELECT count(*) FROM events").status_code == 403
    # The files under the view are not reachable by SQL, whoever asks.
    for user in ("ana", "admin"):
        refused = query(user, "SELECT * FROM read_parquet('arrowport-lake://events/*')")
        assert refused.status_code == 403, refused.text
    metrics = requests.get(f"{server.http}/metrics", auth=("admin", "lake-reader-pw"),
                           timeout=30).text
    assert 'arrowport_lake_version{stream="events"} 0' in metrics
    assert 'arrowport_lake_commits_total{stream="events"} 1' in metrics
    streams = requests.get(f"{server.http}/streams", auth=("admin", "lake-reader-pw"),
                           timeout=30).json()
    entry = next(s for s in streams["streams"] if s["stream"] == "events")
    assert entry["sink"] == "lake" and entry["lake_url"] == lake.url


def test_store_down_at_start_then_writes_once_it_is_up(start_server, tmp_path, minio):
    minio.stop()
    server = start_lake_server(start_server, tmp_path,
                               {"events": lake_stream(minio.url("events"))}, minio=minio)
    refused = http_ingest(server, "events", events(range(5)))
    assert refused.status_code == 503, refused.text
    assert minio.secret_key not in refused.text
    minio.start()
    ok = http_ingest(server, "events", events(range(5)))
    assert ok.status_code == 200, ok.text
    assert rows(minio.lake("events").read()) == rows(events(range(5)))
    assert count(server) == 5


def test_partition_values_of_every_kind_read_back_the_same(start_server, tmp_path):
    """Null, empty, the text "NULL", quotes and slashes, dates and UTC timestamps as
    partition values: Arrowport's view and delta-rs read the values that were written."""
    import datetime
    lake = local_lake(tmp_path, "kinds")
    server = start_lake_server(start_server, tmp_path, {"kinds": lake_stream(
        lake.url, partition_by=["label", "day", "seen"], compaction_interval_s=0)})
    labels = [None, "", "NULL", "it's a/b=c", "naïve %20"]
    n = len(labels)
    utc = datetime.timezone.utc
    table = pa.table({
        "id": pa.array(range(n), pa.int64()),
        "label": pa.array(labels, pa.string()),
        "day": pa.array([datetime.date(2024, 1, 1 + i) for i in range(n)]),
        "seen": pa.array([datetime.datetime(2024, 1, 1, i, 30, tzinfo=utc) for i in range(n)],
                       pa.timestamp("us", tz="UTC")),
    })
    put_path(server.client(), table, "kinds")
    ours = http_query(server, "SELECT id, label, day, seen FROM kinds ORDER BY id")
    theirs = lake.read(columns=["id", "label", "day", "seen"])
    expected_labels = [None, None, "NULL", "it's a/b=c", "naïve %20"]  # "" is Delta's null
    assert ours.column("label").to_pylist() == expected_labels
    assert theirs.column("label").to_pylist() == expected_labels
    assert ours.column("day").to_pylist() == table.column("day").to_pylist()
    assert theirs.column("day").to_pylist() == table.column("day").to_pylist()
    assert [v.timestamp() for v in ours.column("seen").to_pylist()] == \
        [v.timestamp() for v in table.column("seen").to_pylist()]
    assert [v.timestamp() for v in theirs.column("seen").to_pylist()] == \
        [v.timestamp() for v in table.column("seen").to_pylist()]
    # A filter on a partition column reads only its files.
    one = http_query(server, "SELECT count(*) AS n FROM kinds WHERE label = 'NULL'")
    assert one.column("n")[0].as_py() == 1


@pytest.mark.slow
def test_flight_sql_reads_a_whole_lake_table_through_parallel_endpoints(start_server,
                                                                       tmp_path):
    """`SELECT * FROM <lake table>` over Flight SQL: one endpoint per group of files (ADBC
    fetches them in parallel), every row exactly once; other statements one endpoint."""
    import adbc_driver_flightsql.dbapi as flight_sql
    import flightsql_wire
    server, client, n = lake_of_many_files(start_server, tmp_path)
    whole = client.get_flight_info(flight.FlightDescriptor.for_command(
        flightsql_wire.statement_query("select * from events;")))
    assert len(whole.endpoints) > 1
    filtered = client.get_flight_info(flight.FlightDescriptor.for_command(
        flightsql_wire.statement_query("SELECT * FROM events WHERE id < 10")))
    assert len(filtered.endpoints) == 1
    with flight_sql.connect(server.uri) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT * FROM events")
        table = cursor.fetch_arrow_table()
    ids = table.column("id").to_pylist()
    assert len(ids) == 3 * n and len(set(ids)) == 3 * n
