"""Flight SQL on the Flight port, driven by real clients: ADBC Python (adbc_driver_flightsql
dbapi) and, for bytes no client sends, pyarrow.flight with hand-encoded commands."""
import os
import struct
import threading
import time

import adbc_driver_flightsql
import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight
import pytest

import flightsql_wire as wire

# Also run against the release build in CI (bin/test --slow), whose default lane runs
# against the ASan/UBSan build: the shipped allocator and memory guard meet these.
pytestmark = pytest.mark.release_too


def connect(server, autocommit=True, cookies=False):
    kwargs = {}
    if cookies:
        kwargs["db_kwargs"] = {adbc_driver_flightsql.DatabaseOptions.WITH_COOKIE_MIDDLEWARE.value:
                               "true"}
    return flight_sql.connect(server.uri, autocommit=autocommit, **kwargs)


def scalar(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def test_queries_prepared_statements_and_executemany(server):
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, name VARCHAR, score DOUBLE)")
        cur.execute("INSERT INTO people VALUES (1, 'ada', 1.5), (2, 'bob', 2.5)")
        cur.executemany("INSERT INTO people VALUES (?, ?, ?)",
                        [(3, "cy", 3.5), (4, "di", None), (5, "ed", 5.5)])
        cur.execute("SELECT id, name, score FROM people ORDER BY id")
        table = cur.fetch_arrow_table()
        assert table.column("id").to_pylist() == [1, 2, 3, 4, 5]
        assert table.schema.field("name").type == pa.string()
        assert table.schema.field("score").type == pa.float64()
        cur.execute("SELECT name FROM people WHERE id = ? OR name = ?", (2, "ed"))
        assert sorted(r[0] for r in cur.fetchall()) == ["bob", "ed"]
        # The same statement again with other parameters (ADBC re-binds the prepared one).
        cur.execute("SELECT name FROM people WHERE id = ? OR name = ?", (1, "zz"))
        assert cur.fetchall() == [("ada",)]
        # A result typed only by its parameter: the FlightInfo schema matches the stream.
        cur.execute("SELECT ? AS anything", ("text",))
        assert cur.fetchall() == [("text",)]
        cur.execute("SELECT ? + 1 AS next", (41,))
        assert cur.fetchall() == [(42,)]
        assert cur.adbc_execute_schema("SELECT id, name FROM people").names == ["id", "name"]
        assert cur.adbc_prepare("SELECT * FROM people WHERE id = ?").types == [pa.int32()]


def test_dml_down_the_query_path_runs_exactly_once(server):
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE once (x INTEGER)")
        cur.execute("INSERT INTO once VALUES (1)")
        cur.execute("INSERT INTO once SELECT 2")
        assert scalar(conn, "SELECT count(*) FROM once") == 2


def test_get_flight_info_returns_the_schema_without_running_the_query(server):
    client = server.client()
    # error() fails only when a row is produced: planning succeeds, running fails.
    descriptor = flight.FlightDescriptor.for_command(
        wire.statement_query("SELECT error('ran too early') AS boom, 42::BIGINT AS answer"))
    info = client.get_flight_info(descriptor)
    assert info.schema.names == ["boom", "answer"]
    assert info.schema.field("answer").type == pa.int64()
    with pytest.raises(pa.ArrowException, match="ran too early"):
        client.do_get(info.endpoints[0].ticket).read_all()
    ok = client.get_flight_info(flight.FlightDescriptor.for_command(
        wire.statement_query("SELECT 42::BIGINT AS answer")))
    assert client.do_get(ok.endpoints[0].ticket).read_all().column(0).to_pylist() == [42]


def test_syntax_error_is_invalid_argument_with_the_servers_message(server):
    with connect(server) as conn, conn.cursor() as cur:
        with pytest.raises(adbc_driver_manager.ProgrammingError) as error:
            cur.execute("SELEC 1")
        assert "syntax error" in str(error.value)
        assert "INVALID_ARGUMENT" in str(error.value)
        with pytest.raises(adbc_driver_manager.Error, match="does not exist"):
            cur.execute("SELECT * FROM no_such_table")
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)


