"""ADBC adbc_ingest into other DuckDB schemas, into temporary tables (which live on the
client's session connection) and inside a transaction (CommandStatementIngest with a
transaction id, sent raw: ADBC's Go driver does not send one)."""
import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight
import pytest
import requests

import flightsql_wire as wire
from test_flight_sql import connect, scalar

DATA = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "tag": ["a", "b", "c"]})


def listed_tables(conn):
    objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
    return [(c["catalog_name"], s["db_schema_name"], t["table_name"], t["table_type"])
            for c in objects for s in c["catalog_db_schemas"] or []
            for t in s["db_schema_tables"] or []]


def test_ingest_into_another_schema(server):
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute("CREATE SCHEMA staging")
        assert cur.adbc_ingest("events", DATA, mode="create", db_schema_name="staging") == 3
        assert cur.adbc_ingest("events", DATA, mode="append", db_schema_name="staging") == 3
        assert scalar(conn, "SELECT count(*) FROM staging.events") == 6
    # A fresh cursor per option set: ADBC keeps ingest options set on a statement.
    with connect(server) as conn, conn.cursor() as cur:
        # Nothing landed in main, and a main table of the same name is another table.
        assert cur.adbc_ingest("events", DATA.slice(0, 1), mode="create") == 1
        assert scalar(conn, "SELECT count(*) FROM main.events") == 1
    with connect(server) as conn, conn.cursor() as cur:
        assert cur.adbc_ingest("events", DATA, mode="replace", db_schema_name="staging") == 3
        assert scalar(conn, "SELECT count(*) FROM staging.events") == 3
        # The schema's table shows in the catalog and its schema is readable.
        assert conn.adbc_get_table_schema("events", db_schema_filter="staging").names == [
            "id", "tag"]
    with connect(server) as conn, conn.cursor() as cur:
        with pytest.raises(adbc_driver_manager.Error, match="nowhere"):
            cur.adbc_ingest("events", DATA, mode="create", db_schema_name="nowhere")
        with conn.cursor() as fresh, pytest.raises(adbc_driver_manager.Error,
                                                   match="invalid schema name"):
            fresh.adbc_ingest("events", DATA, mode="create", db_schema_name='x"; DROP')
        assert scalar(conn, "SELECT count(*) FROM staging.events") == 3
    # Schema main in any case is main; the server's own state and DuckDB's catalogs are
    # not ingest targets.
    with connect(server) as conn, conn.cursor() as cur:
        assert cur.adbc_ingest("events", DATA, mode="append", db_schema_name="MAIN") == 3
    for reserved in ("arrowport", "Arrowport_Scratch", "temp", "information_schema"):
        with connect(server) as conn, conn.cursor() as cur:
            with pytest.raises(adbc_driver_manager.Error, match="is reserved"):
                cur.adbc_ingest("requests", DATA, mode="replace", db_schema_name=reserved)
    with connect(server) as conn:
        assert scalar(conn, "SELECT count(*) FROM main.events") == 4


def test_temporary_table_lives_on_the_session(server):
    with connect(server, cookies=True) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE scratch (id BIGINT)")  # a main table of the same name
        assert cur.adbc_ingest("scratch", DATA, mode="create", temporary=True) == 3
        assert cur.adbc_ingest("scratch", DATA, mode="append", temporary=True) == 3
        # The session's statements see it (it shadows main.scratch, as in DuckDB).
        assert scalar(conn, "SELECT count(*) FROM scratch") == 6
        assert scalar(conn, "SELECT count(*) FROM temp.main.scratch WHERE tag = ?", ["b"]) == 2
        cur.execute("SELECT id FROM scratch ORDER BY id LIMIT 2")
        assert cur.fetch_arrow_table().column("id").to_pylist() == [1, 1]
        # The session's catalog shows it (ADBC get_objects, GetTables), as DuckDB's temp.
        assert ("temp", "main", "scratch", "LOCAL TEMPORARY") in listed_tables(conn)
        assert conn.adbc_get_table_schema("scratch", catalog_filter="temp").names == [
            "id", "tag"]
        # Another session does not.
        with connect(server, cookies=True) as other:
            assert scalar(other, "SELECT count(*) FROM scratch") == 0  # e2e.main.scratch
            assert not [t for t in listed_tables(other) if t[0] == "temp"]
            with pytest.raises(adbc_driver_manager.Error, match="scratch does not exist"):
                scalar(other, "SELECT count(*) FROM temp.main.scratch")
        # (DuckDB resolves main.scratch to temp.main.scratch first: name the catalog.)
        assert scalar(conn, "SELECT count(*) FROM e2e.main.scratch") == 0
    assert server.proc.poll() is None


