"""Found by a hostile run: values DuckDB reads back unchecked, planted by one ingest, took
the database down for every reader afterwards.

- DuckDB's own types, sent as Arrow's opaque extension (vendor "DuckDB", what DuckDB's
  lossless export writes): a malformed BIGNUM crashed the server at `x + 1::BIGNUM`; a
  malformed BIT or TIME WITH TIME ZONE raised an internal error at `x::VARCHAR`, which
  invalidated the database (every open transaction lost), again at every later read.
- A decimal128 beyond its precision (Arrow does not check it): -2^127 as decimal(38, 0)
  invalidated the database at its first cast to text; as decimal(4, 0) DuckDB stored -3200.
- Malformed JSON in an `arrow.json` column: DuckDB's JSON functions threw as functions it
  takes to be unable to fail, an internal error that invalidated the database.

Ingest now holds each such value to what DuckDB itself writes; the JSON functions' errors
are the query's own (400). On the way out, a UHUGEINT that DuckDB's Arrow export would
turn into a wrong number (2^128-1 read back as -1) is an error instead."""
import csv
import io
import json

import adbc_driver_flightsql.dbapi as flight_sql
import duckdb
import pyarrow as pa
import pyarrow.flight as flight
import pytest
import requests

ARROW = "application/vnd.apache.arrow.stream"


def ipc(table):
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def ingest(server, name, array):
    return requests.post(f"{server.http}/ingest/{name}", data=ipc(pa.table({"x": array})),
                         headers={"Content-Type": ARROW}, timeout=60)


def query(server, sql, fmt="json"):
    return requests.post(f"{server.http}/query", params={"format": fmt}, data=sql,
                         headers={"Content-Type": "text/plain"}, timeout=60)


