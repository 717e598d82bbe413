"""Honest lake snapshots (issue 35 items 3 and 4): what Arrowport serves of a lake table is
what its log says, whatever the log holds. Partition values of any bytes (NUL and quotes
included) never become SQL text, so the stream's view follows every commit as delta-rs
does; and a log that cannot be loaded or fails validation (paths leaving the table, adds of
missing files) is refused for writes and fails reads with the reason, never served from
the last good snapshot."""
import json
import os

import pyarrow as pa
import pyarrow.flight as flight
import pytest
import requests

from lake_util import (Lake, events, http_ingest, lake_stream, rows, start_lake_server)

# Every code point 0-255 (NUL, quotes, backslash, '/', '%', '=' among them), in groups
# short enough for a folder name once percent-encoded; and values that look like SQL.
ALL_BYTES = [''.join(chr(c) for c in range(start, start + 32)) for start in range(0, 256, 32)]
HOSTILE_DAYS = ["a\x00b", "\x00", "it's", "x'); DROP VIEW events; --", "\\'", "%00",
                "a\x00'b\x00"] + ALL_BYTES


def lake_of(request, tmp_path, kind):
    if kind == "file":
        (tmp_path / "lake").mkdir(exist_ok=True)
        return Lake.local(tmp_path / "lake" / "events"), None
    minio = request.getfixturevalue("minio")
    return minio.lake("events"), minio


def query(server, sql, params=None):
    body = {"sql": sql}
    if params is not None:
        body["params"] = params
    return requests.post(f"{server.http}/query", json=body, timeout=120)


def arrowport_table(server):
    answer = query(server, "SELECT id, day, x, name FROM events ORDER BY id")
    assert answer.status_code == 200, answer.text
    return pa.ipc.open_stream(pa.BufferReader(answer.content)).read_all()


def assert_same_as_delta_rs(server, lake):
    expected = rows(lake.read())
    assert rows(arrowport_table(server)) == expected
    # Flight, by the table's name (the view, or its parts).
    client = server.client()
    info = client.get_flight_info(flight.FlightDescriptor.for_path("events"))
    got = pa.concat_tables([client.do_get(e.ticket).read_all() for e in info.endpoints])
    assert rows(got.sort_by("id")) == expected


@pytest.mark.parametrize("kind", ["file", pytest.param("s3", marks=pytest.mark.slow)])
def test_partition_values_of_any_bytes_read_alike_by_arrowport_and_delta_rs(
        request, start_server, tmp_path, kind):
    lake, minio = lake_of(request, tmp_path, kind)
    streams = {"events": lake_stream(lake.url, partition_by=["day"], compaction_interval_s=0)}
    server = start_lake_server(start_server, tmp_path, streams, minio=minio)
    # The request that creates the table holds a NUL: its table is there right after the 200.
    first = http_ingest(server, "events", events(range(3), days=("a\x00b",)))
    assert first.status_code == 200, first.text
    assert_same_as_delta_rs(server, lake)
    next_id = 3
    for day in HOSTILE_DAYS:
        answer = http_ingest(server, "events", events(range(next_id, next_id + 2), days=(day,)))
        assert answer.status_code == 200, (repr(day), answer.text)
        next_id += 2
        assert_same_as_delta_rs(server, lake)
    assert lake.read().num_rows == next_id
    # A filter on the partition column (files pruned by value) finds each value's rows.
    for day in ("a\x00b", ALL_BYTES[0], ALL_BYTES[1]):
        counted = query(server, "SELECT count(*) AS n FROM events WHERE day = $1", [day])
        assert counted.status_code == 200, counted.text
        n = pa.ipc.open_stream(pa.BufferReader(counted.content)).read_all().column("n")[0]
        expected = sum(1 for r in rows(lake.read()) if r["day"] == day)
        assert n.as_py() == expected > 0, repr(day)
    # After a restart on the same database (whose view an earlier run left behind).
    server.stop()
    again = start_lake_server(start_server, tmp_path, streams, minio=minio)
    assert_same_as_delta_rs(again, lake)
    more = http_ingest(again, "events", events(range(next_id, next_id + 2), days=("a\x00b",)))
    assert more.status_code == 200, more.text
    assert_same_as_delta_rs(again, lake)