def test_temporary_table_with_transactions(server):
    with connect(server, autocommit=False, cookies=True) as conn, conn.cursor() as cur:
        assert cur.adbc_ingest("scratch", DATA, mode="create", temporary=True) == 3
        assert scalar(conn, "SELECT count(*) FROM scratch") == 3
        conn.commit()
        # Still there in the next transaction, and joins it: a rollback undoes the rows.
        assert cur.adbc_ingest("scratch", DATA, mode="append", temporary=True) == 3
        assert scalar(conn, "SELECT count(*) FROM scratch") == 6
        conn.rollback()
        assert scalar(conn, "SELECT count(*) FROM scratch") == 3
        cur.execute("CREATE TABLE kept AS SELECT * FROM scratch")
        conn.commit()
    with connect(server) as check:
        assert scalar(check, "SELECT count(*) FROM kept") == 3


def test_temporary_table_without_a_session_cookie_is_refused_with_the_fix(server):
    with connect(server) as conn, conn.cursor() as cur:
        with pytest.raises(adbc_driver_manager.Error,
                           match="with_cookie_middleware=true"):
            cur.adbc_ingest("scratch", DATA, mode="create", temporary=True)
        with conn.cursor() as fresh, pytest.raises(adbc_driver_manager.Error,
                                                   match="temporary table has no schema"):
            fresh.adbc_ingest("scratch", DATA, mode="create", temporary=True,
                              db_schema_name="staging")


def begin(client):
    [begun] = list(client.do_action(flight.Action("BeginTransaction", wire.begin_transaction())))
    return wire.unpack_any_field1(begun.body.to_pybytes())


def end(client, txn, commit):
    list(client.do_action(flight.Action("EndTransaction", wire.end_transaction(txn, commit))))


def raw_ingest(client, table, data, transaction_id=None, temporary=False, mode="create"):
    command = wire.statement_ingest(table, transaction_id=transaction_id,
                                    temporary=temporary, mode=mode)
    writer, reader = client.do_put(flight.FlightDescriptor.for_command(command), data.schema)
    writer.write_table(data)
    writer.done_writing()
    ack = reader.read()
    writer.close()
    return wire.update_result(ack)


def test_ingest_inside_a_transaction_commits_or_rolls_back_with_it(server):
    client = server.client()
    txn = begin(client)
    assert raw_ingest(client, "landed", DATA, transaction_id=txn) == 3
    assert raw_ingest(client, "landed", DATA, transaction_id=txn, mode="append") == 3
    # Not visible outside the transaction before it commits.
    with connect(server) as conn:
        with pytest.raises(adbc_driver_manager.Error, match="landed"):
            scalar(conn, "SELECT count(*) FROM landed")
    end(client, txn, commit=True)
    with connect(server) as conn:
        assert scalar(conn, "SELECT count(*) FROM landed") == 6

    txn = begin(client)
    assert raw_ingest(client, "landed", DATA, transaction_id=txn, mode="append") == 3
    end(client, txn, commit=False)
    with connect(server) as conn:
        assert scalar(conn, "SELECT count(*) FROM landed") == 6

    # A failed ingest aborts the transaction: nothing sent in it afterwards runs (no
    # statement, no ingest commits on its own), and its commit says nothing committed.
    txn = begin(client)
    assert raw_ingest(client, "landed", DATA, transaction_id=txn, mode="append") == 3
    bad = pa.table({"id": ["not a number"], "tag": ["x"]})
    with pytest.raises(pa.ArrowInvalid, match="transaction is aborted"):
        raw_ingest(client, "landed", bad, transaction_id=txn, mode="append")
    with pytest.raises(pa.ArrowException, match="aborted"):
        raw_ingest(client, "landed", DATA, transaction_id=txn, mode="append")
    with pytest.raises(pa.ArrowException, match="aborted"):
        client.do_put(flight.FlightDescriptor.for_command(wire.statement_update_in(
            "INSERT INTO landed VALUES (9, 'z')", txn)), pa.schema([]))[1].read()
    with pytest.raises(pa.ArrowException, match="nothing was committed"):
        end(client, txn, commit=True)
    with connect(server) as conn:
        assert scalar(conn, "SELECT count(*) FROM landed") == 6

    # A temporary table made in a transaction is there for its statements.
    txn = begin(client)
    assert raw_ingest(client, "tmp", DATA, transaction_id=txn, temporary=True) == 3
    info = client.get_flight_info(flight.FlightDescriptor.for_command(
        wire.statement_query_in("SELECT count(*) AS n FROM tmp", txn)))
    assert client.do_get(info.endpoints[0].ticket).read_all().column("n").to_pylist() == [3]
    end(client, txn, commit=True)
    assert server.proc.poll() is None


UPLOADER_THAT_DIES = r"""
import os, sys
import pyarrow as pa, pyarrow.flight as flight
client = flight.connect(sys.argv[1])
writer, _ = client.do_put(flight.FlightDescriptor.for_command(bytes.fromhex(sys.argv[2])),
                          pa.schema([("x", pa.int64())]))
writer.write_table(pa.table({"x": pa.array(range(5), pa.int64())}))
print("sent", flush=True)
sys.stdin.readline()
os._exit(1)  # dies mid-upload: no done_writing, no close
"""


