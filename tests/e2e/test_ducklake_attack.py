"""Hostile-writer attacks on Arrowport's DuckLake reads (issue 38): DuckDB 1.5.5 (or a
forged catalog) puts the table in a state, and Arrowport must serve exactly the rows DuckDB
reads for it, or refuse it with a clear error: never other rows, never a crash or hang.
Each test compares full result sets, every value as text, in the same order. Slow lane
(a few minutes in all); reads racing DuckDB's writers: test_ducklake_races.py."""
import itertools
import sqlite3
import time

import pyarrow as pa
import pyarrow.flight as flight
import pytest
import requests

from ducklake_peers import ducklake_duckdb
from lake_util import put_cmd, start_lake_server

pytestmark = pytest.mark.slow

_databases = itertools.count()


def _make_lake(kind, request, tmp_path):
    data = tmp_path / "lake-data"
    data.mkdir()
    if kind == "sqlite":
        catalog = f"sqlite:{tmp_path / 'catalog.sqlite'}"
    else:
        server = request.getfixturevalue("postgres")
        catalog = "postgres:" + server.create_database(f"attack{next(_databases)}")
    return {"catalog": catalog, "data_path": str(data)}


@pytest.fixture(params=["sqlite"])
def lake(request, tmp_path):
    return _make_lake(request.param, request, tmp_path)


@pytest.fixture(params=["sqlite", "postgres"])
def any_lake(request, tmp_path):
    return _make_lake(request.param, request, tmp_path)


def serve(start_server, tmp_path, lake, table="events", **settings):
    stream = {"sink": "ducklake",
              "ducklake": {"catalog": lake["catalog"], "data_path": lake["data_path"],
                           "refresh_ms": 100, "table": table, **settings}}
    return start_lake_server(start_server, tmp_path, {"events": stream})


def duck(lake):
    return ducklake_duckdb(lake["catalog"], lake["data_path"])


def as_text(table):
    return f"SELECT COLUMNS(*)::VARCHAR FROM {table} ORDER BY ALL"


def duckdb_text(lake, table="events"):
    with ducklake_duckdb(lake["catalog"], lake["data_path"], read_only=True) as con:
        return [tuple(r) for r in con.execute(as_text("lk." + table)).fetchall()]


def arrowport_answer(server, sql):
    """(rows, None) or (None, error text)."""
    from pyarrow import ipc
    r = requests.post(f"{server.http}/query", json={"sql": sql}, timeout=120)
    if r.status_code != 200:
        return None, f"HTTP {r.status_code}: {r.text}"
    table = ipc.open_stream(pa.BufferReader(r.content)).read_all()
    return [tuple(row.values()) for row in table.to_pylist()], None


def assert_served_as_duckdb(server, lake, table="events", refusal_ok=False, timeout=30):
    """Arrowport serves what DuckDB reads (polled: its refresh may lag), or, with
    `refusal_ok`, a clear error. Returns the error text of a refusal, else None."""
    expected = duckdb_text(lake, table)
    deadline = time.monotonic() + timeout
    while True:
        rows, error = arrowport_answer(server, as_text("events"))
        if rows == expected:
            return None
        # A refusal with its reason is an answer (the table's state is not going to change).
        if time.monotonic() > deadline or (refusal_ok and error and "refused" in error):
            break
        time.sleep(0.2)
    assert server.proc.poll() is None, "server died:\n" + server.stderr()[-3000:]
    if error is not None:
        log = [line for line in server.stderr().splitlines() if "events" in line][-5:]
        assert refusal_ok, f"Arrowport refused what DuckDB reads: {error}\nlog: {log}"
        assert "Internal" not in error and len(error) < 4000, error
        print("REFUSED:", error[:400])
        return error
    missing = [r for r in expected if r not in rows]
    extra = [r for r in rows if r not in expected]
    raise AssertionError(f"Arrowport serves other rows than DuckDB: {len(rows)} vs "
                         f"{len(expected)}; missing {missing[:10]}; extra {extra[:10]}")


