"""What a hostile client or a hostile co-writer of a lake tried (issue 18's attack run):
each of these crashed, poisoned a table or read files it should not before the fix."""
import io
import json
import os
import time

import deltalake
import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
import requests

from lake_util import (ARROW, Lake, events, http_ingest, http_query, ipc_bytes, lake_stream,
                       put_path, rows, start_lake_server)


def local_lake(tmp_path, name="events"):
    (tmp_path / "lake").mkdir(exist_ok=True)
    return Lake.local(tmp_path / "lake" / name)


def query(server, sql):
    return requests.post(f"{server.http}/query?format=csv", data=sql,
                         headers={"Content-Type": "text/plain"}, timeout=60)


def alive(server):
    return requests.get(f"{server.http}/healthz", timeout=30).status_code == 200


def commit_file(tmp_path, version, actions, name="events"):
    log = tmp_path / "lake" / name / "_delta_log"
    (log / f"{version:020d}.json").write_text("".join(json.dumps(a) + "\n" for a in actions))


def test_a_hostile_log_never_takes_the_server_down(start_server, tmp_path):
    lake = local_lake(tmp_path)
    server = start_lake_server(start_server, tmp_path, {"events": lake_stream(
        lake.url, refresh_ms=50, compaction_interval_s=0)})
    put_path(server.client(), events(range(10)), "events")
    # A schema nested 20,000 deep (a stack overflow in a recursive reader).
    deep = '{"type":"array","elementType":' * 20000 + '"long"' + ',"containsNull":true}' * 20000
    schema = json.dumps({"type": "struct", "fields": [
        {"name": "x", "type": json.loads('"long"'), "nullable": True, "metadata": {}}]})
    schema = schema.replace('"long"', deep, 1)
    commit_file(tmp_path, 1, [{"metaData": {"id": "m", "format": {"provider": "parquet"},
                                            "schemaString": schema, "partitionColumns": [],
                                            "configuration": {}}}])
    # A commit file whose version does not fit in 64 bits.
    (tmp_path / "lake" / "events" / "_delta_log" / ("9" * 20 + ".json")).write_text("{}\n")
    time.sleep(1)
    assert alive(server)
    refused = query(server, "SELECT count(*) FROM events")
    assert refused.status_code in (200, 400, 500), refused.text
    assert alive(server)
    # And after a restart on the same log.
    server.stop()
    again = start_lake_server(start_server, tmp_path, {"events": lake_stream(lake.url)},
                              name="again")
    assert alive(again)


@pytest.mark.parametrize("first_commit", [
    [{"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}}],
    [],
    [{"commitInfo": {"operation": "WRITE"}}],
], ids=["protocol_only", "empty", "commit_info_only"])
def test_a_log_without_table_metadata_is_refused_not_written(start_server, tmp_path,
                                                             first_commit):
    """Found by a hostile client: a first commit with no metaData action (a writer that
    died half-way, an empty file) read as "no table yet", and the first write on it killed
    the server (SIGSEGV: its schema merged with none). Refused now, for reads and writes,
    and the log is left as it was."""
    lake = local_lake(tmp_path)
    (tmp_path / "lake" / "events" / "_delta_log").mkdir(parents=True)
    commit_file(tmp_path, 0, first_commit)
    server = start_lake_server(start_server, tmp_path, {"events": lake_stream(
        lake.url, compaction_interval_s=0)})
    with pytest.raises(flight.FlightError, match="no table metadata"):
        put_path(server.client(), events(range(3)), "events")
    r = http_ingest(server, "events", events(range(3)))
    assert r.status_code == 409 and "no table metadata" in r.text, r.text
    r = query(server, "SELECT count(*) FROM events")
    assert r.status_code != 200 and "no table metadata" in r.text, r.text
    assert alive(server) and server.proc.poll() is None
    assert sorted(p.name for p in (tmp_path / "lake" / "events" / "_delta_log").iterdir()) == \
        ["00000000000000000000.json"]


def test_sql_cannot_open_log_entries_or_files_beside_the_table(start_server, tmp_path):
    lake = local_lake(tmp_path)
    server = start_lake_server(start_server, tmp_path, {"events": lake_stream(lake.url)})
    put_path(server.client(), events(range(10)), "events")
    assert query(server, "SELECT count(*) FROM events").text.split()[-1] == "10"
    (tmp_path / "lake" / "events" / "stray.csv").write_text("a,b\n1,2\n")
    for path in ("_delta_log/00000000000000000000.json", "stray.csv"):
        answer = query(server, f"SELECT * FROM 'arrowport-lake://lake0/{path}'")
        assert answer.status_code != 200, answer.text
        assert "a,b" not in answer.text and "commitInfo" not in answer.text


def test_a_symbolic_link_in_the_table_reads_nothing_outside_it(start_server, tmp_path):
    lake = local_lake(tmp_path)
    server = start_lake_server(start_server, tmp_path, {"events": lake_stream(lake.url)})
    put_path(server.client(), events(range(10)), "events")
    secret = tmp_path / "secret.parquet"
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"id": [666], "day": ["x"], "x": [1], "name": ["secret"]}), secret)
    os.symlink(secret, tmp_path / "lake" / "events" / "linked.parquet")
    commit_file(tmp_path, 1, [{"add": {"path": "linked.parquet", "partitionValues": {},
                                       "size": secret.stat().st_size, "modificationTime": 0,
                                       "dataChange": True}}])
    answer = query(server, "SELECT name FROM events WHERE id = 666")
    assert "secret" not in answer.text
    assert alive(server)


