"""Reads on every core (issue 19): DuckDB's workers convert results to Arrow in parallel;
the result keeps its order, a whole table is handed out as several endpoints that hold
each row exactly once, and a reader that stops reading holds the server's memory still."""
import json
import os
import time

import adbc_driver_flightsql.dbapi as adbc
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as flight
import pytest
import requests

import flightsql_wire
from test_memory_limits import memory

ROWS = 1_500_000
# A table of several row groups whose rows differ in order by id and by key.
CREATE = (f"CREATE TABLE big AS SELECT i AS id, (i * 7919) % 1000003 AS k, "
          f"'v' || (i % 977) AS s FROM range({ROWS}) t(i)")


def run_sql(server, sql):
    r = requests.post(f"{server.http}/query", data=sql, headers={"Content-Type": "text/plain"},
                      timeout=120)
    assert r.status_code == 200, r.text


def ticket(doc):
    return flight.Ticket(json.dumps(doc).encode())


def non_increasing(column):
    values = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return pc.all(pc.greater_equal(values[:-1], values[1:])).as_py()


def read_endpoints(client, info):
    return [client.do_get(endpoint.ticket).read_all() for endpoint in info.endpoints]


def rss_mib(server, field="VmRSS:"):
    return memory(server, field) / (1 << 20)


@pytest.fixture
def split_server(start_server, tmp_path):
    config = tmp_path / "split.yaml"
    config.write_text("flight:\n  endpoint_rows: 300000\n  max_endpoints: 4\n")
    server = start_server("--config", str(config))
    run_sql(server, CREATE)
    return server


def test_order_is_kept_under_parallel_conversion(split_server):
    """ORDER BY holds on every read surface, and a plain scan keeps insertion order."""
    server = split_server
    client = server.client()
    ordered = "SELECT id, k FROM big ORDER BY k DESC, id"
    table = client.do_get(ticket({"sql": ordered})).read_all()
    assert table.num_rows == ROWS
    keys = table.column("k")
    assert non_increasing(keys), "ORDER BY k DESC broken by the Flight read"
    r = requests.post(f"{server.http}/query?format=arrow", data=ordered,
                      headers={"Content-Type": "text/plain"}, timeout=120)
    assert pa.ipc.open_stream(r.content).read_all().column("k").equals(keys)
    with adbc.connect(server.uri) as conn, conn.cursor() as cur:
        cur.execute(ordered)
        adbc_keys = cur.fetch_arrow_table().column("k")
        assert adbc_keys.num_chunks >= 1 and adbc_keys.combine_chunks().equals(keys.combine_chunks())
    scan = client.do_get(ticket({"sql": "SELECT id FROM big"})).read_all().column("id")
    assert pc.all(pc.equal(scan, pa.array(range(ROWS), pa.int64()))).as_py(), \
        "a plain scan lost insertion order"


def test_whole_table_is_split_into_endpoints_each_row_once(split_server):
    server = split_server
    client = server.client()
    info = client.get_flight_info(flight.FlightDescriptor.for_path("big"))
    assert len(info.endpoints) == 4, info.endpoints
    assert info.total_records == ROWS
    assert info.ordered
    # New rows after GetFlightInfo are not in its endpoints; the old ones are there once,
    # and the endpoints read one after another give the table's order.
    run_sql(server, f"INSERT INTO big SELECT i, 0, 'late' FROM range({ROWS}, {ROWS} + 1000) t(i)")
    parts = read_endpoints(client, info)
    assert all(part.num_rows > 0 for part in parts)
    ids = pa.concat_tables(parts).column("id")
    assert pc.all(pc.equal(ids, pa.array(range(ROWS), pa.int64()))).as_py()
    # A client that reads the table as one ticket still gets it whole, once.
    whole = client.do_get(ticket({"table": "big"})).read_all()
    assert whole.num_rows == ROWS + 1000
    assert pc.count_distinct(whole.column("id")).as_py() == ROWS + 1000


def test_endpoints_of_a_replaced_table_are_refused(split_server):
    server = split_server
    client = server.client()
    info = client.get_flight_info(flight.FlightDescriptor.for_path("big"))
    first = client.do_get(info.endpoints[0].ticket).read_all()
    run_sql(server, "CREATE OR REPLACE TABLE big AS SELECT * FROM big WHERE id % 2 = 0")
    with pytest.raises(pa.ArrowException, match="replaced after its endpoints"):
        client.do_get(info.endpoints[1].ticket).read_all()
    assert first.num_rows > 0
    # Asking again gives endpoints of the new table.
    info = client.get_flight_info(flight.FlightDescriptor.for_path("big"))
    total = sum(part.num_rows for part in read_endpoints(client, info))
    assert total == (ROWS + 1) // 2


