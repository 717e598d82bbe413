"""Flight SQL defects an attack review found, each driven the way a client (or an attacker
who knows a handle) would: caps on what a session holds, all-or-nothing parameter batches,
transaction-control SQL text, handles bound to their session, zero-row parameter batches."""
import os

import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight
import pytest

import flightsql_wire as wire
from test_flight_sql import _CookieJar, connect, scalar


def cookie_client(server):
    """A raw Flight client in its own Flight SQL session, as ADBC with cookies is."""
    jar = _CookieJar()
    client = flight.connect(server.uri, middleware=[jar])
    info = client.get_flight_info(flight.FlightDescriptor.for_command(wire.sql_info(0)))
    client.do_get(info.endpoints[0].ticket).read_all()
    assert jar.cookie
    return client


def prepare(client, sql):
    [result] = list(client.do_action(flight.Action("CreatePreparedStatement",
                                                   wire.create_prepared_statement(sql))))
    return wire.unpack_any_field1(result.body.to_pybytes())


def begin(client):
    [begun] = list(client.do_action(flight.Action("BeginTransaction", wire.begin_transaction())))
    return wire.unpack_any_field1(begun.body.to_pybytes())


def bind(client, handle, batch):
    descriptor = flight.FlightDescriptor.for_command(wire.prepared_statement_query(handle))
    writer, _ = client.do_put(descriptor, batch.schema)
    if batch.num_rows:
        writer.write_batch(batch)
    writer.close()


def fetch(client, handle):
    descriptor = flight.FlightDescriptor.for_command(wire.prepared_statement_query(handle))
    info = client.get_flight_info(descriptor)
    return client.do_get(info.endpoints[0].ticket).read_all()


def test_open_statements_and_transactions_are_capped(start_server):
    env = dict(os.environ,
               ARROWPORT_FLIGHT_SQL_MAX_STATEMENTS_PER_SESSION="3",
               ARROWPORT_FLIGHT_SQL_MAX_STATEMENTS="5",
               ARROWPORT_FLIGHT_SQL_MAX_TRANSACTIONS_PER_SESSION="1",
               ARROWPORT_FLIGHT_SQL_MAX_TRANSACTIONS="2")
    server = start_server(env=env)
    first = cookie_client(server)
    handles = [prepare(first, "SELECT 1") for _ in range(3)]
    with pytest.raises(pa.ArrowInvalid,
                       match="this session holds its limit of 3 open prepared statements"):
        prepare(first, "SELECT 1")
    # Closing one makes room again.
    list(first.do_action(flight.Action("ClosePreparedStatement",
                                       wire.close_prepared_statement(handles[0]))))
    prepare(first, "SELECT 1")
    # Cookie-less statements count towards the total (5) only.
    anonymous = server.client()
    prepare(anonymous, "SELECT 1")
    prepare(anonymous, "SELECT 1")
    with pytest.raises(pa.ArrowInvalid, match="limit of 5 open prepared statements"):
        prepare(anonymous, "SELECT 1")

    begin(first)
    with pytest.raises(pa.ArrowInvalid, match="limit of 1 open transactions"):
        begin(first)
    second = cookie_client(server)
    begin(second)
    with pytest.raises(pa.ArrowInvalid, match="limit of 2 open transactions"):
        begin(cookie_client(server))

    # Closing a session frees everything it held: its statements and its transaction.
    list(first.do_action(flight.Action("CloseSession", b"")))
    begin(cookie_client(server))
    third = cookie_client(server)
    for _ in range(3):
        prepare(third, "SELECT 1")
    # The server kept serving throughout.
    assert server.client().do_get(flight.Ticket(b"SELECT 7 AS x")).read_all().num_rows == 1


def test_a_parameter_batch_down_the_query_path_is_all_or_nothing(server):
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE keyed (x INTEGER PRIMARY KEY)")
        rows = pa.record_batch([pa.array([1, 2, 1], pa.int32())], names=["x"])
        # ADBC binds the batch (DoPut) and executes it as a query (GetFlightInfo).
        with pytest.raises(adbc_driver_manager.Error, match="(?i)duplicate|constraint"):
            cur.execute("INSERT INTO keyed VALUES (?)", rows)
        assert scalar(conn, "SELECT count(*) FROM keyed") == 0
        # RETURNING streams rows: the batch still commits only when all rows ran.
        with pytest.raises(adbc_driver_manager.Error, match="(?i)duplicate|constraint"):
            cur.execute("INSERT INTO keyed VALUES (?) RETURNING x", rows)
            cur.fetchall()
        assert scalar(conn, "SELECT count(*) FROM keyed") == 0
        good = pa.record_batch([pa.array([1, 2, 3], pa.int32())], names=["x"])
        cur.execute("INSERT INTO keyed VALUES (?) RETURNING x", good)
        assert sorted(r[0] for r in cur.fetchall()) == [1, 2, 3]
        cur.execute("INSERT INTO keyed VALUES (?)",
                    pa.record_batch([pa.array([4, 5], pa.int32())], names=["x"]))
        assert scalar(conn, "SELECT count(*) FROM keyed") == 5
        # The update path (executemany) is all or nothing too.
        with pytest.raises(adbc_driver_manager.Error):
            cur.executemany("INSERT INTO keyed VALUES (?)", [(6,), (1,)])
        assert scalar(conn, "SELECT count(*) FROM keyed") == 5