def test_column_names_a_table_cannot_hold_are_refused_before_any_commit(start_server,
                                                                        tmp_path):
    lake = local_lake(tmp_path)
    server = start_lake_server(start_server, tmp_path, {"events": lake_stream(
        lake.url, schema_policy="add_columns")})
    put_path(server.client(), events(range(3)), "events")
    for bad in ("a\x00b", ""):
        table = events(range(3, 6)).append_column(bad, pa.array([1, 2, 3]))
        answer = http_ingest(server, "events", table)
        assert answer.status_code in (400, 422), answer.text
    assert lake.versions() == [0]
    put_path(server.client(), events(range(3, 6)), "events")
    assert query(server, "SELECT count(*) FROM events").text.split()[-1] == "6"


@pytest.mark.slow
def test_a_request_spreading_over_thousands_of_partitions_is_refused(start_server, tmp_path):
    lake = local_lake(tmp_path)
    server = start_lake_server(start_server, tmp_path, {"events": lake_stream(
        lake.url, partition_by=["name"])})
    answer = http_ingest(server, "events", events(range(1500)))
    assert answer.status_code == 400, answer.text
    assert "at most 1000 partitions" in answer.text
    assert not lake.versions() and not lake.data_files()


def test_streams_show_the_lake_url_to_admins_only(start_server, tmp_path):
    from test_lake_upkeep import hash_password
    lake = local_lake(tmp_path)
    digest = hash_password("pw-lake-urls")
    users = [{"name": "admin", "password_hash": digest, "role": "admin"},
             {"name": "ana", "password_hash": digest, "role": "reader", "tables": ["events"]}]
    server = start_lake_server(start_server, tmp_path, {"events": lake_stream(lake.url)},
                               extra={"auth": {"users": users}})
    def entry(user):
        body = requests.get(f"{server.http}/streams", auth=(user, "pw-lake-urls"), timeout=30)
        return next(s for s in body.json()["streams"] if s["stream"] == "events")
    assert entry("admin")["lake_url"] == lake.url
    assert lake.url not in json.dumps(entry("ana"))


# A data file another writer rewrote under its key and added again (Delta's reconciliation
# allows an add of a path removed earlier, or of the same path in one commit) is read anew.
# With DuckDB's Parquet metadata cache on and the lake file system's fixed modification
# time, the server kept the old footer for the key's number (an attack run): `SELECT id`
# returned 100 garbage ids, a filter on the new ids matched none, other queries failed
# "TProtocolException: Invalid data". A key whose size or time the log changes gets a new
# number now.
def csv_rows(server, sql):
    r = requests.post(f"{server.http}/query?format=csv", data=sql,
                      headers={"Content-Type": "text/plain"}, timeout=60)
    assert r.status_code == 200, r.text
    return r.text.strip().splitlines()[1:]


@pytest.mark.parametrize("where", ["local", "s3"])
def test_a_data_file_rewritten_under_its_key_is_read_anew(start_server, tmp_path, request,
                                                          where):
    if where == "s3":
        minio = request.getfixturevalue("minio")
        url = minio.url("events")
        deltalake.write_deltalake(url, events(range(100)), storage_options=minio.storage_options())
        fs, root = minio.filesystem(), f"{minio.bucket}/events"
    else:
        minio, root = None, str(tmp_path / "lake" / "events")
        deltalake.write_deltalake(root, events(range(100)))
        fs, url = pafs.LocalFileSystem(), "file://" + root
    server = start_lake_server(start_server, tmp_path, {"events": lake_stream(
        url, compaction_interval_s=0, refresh_ms=100)}, minio=minio)
    assert csv_rows(server, "SELECT count(*), max(id) FROM events") == ["100,99"]
    with fs.open_input_stream(f"{root}/_delta_log/00000000000000000000.json") as f:
        (path,) = [json.loads(line)["add"]["path"] for line in f.read().decode().splitlines()
                   if '"add"' in line]
    body = io.BytesIO()
    pq.write_table(events(range(1000, 1100)), body)
    with fs.open_output_stream(f"{root}/{path}") as f:
        f.write(body.getvalue())
    now = int(time.time() * 1000)
    actions = [{"remove": {"path": path, "deletionTimestamp": now, "dataChange": True}},
               {"add": {"path": path, "size": len(body.getvalue()), "partitionValues": {},
                        "modificationTime": now, "dataChange": True}}]
    with fs.open_output_stream(f"{root}/_delta_log/00000000000000000001.json") as f:
        f.write("".join(json.dumps(a) + "\n" for a in actions).encode())
    deadline = time.monotonic() + 30
    while csv_rows(server, "SELECT count(*) FROM events WHERE id >= 1000") != ["100"]:
        assert time.monotonic() < deadline, csv_rows(server, "SELECT min(id), max(id) FROM events")
        time.sleep(0.2)
    assert csv_rows(server, "SELECT count(*), min(id), max(id), sum(x) FROM events") == \
        [f"100,1000,1099,{sum(i * 3 + 1 for i in range(1000, 1100))}"]
