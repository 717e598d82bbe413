"""Found by a hostile run: an Arrow timestamp[s] of 10^15 (year 31.7 million) was
accepted by ingest, and the first `::VARCHAR` of it raised a DuckDB internal error that
invalidated the whole database (every client's open transaction lost, the server
reopening it), again at every later read of the row. Seconds and milliseconds that DuckDB
cannot multiply into its microseconds are now refused at ingest, naming the column."""
import io

import pyarrow as pa
import pyarrow.flight as flight
import pytest
import requests

BAD = 10 ** 15


def ipc(table):
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


@pytest.mark.parametrize("arrow_type, value", [
    (pa.timestamp("s"), BAD), (pa.timestamp("ms", tz="UTC"), 9223372036854776),
    # Before 290309-12-22 BC: DuckDB's least timestamp (its microseconds' own edge).
    (pa.timestamp("us"), -9223372022400000001), (pa.duration("s"), BAD),
    # Exported back as nanoseconds, unchecked by DuckDB: 2^63-1 us came back "-1000ns".
    (pa.duration("us"), 2 ** 63 - 1),
    # Past DuckDB's 32-bit days: (2^32 + 10) days was stored as 1970-01-11.
    (pa.date64(), (2 ** 32 + 10) * 86400000),
    (pa.list_(pa.timestamp("s")), [BAD])])
def test_a_timestamp_past_duckdbs_range_is_refused_at_ingest(server, arrow_type, value):
    table = pa.table({"id": [1], "ts": pa.array([value], arrow_type)})
    r = requests.post(f"{server.http}/ingest/x", params={"table": "far"}, data=ipc(table),
                      headers={"Content-Type": "application/vnd.apache.arrow.stream"},
                      timeout=60)
    assert r.status_code == 400, r.text
    assert "'ts'" in r.text and "outside the range DuckDB holds" in r.text, r.text
    client = flight.connect(server.uri)
    writer, _ = client.do_put(flight.FlightDescriptor.for_command(b'{"stream": "far2"}'),
                              table.schema)
    with pytest.raises((flight.FlightError, pa.ArrowInvalid),
                       match="outside the range DuckDB holds"):
        writer.write_table(table)
        writer.close()
    # Nothing was stored and the database is whole: a query still answers.
    tables = requests.get(f"{server.http}/tables", timeout=60)
    assert tables.status_code == 200 and "far" not in tables.text, tables.text
    r = requests.post(f"{server.http}/query", params={"format": "json"},
                      data="SELECT 1 AS one", headers={"Content-Type": "text/plain"}, timeout=60)
    assert r.status_code == 200 and r.json() == [{"one": 1}], r.text
    assert requests.get(f"{server.http}/readyz", timeout=30).status_code == 200


def test_the_edge_of_the_range_is_stored_and_read(server):
    # DuckDB's last and first seconds (294247-01-10 04:00:54, 290309-12-22 BC).
    table = pa.table({"ts": pa.array([9223372036854, -9223372022400, 0], pa.timestamp("s"))})
    r = requests.post(f"{server.http}/ingest/x", params={"table": "edge"}, data=ipc(table),
                      headers={"Content-Type": "application/vnd.apache.arrow.stream"},
                      timeout=60)
    assert r.status_code == 200, r.text
    r = requests.post(f"{server.http}/query", params={"format": "json"},
                      data="SELECT ts::VARCHAR AS v FROM edge ORDER BY ts",
                      headers={"Content-Type": "text/plain"}, timeout=60)
    assert r.status_code == 200, r.text
    assert [row["v"] for row in r.json()] == [
        "290309-12-22 (BC) 00:00:00", "1970-01-01 00:00:00", "294247-01-10 04:00:54"]


def test_a_parameter_past_duckdbs_range_is_refused(server):
    """The same value as a bound parameter (a prepared INSERT from ADBC with Arrow data):
    refused, and the database stays whole."""
    import adbc_driver_manager
    from test_flight_sql import connect
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE stamped (ts TIMESTAMP)")
        for value, arrow_type in ((-9223372022400000001, pa.timestamp("us")),
                                  (BAD, pa.timestamp("s"))):
            params = pa.record_batch([pa.array([value], arrow_type)], names=["ts"])
            with pytest.raises(adbc_driver_manager.Error, match="out of range for a timestamp"):
                cur.execute("INSERT INTO stamped VALUES (?)", params)
        cur.execute("SELECT count(*) FROM stamped")
        assert cur.fetchone()[0] == 0
    assert requests.get(f"{server.http}/readyz", timeout=30).status_code == 200


def post_sql(server, sql):
    return requests.post(f"{server.http}/query", params={"format": "json"}, data=sql,
                         headers={"Content-Type": "text/plain"}, timeout=60)


