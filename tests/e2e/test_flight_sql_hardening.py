"""Flight SQL defects a hostile run and an outside review found (hardening issue): a
rollback or commit that answered OK while a result still streamed on the transaction and
was not done, handles expired while their result was read, prepared writes with an
untyped parameter that ran twice, CloseSession of another user's session, a forged ticket
answered UNKNOWN without a log line, and statement updates without the query timeout.
Driven by ADBC and by raw Flight SQL messages, against the real server."""
import json
import os
import struct
import threading
import time

import grpc

import adbc_driver_flightsql
import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight
import pytest

import flightsql_wire as wire
from test_flight_sql import _CookieJar, connect, scalar
from test_flight_sql_review import bind, begin, cookie_client, prepare

BUSY_MS = 1500
# Wide enough that the rest of the result cannot sit in transport buffers: the server's
# stream stays open until the client reads it.
BIG_ROWS = 3_000_000
BIG_SQL = (f"SELECT range AS id, repeat('x', 40) || range AS pad FROM range({BIG_ROWS})")
# Read a batch every 0.25 s for 5 s, it must not run out (BIG_SQL is about 20 batches).
SLOW_ROWS = 8_000_000
SLOW_SQL = f"SELECT range AS id FROM range({SLOW_ROWS})"


@pytest.fixture
def busy_server(start_server):
    env = dict(os.environ, ARROWPORT_FLIGHT_SQL_BUSY_TIMEOUT_MS=str(BUSY_MS))
    return start_server(env=env)


def count_elsewhere(server, table):
    with connect(server) as conn:
        return scalar(conn, f"SELECT count(*) FROM {table}")


def open_stream(client, sql, txn):
    info = client.get_flight_info(
        flight.FlightDescriptor.for_command(wire.statement_query_in(sql, txn)))
    reader = client.do_get(info.endpoints[0].ticket)
    first = reader.read_chunk()
    assert first.data.num_rows > 0
    return reader


def raw_end_transaction(server, cookie, txn, commit):
    """EndTransaction through grpcio: the gRPC status code any gRPC client sees."""
    from rawflight import _field
    action = _field(1, b"EndTransaction") + _field(2, wire.end_transaction(txn, commit))
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        call = channel.unary_stream("/arrow.flight.protocol.FlightService/DoAction",
                                    request_serializer=None, response_deserializer=None)
        return list(call(action, timeout=60, metadata=[("cookie", cookie)]))


def end(client, txn, commit):
    list(client.do_action(flight.Action("EndTransaction", wire.end_transaction(txn, commit))))


def end_when_free(client, txn, commit, timeout=20):
    """EndTransaction, asked again while the server says busy (it notices a cancelled
    stream a moment later); any other error is raised."""
    deadline = time.time() + timeout
    while True:
        try:
            return end(client, txn, commit)
        except pa.ArrowException as e:
            if "busy" not in str(e) or time.time() >= deadline:
                raise
            time.sleep(0.2)


def stream_prepared(client, sql, txn, keys):
    """Prepares `sql` in `txn`, binds one parameter row per key and reads the first batch
    of its result: the reader, open on the rest."""
    [created] = list(client.do_action(flight.Action(
        "CreatePreparedStatement", wire.create_prepared_statement(sql, txn))))
    handle = wire.unpack_any_field1(created.body.to_pybytes())
    bind(client, handle, pa.record_batch([pa.array(keys, pa.int64())], names=["k"]))
    descriptor = flight.FlightDescriptor.for_command(wire.prepared_statement_query(handle))
    reader = client.do_get(client.get_flight_info(descriptor).endpoints[0].ticket)
    assert reader.read_chunk().data.num_rows > 0
    return reader


def update(client, sql, txn=b""):
    descriptor = flight.FlightDescriptor.for_command(wire.statement_update_in(sql, txn))
    writer, reader = client.do_put(descriptor, pa.schema([]))
    writer.done_writing()
    ack = reader.read()
    writer.close()
    return wire.update_result(ack)


def start_streaming_transaction(server):
    """A cookie session whose transaction inserted 1,000,000 rows into `kept` and has a
    result of BIG_SQL open on it, its first batch read: (client, cookie jar, txn, reader)."""
    jar = _CookieJar()
    client = flight.connect(server.uri, middleware=[jar])
    info = client.get_flight_info(flight.FlightDescriptor.for_command(wire.sql_info(0)))
    client.do_get(info.endpoints[0].ticket).read_all()  # starts the session
    update(client, "CREATE TABLE kept (x BIGINT)")
    txn = begin(client)
    assert update(client, "INSERT INTO kept SELECT range FROM range(1000000)", txn) == 1000000
    return client, jar, txn, open_stream(client, BIG_SQL, txn)


