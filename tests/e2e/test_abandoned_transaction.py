"""A Flight SQL transaction its client abandons must not hold other writers (issue 64).

ADBC's DB-API with autocommit off (JDBC tools and DBeaver do the same) begins a
transaction, writes a table and closes its connection without committing. Its close sends
only CloseSession, with no session cookie and no transaction id. A change of the table's
shape (DROP, ALTER, CREATE OR REPLACE) waits for every transaction that wrote it (the table
gates of the bounded-writes change), so before the fix it waited out its deadline, or 60 s,
for a transaction nobody would ever end; a client killed without a word held it until the
idle timeout (15 minutes). Driven by the real ADBC driver against the real server."""
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pytest

from test_flight_sql import connect, scalar

# A change of shape that starts while nothing holds its table is done well inside this.
AT_ONCE_S = 5.0


def run(server, sql):
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute(sql)


@pytest.mark.parametrize("ddl", [
    "DROP TABLE t",
    "ALTER TABLE t ADD COLUMN y INTEGER",
    "CREATE OR REPLACE TABLE t (z INTEGER)",
])
def test_closing_without_commit_frees_the_table_at_once(server, ddl):
    run(server, "CREATE TABLE t (x INTEGER)")
    conn = flight_sql.connect(server.uri, autocommit=False)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO t VALUES (1)")
    conn.close()  # CloseSession without a cookie: the transaction rolls back
    started = time.monotonic()
    run(server, ddl)
    assert time.monotonic() - started < AT_ONCE_S, server.stderr()[-2000:]
    if not ddl.startswith("DROP"):
        assert scalar(connect(server), "SELECT count(*) FROM t") == 0  # nothing committed


def test_closing_without_commit_lets_other_writers_in_at_once(server):
    run(server, "CREATE TABLE t (x INTEGER)")
    conn = flight_sql.connect(server.uri, autocommit=False)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO t VALUES (1)")
    conn.close()
    started = time.monotonic()
    run(server, "INSERT INTO t VALUES (2)")
    run(server, "ALTER TABLE t ADD COLUMN y INTEGER")
    assert time.monotonic() - started < AT_ONCE_S
    assert scalar(connect(server), "SELECT sum(x) FROM t") == 2


def test_a_cookieless_close_ends_only_its_own_connections_transaction(server):
    """Two ADBC connections of one user in one process, each on its own gRPC connection:
    the close of one rolls back its own transaction and nothing of the other's."""
    run(server, "CREATE TABLE t (x INTEGER)")
    run(server, "CREATE TABLE u (x INTEGER)")
    closing = flight_sql.connect(server.uri, autocommit=False)
    staying = flight_sql.connect(server.uri, autocommit=False)
    with closing.cursor() as cur:
        cur.execute("INSERT INTO t VALUES (1)")
    with staying.cursor() as cur:
        cur.execute("INSERT INTO u VALUES (7)")
    closing.close()
    run(server, "DROP TABLE t")  # freed by the close
    with staying.cursor() as cur:
        cur.execute("INSERT INTO u VALUES (8)")
    staying.commit()
    staying.close()
    assert scalar(connect(server), "SELECT sum(x) FROM u") == 15


HELD_S = 2


@pytest.fixture
def held_server(start_server):
    """A server that rolls back a transaction unused for HELD_S seconds once another writer
    waits for it, with a table t."""
    server = start_server(env=dict(os.environ,
                                   ARROWPORT_FLIGHT_SQL_HELD_TRANSACTION_TIMEOUT_S=str(HELD_S)))
    run(server, "CREATE TABLE t (x INTEGER)")
    return server


KILLED_CLIENT = textwrap.dedent("""
    import sys, time
    import adbc_driver_flightsql.dbapi as flight_sql
    conn = flight_sql.connect(sys.argv[1], autocommit=False)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO t VALUES (1)")
    print("written", flush=True)
    time.sleep(600)
""")


def start_killed_client(server):
    client = subprocess.Popen([sys.executable, "-c", KILLED_CLIENT, server.uri],
                              stdout=subprocess.PIPE, text=True)
    assert client.stdout.readline().strip() == "written"
    client.send_signal(signal.SIGKILL)
    client.wait(timeout=30)