def base_table(con, rows=100, files=2):
    """lk.events (id BIGINT, v VARCHAR, n INTEGER) in `files` Parquet files."""
    con.execute("CREATE TABLE lk.events (id BIGINT, v VARCHAR, n INTEGER)")
    for f in range(files):
        con.execute(f"INSERT INTO lk.events SELECT i, 'v' || i, (i % 7)::INTEGER "
                    f"FROM range({f * rows}, {(f + 1) * rows}) t(i)")


def arrowport_append(server, ids, **columns):
    table = pa.table({"id": pa.array(list(ids), pa.int64()), **columns})
    put_cmd(flight.connect(server.uri), table, {"stream": "events"})


# --- DuckDB operations ---------------------------------------------------------------


def test_inlined_delete_in_a_later_file_is_a_position_in_that_file(start_server, tmp_path,
                                                                    any_lake):
    with duck(any_lake) as con:
        base_table(con, files=3)
        con.execute("DELETE FROM lk.events WHERE id IN (150, 151, 299)")
    server = serve(start_server, tmp_path, any_lake)
    assert_served_as_duckdb(server, any_lake)


def test_update_of_one_row_twice_and_delete_of_the_updated_row(start_server, tmp_path,
                                                               any_lake):
    with duck(any_lake) as con:
        base_table(con)
        con.execute("UPDATE lk.events SET v = 'once' WHERE id = 5")
        con.execute("UPDATE lk.events SET v = 'twice' WHERE id = 5")
        con.execute("UPDATE lk.events SET n = n + 100 WHERE id BETWEEN 100 AND 180")
        con.execute("UPDATE lk.events SET n = n + 100 WHERE id BETWEEN 150 AND 199")
        con.execute("UPDATE lk.events SET v = 'gone' WHERE id = 6")
        con.execute("DELETE FROM lk.events WHERE id = 6")
    server = serve(start_server, tmp_path, any_lake)
    assert_served_as_duckdb(server, any_lake)
    arrowport_append(server, range(1000, 1003), v=["a", "b", "c"],
                     n=pa.array([1, 2, 3], pa.int32()))
    assert_served_as_duckdb(server, any_lake)
    assert len(duckdb_text(any_lake)) == 200 - 1 + 3


def test_delete_of_every_row_of_a_file(start_server, tmp_path, lake):
    with duck(lake) as con:
        base_table(con, files=3)
        con.execute("DELETE FROM lk.events WHERE id BETWEEN 100 AND 199")
        con.execute("DELETE FROM lk.events WHERE id < 50")
        con.execute("DELETE FROM lk.events WHERE id BETWEEN 50 AND 99")
    server = serve(start_server, tmp_path, lake)
    assert_served_as_duckdb(server, lake)
    assert len(duckdb_text(lake)) == 100


@pytest.mark.parametrize("maintenance", [
    "CALL ducklake_merge_adjacent_files('lk')",
    "CALL ducklake_rewrite_data_files('lk', 'events', delete_threshold => 0.0)",
    "CALL ducklake_flush_inlined_data('lk')",
])
def test_deletes_then_duckdb_maintenance(start_server, tmp_path, lake, maintenance):
    with duck(lake) as con:
        base_table(con, files=4)
        con.execute("DELETE FROM lk.events WHERE id % 10 = 3")  # files or inlined
        con.execute("DELETE FROM lk.events WHERE id = 250")
        con.execute("INSERT INTO lk.events VALUES (7000, 'inl', 1), (7001, 'inl', 2)")
        con.execute("UPDATE lk.events SET v = 'upd' WHERE id IN (7000, 8, 208)")
        con.execute(maintenance)
        con.execute("DELETE FROM lk.events WHERE id IN (1, 101, 7001)")
    server = serve(start_server, tmp_path, lake)
    assert_served_as_duckdb(server, lake, refusal_ok=True)
    arrowport_append(server, [9000], v=["ap"], n=pa.array([9], pa.int32()))
    rows = duckdb_text(lake)
    assert ("9000", "ap", "9") in rows
    assert_served_as_duckdb(server, lake, refusal_ok=True)


