"""A SQLite DuckLake catalog changed under a running server (issue 64, "Smaller breaks"):
replaced at its path (a restore from a backup, `mv` of another file), deleted, or locked
by another process. The server reads and writes the file at the path, not the one it
opened, without a restart; it never makes an empty catalog in place of a deleted one; and
a read that meets a lock ends within its deadline, naming the lock."""
import json
import shutil
import sqlite3
import time

import pyarrow.flight as flight
import pytest
import requests

from ducklake_peers import ducklake_duckdb
from lake_util import events, http_ingest, http_query, start_lake_server


def ducklake_stream(catalog, data_path, **options):
    return {"sink": "ducklake",
            "ducklake": {"catalog": catalog, "data_path": str(data_path), "table": "events",
                         **options}}


def duckdb_ids(catalog, data_path):
    """The ids DuckDB 1.5.5's own ducklake reader sees in the lake's table."""
    con = ducklake_duckdb(catalog, data_path, read_only=True)
    try:
        return sorted(r[0] for r in con.execute("SELECT id FROM lk.events").fetchall())
    finally:
        con.close()


def served_ids(server):
    out = http_query(server, "SELECT id FROM events ORDER BY id")
    return out.column("id").to_pylist()


def eventually(check, what, timeout=60):
    """check() until it holds (the lake's view follows the catalog within refresh_ms)."""
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if last is True:
            return
        assert time.monotonic() < deadline, f"{what}: {last}"
        time.sleep(0.2)


@pytest.fixture
def lake(start_server, tmp_path):
    """A server writing `events` into a SQLite-catalogued DuckLake (refresh_ms 200)."""
    path = tmp_path / "catalog.sqlite"
    catalog, data = f"sqlite:{path}", tmp_path / "data"
    server = start_lake_server(start_server, tmp_path, {"events": ducklake_stream(
        catalog, data, refresh_ms=200)}, extra={"limits": {"query_timeout_s": 6}})
    return server, path, catalog, data


def test_a_catalog_restored_over_the_one_opened_is_read_and_written_at_once(lake, tmp_path):
    """A backup of the catalog moved over it (the state before the second request): the
    server's reads show the restored state, a write lands in the restored file, and the
    second request, which the restored catalog never saw, is written again rather than
    answered as a duplicate. Before, the server kept the old, unlinked file open: reads
    served the state before the restore and the retry was "duplicate" with nothing stored."""
    server, path, catalog, data = lake
    assert http_ingest(server, "events", events(range(10)), request_id="r1").status_code == 200
    shutil.copy(path, tmp_path / "backup.sqlite")
    assert http_ingest(server, "events", events(range(10, 20)),
                       request_id="r2").status_code == 200
    assert served_ids(server) == list(range(20))

    (tmp_path / "backup.sqlite").rename(path)   # mv backup.sqlite catalog.sqlite
    eventually(lambda: served_ids(server) == list(range(10)) or served_ids(server),
               "reads after the restore")
    again = http_ingest(server, "events", events(range(10, 20)), request_id="r2")
    assert again.status_code == 200, again.text
    assert not again.json().get("duplicate"), again.json()
    answer = http_ingest(server, "events", events(range(20, 25)), request_id="r3")
    assert answer.status_code == 200, answer.text
    assert duckdb_ids(catalog, data) == list(range(25))
    eventually(lambda: served_ids(server) == list(range(25)) or served_ids(server),
               "reads after the writes")


def test_a_deleted_catalog_fails_writes_clearly_and_is_not_made_again(lake, tmp_path):
    """The catalog deleted while serving: a write fails with 503 naming the file and what
    to do, the server makes no empty catalog in its place (that would start a new lake over
    the old files), and once the file is back, writes land in it, without a restart.
    Before, writes went on into the deleted file, lost at the next start."""
    server, path, catalog, data = lake
    assert http_ingest(server, "events", events(range(10)), request_id="r1").status_code == 200
    shutil.copy(path, tmp_path / "saved.sqlite")
    path.unlink()
    refused = http_ingest(server, "events", events(range(10, 20)), request_id="r2")
    assert refused.status_code == 503, refused.text
    message = refused.json()["error"]["message"]
    assert str(path) in message and "deleted or moved away" in message, message
    assert not path.exists(), "an empty catalog was made in place of the deleted one"
    assert server.proc.poll() is None

    shutil.copy(tmp_path / "saved.sqlite", path)
    answer = http_ingest(server, "events", events(range(10, 20)), request_id="r2")
    assert answer.status_code == 200, answer.text
    assert duckdb_ids(catalog, data) == list(range(20))
    eventually(lambda: served_ids(server) == list(range(20)) or served_ids(server),
               "reads once the catalog is back")


def test_a_read_meeting_an_exclusive_lock_fails_within_its_deadline_naming_it(lake):
    """Another process holds the catalog's exclusive lock (SQLite readers wait for it):
    a read over HTTP and one over Flight end within their deadline (limits.query_timeout_s,
    6 s) with a message naming the lock, and read the table once the lock is released.
    Before, each catalog statement waited out a 30 s busy timeout, the read's deadline
    passing meanwhile (the read hung for minutes)."""
    server, path, catalog, data = lake
    assert http_ingest(server, "events", events(range(10)), request_id="r1").status_code == 200
    locker = sqlite3.connect(str(path), isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        answer = requests.post(f"{server.http}/query", json={"sql": "SELECT count(*) FROM events"},
                               timeout=120)
        took = time.monotonic() - started
        assert answer.status_code in (503, 504), answer.text
        message = answer.json()["error"]["message"]
        assert "is locked by another process" in message and str(path) in message, message
        assert took < 6 + 10, f"the read took {took:.1f} s"

        client = flight.connect(server.uri)
        started = time.monotonic()
        with pytest.raises(flight.FlightError) as failed:
            ticket = flight.Ticket(json.dumps({"sql": "SELECT count(*) AS n FROM events"}))
            client.do_get(ticket).read_all()
        took = time.monotonic() - started
        assert "is locked by another process" in str(failed.value), failed.value
        assert took < 6 + 10, f"the Flight read took {took:.1f} s"
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert http_query(server, "SELECT count(*) AS n FROM events").to_pylist() == [{"n": 10}]