@pytest.mark.parametrize("kind", ["file", "s3"])
def test_a_partition_value_too_long_for_a_folder_is_a_clear_400(request, start_server, tmp_path,
                                                                 kind):
    """A value whose folder name passes 255 bytes was answered 503 store_unavailable (the
    file system's ENAMETOOLONG), inviting retries that could never succeed."""
    lake, minio = lake_of(request, tmp_path, kind)
    streams = {"events": lake_stream(lake.url, partition_by=["day"])}
    server = start_lake_server(start_server, tmp_path, streams, minio=minio)
    assert http_ingest(server, "events", events(range(2))).status_code == 200
    for day in ("d" * 300, "\x00" * 90):  # 300 bytes; 90 bytes that encode to 270
        answer = http_ingest(server, "events", events(range(2, 4), days=(day,)))
        assert answer.status_code == 400, answer.text
        message = answer.json()["error"]["message"]
        assert "partition column 'day'" in message and "at most 255" in message, message
    # Just under the limit (day= is 4 bytes) lands, and every reader agrees.
    fits = http_ingest(server, "events", events(range(4, 6), days=("f" * 251,)))
    assert fits.status_code == 200, fits.text
    assert_same_as_delta_rs(server, lake)


def test_sql_cannot_call_the_views_value_function(start_server, tmp_path):
    (tmp_path / "lake").mkdir()
    lake = Lake.local(tmp_path / "lake" / "events")
    server = start_lake_server(start_server, tmp_path, {"events": lake_stream(
        lake.url, partition_by=["day"])})
    assert http_ingest(server, "events", events(range(3))).status_code == 200
    assert arrowport_table(server).num_rows == 3
    for sql in ("SELECT arrowport_lake_value('lake0', 1)",
                "SELECT arrowport_lake_refusal('lake0')"):
        answer = query(server, sql)
        assert answer.status_code == 403, answer.text
        assert "refused" in answer.text


# ---- a log another writer corrupted (item 4) ----

def forge(lake, version, actions, raw=None):
    """Writes commit `version` of the lake's log as another writer would (file or S3)."""
    text = raw if raw is not None else "".join(json.dumps(a) + "\n" for a in actions)
    target = f"{lake.root}/_delta_log/{version:020d}.json"
    if lake.url.startswith("file://"):
        # At once, as a writer renames a commit into place: a poll must not read it half
        # written (an S3 PUT is atomic by itself).
        temporary = f"{lake.root}/forged.tmp"
        with open(temporary, "w") as f:
            f.write(text)
        os.replace(temporary, target)
        return
    with lake.fs.open_output_stream(target) as f:
        f.write(text.encode())


def add(path, size=100):
    return {"add": {"path": path, "partitionValues": {}, "size": size, "modificationTime": 0,
                    "dataChange": True}}


def outside_parquet(tmp_path):
    import pyarrow.parquet as pq
    secret = tmp_path / "outside.parquet"
    pq.write_table(pa.table({"id": [666], "day": ["x"], "x": [1], "name": ["secret"]}), secret)
    return secret


def lake_state(server, stream="events"):
    metrics = requests.get(f"{server.http}/metrics", timeout=30).text
    states = [line for line in metrics.splitlines()
              if line.startswith(f'arrowport_lake_table_state{{stream="{stream}"') and
              line.endswith(" 1")]
    status = requests.get(f"{server.http}/status", timeout=30).json()
    entry = next(s for s in status["streams"] if s["stream"] == stream)
    return states, entry.get("lake_state")


def forged_dotdot(tmp_path, lake):
    outside_parquet(tmp_path)
    return [add("../../outside.parquet")], "does not name a file inside the table"


def forged_encoded_dotdot(tmp_path, lake):
    outside_parquet(tmp_path)
    return [add("%2e%2e/%2e%2e/outside.parquet")], "does not name a file inside the table"


def forged_symlink(tmp_path, lake):
    import os
    secret = outside_parquet(tmp_path)
    os.symlink(secret, tmp_path / "lake" / "events" / "linked.parquet")
    return [add("linked.parquet", secret.stat().st_size)], "symbolic link"


def forged_missing(tmp_path, lake):
    return [add(f"gone-{i}.parquet") for i in range(1000)], "is not in the store"