def test_merge_after_deletes_then_delete_from_the_merged_file(start_server, tmp_path, lake):
    with duck(lake) as con:
        base_table(con, files=4)
        con.execute("DELETE FROM lk.events WHERE id % 10 = 3")
        con.execute("CALL ducklake_rewrite_data_files('lk', 'events', delete_threshold => 0.0)")
        con.execute("CALL ducklake_merge_adjacent_files('lk')")
        con.execute("DELETE FROM lk.events WHERE id IN (1, 2, 150, 399)")
        con.execute("UPDATE lk.events SET v = 'u' WHERE id = 222")
    server = serve(start_server, tmp_path, lake)
    assert_served_as_duckdb(server, lake, refusal_ok=True)


def test_column_type_promoted_int_to_bigint(start_server, tmp_path, any_lake):
    with duck(any_lake) as con:
        base_table(con)
        con.execute("INSERT INTO lk.events VALUES (500, 'inl', 2147483647)")
        con.execute("ALTER TABLE lk.events ALTER COLUMN n SET DATA TYPE BIGINT")
        con.execute("INSERT INTO lk.events VALUES (501, 'big', 9000000000)")
        con.execute("INSERT INTO lk.events SELECT 600 + i, 'f', 5000000000 + i FROM range(50) t(i)")
        con.execute("DELETE FROM lk.events WHERE id IN (3, 500)")
    server = serve(start_server, tmp_path, any_lake)
    assert_served_as_duckdb(server, any_lake)
    arrowport_append(server, [9000], v=["ap"], n=pa.array([2 ** 40], pa.int64()))
    assert ("9000", "ap", str(2 ** 40)) in duckdb_text(any_lake)
    assert_served_as_duckdb(server, any_lake)


def test_table_renamed_and_another_created_under_its_name(start_server, tmp_path, lake):
    with duck(lake) as con:
        base_table(con)
        con.execute("DELETE FROM lk.events WHERE id = 4")
        con.execute("ALTER TABLE lk.events RENAME TO old_events")
        con.execute("CREATE TABLE lk.events (id BIGINT, v VARCHAR, n INTEGER)")
        con.execute("INSERT INTO lk.events SELECT i, 'new' || i, 1 FROM range(30) t(i)")
        con.execute("DELETE FROM lk.events WHERE id = 4")
        con.execute("INSERT INTO lk.events VALUES (77, 'x', 2)")
    server = serve(start_server, tmp_path, lake)
    # The table's folder of the new table is another one: refusal allowed.
    assert_served_as_duckdb(server, lake, refusal_ok=True)


def test_table_dropped_and_created_again_with_the_same_name(start_server, tmp_path, lake):
    with duck(lake) as con:
        base_table(con)
    server = serve(start_server, tmp_path, lake)
    assert_served_as_duckdb(server, lake)
    with duck(lake) as con:
        con.execute("DROP TABLE lk.events")
        con.execute("CREATE TABLE lk.events (id BIGINT, v VARCHAR, n INTEGER)")
        con.execute("INSERT INTO lk.events SELECT i, 'again' || i, 3 FROM range(40) t(i)")
        con.execute("DELETE FROM lk.events WHERE id = 1")
        con.execute("INSERT INTO lk.events VALUES (41, 'x', 2)")
    assert_served_as_duckdb(server, lake, refusal_ok=True)
    arrowport_append(server, [9000], v=["ap"], n=pa.array([9], pa.int32()))
    assert ("9000", "ap", "9") in duckdb_text(lake)
    assert_served_as_duckdb(server, lake, refusal_ok=True)