def test_transaction_control_sql_text_is_refused(server):
    with connect(server) as setup, setup.cursor() as cur:
        cur.execute("CREATE TABLE tc (x INTEGER)")
        for text in ("BEGIN", "COMMIT", "ROLLBACK", "begin transaction"):
            with pytest.raises(adbc_driver_manager.Error, match="transaction control"):
                cur.execute(text)
    with connect(server, autocommit=False) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO tc VALUES (1)")
        with pytest.raises(adbc_driver_manager.Error, match="transaction control"):
            cur.execute("COMMIT")
        with pytest.raises(adbc_driver_manager.Error, match="transaction control"):
            cur.execute("ROLLBACK")
        # The Flight SQL transaction is intact: it still sees its row, and rolls back.
        assert scalar(conn, "SELECT count(*) FROM tc") == 1
        conn.rollback()
    with connect(server) as check:
        assert scalar(check, "SELECT count(*) FROM tc") == 0
    # CommandStatementUpdate (DoPut) refuses it as well, in a script before anything runs.
    client = server.client()
    # (A script is refused whole by the SQL sandbox: one statement per request.)
    for script, error, match in (
            (b"COMMIT", pa.ArrowInvalid, "transaction control"),
            (b"INSERT INTO tc VALUES (9); COMMIT", flight.FlightUnauthorizedError,
             "one statement")):
        descriptor = flight.FlightDescriptor.for_command(
            wire.any_message("CommandStatementUpdate", wire._field(1, script)))
        with pytest.raises(error, match=match):
            writer, _ = client.do_put(descriptor, pa.schema([]))
            writer.close()
    with connect(server) as check:
        assert scalar(check, "SELECT count(*) FROM tc") == 0


def test_handles_are_bound_to_their_session(server):
    owner = cookie_client(server)
    handle = prepare(owner, "SELECT 42 AS x")
    txn = begin(owner)
    stranger = server.client()  # no cookie, but it knows both handles
    with pytest.raises(pa.ArrowException, match="unknown prepared statement"):
        fetch(stranger, handle)
    with pytest.raises(pa.ArrowException, match="unknown prepared statement"):
        list(stranger.do_action(flight.Action("ClosePreparedStatement",
                                              wire.close_prepared_statement(handle))))
    query = flight.FlightDescriptor.for_command(wire.statement_query_in("SELECT 1 AS x", txn))
    with pytest.raises(pa.ArrowException, match="unknown transaction"):
        stranger.get_flight_info(query)
    with pytest.raises(pa.ArrowException, match="unknown transaction"):
        list(stranger.do_action(flight.Action(
            "EndTransaction", wire.any_message("ActionEndTransactionRequest",
                                               wire._field(1, txn) + b"\x10\x02"))))
    # The owner still has both.
    assert fetch(owner, handle).column(0).to_pylist() == [42]
    info = owner.get_flight_info(query)
    assert owner.do_get(info.endpoints[0].ticket).read_all().num_rows == 1


def test_binding_a_zero_row_batch_clears_the_previous_binding(server):
    client = server.client()
    handle = prepare(client, "SELECT CAST(? AS INTEGER) + 1 AS x")
    schema = pa.schema([("p", pa.int32())])
    bind(client, handle, pa.record_batch([pa.array([41], pa.int32())], schema=schema))
    assert fetch(client, handle).column(0).to_pylist() == [42]
    bind(client, handle, pa.record_batch([pa.array([], pa.int32())], schema=schema))
    with pytest.raises(pa.ArrowInvalid, match="no parameter values are bound"):
        fetch(client, handle)
    bind(client, handle, pa.record_batch([pa.array([1], pa.int32())], schema=schema))
    assert fetch(client, handle).column(0).to_pylist() == [2]


@pytest.mark.slow
def test_a_flood_of_prepared_statements_is_refused_at_the_default_cap(server):
    # 60,000 of these took the server to 3.5 GB; the default caps stop them at 4096.
    from test_trust import peak_rss_bytes
    client = server.client()
    created, refusal = 0, None
    for _ in range(5000):
        try:
            prepare(client, "SELECT 1")
            created += 1
        except pa.ArrowInvalid as error:
            refusal = error
            break
    assert created == 4096
    assert "limit of 4096 open prepared statements" in str(refusal)
    assert peak_rss_bytes(server.proc.pid) < 1 << 30
    assert client.do_get(flight.Ticket(b"SELECT 1 AS x")).read_all().num_rows == 1
    # A cookie session has its own, smaller cap (256) — and the total is already full.
    session = cookie_client(server)
    with pytest.raises(pa.ArrowInvalid, match="all sessions"):
        prepare(session, "SELECT 1")