def test_committing_a_transaction_while_its_result_streams_stops_the_result(busy_server):
    """EndTransaction with a result still open on the transaction used to answer OK
    although DuckDB aborted the COMMIT; then it was refused as busy, and arrow-go clients
    (ADBC) forget the transaction whatever the answer, which left their connection
    unusable (issue 64's attack). Now a commit, like a rollback, ends the transaction as
    PostgreSQL closes a transaction's cursors: the result is stopped (between DuckDB's
    chunks, so nothing is aborted), its reader told why, and the transaction commits."""
    client, jar, txn, reader = start_streaming_transaction(busy_server)
    start = time.time()
    end(client, txn, commit=True)
    assert time.time() - start < BUSY_MS / 1000 + 5
    assert count_elsewhere(busy_server, "kept") == 1000000
    with pytest.raises(flight.FlightError,
                       match="the client committed the transaction|Cancelled on the server"):
        while reader.read_chunk() is not None:
            pass
    # The connection is clean: an autocommit insert afterwards is visible to others.
    update(client, "INSERT INTO kept VALUES (-1)")
    assert count_elsewhere(busy_server, "kept") == 1000001


def test_rolling_back_a_transaction_while_its_result_streams_stops_the_result(busy_server):
    """A client's rollback ends its transaction, as PostgreSQL's does: the result still
    being read on it is stopped (its reader is told why) and the rollback answers OK. It
    used to be refused as busy, and arrow-go clients (ADBC) forget the transaction
    whatever the answer (issue 64)."""
    client, jar, txn, reader = start_streaming_transaction(busy_server)
    start = time.time()
    end(client, txn, commit=False)
    # Well inside the busy timeout plus the grace a stopped result gets before its
    # transport is cut (SharedConnection::kStopGrace).
    assert time.time() - start < BUSY_MS / 1000 + 5
    assert count_elsewhere(busy_server, "kept") == 0
    # A reader blocked on a client that reads nothing more (this one, until the rollback
    # returns) has its stream cut, which carries no words; one that reads hears why.
    with pytest.raises(flight.FlightError,
                       match="the client rolled back the transaction|Cancelled on the server"):
        while reader.read_chunk() is not None:
            pass
    # The transaction is gone for good; the session goes on outside it.
    with pytest.raises(pa.ArrowKeyError, match="unknown transaction"):  # NOT_FOUND
        end(client, txn, commit=True)
    update(client, "INSERT INTO kept VALUES (-1)")
    assert count_elsewhere(busy_server, "kept") == 1


def test_closing_a_half_read_result_keeps_its_transaction(server):
    """A client that stops reading a result and closes it, then commits, commits. The
    server used to interrupt the query in the middle of fetching a batch, which made
    DuckDB abort the transaction ('aborted by an earlier failed statement'; the soak saw
    it once in 2,700 ADBC transactions)."""
    client = cookie_client(server)
    update(client, "CREATE TABLE kept (x BIGINT)")
    txn = begin(client)
    update(client, "INSERT INTO kept SELECT range FROM range(10)", txn)
    # Each batch costs DuckDB a while: the close lands while the next one is fetched. Not
    # much longer: one fetch refills DuckDB's stream buffer, and a fetch still running
    # CallCancellation::kStuckAfter after the close is interrupted (which aborts). With
    # 3.2 KB hashed a row, a fetch took 2-10 s on the TSan build beside the ASan lane,
    # and CI failed; with 320 bytes about 0.5 s (and an immediate interrupt still fails).
    reader = open_stream(client, "SELECT range AS id, md5(repeat(range::VARCHAR, 40)) AS h "
                                 "FROM range(50000000)", txn)
    reader.cancel()
    end_when_free(client, txn, commit=True)
    assert count_elsewhere(server, "kept") == 10


