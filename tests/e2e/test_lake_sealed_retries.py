"""A duplicate answer must be true (issue 64). A DuckDB user of a shared DuckLake copied
Arrowport's exactly-once marker into its own commit (set_commit_message's extra_info), and
a later Arrowport request carrying that request id was answered "committed, duplicate,
5000000 rows" with none of its rows stored; a Delta `txn` of another writer (delta-rs,
Spark) did the same. A request id is now answered as a duplicate only from a commit
sealed with a key only Arrowport nodes hold (lake.commit_key_file, else the server's own):
a copied or forged marker is written over, and the real retries, on one server and on two
servers sharing the key file, are still answered once."""
import json
import os
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from ducklake_peers import ducklake_duckdb
from lake_util import Lake, events, lake_stream, put_cmd, start_lake_server


def readings(ids):
    ids = list(ids)
    return pa.table({"id": pa.array(ids, pa.int64()),
                     "x": pa.array([i * 0.5 for i in ids], pa.float64())})


def key_file(tmp_path, mode=0o600):
    path = tmp_path / "lake-commit.key"
    path.write_text(os.urandom(32).hex() + "\n")
    path.chmod(mode)
    return path


def put(server, table, request_id, stream="events"):
    reply = put_cmd(flight.connect(server.uri), table,
                    {"stream": stream, "request_id": request_id})[-1]
    assert reply["committed"], reply
    return reply


# ---- DuckLake ----

def ducklake_lake(tmp_path):
    (tmp_path / "data").mkdir()
    return {"catalog": f"sqlite:{tmp_path / 'catalog.sqlite'}", "data_path": str(tmp_path / "data")}


def ducklake_server(start_server, tmp_path, lake, name="lake", extra=None):
    stream = {"sink": "ducklake",
              "ducklake": {"catalog": lake["catalog"], "data_path": lake["data_path"],
                           "refresh_ms": 100}}
    return start_lake_server(start_server, tmp_path, {"events": stream}, name=name, extra=extra)


def arrowport_marker(lake, request_id):
    """Arrowport's commit_extra_info of the snapshot that recorded `request_id`."""
    catalog = sqlite3.connect(lake["catalog"].partition(":")[2])
    try:
        for (info,) in catalog.execute("SELECT commit_extra_info FROM ducklake_snapshot_changes "
                                       "WHERE commit_extra_info LIKE '{\"arrowport\":%'"):
            if json.loads(info)["arrowport"].get("app_id") == f"arrowport:{request_id}":
                return json.loads(info)
    finally:
        catalog.close()
    raise AssertionError(f"no marker of {request_id}")


def duckdb_commit(lake, extra_info, ids):
    """DuckDB's own commit of rows `ids`, with `extra_info` as its commit_extra_info."""
    con = ducklake_duckdb(lake["catalog"], lake["data_path"])
    try:
        con.execute("BEGIN")
        con.execute("INSERT INTO lk.events SELECT i, i * 0.5 FROM range(?, ?) t(i)",
                    [ids.start, ids.stop])
        text = json.dumps(extra_info).replace("'", "''")
        con.execute(f"CALL lk.set_commit_message('mallory', 'copied', extra_info => '{text}')")
        con.execute("COMMIT")
    finally:
        con.close()


def duckdb_count(lake):
    con = ducklake_duckdb(lake["catalog"], lake["data_path"], read_only=True)
    try:
        return con.execute("SELECT count(*), count(DISTINCT id) FROM lk.events").fetchone()
    finally:
        con.close()


def test_a_marker_duckdb_copied_into_its_commit_is_no_duplicate(start_server, tmp_path):
    lake = ducklake_lake(tmp_path)
    server = ducklake_server(start_server, tmp_path, lake)
    first = put(server, readings(range(10)), "r-1")
    assert not first["duplicate"] and first["rows"] == 10, first
    # The attack: Arrowport's marker, copied into DuckDB's own commit for a request id
    # Arrowport has not seen (with a count to answer it), and verbatim for r-1.
    marker = arrowport_marker(lake, "r-1")
    forged = json.loads(json.dumps(marker))
    forged["arrowport"].update(app_id="arrowport:r-2", rows=5000000, batches=1)
    duckdb_commit(lake, forged, range(100, 103))
    duckdb_commit(lake, marker, range(200, 203))
    # r-2 is written: its rows are in the table, and its own retry is the duplicate.
    second = put(server, readings(range(20, 40)), "r-2")
    assert not second["duplicate"] and second["rows"] == 20, second
    retry = put(server, readings(range(20, 40)), "r-2")
    assert retry["duplicate"] and retry["rows"] == 20, retry
    # The real duplicate is still one, answered with its own counts.
    again = put(server, readings(range(10)), "r-1")
    assert again["duplicate"] and again["rows"] == 10, again
    assert duckdb_count(lake) == (36, 36)
    assert server.logged("carries request id 'r-2' but is not Arrowport's commit of it")
    # DuckDB merges the table's files (Arrowport's among them); a server restarted on its
    # database keeps its key and reads every seal anew: its retries are still answered.
    server.stop()
    con = ducklake_duckdb(lake["catalog"], lake["data_path"])
    try:
        con.execute("CALL ducklake_merge_adjacent_files('lk')")
    finally:
        con.close()
    restarted = ducklake_server(start_server, tmp_path, lake)
    for request_id, ids in (("r-1", range(10)), ("r-2", range(20, 40))):
        retry = put(restarted, readings(ids), request_id)
        assert retry["duplicate"] and retry["rows"] == len(ids), retry
    assert duckdb_count(lake) == (36, 36)