def test_info_and_catalog_metadata(server):
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE orders (id BIGINT PRIMARY KEY, amount DECIMAL(10,2), "
                    "placed TIMESTAMP)")
        cur.execute("CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 100")
        info = conn.adbc_get_info()
        assert info["vendor_name"] == "Arrowport"
        assert info["vendor_version"]
        objects = conn.adbc_get_objects(depth="all").read_all().to_pylist()
        catalog = next(c for c in objects if c["catalog_name"] == "e2e")
        main = next(s for s in catalog["catalog_db_schemas"] if s["db_schema_name"] == "main")
        tables = {t["table_name"]: t for t in main["db_schema_tables"]}
        assert tables["orders"]["table_type"] == "TABLE"
        assert tables["big_orders"]["table_type"] == "VIEW"
        assert [c["column_name"] for c in tables["orders"]["table_columns"]] == [
            "id", "amount", "placed"]
        assert [c["xdbc_type_name"] for c in tables["orders"]["table_columns"]] == [
            "BIGINT", "DECIMAL(10,2)", "TIMESTAMP"]
        filtered = conn.adbc_get_objects(depth="tables", table_name_filter="ord%",
                                         table_types_filter=["TABLE"]).read_all().to_pylist()
        names = [t["table_name"] for c in filtered for s in c["catalog_db_schemas"] or []
                 for t in s["db_schema_tables"] or []]
        assert names == ["orders"]
        schema = conn.adbc_get_table_schema("orders")
        assert schema.names == ["id", "amount", "placed"]
        assert not schema.field("id").nullable  # PRIMARY KEY: NOT NULL
        assert schema.field("amount").type == pa.decimal128(10, 2)
        assert set(conn.adbc_get_table_types()) >= {"TABLE", "VIEW"}
    # The request log's schema (made by an idempotent ingest) is never listed: SQL cannot
    # reach it, so catalog calls do not show it either (found by a hostile run).
    from test_flight_roundtrip import put
    put(server.client(), pa.table({"x": [1]}), {"stream": "logged", "request_id": "r-1"})
    with connect(server) as conn:
        objects = conn.adbc_get_objects(depth="all").read_all().to_pylist()
        schemas = {s["db_schema_name"] for c in objects for s in c["catalog_db_schemas"] or []}
        assert "main" in schemas and "arrowport" not in schemas, schemas


def test_adbc_ingest_every_mode(server):
    data = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "tag": ["a", "b", "c"]})
    with connect(server) as conn, conn.cursor() as cur:
        assert cur.adbc_ingest("landed", data, mode="create") == 3
        with pytest.raises(adbc_driver_manager.Error, match="already exists"):
            cur.adbc_ingest("landed", data, mode="create")
        assert cur.adbc_ingest("landed", data, mode="append") == 3
        assert scalar(conn, "SELECT count(*) FROM landed") == 6
        assert cur.adbc_ingest("landed", data.slice(0, 1), mode="replace") == 1
        assert scalar(conn, "SELECT count(*) FROM landed") == 1
        with pytest.raises(adbc_driver_manager.Error, match="does not exist"):
            cur.adbc_ingest("missing", data, mode="append")
        assert cur.adbc_ingest("landed2", data, mode="create_append") == 3
        assert cur.adbc_ingest("landed2", data, mode="create_append") == 3
        assert scalar(conn, "SELECT count(*) FROM landed2") == 6
        assert cur.adbc_ingest("landed2", data, mode="append", db_schema_name="main",
                               catalog_name="e2e") == 3
        for refused, why in (({"catalog_name": "elsewhere"}, "catalog"),):
            # A fresh cursor each time: ADBC keeps ingest options set on a statement.
            with conn.cursor() as fresh, pytest.raises(adbc_driver_manager.NotSupportedError,
                                                       match=why):
                fresh.adbc_ingest("landed3", data, mode="create", **refused)
        assert scalar(conn, "SELECT count(*) FROM landed2") == 9
        # Same schema policy as DoPut: a type conflict is refused, nothing lands.
        bad = pa.table({"id": ["not a number"], "tag": ["x"]})
        with pytest.raises(adbc_driver_manager.Error):
            cur.adbc_ingest("landed2", bad, mode="append")
        assert scalar(conn, "SELECT count(*) FROM landed2") == 9