def test_partitioning_changed_between_files_with_deletes(start_server, tmp_path, any_lake):
    with duck(any_lake) as con:
        base_table(con)
        con.execute("ALTER TABLE lk.events SET PARTITIONED BY (n)")
        con.execute("INSERT INTO lk.events SELECT i, 'p' || i, (i % 3)::INTEGER "
                    "FROM range(200, 300) t(i)")
        con.execute("DELETE FROM lk.events WHERE id IN (10, 210, 211)")
        con.execute("ALTER TABLE lk.events SET PARTITIONED BY (v)")
        con.execute("INSERT INTO lk.events SELECT i, 'q' || (i % 2), 5 FROM range(300, 360) t(i)")
        con.execute("DELETE FROM lk.events WHERE id IN (301, 302)")
        con.execute("ALTER TABLE lk.events RESET PARTITIONED BY")
        con.execute("INSERT INTO lk.events SELECT i, 'r', 6 FROM range(400, 450) t(i)")
        con.execute("DELETE FROM lk.events WHERE id = 401")
    server = serve(start_server, tmp_path, any_lake)
    assert_served_as_duckdb(server, any_lake)
    rows, error = arrowport_answer(server, "SELECT count(*) FROM events WHERE n = 1")
    assert error is None and rows == [(sum(1 for r in duckdb_text(any_lake) if r[2] == "1"),)]


def test_table_partitioned_on_every_column_with_deletes(start_server, tmp_path, lake):
    with duck(lake) as con:
        con.execute("CREATE TABLE lk.events (id BIGINT)")
        con.execute("ALTER TABLE lk.events SET PARTITIONED BY (id)")
        con.execute("INSERT INTO lk.events SELECT i % 5 FROM range(100) t(i)")
        con.execute("DELETE FROM lk.events WHERE id = 3")
    server = serve(start_server, tmp_path, lake)
    assert_served_as_duckdb(server, lake)


@pytest.mark.parametrize("name", ['we"ird', "it's", "file_row_number", "with space",
                                  "ünï", "pos", "a.b"])
def test_odd_column_names_with_deletes_and_defaults(start_server, tmp_path, lake, name):
    quoted = '"' + name.replace('"', '""') + '"'
    with duck(lake) as con:
        con.execute(f"CREATE TABLE lk.events (id BIGINT, {quoted} VARCHAR)")
        con.execute(f"INSERT INTO lk.events SELECT i, 'x' || i FROM range(100) t(i)")
        con.execute("DELETE FROM lk.events WHERE id IN (5, 6)")
        con.execute(f"INSERT INTO lk.events VALUES (1000, 'inl')")
        con.execute(f"ALTER TABLE lk.events ADD COLUMN {quoted[:-1]}2\" INTEGER DEFAULT 4")
        con.execute(f"INSERT INTO lk.events VALUES (1001, 'inl2', 5)")
    server = serve(start_server, tmp_path, lake)
    # A column named like read_parquet's row number is refused, naming it, once rows of the
    # table are deleted (the reader finds deleted rows by that number).
    refused = assert_served_as_duckdb(server, lake, refusal_ok=name == "file_row_number")
    assert refused is None or "file_row_number" in refused


