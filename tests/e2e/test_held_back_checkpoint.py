"""An open Flight SQL transaction that wrote and then went unused (its client crashed, or
a tool was left open) holds back DuckDB's checkpoints: DuckDB checkpoints only once no
such transaction is open. A hostile run saw the WAL, and the memory of its rows, grow to
1.2 GB with other clients' ingest until the session idle timeout (15 minutes). While a
checkpoint is due and waits, such a transaction is now rolled back after
flight.sql_held_transaction_timeout_s; its client's next call says why. Driven by ADBC
(autocommit off, as DBeaver and JDBC tools run) and plain Flight DoPut, against the real
server."""
import contextlib
import os
import time

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from test_flight_sql import connect, scalar

HELD_S = 2


@pytest.fixture
def held_server(start_server):
    env = dict(os.environ, ARROWPORT_DUCKDB_CHECKPOINT_WAL_BYTES="1MiB",
               ARROWPORT_FLIGHT_SQL_HELD_TRANSACTION_TIMEOUT_S=str(HELD_S))
    return start_server(env=env)


def count_elsewhere(server, table):
    with connect(server) as conn:
        return scalar(conn, f"SELECT count(*) FROM {table}")


def push(server, stream, rows):
    """One DoPut of `rows` rows (about 60 bytes each) to `stream`, committed."""
    table = pa.table({"id": pa.array(range(rows), pa.int64()),
                      "pad": pa.array([f"row {i:08d} " + "p" * 40 for i in range(rows)])})
    client = flight.connect(server.uri)
    writer, _ = client.do_put(
        flight.FlightDescriptor.for_command(('{"stream": "%s"}' % stream).encode()),
        table.schema)
    writer.write_table(table)
    writer.close()
    client.close()


def wal_bytes(tmp_path):
    try:
        return os.path.getsize(tmp_path / "e2e.duckdb.wal")
    except FileNotFoundError:
        return 0


def test_an_idle_transaction_holding_back_a_due_checkpoint_is_rolled_back(held_server,
                                                                         tmp_path):
    with connect(held_server) as setup, setup.cursor() as cur:
        cur.execute("CREATE TABLE held (x BIGINT)")
    conn = flight_sql.connect(held_server.uri, autocommit=False)
    # Beside it a transaction that only read: DuckDB refuses the checkpoint for it too
    # ("other write transactions active"; measured), so it goes the same way.
    reader = flight_sql.connect(held_server.uri, autocommit=False)
    try:
        assert scalar(reader, "SELECT count(*) FROM held") == 0
        with conn.cursor() as cur:
            cur.execute("INSERT INTO held SELECT range FROM range(1000)")
        # The client now says nothing. Others write well past the checkpoint's 1 MiB.
        for _ in range(4):
            push(held_server, "others", 50_000)
        assert count_elsewhere(held_server, "others") == 200_000
        # The checkpoint ran once the held transaction was rolled back: the WAL is written
        # into the database file and starts again. Before the fix it stayed for the
        # session idle timeout (900 s).
        deadline = time.time() + 90
        while time.time() < deadline and wal_bytes(tmp_path) >= 1 << 20:
            time.sleep(0.2)
        assert wal_bytes(tmp_path) < 1 << 20, held_server.stderr()[-3000:]
        assert held_server.logged("idle transaction rolled back: the checkpoint waited for it")
        # The clients' next calls say what happened; nothing of it was committed.
        for client in (conn, reader):
            with pytest.raises(adbc_driver_manager.Error, match="checkpoint waited for open "
                                                                "transactions to end"):
                client.commit()
        assert count_elsewhere(held_server, "held") == 0
        assert count_elsewhere(held_server, "others") == 200_000
        assert held_server.stderr().count("while a due checkpoint waited") == 2
    finally:
        for connection in (conn, reader):
            try:
                connection.close()
            except adbc_driver_manager.Error:
                pass


def test_an_idle_transaction_is_kept_while_no_checkpoint_waits_for_it(held_server):
    """The shorter limit applies only while a due checkpoint waits: a transaction left
    idle longer than it, with the WAL small, commits as before."""
    with connect(held_server) as setup, setup.cursor() as cur:
        cur.execute("CREATE TABLE kept (x BIGINT)")
    with flight_sql.connect(held_server.uri, autocommit=False) as conn:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO kept SELECT range FROM range(1000)")
        time.sleep(3 * HELD_S)
        conn.commit()
    assert count_elsewhere(held_server, "kept") == 1000


@contextlib.contextmanager
def busy_and_victim(server):
    """Two transactions (autocommit off): "busy" has written a row to table busy, the
    victim 1,000 rows to table victim; then others' uploads make a checkpoint due, which
    the open transactions hold back. Both connections closed at the end."""
    with connect(server) as setup, setup.cursor() as cur:
        cur.execute("CREATE TABLE busy (x BIGINT)")
        cur.execute("CREATE TABLE victim (x BIGINT)")
    busy = flight_sql.connect(server.uri, autocommit=False)
    victim = flight_sql.connect(server.uri, autocommit=False)
    try:
        with busy.cursor() as cur:
            cur.execute("INSERT INTO busy VALUES (1)")
        with victim.cursor() as cur:
            cur.execute("INSERT INTO victim SELECT range FROM range(1000)")
        yield busy, victim
    finally:
        for connection in (busy, victim):
            try:
                connection.close()
            except adbc_driver_manager.Error:
                pass


def test_idle_transactions_are_kept_while_one_in_use_holds_the_checkpoint(held_server,
                                                                         tmp_path):
    """Found by a hostile run: a client that keeps its own transaction busy (a result open,
    read a batch at a time) holds every checkpoint back; rolling back the others' idle
    transactions cannot let it run, and did so, blaming them. They are kept while any
    open transaction is in use."""
    with busy_and_victim(held_server) as (busy, victim):
        streaming = busy.cursor()
        streaming.execute("SELECT range AS id, repeat('x', 40) || range AS pad "
                          "FROM range(3000000)")
        batches = streaming.fetch_record_batch()
        batches.read_next_batch()  # the rest waits in the server: the transaction is in use
        for _ in range(4):
            push(held_server, "others", 50_000)
        time.sleep(4 * HELD_S)
        assert wal_bytes(tmp_path) >= 1 << 20  # the checkpoint waits all along
        victim.commit()
        assert count_elsewhere(held_server, "victim") == 1000
        assert "while a due checkpoint waited" not in held_server.stderr()
        batches.close()
        streaming.close()


def test_idle_transactions_are_kept_while_another_is_used_every_second(held_server,
                                                                      tmp_path):
    """The hostile run's second way: a transaction that runs a statement every second is
    never idle long, holds the checkpoint back, and got the others' rolled back."""
    with busy_and_victim(held_server) as (busy, victim):
        for _ in range(4):
            push(held_server, "others", 50_000)
        deadline = time.time() + 4 * HELD_S
        while time.time() < deadline:
            assert scalar(busy, "SELECT count(*) FROM busy") == 1
            time.sleep(HELD_S / 4)
        assert wal_bytes(tmp_path) >= 1 << 20  # the checkpoint waits all along
        victim.commit()
        assert count_elsewhere(held_server, "victim") == 1000
        busy.commit()
