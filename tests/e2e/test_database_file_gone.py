"""The database's file deleted or replaced while the server runs (an attack run): the
server went on committing into the file it held open, answered OK, and the next start
began an empty database at the path, every row acknowledged since lost. Now writes are
refused once the path no longer names the file opened, reads go on, and the storage's
state says why."""
import json
import os
import time

import pyarrow as pa
import pyarrow.flight as flight
import pytest
import requests

from test_flight_roundtrip import get, put
from test_http import ARROW, ipc_bytes


def rows(n, start=0):
    return pa.table({"id": pa.array(range(start, start + n), pa.int64())})


def storage_of(server):
    return requests.get(f"{server.http}/healthz", timeout=30).json()["storage"]


def count(client):
    return get(client, {"sql": "SELECT count(*)::BIGINT AS n FROM ev"}).to_pylist()[0]["n"]


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_writes_are_refused_once_the_database_file_is_gone(start_server, tmp_path, how):
    db = tmp_path / "d.duckdb"
    server = start_server(db=db)
    client = server.client()
    put(client, rows(100), {"stream": "ev"})
    # A checkpoint: the rows are in the file itself, not only in its write-ahead log.
    next(client.do_action(flight.Action("checkpoint", b"")))
    db.unlink()
    if how == "replaced":
        db.write_bytes(b"")  # another file at the same path
    # Seen within the server's upkeep tick (250 ms; a write checks at most 20 ms old
    # readings); from then on every write is refused, whatever the protocol, saying why.
    deadline = time.monotonic() + 30
    while storage_of(server)["state"] != "file_gone" and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(flight.FlightError, match="deleted or replaced"):
        put(client, rows(10, start=100), {"stream": "ev"})
    answer = requests.post(f"{server.http}/ingest/ev", data=ipc_bytes(rows(10, start=100)),
                           headers={"Content-Type": ARROW}, timeout=60)
    assert answer.status_code >= 500 and "deleted or replaced" in answer.text, answer.text
    # Reads go on from the file the server holds open: what a client can still export.
    assert count(client) == 100
    storage = storage_of(server)
    assert storage["state"] == "file_gone", storage
    assert storage["writes"] == "refused: the database file is gone", storage
    ready = requests.get(f"{server.http}/readyz", timeout=30)
    assert ready.status_code == 200 and "deleted or replaced" in ready.json()["writes"], ready.text
    assert server.logged("database file gone")
    body = next(client.do_action(flight.Action("health", b""))).body.to_pybytes()
    assert json.loads(body)["storage"]["state"] == "file_gone"


def test_statements_that_write_but_name_no_table_are_refused_too(start_server, tmp_path):
    """CREATE SCHEMA, CREATE SEQUENCE and nextval write to the database without naming a
    table: they passed the check every table's write meets, committed into the deleted
    file, and were gone at the next start. Read-only statements still run."""
    db = tmp_path / "d.duckdb"
    server = start_server(db=db)
    client = server.client()
    put(client, rows(10), {"stream": "ev"})
    query = lambda sql: requests.post(f"{server.http}/query", json={"sql": sql}, timeout=60)
    assert query("CREATE SEQUENCE seq").status_code == 200
    next(client.do_action(flight.Action("checkpoint", b"")))
    db.unlink()
    wait_state(server, "file_gone")
    for sql, params in (("CREATE SCHEMA later", None), ("CREATE SEQUENCE seq2", None),
                        ("SELECT nextval('seq') AS n", None),
                        # Bound only as they run (a parameter of no type): a hostile run.
                        ("SELECT nextval($1) AS n", ["seq"]),
                        ("SELECT $1 AS a, nextval('seq') AS n", ["x"]),
                        ("SELECT setval($1, 1000) AS n", ["seq"])):
        body = {"sql": sql} if params is None else {"sql": sql, "params": params}
        answer = requests.post(f"{server.http}/query", json=body, timeout=60)
        assert answer.status_code >= 500 and "deleted or replaced" in answer.text, (
            sql, answer.text)
    # Reads run, of the catalog too, and statements that write only the connection's
    # temporary objects.
    for sql in ("SELECT 42 AS answer", "SELECT max(id) AS top FROM ev",
                "EXPLAIN SELECT * FROM ev", "CREATE TEMP TABLE scratch AS SELECT 1 AS x"):
        answer = query(sql)
        assert answer.status_code == 200, (sql, answer.text)
    assert query("SELECT currval('seq') AS n").status_code == 400  # the client's: no nextval
    assert count(client) == 10