def test_flight_sql_select_star_reads_every_row_once_in_parallel(split_server):
    server = split_server
    client = server.client()
    # The raw Flight SQL call ADBC makes: four endpoints, plain table tickets.
    info = client.get_flight_info(flight.FlightDescriptor.for_command(
        flightsql_wire.statement_query("SELECT * FROM big")))
    assert len(info.endpoints) == 4
    assert sum(client.do_get(e.ticket).read_all().num_rows for e in info.endpoints) == ROWS
    # Anything but a whole table stays one statement ticket.
    for sql in ("SELECT * FROM big LIMIT 5", "SELECT id FROM big", "SELECT * FROM big_view"):
        if sql.endswith("big_view"):
            run_sql(server, "CREATE OR REPLACE VIEW big_view AS SELECT * FROM big")
        one = client.get_flight_info(flight.FlightDescriptor.for_command(
            flightsql_wire.statement_query(sql)))
        assert len(one.endpoints) == 1, sql
    with adbc.connect(server.uri) as conn, conn.cursor() as cur:
        cur.execute("SELECT * FROM big")
        table = cur.fetch_arrow_table()
    assert table.num_rows == ROWS
    assert pc.count_distinct(table.column("id")).as_py() == ROWS
    assert pc.sum(table.column("id")).as_py() == ROWS * (ROWS - 1) // 2


@pytest.mark.parametrize("change", [
    "DELETE FROM big WHERE id < 700000",  # then CHECKPOINT: row ids after them move
    "ALTER TABLE big ALTER COLUMN id TYPE VARCHAR",
])
def test_endpoints_of_a_changed_table_are_refused_never_misread(split_server, change):
    server = split_server
    client = server.client()
    info = client.get_flight_info(flight.FlightDescriptor.for_path("big"))
    assert len(info.endpoints) == 4
    first = client.do_get(info.endpoints[0].ticket).read_all()
    run_sql(server, change)
    list(client.do_action(flight.Action("checkpoint", b"")))
    with pytest.raises(pa.ArrowException, match="changed .* after its endpoints"):
        client.do_get(info.endpoints[3].ticket).read_all()
    assert first.num_rows > 0
    info = client.get_flight_info(flight.FlightDescriptor.for_path("big"))
    rows = sum(client.do_get(e.ticket).read_all().num_rows for e in info.endpoints)
    assert rows == (ROWS - 700000 if change.startswith("DELETE") else ROWS)


@pytest.mark.slow
def test_updates_that_move_rows_are_refused_in_place_ones_read_once(split_server):
    server = split_server
    client = server.client()
    run_sql(server, f"CREATE TABLE keyed (id BIGINT PRIMARY KEY, k BIGINT)")
    run_sql(server, f"INSERT INTO keyed SELECT i, i FROM range({ROWS}) t(i)")
    info = client.get_flight_info(flight.FlightDescriptor.for_path("big"))
    run_sql(server, "UPDATE big SET k = -1 WHERE id % 10 = 0")  # in place: same row ids
    parts = read_endpoints(client, info)
    ids = pa.concat_tables(parts).column("id")
    assert pc.all(pc.equal(ids, pa.array(range(ROWS), pa.int64()))).as_py()
    info = client.get_flight_info(flight.FlightDescriptor.for_path("keyed"))
    assert len(info.endpoints) > 1
    # A key update is a delete and an insert in DuckDB: the rows move past the plan.
    run_sql(server, f"UPDATE keyed SET id = id + {ROWS} WHERE id < 100000")
    with pytest.raises(pa.ArrowException, match="changed .* after its endpoints"):
        read_endpoints(client, info)