def reopens(server):
    r = requests.get(f"{server.http}/healthz", timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["storage"].get("reopens", 0)


def duckdb_type(storage, name, values):
    return pa.ExtensionArray.from_storage(pa.opaque(storage, name, "DuckDB"),
                                          pa.array(values, storage))


def decimal(value, precision):
    raw = int(value).to_bytes(16, "little", signed=True)
    return pa.Array.from_buffers(pa.decimal128(precision, 0), 1, [None, pa.py_buffer(raw)])


@pytest.mark.parametrize("label, array, what", [
    ("bignum_short", duckdb_type(pa.binary(), "bignum", [b"\x00"]), "bignum"),
    # The header says 5 data bytes, one follows.
    ("bignum_length", duckdb_type(pa.binary(), "bignum", [b"\x80\x00\x05\x01"]), "bignum"),
    ("bit_empty", duckdb_type(pa.binary(), "bit", [b""]), "bit"),
    # Padding of 200 bits in a one-byte string.
    ("bit_padding", duckdb_type(pa.binary(), "bit", [b"\xc8\x01"]), "bit"),
    ("time_tz", duckdb_type(pa.int64(), "time_tz", [-1]), "time_tz"),
    ("decimal_least", decimal(-2 ** 127, 38), "more digits than decimal128(38, 0)"),
    ("decimal_narrow", decimal(-2 ** 127, 4), "more digits than decimal128(4, 0)"),
    # Arrow checks this one itself (its check misses only -2^127, whose absolute value wraps).
    ("decimal_edge", decimal(10 ** 18, 18), "precision of decimal128(18, 0)"),
    # Any other extension is read by DuckDB as its storage: checked as that (the attack
    # run wrapped values in another vendor's opaque type to get them past the checks).
    ("wrapped_decimal", pa.ExtensionArray.from_storage(
        pa.opaque(pa.decimal128(38, 0), "money", "Acme"), decimal(-2 ** 127, 38)),
     "more digits than decimal128(38, 0)"),
    ("wrapped_timestamp", pa.ExtensionArray.from_storage(
        pa.opaque(pa.timestamp("s"), "instant", "Acme"), pa.array([10 ** 15], pa.timestamp("s"))),
     "outside the range DuckDB holds"),
])
def test_a_value_duckdb_would_misread_is_refused_at_ingest(server, label, array, what):
    before = reopens(server)
    r = ingest(server, label, array)
    assert r.status_code == 400, r.text
    assert what in r.text and "'x'" in r.text, r.text
    # Nothing stored; the database whole.
    assert query(server, f"SELECT * FROM {label}").status_code == 404
    assert reopens(server) == before


def test_duckdbs_own_lossless_export_is_stored_as_it_was(server):
    con = duckdb.connect()
    con.execute("SET arrow_lossless_conversion = true")
    rows = """SELECT * FROM (VALUES
      ('101'::BIT, '123456789012345678901234567890'::BIGNUM, '12:34:56+05:30'::TIMETZ,
       99999999999999999999999999999999999999::DECIMAL(38,0)),
      ('1'::BIT, '-340282366920938463463374607431768211456'::BIGNUM,
       '24:00:00-15:59:59'::TIMETZ, -99999999999999999999999999999999999999::DECIMAL(38,0)),
      ('0000000011111111'::BIT, '0'::BIGNUM, '00:00:00+15:59:59'::TIMETZ, NULL)) v(b, n, t, d)"""
    exported = con.execute(rows).arrow()
    table = exported.read_all() if hasattr(exported, "read_all") else exported
    assert table.schema.field("n").type.extension_name == "arrow.opaque"
    r = requests.post(f"{server.http}/ingest/lossless", data=ipc(table),
                      headers={"Content-Type": ARROW}, timeout=60)
    assert r.status_code == 200, r.text
    text = "SELECT b::VARCHAR AS b, n::VARCHAR AS n, t::VARCHAR AS t, d::VARCHAR AS d FROM "
    r = query(server, text + "lossless")
    assert r.status_code == 200, r.text
    expected = [dict(zip("bntd", row)) for row in con.execute(text + "(" + rows + ")").fetchall()]
    assert r.json() == expected


def test_malformed_json_is_the_querys_error_not_the_databases(server):
    array = pa.ExtensionArray.from_storage(pa.json_(), pa.array(['{"a": [1, 2', "nul"]))
    assert ingest(server, "bad_json", array).status_code == 200
    before = reopens(server)
    for sql in ("SELECT json_type(x) FROM bad_json", "SELECT to_json(x) FROM bad_json",
                "SELECT json_keys(x) FROM bad_json", "SELECT json_structure(x) FROM bad_json"):
        r = query(server, sql)
        assert r.status_code == 400, (sql, r.text)
        assert "Malformed JSON" in r.text, (sql, r.text)
    assert reopens(server) == before
    assert query(server, "SELECT count(*) AS n FROM bad_json").json() == [{"n": 2}]


@pytest.mark.parametrize("values,send", [
    (pa.array([1], pa.decimal256(38, 0)), "send decimal128"),
    # A 501 quoting DuckDB ("Unsupported Internal Arrow Type e") before.
    (pa.array([1.5], pa.float16()), "send float32"),
    (pa.array([[1.5]], pa.list_(pa.float16())), "send float32")])
def test_a_type_duckdb_cannot_read_is_refused_with_what_to_send(server, values, send):
    r = ingest(server, "wide", values)
    assert r.status_code == 400, r.text
    assert send in r.text, r.text


BIG = 340282366920938463463374607431768211455  # 2^128 - 1


@pytest.mark.parametrize("sql", [
    f"SELECT {BIG}::UHUGEINT AS x",
    f"SELECT [1::UHUGEINT, {BIG}::UHUGEINT] AS x",
    f"SELECT {{'a': {10 ** 38}::UHUGEINT}} AS x"])
def test_a_uhugeint_arrow_cannot_carry_is_an_error_not_a_wrong_number(server, sql):
    # DuckDB's Arrow export writes UHUGEINT as decimal128(38, 0) bit for bit: 2^128-1 was
    # read back as -1 in Arrow, JSON and CSV, from a plain SELECT.
    for fmt in ("json", "csv", "arrow"):
        r = query(server, sql, fmt)
        assert r.status_code == 400, (fmt, r.text)
        # CSV refuses a nested column by the schema alone, before any row is made.
        nested = fmt == "csv" and ("[" in sql or "{" in sql)
        assert ("cannot hold this result" if nested else "cast the column to VARCHAR") \
            in r.text, r.text
    with pytest.raises(pa.ArrowInvalid, match="10\\^38 or more"):
        server.client().do_get(flight.Ticket(json.dumps({"sql": sql}).encode())).read_all()


def test_uhugeints_arrow_carries_read_back_exactly_in_and_out_of_transactions(server):
    sql = (f"SELECT {10 ** 38 - 1}::UHUGEINT AS x, 5::UHUGEINT AS y "
           f"UNION ALL SELECT 0::UHUGEINT, {2 ** 64}::UHUGEINT")
    assert query(server, sql).json() == [{"x": 10 ** 38 - 1, "y": 5}, {"x": 0, "y": 2 ** 64}]
    # A constant fixed-size array over many rows: its child holds one row's values (the
    # check once read past them and refused small values, quoting heap bytes).
    for rows in (2048, 3000):
        r = query(server, f"SELECT [5, 6]::UHUGEINT[2] AS a FROM range({rows})")
        assert r.status_code == 200 and r.json()[-1] == {"a": [5, 6]}, r.text[:300]
        r = query(server, f"SELECT {{'x': [5, 6]::UHUGEINT[2]}} AS s FROM range({rows})")
        assert r.status_code == 200 and r.json()[-1] == {"s": {"x": [5, 6]}}, r.text[:300]
    big_last = (f"SELECT CASE WHEN range = 2999 THEN [5::UHUGEINT, {BIG}::UHUGEINT]::UHUGEINT[2] "
                "ELSE [1, 2]::UHUGEINT[2] END AS a FROM range(3000)")
    assert query(server, big_last).status_code == 400
    with flight_sql.connect(server.uri, autocommit=False) as conn, conn.cursor() as cur:
        # Inside a transaction results come chunk by chunk: the same check, the same answer.
        cur.execute(f"SELECT {BIG}::UHUGEINT AS x")
        with pytest.raises(Exception, match="10\\^38 or more"):
            cur.fetchall()
        conn.rollback()
        cur.execute(sql)
        assert [[int(v) for v in row] for row in cur.fetchall()] == [
            [10 ** 38 - 1, 5], [0, 2 ** 64]]
        conn.rollback()


def test_json_writes_enums_and_blobs_as_duckdb_does(server):
    # An ENUM came out as Arrow's text of its whole dictionary and an index
    # ("[\n  \"a\",\n  \"b\"\n][1]"), and a blob's bytes that are not UTF-8 as U+FFFD.
    sql = ("SELECT 'b'::ENUM('a', 'b') AS e, ['a'::ENUM('a', 'b'), NULL] AS l, "
           "'\\xFF\\x00a'::BLOB AS b, ['\\xFF'::BLOB] AS lb")
    r = query(server, sql)
    assert r.status_code == 200, r.text
    assert r.json() == [{"e": "b", "l": ["a", None], "b": "\\xFF\\x00a", "lb": ["\\xFF"]}]
    assert query(server, sql.split(", ['a'")[0], "csv").text.splitlines()[1] == '"b"'


def test_bignums_and_unions_are_written_as_duckdb_writes_them(server):
    # A BIGNUM came out in JSON as Arrow's text of its encoding ("[\n  80000A029D...\n]")
    # and CSV refused the column; a UNION as Arrow's text ("union{k: int32 = 1}").
    values = [0, 1, -1, 10 ** 9, -(10 ** 9) + 1, 2 ** 64, -(2 ** 127), 12345678901234567890123,
              -(10 ** 200) - 7, 2 ** 8192 - 1]
    sql = " UNION ALL ".join(f"SELECT {i} AS i, '{v}'::BIGNUM AS b" for i, v in enumerate(values))
    sql = f"SELECT b, b::VARCHAR AS duckdb FROM ({sql}) ORDER BY i"
    r = query(server, sql)
    assert r.status_code == 200, r.text[:300]
    rows = json.loads(r.text)  # JSON numbers of any size, as Python reads them
    assert [row["b"] for row in rows] == values
    assert [row["duckdb"] for row in rows] == [str(v) for v in values]
    r = query(server, sql, "csv")
    assert r.status_code == 200, r.text[:300]
    for line, value in zip(r.text.splitlines()[1:], values):
        assert line == f'"{value}","{value}"'
    nested = query(server, "SELECT [1::BIGNUM, NULL, -2::BIGNUM] AS l, {'n': 3::BIGNUM} AS s")
    assert nested.status_code == 200, nested.text
    assert nested.json() == [{"l": [1, None, -2], "s": {"n": 3}}]
    # Members of one type stay apart, as DuckDB's own to_json writes them.
    unions = query(server, "SELECT u, to_json(u) AS duckdb FROM (SELECT union_value(k := 1)::"
                           "UNION(k INT, s INT) AS u UNION ALL SELECT union_value(s := 1) "
                           "UNION ALL SELECT NULL) ORDER BY duckdb NULLS LAST")
    assert unions.status_code == 200, unions.text
    assert [row["u"] for row in unions.json()] == [{"k": 1}, {"s": 1}, None]
    assert [row["u"] for row in unions.json()[:2]] == [
        json.loads(row["duckdb"]) for row in unions.json()[:2]]
    # Beyond 1 KiB its digits would cost quadratic time: refused, with the ways out.
    for fmt in ("json", "csv"):
        r = query(server, f"SELECT '{2 ** 9000}'::BIGNUM AS b", fmt)
        assert r.status_code == 400, (fmt, r.text[:300])
        assert "cast it to VARCHAR" in r.text, r.text[:300]
    assert query(server, f"SELECT '{2 ** 9000}'::BIGNUM AS b", "arrow").status_code == 200


def variant_column(metadata, value):
    storage = pa.struct([pa.field("metadata", pa.binary(), nullable=False),
                         pa.field("value", pa.binary())])
    column = pa.StructArray.from_arrays([pa.array([metadata]), pa.array([value])],
                                        fields=list(storage))
    field = pa.field("x", storage, metadata={b"ARROW:extension:name": b"arrow.parquet.variant",
                                             b"ARROW:extension:metadata": b""})
    return pa.Table.from_arrays([column], schema=pa.schema([field]))


def deep_variant(depth):
    """Arrays of one element, `depth` deep, around the int8 42 (offsets of 4 bytes)."""
    import struct
    value = b"\x0c\x2a"
    for _ in range(depth):
        value = b"\x0f\x01" + struct.pack("<II", 0, len(value)) + value
    return value


EMPTY_METADATA = b"\x01\x00\x00"


@pytest.mark.parametrize("metadata,value,what", [
    (b"\x01\x02", b"\xff\xff", "metadata"),                       # DuckDB: "Corrupted VARIANT"
    # 6 bytes claiming 2^28 elements: DuckDB allocated until the kernel killed the server
    (EMPTY_METADATA, bytes.fromhex("bb0000001039"), "more elements than it holds"),
    (EMPTY_METADATA, bytes.fromhex("bb0dc350fc39"), "more elements than it holds"),
    # 30,000 levels: accepted, then every read of the table crashed the server
    (EMPTY_METADATA, deep_variant(30000), "256 levels"),
    (EMPTY_METADATA, bytes([(2 << 2) | 1]) + b"\xff\xfe", "UTF-8"),  # DuckDB: 500
    (b"\x02\x00\x00", b"\x0c\x2a", "version 1"),                  # DuckDB: 501
    (EMPTY_METADATA, bytes([22 << 2]), "primitive type 22"),           # DuckDB: 501
])
def test_a_malformed_variant_is_the_clients_error(server, metadata, value, what):
    # DuckDB decodes a variant trusting what it declares; its failures were 500 or 501, a
    # size claim took all memory, a deep value crashed every later read. Each is held to
    # the encoding at ingest, over HTTP and Flight, at the top or nested, in any batch.
    bad = variant_column(metadata, value)
    good = variant_column(EMPTY_METADATA, b"\x0c\x2a")
    for commit in ("per_request", "per_batch"):
        body = ipc_tables([good, bad])
        r = requests.post(f"{server.http}/ingest/bad_variant", params={"commit": commit},
                          data=body, headers={"Content-Type": ARROW}, timeout=60)
        assert r.status_code == 400, r.text[:300]
        assert "arrow.parquet.variant" in r.text and what in r.text, r.text[:300]
    nested = pa.table({"s": pa.StructArray.from_arrays([bad.column(0).combine_chunks()],
                                                       fields=[bad.schema.field(0)])})
    r = requests.post(f"{server.http}/ingest/bad_nested_variant", data=ipc(nested),
                      headers={"Content-Type": ARROW}, timeout=60)
    assert r.status_code == 400 and what in r.text, r.text[:300]
    descriptor = flight.FlightDescriptor.for_command(json.dumps({"stream": "bad_variant_put"}))
    writer, _ = server.client().do_put(descriptor, bad.schema)
    with pytest.raises(pa.ArrowInvalid, match="arrow.parquet.variant"):
        writer.write_table(bad)
        writer.close()
    assert requests.get(f"{server.http}/healthz", timeout=60).status_code == 200


def test_well_formed_variants_are_stored_and_read_back(server):
    # An empty dictionary and the int8 42; a value at the deepest nesting held.
    for name, value in (("good_variant", b"\x0c\x2a"), ("deep_variant", deep_variant(256))):
        r = requests.post(f"{server.http}/ingest/{name}",
                          data=ipc(variant_column(EMPTY_METADATA, value)),
                          headers={"Content-Type": ARROW}, timeout=60)
        assert r.status_code == 200, r.text
    assert query(server, "SELECT x::INTEGER AS x FROM good_variant").json() == [{"x": 42}]
    r = query(server, "SELECT x::VARCHAR AS x FROM deep_variant")
    assert r.status_code == 200 and r.json()[0]["x"].startswith("[[["), r.text[:200]


def variant_rows(values):
    """A table of i (0, 1, ...) and x, the variants of `values`; a None is a null row."""
    from variant_encoding import encode
    encoded = [encode(v) if v is not None else (b"", b"") for v in values]
    storage = pa.struct([pa.field("metadata", pa.binary(), nullable=False),
                         pa.field("value", pa.binary())])
    column = pa.StructArray.from_arrays(
        [pa.array([m for m, _ in encoded]), pa.array([v for _, v in encoded])],
        fields=list(storage), mask=pa.array([v is None for v in values]))
    field = pa.field("x", storage, metadata={b"ARROW:extension:name": b"arrow.parquet.variant",
                                             b"ARROW:extension:metadata": b""})
    return pa.Table.from_arrays([pa.array(range(len(values)), pa.int64()), column],
                                schema=pa.schema([pa.field("i", pa.int64()), field]))


def test_a_variant_column_reads_as_the_json_it_holds(server, tmp_path):
    # JSON and the CLI's table wrote a VARIANT as its two blobs of encoding
    # ({"metadata": "\\x01...", "value": "\\x0C..."}) and CSV refused the column.
    import uuid
    values = [
        {"a": 1, "b": [True, "s", 1.5, None], "c": {"d": 'x"y\n'}}, ("i8", -5), 2 ** 62,
        ("dec16", (10, 10 ** 30 + 7)), ("dec4", (2, -12345)), ("date", 19000),
        ("ts", 1_700_000_000_123_456), ("time", 3_600_000_005),
        ("uuid", uuid.UUID("12345678-1234-5678-1234-567812345678")), ("bin", b"\x00ab"),
        ("longstr", "\u00e9" * 40), [], {}, [[1, [2]], {"k": []}], None]
    r = requests.post(f"{server.http}/ingest/variants", data=ipc(variant_rows(values)),
                      headers={"Content-Type": ARROW}, timeout=60)
    assert r.status_code == 200, r.text
    expected = [
        {"a": 1, "b": [True, "s", 1.5, None], "c": {"d": 'x"y\n'}}, -5, 2 ** 62,
        None, -123.45, "2022-01-08", "2023-11-14 22:13:20.123456Z", "01:00:00.000005",
        "12345678-1234-5678-1234-567812345678", "\\x00ab", "\u00e9" * 40, [], {},
        [[1, [2]], {"k": []}], None]
    sql = "SELECT i, x, x::JSON::VARCHAR AS duckdb FROM variants ORDER BY i"
    r = query(server, sql, "json")
    assert r.status_code == 200, r.text[:300]
    rows = r.json()
    got = [row["x"] for row in rows]
    # A decimal keeps every digit (a JSON number a double cannot hold).
    assert '"x":100000000000000000000.0000000007' in r.text, r.text[:2000]
    expected[3] = got[3]
    assert got == expected, got
    # DuckDB's own JSON of each, but for a timestamp with a time zone, written as the
    # JSON result writes such a column ("Z" where DuckDB writes "+00").
    for row in rows:
        if row["i"] not in (6, len(values) - 1):
            assert row["x"] == json.loads(row["duckdb"]), row
    # CSV: the same JSON text in a field; the CLI's table too.
    r = query(server, "SELECT i, x FROM variants ORDER BY i", "csv")
    assert r.status_code == 200, r.text[:300]
    lines = list(csv.reader(io.StringIO(r.text)))
    assert json.loads(lines[1][1]) == expected[0] and lines[-1][1] == "", lines
    # In JSON at any depth: a list's items, a struct's field, a map's values.
    r = query(server, "SELECT [x, NULL] AS l, {'s': x, 'n': i} AS st, map([i], [x]) AS m "
                      "FROM variants WHERE i = 13", "json")
    assert r.status_code == 200, r.text[:300]
    nested = [[1, [2]], {"k": []}]
    assert r.json() == [{"l": [nested, None], "st": {"s": nested, "n": 13},
                         "m": [{"key": 13, "value": nested}]}], r.text[:500]
    # A 1 MiB key named by 20 objects: 20 MiB as DuckDB stores it, refused at ingest.
    key = "k" * (1 << 20)
    r = requests.post(f"{server.http}/ingest/variant_bomb",
                      data=ipc(variant_rows([[{key: None}] * 20])),
                      headers={"Content-Type": ARROW}, timeout=60)
    assert r.status_code == 400 and "names its keys" in r.text, r.text[:300]
    # With 1.6 MiB of its own beside them it is taken, and its text passes 16 MiB: 400
    # with the ways out, before any byte of the body.
    r = requests.post(f"{server.http}/ingest/variant_bomb",
                      data=ipc(variant_rows([[{key: None}] * 20 + ["s" * (1_600_000)]])),
                      headers={"Content-Type": ARROW}, timeout=60)
    assert r.status_code == 200, r.text[:300]
    for fmt in ("json", "csv"):
        r = query(server, "SELECT x FROM variant_bomb", fmt)
        assert r.status_code == 400 and "16 MiB" in r.text, (fmt, r.text[:300])
    from conftest import run_cli
    proc = run_cli("query", "SELECT x FROM variants WHERE i = 13", "--format", "table",
                   "--server", server.uri, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert '[[1,[2]],{"k":[]}]' in proc.stdout.decode(), proc.stdout


def ipc_tables(tables):
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, tables[0].schema) as writer:
        for table in tables:
            writer.write_table(table)
    return sink.getvalue().to_pybytes()


def test_the_cli_table_writes_a_bignums_digits(server, tmp_path):
    # The CLI's table printed Arrow's text of a BIGNUM's encoding.
    from conftest import run_cli
    proc = run_cli("query", f"SELECT -12345678901234567890123::BIGNUM AS b, "
                            f"'{2 ** 9000}'::BIGNUM AS huge", "--format", "table",
                   "--server", server.uri, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    cells = [cell.strip() for cell in proc.stdout.decode().splitlines()[2].split("|")]
    assert cells[0] == "-12345678901234567890123", proc.stdout
    assert "cast it to VARCHAR" in cells[1], proc.stdout


def test_a_returning_write_whose_answer_is_refused_commits_nothing(server):
    # An INSERT ... RETURNING whose one batch the format could not write was answered 400
    # and committed all the same: the batch that met the result's end committed the
    # write as it was made, before the answer judged it. A client retrying wrote twice.
    assert query(server, "CREATE TABLE ret (b BIGNUM, i INTERVAL)").status_code == 200
    big = f"INSERT INTO ret VALUES ('{2 ** 9000}'::BIGNUM, INTERVAL 1 DAY) RETURNING b"
    for sql, fmt in ((big, "json"), (big, "csv"),
                     ("INSERT INTO ret VALUES (1::BIGNUM, INTERVAL 1 DAY) RETURNING i", "csv")):
        r = query(server, sql, fmt)
        assert r.status_code == 400, (fmt, r.text[:200])
        assert query(server, "SELECT count(*) AS n FROM ret").json() == [{"n": 0}], (sql, fmt)
    r = query(server, "INSERT INTO ret VALUES (5::BIGNUM, INTERVAL 1 DAY) RETURNING b")
    assert r.status_code == 200 and r.json() == [{"b": 5}], r.text
    assert query(server, "SELECT count(*) AS n FROM ret").json() == [{"n": 1}]


def test_client_sql_reads_variants_but_neither_makes_nor_writes_them(server):
    # A reader crashed the server with one statement: deeply nested JSON made into a
    # VARIANT, whose conversion DuckDB runs one level at a time on a thread's stack.
    deep = "SELECT (repeat('[', 10000) || repeat(']', 10000))::JSON::VARIANT::VARCHAR IS NULL"
    r = requests.post(f"{server.http}/ingest/stored_variant",
                      data=ipc(variant_column(EMPTY_METADATA, b"\x0c\x2a")),
                      headers={"Content-Type": ARROW}, timeout=60)
    assert r.status_code == 200, r.text
    for sql in (deep, "SELECT TRY_CAST('[1]'::JSON AS VARIANT[]) AS v",
                "SELECT CAST(1 AS STRUCT(a VARIANT)) AS v", "CREATE TABLE vt (v VARIANT)",
                "CREATE TYPE vv AS VARIANT", "ALTER TABLE stored_variant ADD COLUMN w VARIANT",
                "SELECT variant_bytes_to_variant('\\x01'::BLOB) AS v",
                "INSERT INTO stored_variant SELECT '[[1]]'::JSON",
                "UPDATE stored_variant SET x = x",
                "CREATE VIEW vv AS SELECT '[1]'::JSON::VARIANT AS v",
                # second attack run: a DEFAULT is cast into every row an ingest leaves out;
                # DuckDB makes a list of variants a variant unasked, a level per statement
                # kept by CREATE TABLE AS, or per step of a recursive CTE; stats() makes
                # one of anything and variant_group_object nests one level more
                "ALTER TABLE stored_variant ALTER COLUMN x SET DEFAULT '[[1]]'::JSON",
                "ALTER TABLE stored_variant ADD COLUMN k INTEGER",
                "CREATE TABLE deeper AS SELECT coalesce(CASE WHEN false THEN x END, [[x]]) "
                "AS x FROM stored_variant",
                "WITH RECURSIVE r(n, v) AS (SELECT 0, x FROM stored_variant UNION ALL "
                "SELECT n + 1, coalesce(CASE WHEN false THEN v END, [v]) FROM r "
                "WHERE n < 20000) SELECT v::VARCHAR FROM r WHERE n = 20000",
                "WITH RECURSIVE r(n, v) AS (SELECT 0, stats(1) UNION ALL SELECT n + 1, "
                "variant_group_object('a', v) FROM r WHERE n < 20000 GROUP BY n) "
                "SELECT v::VARCHAR FROM r WHERE n = 20000"):
        r = query(server, sql)
        assert r.status_code == 403 and "VARIANT" in r.json()["error"]["message"], (sql, r.text)
    assert requests.get(f"{server.http}/healthz", timeout=60).status_code == 200
    # Reading stays, and tables made of what was read but not kept as VARIANT.
    assert query(server, "SELECT x::VARCHAR AS v, variant_typeof(x) AS t FROM stored_variant"
                 ).json() == [{"v": "42", "t": "INT8"}]
    assert query(server, "CREATE TABLE copied AS SELECT x::VARCHAR AS v FROM stored_variant"
                 ).status_code == 200
    assert query(server, "SELECT {'variant': 1} AS s").json() == [{"s": {"variant": 1}}]