def reopens(server):
    r = requests.get(f"{server.http}/healthz", timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["storage"].get("reopens", 0)


@pytest.mark.parametrize("call", [
    "make_timestamp(v)", "make_timestamp_ms(v // 1000)", "epoch_ms(v // 1000)",
    "to_timestamp(v / 1000000)", "make_timestamptz(v)"])
def test_sql_cannot_build_a_timestamp_before_duckdbs_least(server, call):
    # DuckDB's functions that build a timestamp from a number did not check it: a value
    # before 290309-12-22 BC came out, and its cast to text raised an internal error that
    # invalidated the database (every open transaction lost), even from a read-only SELECT.
    refused_and_kept(server, call, "far_numbers", "v BIGINT",
                     "(0), (NULL), (-9223372036854775000)", "v = 0", "1970-01-01")


def test_sql_cannot_move_a_timestamp_before_duckdbs_least(server):
    # An attack: time_bucket() moves a timestamp to the start of its bucket, up to a
    # bucket's width before the least timestamp DuckDB holds, with no check; the text of
    # that value raised an internal error that invalidated the database, from a reader's
    # SELECT, and a transform stored such values for every later read to trip on. (Its
    # TIMESTAMPTZ form fails in ICU, and a week's bucket overflows: both clean errors.)
    refused_and_kept(server, "time_bucket(INTERVAL '3 hours', ts, TIMESTAMP '1970-01-01 01:00:00')",
                     "least_stamps", "ts TIMESTAMP",
                     "('290309-12-22 (BC) 00:00:00'), (NULL), ('1970-01-01 00:00:00')",
                     "ts = TIMESTAMP '1970-01-01 00:00:00'", "1969-12-")


def refused_and_kept(server, call, table, column, rows, in_range, text):
    """`call` over `table` (`column`, holding `rows`) is a 400 whose message names the
    least timestamp, as text and stored alike; over the rows `in_range` it reads as
    `text...`; and the database was never reopened."""
    r = post_sql(server, f"CREATE TABLE IF NOT EXISTS {table} ({column})")
    assert r.status_code == 200, r.text
    r = post_sql(server, f"INSERT INTO {table} VALUES {rows}")
    assert r.status_code == 200, r.text
    before = reopens(server)
    r = post_sql(server, f"SELECT {call}::VARCHAR AS c FROM {table}")
    assert r.status_code == 400, r.text
    assert "before the least timestamp DuckDB holds" in r.text, r.text
    r = post_sql(server, f"CREATE TABLE {table}_kept AS SELECT {call} AS c FROM {table}")
    assert r.status_code == 400, r.text
    r = post_sql(server, f"SELECT {call}::VARCHAR AS c FROM {table} WHERE {in_range}")
    assert r.status_code == 200 and r.json()[0]["c"].startswith(text), r.text
    assert reopens(server) == before
    assert requests.get(f"{server.http}/readyz", timeout=30).status_code == 200


LEAST, GREATEST = "TIMESTAMP '290309-12-22 (BC) 00:00:00'", "TIMESTAMP '294247-01-10 04:00:54.775806'"


@pytest.mark.parametrize("aggregate, text", [
    (f"quantile_cont(x, 0.059) FROM (VALUES ({LEAST}), ({LEAST})) v(x)",
     "290309-12-21 (BC) 23:59:59.998976"),
    (f"median(x) FROM (VALUES ({GREATEST}), ({GREATEST})) v(x)",
     "290309-12-21 (BC) 19:59:05.224192")])
def test_duckdbs_own_timestamps_outside_its_range_read_as_text(server, aggregate, text):
    # An attack: DuckDB's quantile_cont and median interpolate timestamps in doubles, so two
    # least timestamps gave one a millisecond before the least, and two greatest INT64_MIN.
    # Its cast to text then threw, which DuckDB counts an internal error: a reader's SELECT
    # invalidated the database, and a value stored by CREATE TABLE AS did on every read.
    # The cast now writes such a value as the date and time of day it stands for.
    before = reopens(server)
    r = post_sql(server, f"SELECT ({aggregate.replace(' FROM', ')::VARCHAR AS c FROM', 1)}")
    assert r.status_code == 200 and r.json() == [{"c": text}], r.text
    r = post_sql(server, f"CREATE TABLE kept AS SELECT {aggregate.replace(' FROM', ' AS m FROM', 1)}")
    assert r.status_code == 200, r.text
    # A function that takes such a value and throws on it (age(); an attack) is the
    # query's error, not an internal one.
    r = post_sql(server, "SELECT age(m) AS a FROM kept")
    assert r.status_code == 400, r.text
    r = post_sql(server, "SELECT m::VARCHAR AS c, {'a': m}::VARCHAR AS s FROM kept")
    assert r.status_code == 200 and r.json() == [{"c": text, "s": f"{{'a': '{text}'}}"}], r.text
    # In one chunk with a value in range and a NULL: each as it is.
    r = post_sql(server, "SELECT x::VARCHAR AS c FROM (SELECT m AS x, 1 AS o FROM kept UNION ALL "
                         "SELECT TIMESTAMP '2020-01-02 03:04:05.5', 2 UNION ALL SELECT NULL, 3) "
                         "ORDER BY o")
    assert r.status_code == 200, r.text
    assert [row["c"] for row in r.json()] == [text, "2020-01-02 03:04:05.5", None], r.text
    # Values in range (and the infinities) read as DuckDB writes them.
    r = post_sql(server, "SELECT ts::VARCHAR AS c FROM (VALUES (TIMESTAMP '2020-01-02 03:04:05.5'), "
                         f"(NULL), (TIMESTAMP '-infinity'), ({LEAST})) t(ts)")
    assert r.status_code == 200, r.text
    assert [row["c"] for row in r.json()] == ["2020-01-02 03:04:05.5", None, "-infinity",
                                              "290309-12-22 (BC) 00:00:00"], r.text
    assert reopens(server) == before
    assert requests.get(f"{server.http}/readyz", timeout=30).status_code == 200


def test_every_cast_of_such_a_timestamp_is_null_or_the_querys_error(server):
    # Attacks: try_cast of such a value to TIMESTAMPTZ (ICU's cast), nested too, a cast to
    # TIMESTAMP_MS, and any cast of a TIMESTAMP_MS median made past the greatest (to text,
    # also implicitly: ||, format()) threw inside a cast DuckDB counts unable to fail, and
    # invalidated the database. A try_cast now gives NULL, a cast the query's 400; DATE and
    # TIME are DuckDB's own casts, which convert such a value.
    r = post_sql(server, "CREATE TABLE far AS SELECT quantile_cont(x, 0.059) AS m FROM "
                         f"(VALUES ({LEAST}), ({LEAST})) v(x)")
    assert r.status_code == 200, r.text
    most_ms = "TIMESTAMP_MS '294247-01-10 04:00:54.775'"
    r = post_sql(server, f"CREATE TABLE far_ms AS SELECT median(x) AS m FROM (VALUES ({most_ms}), "
                         f"({most_ms})) v(x)")
    assert r.status_code == 200, r.text
    before = reopens(server)
    for table, target in [("far", "TIMESTAMPTZ"), ("far", "TIMESTAMP_MS"), ("far", "TIMESTAMP_S"),
                          ("far", "TIMESTAMP_NS"), ("far", "STRUCT(a TIMESTAMPTZ)"),
                          ("far", "TIMESTAMPTZ[]"), ("far_ms", "VARCHAR"),
                          ("far_ms", "TIMESTAMPTZ"), ("far_ms", "TIMESTAMP_S")]:
        value = {"STRUCT(a TIMESTAMPTZ)": "{'a': m}", "TIMESTAMPTZ[]": "[m]"}.get(target, "m")
        r = post_sql(server, f"SELECT TRY_CAST({value} AS {target}) AS c FROM {table}")
        assert r.status_code == 200, (table, target, r.text)
        assert r.json()[0]["c"] in (None, {"a": None}, [None]), (table, target, r.text)
        r = post_sql(server, f"SELECT CAST({value} AS {target}) AS c FROM {table}")
        assert r.status_code == 400, (table, target, r.text)
        assert "outside the range of timestamps DuckDB holds" in r.text, (table, target, r.text)
    for implicit in ("m || 'x'", "format('{}', m)"):
        r = post_sql(server, f"SELECT {implicit} AS c FROM far_ms")
        assert r.status_code == 400 and "outside the range" in r.text, (implicit, r.text)
    # hive_partition_component() writes a value of any type as text itself (an attack):
    # the query's error, for a TIMESTAMPTZ that fill() made INT64_MIN too.
    most_tz = "TIMESTAMPTZ '294247-01-10 04:00:54.775806+00'"
    for call in ("hive_partition_component('k', m) AS c FROM far",
                 "hive_partition_component('k', [m]) AS c FROM far_ms",
                 "hive_partition_component('k', f) AS c FROM (SELECT fill(d) OVER (ORDER BY i) "
                 f"AS f FROM (VALUES (1, {most_tz}), (2, NULL), (3, {most_tz})) v(i, d))"):
        r = post_sql(server, f"SELECT {call}")
        assert r.status_code == 400, (call, r.text)
    r = post_sql(server, "SELECT m::DATE::VARCHAR || ' ' || m::TIME::VARCHAR AS c FROM far")
    assert r.status_code == 200 and r.json() == [{"c": "290309-12-21 (BC) 23:59:59.998976"}], r.text
    # Beside a value in range and a NULL in one chunk: those cast as DuckDB casts them.
    r = post_sql(server, "SELECT TRY_CAST(x AS TIMESTAMPTZ)::VARCHAR AS c FROM (SELECT "
                         "unnest([m, TIMESTAMP '2020-01-02 03:04:05', NULL]) AS x FROM far)")
    assert r.status_code == 200, r.text
    assert [row["c"] for row in r.json()] == [None, "2020-01-02 03:04:05+00", None], r.text
    assert reopens(server) == before
    assert requests.get(f"{server.http}/readyz", timeout=30).status_code == 200