def test_forged_row_ranges_read_nothing_else(split_server):
    """A ticket's range is data, not SQL: a client may cut its own, never escape it."""
    client = split_server.client()
    info = client.get_flight_info(flight.FlightDescriptor.for_path("big"))
    doc = json.loads(info.endpoints[0].ticket.ticket)
    doc["rows"]["from"], doc["rows"]["to"] = 10, 20
    assert client.do_get(ticket(doc)).read_all().column("id").to_pylist() == list(range(10, 20))
    table = doc["rows"]["table"]
    for bad in ({"from": 5, "to": 1, "table": table}, {"from": "0; DROP TABLE big", "to": 1,
                                                       "table": table},
                {"from": 0, "to": 1}, {"from": 0, "to": 1, "table": table, "x": 1},
                {"from": 0, "to": 1, "table": dict(table, rowid_end="9")},
                {"from": 0, "to": 2 ** 63 - 1, "table": table}):
        with pytest.raises(pa.ArrowException):
            client.do_get(ticket({"table": "big", "rows": bad})).read_all()
    with pytest.raises(pa.ArrowException, match="replaced"):
        client.do_get(ticket({"table": "big", "rows": {"from": 0, "to": 1,
                                                       "table": dict(table, oid=-7)}})).read_all()
    with pytest.raises(pa.ArrowException, match="changed"):
        client.do_get(ticket({"table": "big", "rows": {"from": 0, "to": 1,
                                                       "table": dict(table, rows=5)}})).read_all()
    assert client.do_get(ticket({"sql": "SELECT count(*) AS n FROM big"})).read_all()\
        .column("n")[0].as_py() == ROWS


def test_tables_that_cannot_be_split_by_row_id_get_one_endpoint(split_server):
    """A column named rowid hides DuckDB's row id: ranges over it would lose rows."""
    server = split_server
    client = server.client()
    run_sql(server, f"CREATE TABLE own_rowid AS SELECT {ROWS} - i AS rowid, i FROM range({ROWS}) t(i)")
    info = client.get_flight_info(flight.FlightDescriptor.for_path("own_rowid"))
    assert len(info.endpoints) == 1
    assert client.do_get(info.endpoints[0].ticket).read_all().num_rows == ROWS
    # Row ids a user column fakes near the top of BIGINT: no split, no arithmetic overflow.
    run_sql(server, "CREATE TABLE huge_rowid AS SELECT 9223372036854775797 - i AS rowid "
                    f"FROM range({ROWS}) t(i)")
    for path in ("huge_rowid", "own_rowid"):
        info = client.get_flight_info(flight.FlightDescriptor.for_path(path))
        assert len(info.endpoints) == 1, path
    assert len(list(client.list_flights())) >= 3
    run_sql(server, "CREATE VIEW big_v AS SELECT * FROM big")
    assert len(client.get_flight_info(flight.FlightDescriptor.for_path("big_v")).endpoints) == 1


def test_a_ticket_may_name_columns(split_server):
    client = split_server.client()
    got = client.do_get(ticket({"table": "big", "columns": ["k", "id"]})).read_all()
    assert got.column_names == ["k", "id"] and got.num_rows == ROWS
    for bad in ({"table": "big", "columns": ["no such"]}, {"table": "big", "columns": "id"},
                {"sql": "SELECT 1", "columns": ["id"]}, {"table": "big", "columns": ["id; --"]}):
        with pytest.raises(pa.ArrowException):
            client.do_get(ticket(bad)).read_all()


def test_one_endpoint_when_splitting_is_off(start_server, tmp_path):
    config = tmp_path / "nosplit.yaml"
    config.write_text("flight:\n  max_endpoints: 1\n")
    server = start_server("--config", str(config))
    run_sql(server, CREATE)
    info = server.client().get_flight_info(flight.FlightDescriptor.for_path("big"))
    assert len(info.endpoints) == 1
    assert server.client().do_get(info.endpoints[0].ticket).read_all().num_rows == ROWS


@pytest.mark.parametrize("late_materialization", [None, "true"])
def test_a_large_limit_reads_the_first_rows_unless_late_materialization_is_on(
        start_server, late_materialization):
    """DuckDB 2.0 plans `LIMIT n` (n <= 1M) straight over a table as a semi join of the
    limited row ids against the whole table, sorted back: the server turns that off unless
    duckdb.late_materialization is set (here through its environment variable)."""
    env = os.environ.copy()
    env.pop("ARROWPORT_DUCKDB_LATE_MATERIALIZATION", None)
    if late_materialization:
        env["ARROWPORT_DUCKDB_LATE_MATERIALIZATION"] = late_materialization
    server = start_server(env=env)
    run_sql(server, CREATE)
    r = requests.post(f"{server.http}/query?format=json", timeout=60,
                      json={"sql": "EXPLAIN SELECT * FROM big LIMIT 1000"})
    assert r.status_code == 200, r.text
    plan = "".join(row["explain_value"] for row in r.json())
    assert ("SEMI" in plan) == bool(late_materialization), plan
    rows = server.client().do_get(ticket({"sql": "SELECT * FROM big LIMIT 1000"})).read_all()
    assert rows.column("id").to_pylist() == list(range(1000))


