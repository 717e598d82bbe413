"""Flight SQL writes that end at the client's deadline: a write the client is told failed
(DEADLINE_EXCEEDED, or CANCELLED) must not be kept, whether it ran in the client's
transaction, in the transaction of a commit, or on its own (autocommit). Each test drives
deadlines around the write's own run time against the real server, with a control that
ends well before its deadline and must be answered and kept."""
import threading
import time

import pyarrow as pa
import pyarrow.flight as flight
import pytest

import flightsql_wire as wire
from deadline_util import sweep_to_the_deadline
from test_flight_sql import connect, scalar
from test_flight_sql_hardening import count_elsewhere, end, open_stream, update
from test_flight_sql_review import begin, bind, cookie_client, prepare


def scalar_elsewhere(server, sql):
    with connect(server) as conn:
        return scalar(conn, sql)


# Long to compute, one row to write: what is left after the statement ends is the commit
# of one row and the reply, the window this test aims its deadlines at.
MARK_SQL = ("INSERT INTO marks SELECT {k}, count(*) FROM big, range(16) t(j) "
            "WHERE (i * j) % 7 = 3")


def update_with_timeout(client, sql, timeout):
    """A Flight SQL update outside any transaction (ADBC execute_update, JDBC
    executeUpdate) with a deadline."""
    descriptor = flight.FlightDescriptor.for_command(wire.statement_update_in(sql, b""))
    writer, reader = client.do_put(descriptor, pa.schema([]),
                                   options=flight.FlightCallOptions(timeout=timeout))
    writer.done_writing()
    reader.read()
    writer.close()


def autocommit_write(client, path, k, timeout, handle=None):
    """Runs MARK_SQL for key `k` outside any transaction through one of the three wire
    paths a client's DDL/DML takes: "ok", or the error class the client was told."""
    options = flight.FlightCallOptions(timeout=timeout)
    try:
        if path == "update":
            update_with_timeout(client, MARK_SQL.format(k=k), timeout)
        elif path == "query":  # ADBC cursor.execute, JDBC execute: runs at GetFlightInfo
            client.get_flight_info(flight.FlightDescriptor.for_command(
                wire.statement_query_in(MARK_SQL.format(k=k), b"")), options)
        else:  # a prepared statement with one parameter row
            bind(client, handle, pa.record_batch([pa.array([k], pa.int64())], names=["k"]))
            client.get_flight_info(flight.FlightDescriptor.for_command(
                wire.prepared_statement_query(handle)), options)
        return "ok"
    except flight.FlightError as e:
        return type(e).__name__


def reply_margin(timeout):
    """The time the server leaves for a reply before a call's deadline (call_runner.cc)."""
    return min(timeout / 10, 0.1 + timeout / 50)


@pytest.mark.parametrize("path", ["update", "query", "prepared"])
def test_an_autocommit_write_that_ends_at_its_deadline_is_never_told_failed_but_kept(
        server, path):
    """Found by a hostile run: a client's INSERT, UPDATE or DDL outside a transaction
    (ADBC's default) ran in DuckDB's autocommit, which commits as the statement ends: a
    statement that ended just before the client's deadline was kept while its reply
    arrived too late (DEADLINE_EXCEEDED). It now runs in a transaction of its own that
    commits only when the reply has room to arrive."""
    client = cookie_client(server)
    # 1M rows: about 0.25 s a statement here, so deadline steps of 3 ms (the finer, the
    # likelier one lands in the commit-and-reply window), 28 statements per path.
    update(client, "CREATE TABLE big AS SELECT range AS i FROM range(1000000)")
    update(client, "CREATE TABLE marks (k BIGINT, n BIGINT)")
    handle = prepare(client, MARK_SQL.format(k="?")) if path == "prepared" else None
    took = []
    for k in range(-3, 0):  # warm, no deadline: the statement's usual run time
        start = time.monotonic()
        assert autocommit_write(client, path, k, 60, handle) == "ok"
        took.append(time.monotonic() - start)
    usual = sorted(took)[1]
    control = autocommit_write(client, path, 1000, usual * 3 + 1.0, handle)
    assert (control, count_elsewhere(server, "marks WHERE k = 1000")) == ("ok", 1)
    told_failed_but_kept = []
    for attempt in range(24):
        timeout = usual * (0.85 + 0.013 * attempt)
        told = autocommit_write(client, path, attempt, timeout, handle)
        if told != "ok" and count_elsewhere(server, f"marks WHERE k = {attempt}"):
            told_failed_but_kept.append((attempt, round(timeout, 3), told))
    assert not told_failed_but_kept, (usual, told_failed_but_kept)