@pytest.mark.parametrize("column", [
    "VARCHAR DEFAULT 'it''s \"q\" \\ ok'",
    "VARCHAR DEFAULT ''",
    "VARCHAR DEFAULT 'NULL'",
    "BLOB DEFAULT '\\x00\\xFFab'",
    "DATE DEFAULT '1999-12-31'",
    "TIMESTAMP DEFAULT '2001-02-03 04:05:06.789'",
    "TIMESTAMPTZ DEFAULT '2001-02-03 04:05:06+05'",
    "BOOLEAN DEFAULT 'false'",
    "DOUBLE DEFAULT -0.1",
    "DECIMAL(18,3) DEFAULT 12.345",
    "UUID DEFAULT '00000000-0000-0000-0000-000000000001'",
    "VARCHAR DEFAULT ''');DROP TABLE x;--'",
    "HUGEINT DEFAULT 170141183460469231731687303715884105727",
    "TIME DEFAULT '23:59:59'",
    "FLOAT DEFAULT 'nan'",
])
def test_added_column_defaults_of_every_kind(start_server, tmp_path, lake, column):
    with duck(lake) as con:
        base_table(con)
        con.execute("INSERT INTO lk.events VALUES (500, 'inl', 1)")
        con.execute(f"ALTER TABLE lk.events ADD COLUMN d {column}")
        con.execute("INSERT INTO lk.events (id, v, n) VALUES (501, 'after', 2)")
        con.execute("DELETE FROM lk.events WHERE id = 7")
    server = serve(start_server, tmp_path, lake)
    assert_served_as_duckdb(server, lake, refusal_ok=True)


# --- A forged catalog ---------------------------------------------------------------


def duckdb_text_or_error(lake, table="events"):
    try:
        return duckdb_text(lake, table), None
    except Exception as e:  # noqa: BLE001 - DuckDB's refusal is the reference
        return None, str(e)


