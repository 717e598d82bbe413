"""Flight SQL over a lake table another writer (delta-rs) commits to: every call that reads
the table reads its latest commit, as a plain query does. Two attack findings: a prepared
whole-table read was split into parts from the view as it was when prepared (the other
writer's file left out), and a Flight SQL update reading the table (CREATE TABLE AS) copied
the old snapshot. The stream's own polling is off (refresh_ms of an hour): only the calls'
refreshes can see the other writer."""
import deltalake
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as flight

import flightsql_wire as wire
from lake_util import Lake, lake_stream, put_path, start_lake_server

# Two files of about 6 MB (random doubles do not compress): a table read in parts.
ROWS_PER_FILE = 400_000


def random_rows(start, n, seed):
    return pa.table({"id": pa.array(range(start, start + n), pa.int64()),
                     "a": pc.random(n, initializer=seed), "b": pc.random(n, initializer=seed + 1)})


def lake_server(start_server, tmp_path):
    (tmp_path / "lake").mkdir()
    lake = Lake.local(tmp_path / "lake" / "events")
    streams = {"events": lake_stream(lake.url, compaction_interval_s=0, refresh_ms=3600000)}
    return start_lake_server(start_server, tmp_path, streams), lake


def other_writer_appends(lake, start, n):
    deltalake.write_deltalake(lake.url, random_rows(start, n, seed=start), mode="append",
                              storage_options=lake.storage_options)


def prepare(client, sql):
    [made] = list(client.do_action(flight.Action("CreatePreparedStatement",
                                                 wire.create_prepared_statement(sql))))
    return wire.unpack_any_field1(made.body.to_pybytes())


def update(client, sql):
    descriptor = flight.FlightDescriptor.for_command(wire.statement_update_in(sql, b""))
    writer, reader = client.do_put(descriptor, pa.schema([]))
    writer.done_writing()
    ack = reader.read()
    writer.close()
    return wire.update_result(ack)


def ids_read(client, info):
    parts = [client.do_get(endpoint.ticket).read_all() for endpoint in info.endpoints]
    return sorted(pa.concat_tables(parts).column("id").to_pylist())


def test_a_prepared_whole_table_read_in_parts_has_the_other_writers_rows(start_server,
                                                                          tmp_path):
    server, lake = lake_server(start_server, tmp_path)
    client = server.client()
    for n in range(2):
        put_path(client, random_rows(n * ROWS_PER_FILE, ROWS_PER_FILE, seed=n), "events")
    handle = prepare(client, "SELECT * FROM events")
    total = 2 * ROWS_PER_FILE
    other_writer_appends(lake, total, 10)
    info = client.get_flight_info(
        flight.FlightDescriptor.for_command(wire.prepared_statement_query(handle)))
    assert len(info.endpoints) >= 2, "the table was not read in parts"
    assert ids_read(client, info) == list(range(total + 10))
    # And once more, the same prepared statement after another commit.
    other_writer_appends(lake, total + 10, 5)
    info = client.get_flight_info(
        flight.FlightDescriptor.for_command(wire.prepared_statement_query(handle)))
    assert ids_read(client, info) == list(range(total + 15))


def test_flight_sql_updates_read_the_other_writers_latest_commit(start_server, tmp_path):
    server, lake = lake_server(start_server, tmp_path)
    client = server.client()
    put_path(client, random_rows(0, 10, seed=0), "events")
    assert update(client, "CREATE TABLE first_copy AS SELECT * FROM events") == 10
    other_writer_appends(lake, 10, 5)
    # A plain update (CommandStatementUpdate).
    assert update(client, "CREATE TABLE second_copy AS SELECT * FROM events") == 15
    other_writer_appends(lake, 15, 5)
    # A prepared one (CommandPreparedStatementUpdate), prepared before the commit.
    handle = prepare(client, "INSERT INTO second_copy SELECT * FROM events WHERE id >= 15")
    other_writer_appends(lake, 20, 5)
    descriptor = flight.FlightDescriptor.for_command(wire.prepared_statement_update(handle))
    writer, reader = client.do_put(descriptor, pa.schema([]))
    writer.done_writing()
    assert wire.update_result(reader.read()) == 10
    writer.close()
    # And one prepared with no parameters, run at GetFlightInfo (as JDBC executes DDL).
    other_writer_appends(lake, 25, 5)
    handle = prepare(client, "CREATE TABLE third_copy AS SELECT * FROM events")
    other_writer_appends(lake, 30, 5)
    client.get_flight_info(
        flight.FlightDescriptor.for_command(wire.prepared_statement_query(handle)))
    ticket = flight.Ticket(b'{"sql": "SELECT count(*) AS n FROM third_copy"}')
    assert client.do_get(ticket).read_all().column("n").to_pylist() == [35]