def wait_logged(server, text):
    deadline = time.monotonic() + 30
    while not server.logged(text):
        assert time.monotonic() < deadline, server.stderr()
        time.sleep(0.05)


def wait_state(server, state):
    deadline = time.monotonic() + 30
    while storage_of(server)["state"] != state:
        assert time.monotonic() < deadline, storage_of(server)
        time.sleep(0.05)


def test_a_transaction_begun_before_the_file_went_commits_nothing(start_server, tmp_path):
    import adbc_driver_flightsql.dbapi as flight_sql
    db = tmp_path / "d.duckdb"
    server = start_server(db=db)
    put(server.client(), rows(10), {"stream": "ev"})
    with flight_sql.connect(server.uri, autocommit=False) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO ev VALUES (100)")
        db.unlink()
        wait_state(server, "file_gone")
        # Its write was let in before: the commit would be acknowledged, then lost.
        with pytest.raises(Exception, match="nothing of the transaction was committed"):
            conn.commit()
    assert count(server.client()) == 10


def test_a_backup_restored_at_the_path_keeps_its_wal_through_the_old_servers_stop(
        start_server, tmp_path):
    # An attack run: the operator restored the database and its WAL from a copy and
    # stopped the server as told; its checkpoint at shutdown ran on the deleted file and
    # removed the WAL at the path, the restored one: the restarted server had no table.
    db, wal = tmp_path / "d.duckdb", tmp_path / "d.duckdb.wal"
    env = {**os.environ, "ARROWPORT_DUCKDB_CHECKPOINT_WAL_BYTES": "1GiB"}
    server = start_server(db=db, env=env)
    client = server.client()
    put(client, rows(100), {"stream": "ev"})  # in the WAL only
    assert wal.stat().st_size > 0
    saved = {path: path.read_bytes() for path in (db, wal)}
    for path in saved:
        path.unlink()
    wait_state(server, "file_gone")
    for path, content in saved.items():
        path.write_bytes(content)  # the backup: other files at the same paths
    # Neither the checkpoint action nor the upkeep's nor the one at shutdown runs.
    with pytest.raises(flight.FlightError, match="checkpoint refused"):
        next(client.do_action(flight.Action("checkpoint", b"")))
    assert server.stop() == 0
    assert wal.read_bytes() == saved[wal]
    restarted = start_server(db=db, env=env)
    assert count(restarted.client()) == 100


def test_the_same_file_back_at_its_path_lets_writes_in_again(start_server, tmp_path):
    db = tmp_path / "d.duckdb"
    server = start_server(db=db)
    client = server.client()
    put(client, rows(10), {"stream": "ev"})
    db.rename(tmp_path / "aside.duckdb")
    wait_state(server, "file_gone")
    with pytest.raises(flight.FlightError, match="deleted or replaced"):
        put(client, rows(10, start=10), {"stream": "ev"})
    wait_logged(server, "database file gone")  # the upkeep has seen it too
    (tmp_path / "aside.duckdb").rename(db)
    wait_state(server, "ok")
    put(client, rows(10, start=10), {"stream": "ev"})
    assert count(client) == 20
    wait_logged(server, "database file back at its path")


def test_a_wal_without_its_database_file_is_not_thrown_away_at_start(start_server, tmp_path):
    # An attack run: the file deleted after a crash, its WAL left: the next start began an
    # empty database and deleted the WAL, 1,000 acknowledged rows with it, saying nothing.
    import signal
    import subprocess
    from conftest import ARROWPORT
    db, wal = tmp_path / "d.duckdb", tmp_path / "d.duckdb.wal"
    env = {**os.environ, "ARROWPORT_DUCKDB_CHECKPOINT_WAL_BYTES": "1GiB"}
    server = start_server(db=db, env=env)
    put(server.client(), rows(1000), {"stream": "ev"})  # in the WAL only
    server.stop(signal.SIGKILL)
    db.unlink()
    logged = wal.read_bytes()
    proc = subprocess.run([ARROWPORT, "serve", "--db", str(db), "--flight-port", "0",
                           "--http-port", "0"], capture_output=True, text=True, timeout=120,
                          env=env)
    assert proc.returncode == 1, proc.stderr
    assert "write-ahead log" in proc.stderr and "move the log aside" in proc.stderr, proc.stderr
    assert wal.read_bytes() == logged and not db.exists()