def assert_served_as_duckdb_or_refused(server, lake, timeout=5):
    """DuckDB reads the forged table: Arrowport serves the same rows or refuses clearly.
    DuckDB refuses it: Arrowport must not serve rows either."""
    expected, duck_error = duckdb_text_or_error(lake)
    if duck_error is None:
        return assert_served_as_duckdb(server, lake, refusal_ok=True, timeout=timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows, error = arrowport_answer(server, as_text("events"))
        assert rows is None, (f"DuckDB refuses the table ({duck_error[:300]}) but Arrowport "
                              f"serves {len(rows)} rows: {rows[:5]}")
        time.sleep(0.5)
    assert server.proc.poll() is None, "server died:\n" + server.stderr()[-3000:]
    return error


def forged(lake, *statements):
    path = lake["catalog"].partition(":")[2]
    db = sqlite3.connect(path)
    try:
        for statement in statements:
            db.execute(statement)
        db.commit()
    finally:
        db.close()


def table_with_a_delete_file(lake, extra_column=""):
    with duck(lake) as con:
        con.execute(f"CREATE TABLE lk.events (id BIGINT, v VARCHAR{extra_column})")
        con.execute("INSERT INTO lk.events SELECT i, 'a' || i" +
                    (", i" if extra_column else "") + " FROM range(100) r(i)")
        con.execute("DELETE FROM lk.events WHERE id < 30")  # a delete file
        con.execute("DELETE FROM lk.events WHERE id = 50")  # inlined
        table_id = con.execute("SELECT table_id FROM __ducklake_metadata_lk.ducklake_table "
                               "WHERE table_name = 'events'").fetchone()[0]
        data = con.execute("SELECT path FROM __ducklake_metadata_lk.ducklake_data_file"
                           ).fetchone()[0]
    return table_id, data


@pytest.mark.parametrize("path", ["../../../../../../etc/passwd", "/etc/passwd", ""])
def test_forged_delete_file_path_leaving_the_table_folder_is_refused(start_server, tmp_path,
                                                                      lake, path):
    table_with_a_delete_file(lake)
    forged(lake, f"UPDATE ducklake_delete_file SET path = '{path}', path_is_relative = "
                 f"{0 if path.startswith('/') else 1}")
    server = serve(start_server, tmp_path, lake)
    error = assert_served_as_duckdb_or_refused(server, lake)
    assert error is not None


def test_forged_delete_file_naming_a_data_file_with_a_pos_column(start_server, tmp_path, lake):
    """The delete file a data file (which has a column `pos` 0..99): not a delete file."""
    table_id, data = table_with_a_delete_file(lake, extra_column=", pos BIGINT")
    forged(lake, f"UPDATE ducklake_delete_file SET path = '{data}'")
    server = serve(start_server, tmp_path, lake)
    assert_served_as_duckdb_or_refused(server, lake)


@pytest.mark.parametrize("position", ["4611686018427387904", "-1", "NULL", "100", "'abc'"])
def test_forged_inlined_delete_positions(start_server, tmp_path, lake, position):
    table_id, _ = table_with_a_delete_file(lake)
    forged(lake, f"INSERT INTO ducklake_inlined_delete_{table_id} VALUES (0, {position}, 1)")
    server = serve(start_server, tmp_path, lake)
    assert_served_as_duckdb_or_refused(server, lake)


def test_forged_inlined_delete_of_a_file_of_another_table(start_server, tmp_path, lake):
    table_id, _ = table_with_a_delete_file(lake)
    with duck(lake) as con:
        con.execute("CREATE TABLE lk.other (id BIGINT)")
        con.execute("INSERT INTO lk.other SELECT i FROM range(100) r(i)")
        other = con.execute("SELECT data_file_id FROM __ducklake_metadata_lk.ducklake_data_file "
                            "d JOIN __ducklake_metadata_lk.ducklake_table t USING (table_id) "
                            "WHERE t.table_name = 'other'").fetchone()[0]
    forged(lake, f"INSERT INTO ducklake_inlined_delete_{table_id} VALUES ({other}, 60, 1)",
           f"UPDATE ducklake_delete_file SET data_file_id = {other}")
    server = serve(start_server, tmp_path, lake)
    assert_served_as_duckdb_or_refused(server, lake)


@pytest.mark.parametrize("default", ["x''); DROP TABLE ducklake_snapshot; --", "\\x00"])
def test_forged_initial_default_text(start_server, tmp_path, lake, default):
    with duck(lake) as con:
        con.execute("CREATE TABLE lk.events (id BIGINT)")
        con.execute("INSERT INTO lk.events SELECT i FROM range(10) r(i)")
        con.execute("ALTER TABLE lk.events ADD COLUMN s VARCHAR DEFAULT 'd'")
        con.execute("ALTER TABLE lk.events ADD COLUMN n INTEGER DEFAULT 3")
    text = default.replace("'", "''")
    forged(lake, f"UPDATE ducklake_column SET initial_default = '{text}' WHERE column_name "
                 "IN ('s', 'n')")
    server = serve(start_server, tmp_path, lake)
    assert_served_as_duckdb_or_refused(server, lake)
    con = ducklake_duckdb(lake["catalog"], lake["data_path"], read_only=True)
    con.close()  # the catalog survived


@pytest.mark.parametrize("name", ['ducklake_inlined_data_1_1"; DROP TABLE ducklake_snapshot; --',
                                  "ducklake_inlined_data_2_1",
                                  "ducklake_snapshot"])
def test_forged_inlined_table_name(start_server, tmp_path, lake, name):
    with duck(lake) as con:
        con.execute("CREATE TABLE lk.events (id BIGINT)")
        con.execute("INSERT INTO lk.events VALUES (1), (2)")
        con.execute("CREATE TABLE lk.other (id BIGINT)")
        con.execute("INSERT INTO lk.other VALUES (66), (67)")
    text = name.replace("'", "''")
    forged(lake, f"UPDATE ducklake_inlined_data_tables SET table_name = '{text}' "
                 "WHERE table_id = 1")
    server = serve(start_server, tmp_path, lake)
    assert_served_as_duckdb_or_refused(server, lake)


def test_massive_inlined_deletes_are_read_or_refused_clearly(start_server, tmp_path, lake):
    with duck(lake) as con:
        con.execute("CREATE TABLE lk.events (id BIGINT)")
        con.execute("INSERT INTO lk.events SELECT i FROM range(300000) r(i)")
        table_id = con.execute("SELECT table_id FROM __ducklake_metadata_lk.ducklake_table"
                               ).fetchone()[0]
        files = con.execute("SELECT data_file_id, record_count FROM "
                            "__ducklake_metadata_lk.ducklake_data_file").fetchall()
        con.execute("DELETE FROM lk.events WHERE id = 5")  # makes the inlined delete table
    path = lake["catalog"].partition(":")[2]
    db = sqlite3.connect(path)
    db.executemany(f"INSERT INTO ducklake_inlined_delete_{table_id} VALUES (?, ?, 1)",
                   [(f, p) for f, count in files for p in range(0, count, 2)])
    db.commit()
    db.close()
    server = serve(start_server, tmp_path, lake)
    started = time.monotonic()
    error = assert_served_as_duckdb(server, lake, refusal_ok=True, timeout=60)
    assert time.monotonic() - started < 60
    if error:
        assert "flush" in error, error


# --- Reading while DuckDB writes ----------------------------------------------------


def test_struct_column_with_a_field_added_and_renamed(start_server, tmp_path, lake):
    with duck(lake) as con:
        con.execute("CREATE TABLE lk.events (id BIGINT, s STRUCT(a INTEGER, b VARCHAR))")
        con.execute("INSERT INTO lk.events SELECT i, {'a': i, 'b': 'b' || i} FROM range(50) t(i)")
        con.execute("INSERT INTO lk.events VALUES (100, {'a': 1, 'b': 'inl'})")
        con.execute("ALTER TABLE lk.events ADD COLUMN s.c DOUBLE")
        con.execute("ALTER TABLE lk.events RENAME s.a TO a2")
        con.execute("INSERT INTO lk.events VALUES (101, {'a2': 2, 'b': 'x', 'c': 1.5})")
        con.execute("INSERT INTO lk.events SELECT 200 + i, {'a2': i, 'b': 'n', 'c': i} "
                    "FROM range(50) t(i)")
        con.execute("DELETE FROM lk.events WHERE id IN (3, 201)")
    server = serve(start_server, tmp_path, lake)
    assert_served_as_duckdb(server, lake, refusal_ok=True)


def test_inlined_rows_of_every_schema_version_renamed_dropped_promoted(start_server, tmp_path,
                                                                       any_lake):
    with duck(any_lake) as con:
        con.execute("CREATE TABLE lk.events (id BIGINT, a INTEGER, b VARCHAR, c INTEGER)")
        con.execute("INSERT INTO lk.events VALUES (1, 10, 'b1', 100)")
        con.execute("ALTER TABLE lk.events RENAME COLUMN a TO a_renamed")
        con.execute("INSERT INTO lk.events VALUES (2, 20, 'b2', 200)")
        con.execute("ALTER TABLE lk.events RENAME COLUMN b TO a")  # the old name of another
        con.execute("ALTER TABLE lk.events ALTER COLUMN c SET DATA TYPE BIGINT")
        con.execute("INSERT INTO lk.events VALUES (3, 30, 'b3', 3000000000)")
        con.execute("ALTER TABLE lk.events DROP COLUMN a_renamed")
        con.execute("ALTER TABLE lk.events ADD COLUMN a_renamed VARCHAR DEFAULT 'new'")
        con.execute("INSERT INTO lk.events VALUES (4, 'b4', 4, 'x')")
        con.execute("INSERT INTO lk.events SELECT 100 + i, 'f', i, 'f' FROM range(30) t(i)")
        con.execute("UPDATE lk.events SET c = -1 WHERE id IN (2, 105)")
        con.execute("DELETE FROM lk.events WHERE id = 3")
    server = serve(start_server, tmp_path, any_lake)
    assert_served_as_duckdb(server, any_lake)
    arrowport_append(server, [9000], a=["ap"], c=pa.array([7], pa.int64()),
                     a_renamed=["z"])
    assert ("9000", "ap", "7", "z") in duckdb_text(any_lake)
    assert_served_as_duckdb(server, any_lake)