def forged_wrong_size(tmp_path, lake):
    """A real data file added again under another name, with a size 10 bytes short of the
    file's: reads trust the log's sizes (no HEAD per file), so the log is checked against
    the store once, when it adds the file. Before, reads failed with a footer error that
    named no size."""
    import shutil
    first = next(a["add"]["path"] for a in lake.commit(0) if "add" in a)
    source = tmp_path / "lake" / "events" / first
    shutil.copy(source, tmp_path / "lake" / "events" / "copy.parquet")
    return [add("copy.parquet", source.stat().st_size - 10)], "where the log says"


def forged_log_file(tmp_path, lake):
    return [add("_delta_log/00000000000000000000.json")], "a file of the Delta log"


def forged_unparsable(tmp_path, lake):
    return None, "is not one JSON action"


FORGERIES = {"dotdot": forged_dotdot, "encoded_dotdot": forged_encoded_dotdot,
             "symlink": forged_symlink, "missing": forged_missing,
             "log_file": forged_log_file, "unparsable": forged_unparsable,
             "wrong_size": forged_wrong_size}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_forged_log_is_refused_for_writes_and_fails_reads(start_server, tmp_path, forgery):
    (tmp_path / "lake").mkdir()
    lake = Lake.local(tmp_path / "lake" / "events")
    server = start_lake_server(start_server, tmp_path, {"events": lake_stream(
        lake.url, refresh_ms=100, compaction_interval_s=0)})
    assert http_ingest(server, "events", events(range(10))).status_code == 200
    assert arrowport_table(server).num_rows == 10
    actions, reason = FORGERIES[forgery](tmp_path, lake)
    forge(lake, 1, actions, raw=None if actions is not None else "{not json\n")
    # Writes: refused with the reason, nothing committed (HTTP 409, Flight FAILED_PRECONDITION).
    refused = http_ingest(server, "events", events(range(10, 20)))
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "table_refused"
    assert reason in refused.text
    writer, metadata = server.client().do_put(flight.FlightDescriptor.for_path("events"),
                                              events(range(20, 30)).schema)
    with pytest.raises(flight.FlightError, match="refused") as error:
        writer.write_table(events(range(20, 30)))
        writer.done_writing()
        while metadata.read() is not None:
            pass
        writer.close()
    assert error.value.extra_info[:2] == b"\x08\x09"  # google.rpc.Status FAILED_PRECONDITION
    assert lake.versions() == [0, 1]
    # Reads: fail with the reason, never the last good snapshot's 10 rows.
    for sql in ("SELECT count(*) FROM events", "SELECT * FROM events WHERE id = 666"):
        answer = query(server, sql)
        assert answer.status_code != 200, server.stderr()[-6000:]
        assert reason in answer.text and "secret" not in answer.text
    client = server.client()
    with pytest.raises(pa.ArrowException, match="refused"):  # INVALID_ARGUMENT, a query error
        info = client.get_flight_info(flight.FlightDescriptor.for_path("events"))
        for endpoint in info.endpoints:
            client.do_get(endpoint.ticket).read_all()
    # The state shows on /metrics and the status page.
    assert lake_state(server) == (
        ['arrowport_lake_table_state{stream="events",state="refused"} 1'], "refused")
    # And after a restart: still refused, the view never back on the old snapshot.
    server.stop()
    again = start_lake_server(start_server, tmp_path, {"events": lake_stream(lake.url)})
    answer = query(again, "SELECT count(*) FROM events")
    assert answer.status_code != 200 and reason in answer.text, answer.text
    assert http_ingest(again, "events", events(range(10, 20))).status_code == 409
    assert lake.versions() == [0, 1]