def test_a_call_waiting_for_a_transaction_that_ends_meanwhile_runs_nothing(start_server):
    """Found by an outside review: a statement with a transaction id was checked against
    the open transactions before it waited for the transaction's connection. When a
    rollback got the connection first, the statement then ran on its own and committed:
    rows of a rolled-back transaction were durable. Which waiter goes first is up to the
    scheduler, so the race is run a few times."""
    env = dict(os.environ, ARROWPORT_FLIGHT_SQL_BUSY_TIMEOUT_MS="20000")
    server = start_server(env=env)
    client = cookie_client(server)
    update(client, "CREATE TABLE waited (x BIGINT)")
    for attempt in range(4):
        txn = begin(client)
        reader = open_stream(client, BIG_SQL, txn)
        outcome = {}

        def rollback():
            try:
                end(client, txn, commit=False)
                outcome["rollback"] = "ok"
            except flight.FlightError as e:
                outcome["rollback"] = str(e)

        def insert():
            try:
                update(client, f"INSERT INTO waited VALUES ({attempt})", txn)
                outcome["insert"] = "ok"
            except pa.ArrowException as e:  # NOT_FOUND: the transaction ended meanwhile
                outcome["insert"] = str(e)

        waiters = [threading.Thread(target=rollback), threading.Thread(target=insert)]
        for t in waiters:
            t.start()
        time.sleep(0.5)  # both wait for the connection the stream holds
        reader.cancel()
        for t in waiters:
            t.join(timeout=60)
        assert outcome["rollback"] == "ok", outcome
        # (A rollback now stops the stream rather than wait for it: it may end the
        # transaction before the insert looks it up, which then finds it unknown.)
        assert (outcome["insert"] == "ok" or "transaction ended" in outcome["insert"]
                or "unknown transaction id" in outcome["insert"]), outcome
        # Whoever went first, nothing of the rolled-back transaction is anywhere.
        assert count_elsewhere(server, "waited") == 0, (attempt, outcome)


@pytest.mark.slow
def test_many_parameter_rows_closed_half_way_in_a_transaction_commit_none(server):
    """Found by an outside review: a result of many parameter rows (INSERT ... RETURNING
    bound to three rows) closed after the first row's rows, in the client's transaction:
    the first row's insert stayed in the transaction and committed, the others never ran.
    Like a failed executemany, the transaction must not commit half of them."""
    client = cookie_client(server)
    update(client, "CREATE TABLE halves (k BIGINT, pad VARCHAR)")
    txn = begin(client)
    reader = stream_prepared(
        client, "INSERT INTO halves SELECT ?::BIGINT, repeat('x', 40) || range "
                "FROM range(3000000) RETURNING *", txn, [1, 2, 3])
    reader.cancel()
    with pytest.raises(pa.ArrowException, match="aborted"):
        end_when_free(client, txn, commit=True)
    assert count_elsewhere(server, "halves") == 0


def test_a_statement_in_an_aborted_transaction_is_not_called_retryable(server):
    """Found by a hostile run: after a failed statement, each later one in the transaction
    was answered UNAVAILABLE ("retryable conflict"), which retry policies retry for good.
    Only ending the transaction helps: FAILED_PRECONDITION, saying so."""
    client = cookie_client(server)
    update(client, "CREATE TABLE k (x INTEGER PRIMARY KEY)")
    txn = begin(client)
    update(client, "INSERT INTO k VALUES (1)", txn)
    with pytest.raises(pa.ArrowException, match="(?i)constraint"):
        update(client, "INSERT INTO k VALUES (1)", txn)
    with pytest.raises(flight.FlightError) as later:
        update(client, "INSERT INTO k VALUES (2)", txn)
    assert not isinstance(later.value, flight.FlightUnavailableError), later.value
    assert "roll it back" in str(later.value), later.value
    assert later.value.extra_info[:2] == b"\x08\x09"  # google.rpc.Status FAILED_PRECONDITION
    end(client, txn, commit=False)
    assert count_elsewhere(server, "k") == 0


def test_a_read_of_many_parameter_rows_closed_half_way_keeps_the_transaction(server):
    """The other side of the test above (found by an outside review): a read changed
    nothing, so stopping it half way must not abort the client's transaction."""
    client = cookie_client(server)
    update(client, "CREATE TABLE kept_reads (x BIGINT)")
    txn = begin(client)
    update(client, "INSERT INTO kept_reads VALUES (1)", txn)
    reader = stream_prepared(
        client, "SELECT ?::BIGINT + range AS k, repeat('x', 40) AS pad FROM range(3000000)",
        txn, [1, 2, 3])
    reader.cancel()
    end_when_free(client, txn, commit=True)
    assert count_elsewhere(server, "kept_reads") == 1