def test_a_write_whose_commit_outlasts_its_deadline_is_logged_as_kept(server):
    """What the margin cannot cover (docs/limits.md): a commit that itself takes longer
    than the time left. An UPDATE of 2M rows commits in about 0.1 s; deadlines after the
    end of its statement plus the reply margin, and before the end of its commit, make it
    commit after the client was told DEADLINE_EXCEEDED. The log said only that the reply
    failed ("request failed", "Unknown error writing metadata"), as for a write rolled
    back: each such call must be logged as committed too late."""
    client = cookie_client(server)
    rows = 2_000_000
    update(client, f"CREATE TABLE wide AS SELECT range AS i, 0 AS v FROM range({rows})")
    sql = "UPDATE wide SET v = v + 1"
    statement, whole = [], []
    for _ in range(3):
        txn = begin(client)
        start = time.monotonic()
        update(client, sql, txn)
        statement.append(time.monotonic() - start)
        end(client, txn, commit=False)
        start = time.monotonic()
        update(client, sql)
        whole.append(time.monotonic() - start)
    ran, committed = min(statement), min(whole)
    # Deadlines that leave the statement time to end before the margin, inside the commit.
    timeouts = [ran + (committed - ran) * (0.3 + 0.05 * k) for k in range(14)]
    timeouts = [t for t in timeouts if t - reply_margin(t) > ran * 1.1]
    if not timeouts:  # a slow build or machine: the statement dwarfs the commit
        pytest.skip(f"the commit ({committed - ran:.3f} s) is shorter than the reply "
                    f"margin after a {ran:.3f} s statement")
    before = scalar_elsewhere(server, "SELECT sum(v) FROM wide")
    answered_ok = 0
    for timeout in timeouts:
        try:
            update_with_timeout(client, sql, timeout)
            answered_ok += 1
        except flight.FlightError:
            time.sleep(committed)  # its commit may still run: the next must not wait
    # Counted from the table, not per call: a commit still running when a call was told
    # DEADLINE_EXCEEDED lands later.
    time.sleep(1.0)
    kept = (scalar_elsewhere(server, "SELECT sum(v) FROM wide") - before) // rows
    told_failed_but_kept = kept - answered_ok
    assert told_failed_but_kept > 0, (ran, committed, timeouts, kept, answered_ok)
    message = "request committed too late: its client may have been told it failed"
    deadline = time.time() + 30
    while server.stderr().count(message) < told_failed_but_kept and time.time() < deadline:
        time.sleep(0.2)
    assert server.stderr().count(message) >= told_failed_but_kept, told_failed_but_kept