def test_parallel_endpoints_under_a_small_request_budget_all_succeed(start_server, tmp_path):
    """Each query reserves room for all of DuckDB's workers' Arrow units (2 x 8 MiB per
    thread, 32 MiB here): the endpoints of one parallel read, each such a query, waited for
    that room and failed ("resource exhausted") though the workers they share hold far
    less. A query without room now converts chunk by chunk instead."""
    config = tmp_path / "tight.yaml"
    config.write_text("duckdb:\n  threads: 2\nlimits:\n  max_request_memory: 96MiB\n"
                      "flight:\n  endpoint_rows: 300000\n  max_endpoints: 4\n")
    server = start_server("--config", str(config))
    run_sql(server, CREATE)
    client = server.client()
    info = client.get_flight_info(flight.FlightDescriptor.for_path("big"))
    assert len(info.endpoints) == 4
    # Every endpoint open at once (a client reading them in parallel), each begun before
    # any is finished.
    readers = [server.client().do_get(e.ticket) for e in info.endpoints]
    rows = sum(reader.read_chunk().data.num_rows for reader in readers)
    rows += sum(reader.read_all().num_rows for reader in readers)
    assert rows == ROWS


@pytest.mark.slow
def test_a_reader_that_stops_reading_holds_memory_still(server):
    """Backpressure: a client that reads one batch and waits does not make the server
    convert (and hold) the rest of a multi-gigabyte result."""
    client = server.client()
    sql = "SELECT i, repeat('x', 200) AS pad FROM range(30000000) t(i)"  # ~6.5 GB of Arrow
    reader = client.do_get(ticket({"sql": sql}))
    reader.read_chunk()
    time.sleep(1.5)
    before = rss_mib(server)
    time.sleep(3)
    after = rss_mib(server)
    assert after - before < 150, f"server RSS grew {after - before:.0f} MiB while the reader waited"
    assert after < 1500, f"server RSS {after:.0f} MiB for a paused reader"
    rows = 0
    for _ in range(20):
        rows += reader.read_chunk().data.num_rows
    assert rows > 0
    reader.cancel()


@pytest.mark.slow
def test_a_table_ten_times_the_memory_limit_is_served_in_bounded_memory(start_server, tmp_path):
    """Issue 19: peak RSS stays bounded while a table 10x duckdb.memory_limit is read
    (Flight DoGet of the whole table, all its endpoints in parallel, and HTTP)."""
    config = tmp_path / "small.yaml"
    config.write_text("duckdb:\n  memory_limit: 128MiB\n")
    server = start_server("--config", str(config))
    # ~1.4 GB of Arrow: 6M rows of an id, a double and a 200-byte string.
    run_sql(server, "CREATE TABLE wide AS SELECT i AS id, i / 3 AS x, repeat(chr((65 + i % 26)::INTEGER), 200) "
                    "AS s FROM range(6000000) t(i)")
    client = server.client()
    base = rss_mib(server)
    rows = 0
    for chunk in client.do_get(ticket({"table": "wide"})):
        rows += chunk.data.num_rows
    assert rows == 6_000_000
    info = client.get_flight_info(flight.FlightDescriptor.for_path("wide"))
    assert len(info.endpoints) > 1
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(len(info.endpoints)) as pool:
        counts = pool.map(lambda e: sum(c.data.num_rows for c in client.do_get(e.ticket)),
                          info.endpoints)
    assert sum(counts) == 6_000_000
    with requests.get(f"{server.http}/tables/wide", stream=True, timeout=300) as r:
        size = sum(len(part) for part in r.iter_content(1 << 20))
    assert size > 1_200_000_000
    peak = rss_mib(server, "VmHWM:")
    print(f"peak RSS {peak:.0f} MiB, after load {base:.0f} MiB")
    assert peak < 700, f"peak RSS {peak:.0f} MiB (after load {base:.0f} MiB) for a 1.4 GB table"