def test_a_result_read_to_its_end_frees_the_transaction_at_once(busy_server):
    client = cookie_client(busy_server)
    update(client, "CREATE TABLE t (x BIGINT)")
    txn = begin(client)
    update(client, "INSERT INTO t SELECT range FROM range(10)", txn)
    info = client.get_flight_info(flight.FlightDescriptor.for_command(
        wire.statement_query_in("SELECT * FROM t", txn)))
    assert client.do_get(info.endpoints[0].ticket).read_all().num_rows == 10
    start = time.time()
    end(client, txn, commit=True)
    assert time.time() - start < 1.0
    assert count_elsewhere(busy_server, "t") == 10


@pytest.mark.parametrize("cookies", [True, False])
def test_adbc_rollback_with_a_result_open_ends_the_transaction(busy_server, cookies):
    """The reported case: ADBC (with cookies, a temporary table pinning the session; and
    ADBC's default, no cookies), 1M rows inserted in the transaction, a
    fetch_record_batch() stream open, then rollback(). The rollback was refused as busy
    (gRPC UNKNOWN through ADBC), ADBC then held no transaction and every later statement
    failed with "missing a valid transaction" (issue 64). Now the rollback stops the
    stream, which ends with a clear error, and the connection goes on in a new
    transaction. Several rounds: whether the result was all sent by then varies."""
    kwargs = {adbc_driver_flightsql.DatabaseOptions.WITH_COOKIE_MIDDLEWARE.value:
              "true" if cookies else "false"}
    with flight_sql.connect(busy_server.uri, autocommit=True, db_kwargs=kwargs) as setup:
        with setup.cursor() as cur:
            cur.execute("CREATE TABLE big (x BIGINT, pad VARCHAR)")
    with flight_sql.connect(busy_server.uri, autocommit=False, db_kwargs=kwargs) as conn:
        cur = conn.cursor()
        if cookies:
            cur.adbc_ingest("pin", pa.table({"a": [1]}), mode="create", temporary=True)
        for round_ in range(4):
            cur.execute(f"INSERT INTO big SELECT range, repeat('y', 40) FROM range({BIG_ROWS})")
            streaming = conn.cursor()
            streaming.execute("SELECT * FROM big")
            batches = streaming.fetch_record_batch()
            batches.read_next_batch()
            started = time.time()
            conn.rollback()
            assert time.time() - started < BUSY_MS / 1000 + 5
            assert count_elsewhere(busy_server, "big") == round_  # the rows kept so far
            # The rest of the result either was sent before the rollback or ends with
            # the reason; it never reads as whole data of a transaction that is gone.
            try:
                for _ in batches:
                    pass
            except (adbc_driver_manager.Error, OSError) as e:  # pyarrow's reader: OSError
                assert "the client rolled back the transaction" in str(e), e
            batches.close()
            streaming.close()
            # The connection works on, in the new transaction ADBC begins.
            cur.execute("INSERT INTO big VALUES (-1, 'kept')")
            conn.commit()
            assert count_elsewhere(busy_server, "big") == round_ + 1
        cur.close()
    health = json.loads(next(iter(flight.connect(busy_server.uri).do_action(
        flight.Action("health", b"")))).body.to_pybytes())
    assert health["flight_sql"]["open_transactions"] == 0, health


@pytest.mark.slow
def test_a_transaction_whose_result_is_read_slowly_is_not_idle(start_server):
    """A 9 s read with a 5 s idle timeout used to roll the transaction back under it and
    expire the prepared statement being read."""
    env = dict(os.environ, ARROWPORT_FLIGHT_SQL_IDLE_TIMEOUT_S="2")
    server = start_server(env=env)
    client = cookie_client(server)
    update(client, "CREATE TABLE slow (x BIGINT)")
    txn = begin(client)
    update(client, "INSERT INTO slow SELECT range FROM range(100)", txn)
    [created] = list(client.do_action(flight.Action(
        "CreatePreparedStatement", wire.create_prepared_statement(SLOW_SQL, txn))))
    handle = wire.unpack_any_field1(created.body.to_pybytes())
    descriptor = flight.FlightDescriptor.for_command(wire.prepared_statement_query(handle))
    reader = client.do_get(client.get_flight_info(descriptor).endpoints[0].ticket)
    deadline = time.time() + 5
    while time.time() < deadline:
        assert reader.read_chunk().data.num_rows > 0
        time.sleep(0.25)
    reader.cancel()
    # The statement outlived the idle timeout while its result was read (in its still
    # open transaction: after the transaction a statement made in it is refused).
    for _ in range(50):
        try:
            reader = client.do_get(client.get_flight_info(descriptor).endpoints[0].ticket)
            assert reader.read_all().num_rows == SLOW_ROWS
            break
        except flight.FlightError as e:
            assert "busy" in str(e), e
            time.sleep(0.2)
    for _ in range(50):
        try:
            end(client, txn, commit=True)
            break
        except flight.FlightError as e:
            assert "busy" in str(e), e
            time.sleep(0.2)
    assert count_elsewhere(server, "slow") == 100