def test_a_statement_whose_deadline_passed_as_it_ended_never_commits(server):
    """Found by a hostile run: an UPDATE in a transaction whose client deadline passed
    while it ran (the client sees DEADLINE_EXCEEDED) was kept when the interrupt came
    too late, and the commit right after applied it: 4 runs in 16. Deadlines around the
    statement's own run time hit that window."""
    client = cookie_client(server)
    update(client, "CREATE TABLE big AS SELECT range AS i FROM range(3000000)")
    update(client, "CREATE TABLE u AS SELECT range AS i, 0 AS v FROM range(2000000)")
    sql = "UPDATE u SET v = v + 1 WHERE i IN (SELECT i FROM big, range(20) t(j) WHERE i % 7 = j)"
    took = 1e9
    for _ in range(3):  # in a transaction (no commit to pay), warm: the fastest run
        txn = begin(client)
        start = time.time()
        update(client, sql, txn)
        took = min(took, time.time() - start)
        end(client, txn, commit=False)

    def total():
        with connect(server) as conn:
            return scalar(conn, "SELECT sum(v) FROM u")

    told_failed_but_applied = []
    # Deadlines well before the statement's end (40% to 58% of its fastest run): one that
    # passes as the reply travels, or a run much faster than usual, is DEADLINE_EXCEEDED
    # for a statement the server saw succeed, in any gRPC server (a run at 75% once was).
    for attempt in range(16):
        deadline = took * (0.4 + 0.025 * (attempt % 8))
        before = total()
        txn = begin(client)
        try:
            writer, reader = client.do_put(
                flight.FlightDescriptor.for_command(wire.statement_update_in(sql, txn)),
                pa.schema([]), options=flight.FlightCallOptions(timeout=deadline))
            writer.done_writing()
            reader.read()
            writer.close()
            told = "ok"
        except flight.FlightTimedOutError:
            told = "deadline"
        except flight.FlightCancelledError:
            told = "cancelled"
        try:
            end(client, txn, commit=True)
        except pa.ArrowException as e:
            assert "abort" in str(e) or "rolled back" in str(e), e
        if told != "ok" and total() != before:
            told_failed_but_applied.append((attempt, round(deadline, 3)))
    assert not told_failed_but_applied, (took, told_failed_but_applied)


def test_parameter_rows_that_end_at_the_deadline_are_never_told_failed_but_kept(server):
    """Found by CI: parameter rows of a prepared INSERT committed a moment before the
    client's deadline while the reply, still on its way, reached the client after it
    (DEADLINE_EXCEEDED for rows that were kept). The client ends its upload 0.5-10 ms
    before the deadline; the server commits only when the reply has room to arrive. One
    upload ended 400 ms early is the control: answered and kept."""
    client = cookie_client(server)
    update(client, "CREATE TABLE late (k BIGINT)")
    handle = prepare(client, "INSERT INTO late VALUES (?)")
    rows = pa.table({"k": pa.array(range(50), pa.int64())})
    descriptor = flight.FlightDescriptor.for_command(wire.prepared_statement_update(handle))
    control, told_failed_but_kept = sweep_to_the_deadline(
        client, descriptor, rows, kept=lambda: count_elsewhere(server, "late"),
        clear=lambda: update(client, "DELETE FROM late"))
    assert control == ("ok", 50)
    assert not told_failed_but_kept


def test_a_commit_whose_deadline_leaves_no_time_to_answer_commits_nothing(server):
    """Found by an outside review: EndTransaction committed without asking whether the
    call was still there, so a commit that waited for the transaction's connection until
    its deadline was near committed and was told DEADLINE_EXCEEDED. A result streaming on
    the transaction holds the commit; it is read to its end 1-20 ms before the deadline."""
    client = cookie_client(server)
    update(client, "CREATE TABLE late_commit (k BIGINT)")
    told_failed_but_kept = []
    for attempt, before_deadline_ms in enumerate([1, 2, 4, 6, 10, 20] * 2):
        txn = begin(client)
        update(client, f"INSERT INTO late_commit VALUES ({attempt})", txn)
        reader = open_stream(client, "SELECT range, repeat('x', 100) FROM range(300000)", txn)
        told = []

        def commit():
            try:
                list(client.do_action(
                    flight.Action("EndTransaction", wire.end_transaction(txn, True)),
                    options=flight.FlightCallOptions(timeout=1.0)))
                told.append("ok")
            except flight.FlightError as e:
                told.append(type(e).__name__)

        start = time.monotonic()
        committer = threading.Thread(target=commit)
        committer.start()
        time.sleep(max(0.0, start + 1.0 - before_deadline_ms / 1000 - time.monotonic()))
        reader.read_all()
        committer.join(timeout=30)
        kept = scalar_elsewhere(server, f"SELECT count(*) FROM late_commit WHERE k = {attempt}")
        if told != ["ok"] and kept:
            told_failed_but_kept.append((before_deadline_ms, told))
    assert not told_failed_but_kept