def test_a_sealed_marker_retargeted_to_another_table_is_no_duplicate_there(start_server,
                                                                           tmp_path):
    """The attack on the fix above: the seal bound the table's table_uuid, and which table
    a marker is for was the marker's own text. A DuckDB user of the lake gave events_b the
    table_uuid of events_a and retargeted Arrowport's sealed marker of batch-42 from
    events_a to events_b; after a restart, batch-42 sent to events_b was answered
    duplicate with nothing stored. The seal binds the configured table too."""
    lake = ducklake_lake(tmp_path)

    def stream(table):
        return {"sink": "ducklake", "ducklake": {**lake, "table": table, "refresh_ms": 100}}

    streams = {"a": stream("events_a"), "b": stream("events_b")}
    server = start_lake_server(start_server, tmp_path, streams)
    assert not put(server, readings(range(5)), "batch-42", stream="a")["duplicate"]
    assert not put(server, readings(range(100, 101)), "seed-b", stream="b")["duplicate"]
    server.stop()
    con = ducklake_duckdb(lake["catalog"], lake["data_path"])
    try:
        meta = "__ducklake_metadata_lk"
        (uuid_a,) = con.execute(f"SELECT table_uuid FROM {meta}.ducklake_table WHERE "
                                "table_name = 'events_a' AND end_snapshot IS NULL").fetchone()
        con.execute(f"UPDATE {meta}.ducklake_table SET table_uuid = ? WHERE "
                    "table_name = 'events_b' AND end_snapshot IS NULL", [uuid_a])
        con.execute(f"UPDATE {meta}.ducklake_snapshot_changes SET commit_extra_info = "
                    "replace(commit_extra_info, '\"main.events_a\"', '\"main.events_b\"') "
                    "WHERE commit_extra_info LIKE '%batch-42%'")
    finally:
        con.close()
    restarted = start_lake_server(start_server, tmp_path, streams)
    reply = put(restarted, readings(range(200, 205)), "batch-42", stream="b")
    assert not reply["duplicate"] and reply["rows"] == 5, reply
    retry = put(restarted, readings(range(200, 205)), "batch-42", stream="b")
    assert retry["duplicate"] and retry["rows"] == 5, retry
    restarted.stop()
    con = ducklake_duckdb(lake["catalog"], lake["data_path"], read_only=True)
    try:
        ids = [i for (i,) in con.execute("SELECT id FROM lk.events_b ORDER BY id").fetchall()]
    finally:
        con.close()
    assert ids == [100, 200, 201, 202, 203, 204], ids


def test_two_servers_sharing_the_key_file_answer_each_others_retries(start_server,
                                                                     tmp_path):
    lake = ducklake_lake(tmp_path)
    extra = {"lake": {"commit_key_file": str(key_file(tmp_path))}}
    one = ducklake_server(start_server, tmp_path, lake, name="one", extra=extra)
    two = ducklake_server(start_server, tmp_path, lake, name="two", extra=extra)
    assert not put(one, readings(range(10)), "shared-1")["duplicate"]
    retry = put(two, readings(range(10)), "shared-1")
    assert retry["duplicate"] and retry["rows"] == 10, retry
    assert not put(two, readings(range(10, 15)), "shared-2")["duplicate"]
    assert put(one, readings(range(10, 15)), "shared-2")["duplicate"]
    assert duckdb_count(lake) == (15, 15)


# ---- Delta ----

def delta_lake(tmp_path):
    (tmp_path / "lake").mkdir()
    return Lake.local(tmp_path / "lake" / "events")


def commit_text(lake, version):
    return (Path(lake.root) / "_delta_log" / f"{version:020d}.json").read_text()