def test_transactions_commit_and_rollback(server):
    with connect(server) as setup, setup.cursor() as cur:
        cur.execute("CREATE TABLE ledger (x INTEGER)")
    with connect(server, autocommit=False) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO ledger VALUES (1)")
        conn.commit()
        cur.execute("INSERT INTO ledger VALUES (2)")
        cur.executemany("INSERT INTO ledger VALUES (?)", [(3,), (4,)])
        assert scalar(conn, "SELECT count(*) FROM ledger") == 4  # own uncommitted rows
        with connect(server) as other:
            assert scalar(other, "SELECT count(*) FROM ledger") == 1  # isolation
        conn.rollback()
        assert scalar(conn, "SELECT count(*) FROM ledger") == 1
        cur.execute("INSERT INTO ledger VALUES (5)")
        # Closing without commit: CloseSession (or the session's end) rolls back.
    with connect(server) as check:
        assert scalar(check, "SELECT sum(x) FROM ledger") == 1


def test_failed_statement_inside_a_transaction(server):
    with connect(server) as setup, setup.cursor() as cur:
        cur.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
    with connect(server, autocommit=False) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(adbc_driver_manager.Error):
            cur.execute("INSERT INTO t VALUES (1)")  # duplicate key aborts the transaction
        with pytest.raises(adbc_driver_manager.Error, match="aborted"):
            conn.commit()  # reported aborted and rolled back, never a silent loss
    with connect(server) as check:
        assert scalar(check, "SELECT count(*) FROM t") == 0


def test_sessions_with_cookies_free_their_state_on_close(server):
    with connect(server, autocommit=False, cookies=True) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE s (x INTEGER)")
        cur.execute("INSERT INTO s VALUES (1)")
        conn.commit()
        cur.execute("INSERT INTO s VALUES (2)")
    with connect(server, cookies=True) as check:
        assert scalar(check, "SELECT count(*) FROM s") == 1


def test_idle_transaction_rolls_back_after_the_timeout(start_server):
    import os
    import time
    env = dict(os.environ, ARROWPORT_FLIGHT_SQL_IDLE_TIMEOUT_S="1")
    server = start_server(env=env)
    with connect(server) as setup, setup.cursor() as cur:
        cur.execute("CREATE TABLE idle (x INTEGER)")
    conn = connect(server, autocommit=False)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO idle VALUES (1)")
    time.sleep(3)
    with pytest.raises(adbc_driver_manager.Error, match="unknown transaction"):
        conn.commit()
    with connect(server) as check:
        assert scalar(check, "SELECT count(*) FROM idle") == 0
    try:
        conn.close()
    except adbc_driver_manager.Error:
        pass


def test_bad_input_is_refused_and_the_server_keeps_serving(server):
    client = server.client()
    with pytest.raises(pa.ArrowException, match="unknown Flight SQL message type"):
        client.get_flight_info(flight.FlightDescriptor.for_command(
            wire.any_message("CommandThatDoesNotExist", b"")))
    with pytest.raises(pa.ArrowException):  # right type URL, truncated protobuf
        client.get_flight_info(flight.FlightDescriptor.for_command(
            wire.any_message("CommandStatementQuery", b"\x0a\x7fSELECT")))
    with pytest.raises(pa.ArrowException, match="unknown prepared statement"):
        client.do_get(flight.Ticket(wire.prepared_statement_query(b"no-such-handle"))).read_all()
    with pytest.raises(pa.ArrowException, match="unknown prepared statement"):
        list(client.do_action(flight.Action(
            "ClosePreparedStatement", wire.close_prepared_statement(b"no-such-handle"))))
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE p (a INTEGER, b VARCHAR)")
        with pytest.raises(adbc_driver_manager.Error, match="parameter"):
            cur.executemany("INSERT INTO p VALUES (?, ?)", [(1,), (2,)])
        with pytest.raises(adbc_driver_manager.Error):
            # The first row fits, the second cannot become an INTEGER: all or nothing.
            cur.executemany("INSERT INTO p VALUES (?, ?)", [("1", "ok"), ("not an int", "x")])
        assert scalar(conn, "SELECT count(*) FROM p") == 0  # nothing committed
    # Our own descriptors and tickets are untouched.
    assert client.do_get(flight.Ticket(b"SELECT 7 AS seven")).read_all().column(0)[0].as_py() == 7