@pytest.mark.parametrize("in_transaction", [True, False])
def test_executemany_cut_off_keeps_no_rows(server, in_transaction):
    """Rows of a parameter upload that ran before the client vanished are never kept: in
    the client's transaction it is aborted (DuckDB would not abort it by itself: no
    statement failed), in the statement's own transaction nothing commits. gRPC ends the
    upload exactly as if the client had finished it."""
    import subprocess
    import sys
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE rows_in (x BIGINT)")
    client = server.client()
    txn = begin(client) if in_transaction else b""
    [made] = list(client.do_action(flight.Action(
        "CreatePreparedStatement",
        wire.create_prepared_statement("INSERT INTO rows_in VALUES (?)", txn))))
    handle = wire.unpack_any_field1(made.body.to_pybytes())
    proc = subprocess.Popen([sys.executable, "-c", UPLOADER_THAT_DIES, server.uri,
                             wire.prepared_statement_update(handle).hex()],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "sent"
    import time
    time.sleep(1.0)  # the server has run the rows it received
    proc.stdin.write("\n")
    proc.stdin.flush()
    proc.wait(timeout=30)
    assert server.logged("method=do_put")  # the server saw the upload end
    if in_transaction:
        with pytest.raises(pa.ArrowException, match="nothing was committed"):
            end(client, txn, commit=True)
    with connect(server) as conn:
        assert scalar(conn, "SELECT count(*) FROM rows_in") == 0


@pytest.mark.parametrize("end", ["rollback", "commit"])
def test_ending_a_transaction_with_a_result_open_leaves_adbc_working(start_server, end):
    """ADBC (autocommit off, cookies) pins its session with a temporary table, so its
    transaction is the session's connection's. A rollback or commit sent while a result
    of the transaction is still streaming was refused as busy, and ADBC forgets the
    transaction id whatever the answer: its next adbc_ingest (ADBC sends no transaction
    id) joined the forgotten transaction (acknowledged, then rolled back when the session
    closed), and later every call failed with "missing a valid transaction". Now either
    end stops the result and ends the transaction (issue 64), ADBC begins its next one,
    and the ingest lands in that one, kept once committed."""
    import os
    import adbc_driver_flightsql
    import adbc_driver_flightsql.dbapi as flight_sql
    server = start_server(env=dict(os.environ, ARROWPORT_FLIGHT_SQL_BUSY_TIMEOUT_MS="500"))
    options = {adbc_driver_flightsql.DatabaseOptions.WITH_COOKIE_MIDDLEWARE.value: "true"}
    conn = flight_sql.connect(server.uri, autocommit=False, db_kwargs=options)
    cur = conn.cursor()
    assert cur.adbc_ingest("scratch", DATA, mode="create", temporary=True) == 3
    cur.execute("INSERT INTO scratch SELECT * FROM scratch")
    # Wide enough that the rest cannot sit in transport buffers: the stream stays open.
    cur.execute("SELECT range AS id, repeat('x', 100) AS pad FROM range(2000000)")
    reader = cur.fetch_record_batch()
    reader.read_next_batch()
    getattr(conn, end)()
    reader.close()
    cur.close()
    ingest = conn.cursor()
    assert ingest.adbc_ingest("kept", DATA, mode="create") == 3
    conn.commit()
    ingest.close()
    conn.close()
    with connect(server) as check:
        assert scalar(check, "SELECT count(*) FROM kept") == 3
    assert server.proc.poll() is None


def test_a_bulk_ingest_in_a_transaction_counts_in_streams_only_once_committed(server):
    """/streams counted a bulk ingest's rows when the request ended, though its transaction
    was rolled back (issue 64's attack on the ingest run); the metrics waited for the
    commit. Both wait now."""
    rows = pa.table({"id": pa.array(range(1000), pa.int64())})
    client = flight.connect(server.uri)
    raw_ingest(client, "counted", rows)  # made, autocommitted: 1,000 rows

    def listed():
        [entry] = [s for s in requests.get(f"{server.http}/streams", timeout=30).json()["streams"]
                   if s["stream"] == "counted"]
        return entry["rows"], entry["requests"], entry["active_requests"]
    assert listed() == (1000, 1, 0)
    txn = begin(client)
    raw_ingest(client, "counted", rows, transaction_id=txn, mode="append")
    assert listed() == (1000, 2, 0)  # the request ended; its rows wait for the commit
    end(client, txn, False)
    assert listed() == (1000, 2, 0)
    txn = begin(client)
    raw_ingest(client, "counted", rows, transaction_id=txn, mode="append")
    end(client, txn, True)
    assert listed() == (2000, 3, 0)