FETCH_WITH_COOKIE = """
import sys, pyarrow.flight as f
class Cookie(f.ClientMiddlewareFactory):
    def start_call(self, info):
        class M(f.ClientMiddleware):
            def sending_headers(self):
                return {"cookie": sys.argv[3]}
        return M()
c = f.connect(sys.argv[1], middleware=[Cookie()])
print('ready', flush=True)
try:
    c.do_get(f.Ticket(bytes.fromhex(sys.argv[2]))).read_all()
    print('finished')
except BaseException as e:
    print('error:', e)
"""


def test_only_the_owner_session_cancels_a_running_query(server):
    import subprocess
    import sys
    import time
    jar = _CookieJar()
    owner = flight.connect(server.uri, middleware=[jar])
    info = owner.get_flight_info(flight.FlightDescriptor.for_command(wire.sql_info(0)))
    owner.do_get(info.endpoints[0].ticket).read_all()
    assert jar.cookie
    info = owner.get_flight_info(flight.FlightDescriptor.for_command(
        wire.statement_query("SELECT count(*) FROM range(1000000000000) a")))
    fetch = subprocess.Popen(
        [sys.executable, "-c", FETCH_WITH_COOKIE, server.uri,
         info.endpoints[0].ticket.ticket.hex(), jar.cookie],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        cancel = flight.Action("CancelFlightInfo", wire.cancel_flight_info_request(info.serialize()))
        assert fetch.stdout.readline().strip() == "ready"
        time.sleep(1.5)  # the DoGet is under way (the count runs for hours)
        # A caller without the session's cookie holding the same FlightInfo cancels nothing.
        [refused] = list(server.client().do_action(cancel))
        assert refused.body.to_pybytes() != b"\x08\x01"
        time.sleep(0.5)
        assert fetch.poll() is None  # still running
        deadline = time.monotonic() + 30
        while True:
            [done] = list(owner.do_action(cancel))
            if done.body.to_pybytes() == b"\x08\x01" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert done.body.to_pybytes() == b"\x08\x01"  # CANCEL_STATUS_CANCELLED
        output, _ = fetch.communicate(timeout=60)
        assert output.startswith("error:")
    finally:
        if fetch.poll() is None:
            fetch.kill()


@pytest.mark.slow
def test_long_statements_are_charged_for_what_duckdb_holds(start_server):
    # A 0.9 MB statement (a long IN list) holds about 82 MB in DuckDB: twenty of them took
    # the server to 1.7 GB under the count cap alone.
    env = dict(os.environ, ARROWPORT_FLIGHT_SQL_MAX_HELD_BYTES=str(200 << 20))
    server = start_server(env=env)
    client = server.client()
    sql = "SELECT 1 WHERE 5 IN (" + ",".join(str(i) for i in range(150000)) + ")"
    handles = [prepare(client, sql), prepare(client, sql)]
    with pytest.raises(pa.ArrowInvalid, match="flight.sql_max_held_bytes"):
        prepare(client, sql)
    assert prepare(client, "SELECT 1")  # short statements still fit
    list(client.do_action(flight.Action("ClosePreparedStatement",
                                        wire.close_prepared_statement(handles[0]))))
    prepare(client, sql)  # closing one gave its share back


@pytest.mark.release_only("a plan's bytes are counted by the release build's operator new")
def test_short_statements_over_wide_tables_are_charged_for_their_plans(start_server):
    # `SELECT * FROM w` is 15 bytes, charged 1.5 KB up front, while DuckDB holds about
    # 0.7 MB of plan for a 3,000-column table, twice that once read (the statement's
    # connection keeps a plan to run it by): a reader opened and ran statements until
    # DuckDB's whole memory was held, under the statement count cap (hostile run).
    env = dict(os.environ, ARROWPORT_FLIGHT_SQL_MAX_HELD_BYTES=str(16 << 20))
    server = start_server(env=env)
    client = server.client()
    columns = ", ".join(f"c{i} INTEGER" for i in range(3000))
    descriptor = flight.FlightDescriptor.for_command(
        wire.statement_update_in(f"CREATE TABLE w ({columns})", b""))
    writer, reader = client.do_put(descriptor, pa.schema([]))
    writer.done_writing()
    reader.read()
    writer.close()
    handles = []
    with pytest.raises(pa.ArrowInvalid, match="flight.sql_max_held_bytes"):
        for _ in range(200):
            handles.append(prepare(client, "SELECT * FROM w"))
            assert fetch(client, handles[-1]).num_columns == 3000
    # 16 MiB of 1-2 MB plans: refused after a dozen or so, not at the count cap.
    assert 3 <= len(handles) <= 40, len(handles)
    assert prepare(client, "SELECT 1")  # short statements over narrow results still fit
    list(client.do_action(flight.Action("ClosePreparedStatement",
                                        wire.close_prepared_statement(handles[0]))))
    prepare(client, "SELECT * FROM w")  # closing one gave its share back