def test_a_write_that_finds_the_log_forged_refuses_every_reader_before_it_answers(
        start_server, tmp_path):
    """Before, only a query naming the table refreshed its view: a client's view over it,
    a statement prepared before and a transaction's query read the old snapshot's rows
    until the next poll (here: never, refresh_ms is 10 minutes)."""
    import adbc_driver_flightsql.dbapi as flight_sql
    (tmp_path / "lake").mkdir()
    lake = Lake.local(tmp_path / "lake" / "events")
    server = start_lake_server(start_server, tmp_path, {"events": lake_stream(
        lake.url, refresh_ms=600_000, compaction_interval_s=0)})
    assert http_ingest(server, "events", events(range(10))).status_code == 200
    with flight_sql.connect(server.uri) as conn, conn.cursor() as cur:
        cur.execute("CREATE VIEW recent AS SELECT * FROM events WHERE id >= 0")
        conn.commit()
        cur.execute("SELECT count(*) FROM recent")
        assert cur.fetchone() == (10,)
        # A query naming the table polls its log: the next poll is 10 minutes away.
        assert query(server, "SELECT count(*) FROM events").status_code == 200
        actions, reason = forged_dotdot(tmp_path, lake)
        forge(lake, 1, actions)
        refused = http_ingest(server, "events", events(range(10, 20)))
        assert refused.status_code == 409, refused.text
        # At once, on every surface: the view over it, and a transaction's query.
        answer = query(server, "SELECT count(*) FROM recent")
        assert answer.status_code != 200, server.stderr()[-3000:]
        assert reason in answer.text, answer.text
        with pytest.raises(Exception, match=reason):
            cur.execute("SELECT count(*) FROM recent")
            cur.fetchall()


def test_many_adds_of_missing_files_on_s3_are_refused(start_server, tmp_path, minio):
    lake = minio.lake("events")
    server = start_lake_server(start_server, tmp_path, {"events": lake_stream(
        lake.url, compaction_interval_s=0)}, minio=minio)
    assert http_ingest(server, "events", events(range(10))).status_code == 200
    assert arrowport_table(server).num_rows == 10
    forge(lake, 1, [add(f"gone-{i}.parquet") for i in range(1000)])  # a listing checks them
    with pytest.raises(Exception):
        lake.read()  # delta-rs cannot read them either
    refused = http_ingest(server, "events", events(range(10, 20)))
    assert refused.status_code == 409 and "is not in the store" in refused.text, refused.text
    answer = query(server, "SELECT count(*) FROM events")
    assert answer.status_code != 200 and "is not in the store" in answer.text, answer.text
    assert lake.versions() == [0, 1]


def test_a_remove_of_every_file_is_read_as_delta_rs_reads_it(start_server, tmp_path):
    """Removing every file is a valid commit (a delete of all rows): Arrowport and delta-rs
    both read no rows, and writes go on."""
    (tmp_path / "lake").mkdir()
    lake = Lake.local(tmp_path / "lake" / "events")
    server = start_lake_server(start_server, tmp_path, {"events": lake_stream(
        lake.url, compaction_interval_s=0)})
    assert http_ingest(server, "events", events(range(10))).status_code == 200
    removes = [{"remove": {"path": a["add"]["path"], "deletionTimestamp": 1,
                           "dataChange": True}} for a in lake.commit(0) if "add" in a]
    forge(lake, 1, removes)
    assert lake.read().num_rows == 0
    assert arrowport_table(server).num_rows == 0
    assert http_ingest(server, "events", events(range(10, 15))).status_code == 200
    assert_same_as_delta_rs(server, lake)
    assert lake.read().num_rows == 5
    assert lake_state(server) == (['arrowport_lake_table_state{stream="events",state="ok"} 1'],
                                  "ok")



def test_a_partition_filter_scans_only_its_files(start_server, tmp_path):
    """Partition values read through the view's function are constants to DuckDB's planner:
    a filter on the partition column drops the other partitions' scans from the plan."""
    (tmp_path / "lake").mkdir()
    lake = Lake.local(tmp_path / "lake" / "events")
    server = start_lake_server(start_server, tmp_path, {"events": lake_stream(
        lake.url, partition_by=["day"], compaction_interval_s=0)})
    days = ("a\x00b", "it's", "c")
    assert http_ingest(server, "events", events(range(9), days=days)).status_code == 200
    def scans(where):
        answer = requests.post(f"{server.http}/query?format=csv",
                               data=f"EXPLAIN SELECT count(*) FROM events {where}",
                               headers={"Content-Type": "text/plain"}, timeout=60)
        assert answer.status_code == 200, answer.text
        return answer.text.count("READ_PARQUET") + answer.text.count("PARQUET_SCAN")
    assert scans("") == 3
    assert scans("WHERE day = 'it''s'") == 1