@pytest.mark.slow
def test_an_adbc_transaction_paused_mid_result_longer_than_the_idle_timeout_commits(
        start_server):
    """ADBC (autocommit off) reads the first batch of a 100,000-row result, pauses for
    four idle timeouts, reads the rest and commits: the result's stream holds its
    transaction's connection until its last batch has been sent, and idle time counts
    from then, so the transaction is never rolled back under its reader (the issue's 9 s
    pause with a 5 s idle timeout). The rows are wide (2 KB) so that the server is still
    sending when the client pauses: a result small enough to sit whole in the client's
    buffers (ADBC reads ahead) has left the server, which cannot tell a client reading
    its own memory from one gone idle (docs/limits.md, Busy transactions)."""
    import adbc_driver_flightsql.dbapi as flight_sql
    server = start_server(env=dict(os.environ, ARROWPORT_FLIGHT_SQL_IDLE_TIMEOUT_S="1"))
    with connect(server) as setup:
        with setup.cursor() as cur:
            cur.execute("CREATE TABLE paused (x BIGINT)")
    conn = flight_sql.connect(server.uri, autocommit=False)
    cur = conn.cursor()
    cur.execute("INSERT INTO paused VALUES (1)")
    cur.execute("SELECT range AS id, repeat('x', 2000) AS pad FROM range(100000)")
    reader = cur.fetch_record_batch()
    rows = reader.read_next_batch().num_rows
    time.sleep(4.0)
    for batch in reader:
        rows += batch.num_rows
    assert rows == 100_000
    conn.commit()
    cur.close()
    conn.close()
    assert count_elsewhere(server, "paused") == 1


# ---- Prepared writes run exactly once ----

WRITES = [
    # (sql, parameter rows, rows added, rows returned per execution)
    ("INSERT INTO w SELECT ? RETURNING *", [[7]], 1, 1),
    ("INSERT INTO w SELECT ?", [[7]], 1, 0),
    ("INSERT INTO w SELECT ? UNION ALL SELECT ?", [[7, 8]], 2, 0),
    ("INSERT INTO w SELECT ? UNION ALL SELECT ? RETURNING x", [[7, 8]], 2, 2),
    ("INSERT INTO w SELECT ?::BIGINT", [[7]], 1, 0),
    ("INSERT INTO w VALUES (?) RETURNING x", [[7]], 1, 1),
    ("INSERT INTO w SELECT ? RETURNING *", [[1], [2], [3]], 3, 3),
]


@pytest.mark.parametrize("sql,rows,added,returned", WRITES)
def test_prepared_writes_run_once_through_adbc(server, sql, rows, added, returned):
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE w (x BIGINT)")
        if len(rows) == 1:
            cur.execute(sql, rows[0])
            if returned:
                assert len(cur.fetchall()) == returned
        else:
            cur.executemany(sql, rows)
        assert scalar(conn, "SELECT count(*) FROM w") == added