def test_a_txn_another_delta_writer_committed_is_no_duplicate(start_server, tmp_path):
    import deltalake
    lake = delta_lake(tmp_path)
    streams = {"events": lake_stream(lake.url, checkpoint_interval=0)}
    server = start_lake_server(start_server, tmp_path, streams)
    first = put(server, events(range(10)), "d-1")
    assert not first["duplicate"] and first["rows"] == 10, first
    # delta-rs commits rows with a txn of a request id Arrowport has not seen.
    deltalake.write_deltalake(
        lake.url, events(range(100, 103)), mode="append",
        commit_properties=deltalake.CommitProperties(app_transactions=[
            deltalake.Transaction(app_id="arrowport:d-2", version=0)]))
    assert "arrowport:d-2" in commit_text(lake, 1)
    # Arrowport's own commit copied, its seal with it, for another request id.
    copied = [json.loads(line) for line in commit_text(lake, 0).splitlines()]
    copied = [a for a in copied if "metaData" not in a and "protocol" not in a]
    for action in copied:
        if "txn" in action:
            action["txn"]["appId"] = "arrowport:d-3"
        if "commitInfo" in action:  # its seal (arrowportSeal) copied with it
            action["commitInfo"]["operationMetrics"]["numOutputRows"] = "5000000"
    (Path(lake.root) / "_delta_log" / f"{2:020d}.json").write_text(
        "".join(json.dumps(a) + "\n" for a in copied))
    for request_id, ids in (("d-2", range(20, 40)), ("d-3", range(40, 45))):
        reply = put(server, events(ids), request_id)
        assert not reply["duplicate"] and reply["rows"] == len(ids), reply
        retry = put(server, events(ids), request_id)
        assert retry["duplicate"] and retry["rows"] == len(ids), retry
    again = put(server, events(range(10)), "d-1")
    assert again["duplicate"] and again["rows"] == 10, again
    ids = sorted(lake.read().column("id").to_pylist())
    assert ids == sorted([*range(10), *range(100, 103), *range(20, 45)])
    assert server.logged("carries request id 'd-2' but is not Arrowport's commit of it")


def test_a_sealed_commit_copied_into_another_delta_table_is_no_duplicate_there(
        start_server, tmp_path):
    """The attack on the fix above: the seal bound the table's metaData.id, which any
    writer of a table sets. A writer of table b gave it table a's id and copied a's sealed
    commit of batch-42 (its files with it) into b's log, then deleted those rows with
    delta-rs: batch-42 sent to b was answered duplicate with nothing stored. The seal
    binds the table's URL as the server names it: the copy does not verify in b."""
    import deltalake
    (tmp_path / "lake").mkdir()
    a, b = (Lake.local(tmp_path / "lake" / name) for name in ("a", "b"))
    streams = {name: lake_stream(lake.url, checkpoint_interval=0)
               for name, lake in (("a", a), ("b", b))}
    server = start_lake_server(start_server, tmp_path, streams)
    assert not put(server, events(range(5)), "batch-42", stream="a")["duplicate"]
    assert not put(server, events(range(100, 101)), "seed-b", stream="b")["duplicate"]
    a0 = [json.loads(line) for line in commit_text(a, 0).splitlines()]
    b0 = [json.loads(line) for line in commit_text(b, 0).splitlines()]
    id_a = next(action["metaData"]["id"] for action in a0 if "metaData" in action)
    meta = next(action for action in b0 if "metaData" in action)
    meta["metaData"]["id"] = id_a
    log_b = Path(b.root) / "_delta_log"
    (log_b / f"{1:020d}.json").write_text(json.dumps(meta) + "\n")
    copied = [action for action in a0 if "metaData" not in action and "protocol" not in action]
    for action in copied:
        if "add" in action:
            target = Path(b.root) / action["add"]["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((Path(a.root) / action["add"]["path"]).read_bytes())
    (log_b / f"{2:020d}.json").write_text("".join(json.dumps(x) + "\n" for x in copied))
    deltalake.DeltaTable(b.url).delete("id < 100")
    reply = put(server, events(range(200, 205)), "batch-42", stream="b")
    assert not reply["duplicate"] and reply["rows"] == 5, reply
    retry = put(server, events(range(200, 205)), "batch-42", stream="b")
    assert retry["duplicate"] and retry["rows"] == 5, retry
    assert sorted(b.read().column("id").to_pylist()) == [100, 200, 201, 202, 203, 204]
    again = put(server, events(range(5)), "batch-42", stream="a")
    assert again["duplicate"] and again["rows"] == 5, again


def test_delta_retries_across_servers_need_the_shared_key_file(start_server, tmp_path):
    lake = delta_lake(tmp_path)
    streams = {"events": lake_stream(lake.url)}
    extra = {"lake": {"commit_key_file": str(key_file(tmp_path))}}
    one = start_lake_server(start_server, tmp_path, streams, name="one", extra=extra)
    two = start_lake_server(start_server, tmp_path, streams, name="two", extra=extra)
    assert not put(one, events(range(10)), "x-1")["duplicate"]
    retry = put(two, events(range(10)), "x-1")
    assert retry["duplicate"] and retry["rows"] == 10, retry
    assert len(lake.read()) == 10
    # The limit, as the docs state it: a node with a key of its own cannot tell another
    # node's commit from a forged one, so its retry is written again.
    alone = start_lake_server(start_server, tmp_path, streams, name="alone")
    assert not put(alone, events(range(10)), "x-1")["duplicate"]
    assert len(lake.read()) == 20


def test_a_key_file_other_users_can_read_is_refused_at_start(start_server, tmp_path):
    lake = delta_lake(tmp_path)
    path = key_file(tmp_path, mode=0o644)
    with pytest.raises(RuntimeError) as refused:
        start_lake_server(start_server, tmp_path, {"events": lake_stream(lake.url)},
                          extra={"lake": {"commit_key_file": str(path)}})
    message = str(refused.value)
    assert f"lake.commit_key_file '{path}'" in message and f"chmod 600 {path}" in message, \
        message