def test_concurrent_adbc_clients(server):
    with connect(server) as setup, setup.cursor() as cur:
        cur.execute("CREATE TABLE c (worker INTEGER, i INTEGER)")
    errors = []

    def work(worker):
        try:
            with connect(server) as conn, conn.cursor() as cur:
                cur.executemany("INSERT INTO c VALUES (?, ?)", [(worker, i) for i in range(20)])
                cur.execute("SELECT count(*) FROM c WHERE worker = ?", (worker,))
                assert cur.fetchone()[0] == 20
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_cancel_flight_info_interrupts_a_running_query(server):
    import subprocess
    import sys
    import time
    client = server.client()
    info = client.get_flight_info(flight.FlightDescriptor.for_command(
        wire.statement_query("SELECT count(*) FROM range(1000000000000) a")))
    # The DoGet runs in a process of its own: pyarrow turns a cancelled call into a
    # KeyboardInterrupt of the process that reads it.
    fetch = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, pyarrow.flight as f\n"
         "c = f.connect(sys.argv[1])\n"
         "try:\n"
         "    c.do_get(f.Ticket(bytes.fromhex(sys.argv[2]))).read_all()\n"
         "    print('finished')\n"
         "except BaseException as e:\n"
         "    print('error:', e)\n",
         server.uri, info.endpoints[0].ticket.ticket.hex()],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(1.5)
    results = list(client.do_action(flight.Action(
        "CancelFlightInfo", wire.cancel_flight_info_request(info.serialize()))))
    output, _ = fetch.communicate(timeout=60)
    assert "finished" not in output
    assert results and results[0].body.to_pybytes() == b"\x08\x01"  # CANCEL_STATUS_CANCELLED
    assert output.startswith("error:")  # the stream ended with CANCELLED, early
    # The server keeps serving.
    assert client.do_get(flight.Ticket(b"SELECT 1 AS one")).read_all().num_rows == 1


def test_transaction_id_from_another_session_is_refused(server):
    with connect(server) as setup, setup.cursor() as cur:
        cur.execute("CREATE TABLE owned (x INTEGER)")
    owner = connect(server, autocommit=False, cookies=True)
    intruder = connect(server, autocommit=False, cookies=True)
    try:
        with owner.cursor() as cur:
            cur.execute("INSERT INTO owned VALUES (1)")
        # Both sessions are alive; each has its own transaction and only sees its own.
        with intruder.cursor() as cur:
            cur.execute("SELECT count(*) FROM owned")
            assert cur.fetchone() == (0,)
        owner.commit()
    finally:
        owner.close()
        intruder.close()
    with connect(server) as check:
        assert scalar(check, "SELECT count(*) FROM owned") == 1


class _CookieJar(flight.ClientMiddlewareFactory):
    """Keeps the session cookie the server sets, like ADBC's cookie middleware."""

    def __init__(self):
        self.cookie = None

    def start_call(self, info):
        jar = self

        class Middleware(flight.ClientMiddleware):
            def sending_headers(self):
                return {"cookie": jar.cookie} if jar.cookie else {}

            def received_headers(self, headers):
                for value in headers.get("set-cookie", []):
                    jar.cookie = value.split(";")[0]

        return Middleware()