@pytest.mark.parametrize("sql,rows,added,returned", WRITES)
def test_prepared_writes_run_once_through_raw_flight_sql(server, sql, rows, added, returned):
    client = server.client()
    update(client, "CREATE TABLE w (x BIGINT)")
    handle = prepare(client, sql)
    columns = list(zip(*rows))
    batch = pa.record_batch([pa.array(c, pa.int64()) for c in columns],
                            names=[f"p{i}" for i in range(len(columns))])
    bind(client, handle, batch)
    descriptor = flight.FlightDescriptor.for_command(wire.prepared_statement_query(handle))
    info = client.get_flight_info(descriptor)
    count = lambda: count_elsewhere(server, "w")
    if returned:
        # GetFlightInfo described the result without running the write.
        assert count() == 0
        assert info.schema.names
        result = client.do_get(info.endpoints[0].ticket).read_all()
        assert result.num_rows == returned
        assert result.schema == info.schema
    else:
        assert not info.endpoints  # ran at GetFlightInfo, nothing to fetch
    assert count() == added
    # UPDATE ... RETURNING with an untyped parameter: one increment, not two.
    update(client, "DELETE FROM w")
    update(client, "INSERT INTO w VALUES (1)")
    handle = prepare(client, "UPDATE w SET x = x + ? RETURNING x")
    bind(client, handle, pa.record_batch([pa.array([10], pa.int64())], names=["p"]))
    info = client.get_flight_info(
        flight.FlightDescriptor.for_command(wire.prepared_statement_query(handle)))
    assert client.do_get(info.endpoints[0].ticket).read_all().column(0).to_pylist() == [11]
    with connect(server) as conn:
        assert scalar(conn, "SELECT x FROM w") == 11


# ---- Handles and sessions belong to their user ----

def test_close_session_of_another_user_is_refused(tmp_path, hashes):
    from test_auth import start_with_config, users_yaml
    config, server = start_with_config(tmp_path, users_yaml(hashes))
    try:
        jar = _CookieJar()
        owner = flight.connect(server.uri, middleware=[jar])
        token = owner.authenticate_basic_token("admin", "a-secret")
        options = flight.FlightCallOptions(headers=[token])
        info = owner.get_flight_info(flight.FlightDescriptor.for_command(wire.sql_info(0)),
                                     options)
        owner.do_get(info.endpoints[0].ticket, options).read_all()
        [begun] = list(owner.do_action(flight.Action("BeginTransaction", wire.begin_transaction()),
                                       options))
        txn = wire.unpack_any_field1(begun.body.to_pybytes())
        _update(owner, "CREATE TABLE mine (x INT)", options, txn)
        # The reader presents the admin's session cookie and asks to close it.
        intruder = flight.connect(server.uri)
        reader_token = intruder.authenticate_basic_token("reader", "r-secret")
        stolen = flight.FlightCallOptions(headers=[reader_token, (b"cookie", jar.cookie.encode())])
        with pytest.raises(flight.FlightUnauthorizedError, match="belongs to another user"):
            list(intruder.do_action(flight.Action("CloseSession", b""), stolen))
        # The owner's session and transaction are intact: it commits.
        list(owner.do_action(flight.Action("EndTransaction", wire.end_transaction(txn, True)),
                             options))
        info = owner.get_flight_info(flight.FlightDescriptor.for_command(
            wire.statement_query("SELECT count(*) FROM mine")), options)
        assert owner.do_get(info.endpoints[0].ticket, options).read_all().num_rows == 1
    finally:
        server.stop()


def _update(client, sql, options, txn=b""):
    descriptor = flight.FlightDescriptor.for_command(wire.statement_update_in(sql, txn))
    writer, reader = client.do_put(descriptor, pa.schema([]), options)
    writer.done_writing()
    ack = reader.read()
    writer.close()
    return wire.update_result(ack)


@pytest.fixture(scope="module")
def hashes():
    from test_auth import hash_password
    return {"admin": hash_password("a-secret"), "reader": hash_password("r-secret"),
            "writer": hash_password("w-secret"), "narrow": hash_password("n-secret")}


# ---- Every call goes through one runner ----

def test_forged_statement_ticket_is_invalid_argument_and_logged(server):
    client = server.client()
    forged = wire.any_message("TicketStatementQuery",
                              wire._field(1, b'{"sql": "SELECT 1", "txn": 1}'))
    with pytest.raises(pa.ArrowInvalid, match="malformed Flight SQL statement ticket") as e:
        client.do_get(flight.Ticket(forged)).read_all()
    assert "INVALID_ARGUMENT" in str(e.value)
    assert server.logged("malformed Flight SQL statement ticket")
    for doc in (b'{"sql": 5}', b'[]', b'{"sql": "SELECT 1", "txn": null}', b"\xff\xfe"):
        with pytest.raises(pa.ArrowInvalid, match="malformed"):
            client.do_get(flight.Ticket(wire.any_message("TicketStatementQuery",
                                                         wire._field(1, doc)))).read_all()