def test_a_killed_clients_transaction_is_rolled_back_for_a_waiting_writer(held_server):
    """A client process that dies without closing: the writer waiting for its table gets in
    once the transaction has been unused for flight.sql_held_transaction_timeout_s, and
    the server says why in its log."""
    start_killed_client(held_server)
    started = time.monotonic()
    run(held_server, "DROP TABLE t")
    # The held timeout, then at most one sweep (a quarter of it): well under the 60 s a
    # change of shape waits, or the 900 s idle timeout the transaction waited for before.
    assert time.monotonic() - started < HELD_S + 20
    assert held_server.logged("idle transaction rolled back: another writer waited for it")


def test_the_rolled_back_clients_next_call_is_told_why(held_server):
    idle = flight_sql.connect(held_server.uri, autocommit=False)
    with idle.cursor() as cur:
        cur.execute("INSERT INTO t VALUES (1)")
    run(held_server, "ALTER TABLE t ADD COLUMN y INTEGER")  # waits until the idle one is gone
    with pytest.raises(adbc_driver_manager.Error,
                       match="another writer waited for a table it had written"):
        idle.commit()
    try:
        idle.close()
    except adbc_driver_manager.Error:
        pass
    assert scalar(connect(held_server), "SELECT count(*) FROM t") == 0


@pytest.mark.slow
def test_a_transaction_in_use_is_not_rolled_back_for_a_writer(start_server):
    """Only an unused transaction goes: one whose client keeps working keeps it, and the
    writer waits for its commit. (A 5 s held timeout, a statement every half second: a
    stall of several seconds on a loaded machine must not look idle.)"""
    held_s = 5
    server = start_server(env=dict(os.environ,
                                   ARROWPORT_FLIGHT_SQL_HELD_TRANSACTION_TIMEOUT_S=str(held_s)))
    run(server, "CREATE TABLE t (x INTEGER)")
    busy = flight_sql.connect(server.uri, autocommit=False)
    with busy.cursor() as cur:
        cur.execute("INSERT INTO t VALUES (1)")
    done = threading.Event()

    def alter():
        run(server, "ALTER TABLE t ADD COLUMN y INTEGER")
        done.set()

    writer = threading.Thread(target=alter)
    writer.start()
    statements = 2 * held_s * 2  # used every half second for two held timeouts
    for i in range(2, 2 + statements):
        with busy.cursor() as cur:
            cur.execute(f"INSERT INTO t VALUES ({i})")
        time.sleep(0.5)
    assert not done.is_set()  # still waiting for the working transaction
    busy.commit()
    writer.join(timeout=60)
    assert done.is_set()
    busy.close()
    assert scalar(connect(server), "SELECT count(*) FROM t") == 1 + statements


def test_a_commit_sent_while_a_statement_of_its_transaction_runs_keeps_the_work(server):
    """The outside review of issue 64: a commit stopped whatever ran in its transaction,
    and DuckDB aborts a transaction whose statement (an insert, a query before its first
    rows) is interrupted: the commit then rolled back the work it was asked to commit
    ("aborted by an earlier failed statement ... nothing was committed"). A commit now
    stops only a result being read (between chunks, which aborts nothing) and waits for a
    statement, up to the busy timeout."""
    run(server, "CREATE TABLE t (x BIGINT, h VARCHAR)")
    conn = flight_sql.connect(server.uri, autocommit=False)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    inserting = conn.cursor()
    outcome = {}

    def insert():  # a second or two of work in the transaction
        try:
            inserting.execute("INSERT INTO t SELECT range, md5(md5(range::VARCHAR)) "
                              "FROM range(1000000)")
            outcome["insert"] = "ok"
        except adbc_driver_manager.Error as e:
            outcome["insert"] = str(e)

    worker = threading.Thread(target=insert)
    worker.start()
    time.sleep(0.3)  # the insert runs
    try:
        conn.commit()
        outcome["commit"] = "ok"
    except adbc_driver_manager.Error as e:
        outcome["commit"] = str(e)
    worker.join(timeout=120)
    inserting.close()
    conn.close()
    count = scalar(connect(server), "SELECT count(*) FROM t")
    if outcome["commit"] == "ok":
        assert outcome["insert"] == "ok" and count == 1_000_003, (outcome, count)
    else:
        # Only ever "busy" (an insert longer than the busy timeout), never an abort.
        assert "busy" in outcome["commit"] and "aborted" not in outcome["commit"], outcome