def test_forged_transaction_id_from_another_session_is_refused(server):
    jars = [_CookieJar(), _CookieJar()]
    owner, intruder = [flight.connect(server.uri, middleware=[jar]) for jar in jars]
    for client in (owner, intruder):  # reading SqlInfo starts a session, as for ADBC
        info = client.get_flight_info(flight.FlightDescriptor.for_command(wire.sql_info(0)))
        client.do_get(info.endpoints[0].ticket).read_all()
    assert jars[0].cookie and jars[1].cookie and jars[0].cookie != jars[1].cookie
    [begun] = list(owner.do_action(flight.Action("BeginTransaction", wire.begin_transaction())))
    txn = wire.unpack_any_field1(begun.body.to_pybytes())
    query = flight.FlightDescriptor.for_command(wire.statement_query_in("SELECT 1 AS x", txn))
    with pytest.raises(pa.ArrowException, match="another session"):
        intruder.get_flight_info(query)
    info = owner.get_flight_info(query)
    assert owner.do_get(info.endpoints[0].ticket).read_all().num_rows == 1


def test_plain_flight_calls_get_no_session_cookie(server):
    jar = _CookieJar()
    client = flight.connect(server.uri, middleware=[jar])
    client.do_get(flight.Ticket(b"SELECT 1 AS one")).read_all()
    list(client.do_action(flight.Action("health", b"")))
    assert jar.cookie is None  # sessions are made for Flight SQL clients only, on demand


def test_xdbc_type_info_and_sql_info_over_raw_flight_sql(server):
    client = server.client()
    info = client.get_flight_info(flight.FlightDescriptor.for_command(
        wire.any_message("CommandGetXdbcTypeInfo")))
    types = client.do_get(info.endpoints[0].ticket).read_all()
    assert types.schema.names[:2] == ["type_name", "data_type"]
    names = types.column("type_name").to_pylist()
    assert {"BIGINT", "VARCHAR", "TIMESTAMP", "DECIMAL"} <= set(names)
    info = client.get_flight_info(flight.FlightDescriptor.for_command(wire.sql_info(0, 3, 8)))
    table = client.do_get(info.endpoints[0].ticket).read_all()
    assert table.column("info_name").to_pylist() == [0, 3, 8]
    values = table.column("value").to_pylist()
    assert values[0] == "Arrowport" and values[1] is False and values[2] == 1


def test_open_transaction_rolls_back_at_shutdown(start_server, tmp_path):
    db = tmp_path / "shutdown.duckdb"
    server = start_server(db=db)
    with connect(server) as setup, setup.cursor() as cur:
        cur.execute("CREATE TABLE kept (x INTEGER)")
        cur.execute("INSERT INTO kept VALUES (1)")
    conn = connect(server, autocommit=False)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO kept VALUES (2)")
    assert server.stop() == 0  # clean exit with a transaction open
    restarted = start_server(db=db)
    with connect(restarted) as check:
        assert scalar(check, "SELECT sum(x) FROM kept") == 1
    try:
        conn.close()
    except adbc_driver_manager.Error:
        pass


def test_client_that_leaves_mid_result_does_not_hurt_the_server(server):
    import subprocess
    import sys
    # A reader that takes one batch of a large result and exits without finishing.
    script = (
        "import sys, adbc_driver_flightsql.dbapi as f\n"
        "c = f.connect(sys.argv[1], autocommit=True)\n"
        "cur = c.cursor()\n"
        "cur.execute('SELECT range AS i, range::VARCHAR AS s FROM range(50000000)')\n"
        "r = cur.fetch_record_batch()\n"
        "r.read_next_batch()\n"
        "import os; os._exit(0)\n")
    subprocess.run([sys.executable, "-c", script, server.uri], check=True, timeout=120)
    with connect(server) as conn:
        assert scalar(conn, "SELECT 40 + 2") == 42
    assert server.proc.poll() is None