@pytest.mark.slow
def test_statement_updates_have_the_query_timeout(start_server):
    env = dict(os.environ, ARROWPORT_LIMITS_QUERY_TIMEOUT_S="2")
    server = start_server(env=env)
    client = server.client()
    update(client, "CREATE TABLE sums (s HUGEINT)")
    start = time.time()
    with pytest.raises(flight.FlightTimedOutError):
        update(client, "INSERT INTO sums SELECT sum(range) FROM range(100000000000)")
    assert time.time() - start < 10
    handle = prepare(client,
                     "INSERT INTO sums SELECT sum(range) FROM range(100000000000) WHERE range > ?")
    descriptor = flight.FlightDescriptor.for_command(wire.prepared_statement_update(handle))
    writer, reader = client.do_put(descriptor, pa.schema([("n", pa.int64())]))
    writer.write_batch(pa.record_batch([pa.array([-1], pa.int64())], names=["n"]))
    start = time.time()
    with pytest.raises(flight.FlightTimedOutError):
        writer.done_writing()
        reader.read()
        writer.close()
    assert time.time() - start < 10
    assert count_elsewhere(server, "sums") == 0


def test_a_prepared_statement_does_not_outlive_its_transaction(server):
    """Found by an outside review: ADBC reuses a prepared handle for the same SQL, so after
    commit() the second execute ran on the ended transaction's connection, committed on its
    own, and the client's rollback() undid nothing. Now such a statement is refused
    (FAILED_PRECONDITION) and nothing is written."""
    kwargs = {adbc_driver_flightsql.DatabaseOptions.WITH_COOKIE_MIDDLEWARE.value: "true"}
    with flight_sql.connect(server.uri, autocommit=True, db_kwargs=kwargs) as conn:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE outlived (x BIGINT)")
    with flight_sql.connect(server.uri, autocommit=False, db_kwargs=kwargs) as conn:
        cur = conn.cursor()
        cur.execute("INSERT INTO outlived VALUES (?)", [1])
        conn.commit()
        try:
            cur.execute("INSERT INTO outlived VALUES (?)", [2])  # the same prepared handle
        except adbc_driver_manager.Error as e:
            assert "transaction that has ended" in str(e), e
        conn.rollback()
        cur.close()
    assert count_elsewhere(server, "outlived") == 1


def test_a_result_nobody_reads_gives_its_transaction_back_after_the_query_timeout(start_server):
    """Found by an outside review: a Flight SQL result whose client stopped reading held its
    transaction's connection for good: the query timeout interrupted DuckDB, but Flight's
    write waited on the client, where no interrupt reaches. A call still running 5 s after
    it was cancelled is now ended by gRPC, and the transaction is free again."""
    server = start_server(env=dict(os.environ, ARROWPORT_FLIGHT_SQL_BUSY_TIMEOUT_MS="1000",
                                   ARROWPORT_LIMITS_QUERY_TIMEOUT_S="2"))
    client = cookie_client(server)
    update(client, "CREATE TABLE unread (x BIGINT)")
    txn = begin(client)
    update(client, "INSERT INTO unread VALUES (1)", txn)
    reader = open_stream(client, BIG_SQL, txn)  # one batch read, then nothing
    deadline = time.time() + 20
    while True:
        try:
            end(client, txn, False)  # a rollback
            break
        except flight.FlightError as e:
            assert "busy" in str(e) and time.time() < deadline, e
    assert time.time() < deadline
    # The stream was ended by the server: gRPC CANCELLED, which pyarrow raises as
    # KeyboardInterrupt.
    with pytest.raises((flight.FlightError, KeyboardInterrupt)):
        reader.read_all()
    assert count_elsewhere(server, "unread") == 0


def test_poll_flight_info_answers_like_get_flight_info(server):
    """PollFlightInfo bypassed the call runner (Arrow's default: UNIMPLEMENTED, unlogged,
    unadmitted); it now answers through GetFlightInfo, complete at the first poll."""
    from rawflight import command_descriptor  # pyarrow has no poll_flight_info
    descriptor = command_descriptor(json.dumps({"sql": "SELECT 42 AS answer"}).encode())
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        poll = channel.unary_unary("/arrow.flight.protocol.FlightService/PollFlightInfo",
                                   request_serializer=None, response_deserializer=None)
        answer = poll(descriptor, timeout=30)
    assert answer[:1] == b"\x0a"  # field 1: the FlightInfo
    assert b"\x19" + struct.pack("<d", 1.0) in answer  # field 3: progress 1.0, complete
    assert server.logged("method=get_flight_info")  # admitted and logged by the runner