def test_malformed_parameter_batch_is_refused(server):
    """Bound parameters are read value by value: a batch with corrupt string offsets is
    refused like any ingested batch (it used to reach Bind unvalidated), nothing is
    inserted and the server keeps serving."""
    from rawflight import _field
    client = server.client()
    client.do_get(flight.Ticket(b"CREATE TABLE mp (s VARCHAR)")).read_all()
    results = list(client.do_action(flight.Action(
        "CreatePreparedStatement",
        wire.any_message("ActionCreatePreparedStatementRequest",
                         _field(1, b"INSERT INTO mp VALUES ($1)")))))
    handle = wire.unpack_any_field1(results[0].body.to_pybytes())
    offsets = pa.py_buffer(struct.pack("<4i", 0, 30, 2, 40))  # the second value: 2 - 30
    bad = pa.Array.from_buffers(pa.string(), 3, [None, offsets, pa.py_buffer(b"z" * 40)])
    batch = pa.RecordBatch.from_arrays([bad], names=["s"])
    descriptor = flight.FlightDescriptor.for_command(
        wire.any_message("CommandPreparedStatementUpdate", _field(1, handle)))
    with pytest.raises(pa.ArrowException, match="not valid Arrow"):
        writer, _ = client.do_put(descriptor, batch.schema)
        writer.write_batch(batch)
        writer.close()
    assert client.do_get(flight.Ticket(b"SELECT count(*) FROM mp")).read_all().column(0)[0].as_py() == 0


def test_a_prepared_table_read_is_optimized_again_once_the_table_is_a_view(start_server):
    """A prepared `SELECT * FROM t` is planned without DuckDB's optimizer while t is a
    table (the optimizer can only leave that plan as it is). If an admin replaces t with a
    view that joins, the statement (re-planned at each run) must get the optimizer back:
    unoptimized, the comma join below is a cross product of 4e10 rows, past the timeout."""
    server = start_server(env={**os.environ, "ARROWPORT_LIMITS_QUERY_TIMEOUT_S": "60"})
    with connect(server) as conn, conn.cursor() as reads, conn.cursor() as admin:
        admin.execute("CREATE TABLE t AS SELECT range AS k, range * 2 AS x FROM range(10)")
        reads.execute("SELECT * FROM t")  # prepared once, run again below (ADBC keeps it)
        assert reads.fetch_arrow_table().num_rows == 10
        admin.execute("CREATE TABLE a AS SELECT range AS k FROM range(200000)")
        admin.execute("CREATE TABLE b AS SELECT range AS k, range * 3 AS x FROM range(200000)")
        admin.execute("DROP TABLE t")
        admin.execute("CREATE VIEW t AS SELECT a.k, b.x FROM a, b WHERE a.k = b.k")
        started = time.monotonic()
        reads.execute("SELECT * FROM t")
        table = reads.fetch_arrow_table()
        assert table.num_rows == 200000
        assert sum(table.column("x").to_pylist()) == 3 * sum(range(200000))
        assert time.monotonic() - started < 30


def test_a_pivot_whose_columns_are_known_only_as_it_runs_is_refused_not_answered_empty(server):
    """DuckDB runs a PIVOT without an IN list as several statements, its columns known only
    as it runs; Flight SQL announces a result's columns before. Such a query answered a
    FlightInfo with no endpoint and an empty schema, so ADBC read no rows and no error
    (hostile run). It is refused with what to do instead, which works: the values listed,
    a DoGet ticket, or a CREATE TABLE ... AS of it (a statement, run at once)."""
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE pv AS SELECT * FROM (VALUES ('a', 1), ('b', 2)) v(k, x)")
        for sql in ("PIVOT pv ON k USING sum(x)", "SELECT * FROM (PIVOT pv ON k USING sum(x))"):
            with pytest.raises(adbc_driver_manager.Error, match="known only once it runs"):
                cur.execute(sql)
                cur.fetchall()
        cur.execute("PIVOT pv ON k IN ('a', 'b') USING sum(x)")
        assert cur.fetch_arrow_table().to_pylist() == [{"a": 1, "b": 2}]
        cur.execute("CREATE TABLE pivoted AS PIVOT pv ON k USING sum(x)")
        assert scalar(conn, "SELECT a + b FROM pivoted") == 3
    client = flight.connect(server.uri)
    table = client.do_get(flight.Ticket(b'{"sql": "PIVOT pv ON k USING sum(x)"}')).read_all()
    assert table.to_pylist() == [{"a": 1, "b": 2}]
