"""Dates and timestamps Arrow's formatter cannot write, in the text results (JSON and
CSV): DuckDB's infinity and -infinity printed "<value out of range: 9223372036854775807>",
a TIMESTAMPTZ infinity printed a wrong date ("32103-01-10 04:00:54.775807Z"), and years
past Arrow's date library printed "<value out of range: N>". Now DuckDB's words for the
infinities and the date itself for any year, in Arrow's form; every other value as
before. Against the real server over HTTP."""
import requests

SQL = ("SELECT 'infinity'::TIMESTAMP AS ts_inf, '-infinity'::TIMESTAMP AS ts_ninf, "
       "'infinity'::DATE AS d_inf, '-infinity'::DATE AS d_ninf, "
       "'infinity'::TIMESTAMPTZ AS tz_inf, DATE '294246-12-31' AS d_far, "
       "TIMESTAMP '10000-01-01 12:00:00.5' AS ts_far, DATE '0044-03-15 (BC)' AS d_bc, "
       "TIMESTAMP '2020-01-02 03:04:05' AS ts, DATE '2020-01-02' AS d")
EXPECTED = {"ts_inf": "infinity", "ts_ninf": "-infinity", "d_inf": "infinity",
            "d_ninf": "-infinity", "tz_inf": "infinity", "d_far": "294246-12-31",
            "ts_far": "10000-01-01 12:00:00.500000", "d_bc": "-0043-03-15",
            "ts": "2020-01-02 03:04:05.000000", "d": "2020-01-02"}


def query(server, sql, fmt):
    r = requests.post(f"{server.http}/query", params={"format": fmt}, data=sql,
                      headers={"Content-Type": "text/plain"}, timeout=60)
    assert r.status_code == 200, r.text
    return r


def test_json_writes_infinity_and_any_year(server):
    assert query(server, SQL, "json").json() == [EXPECTED]
    # Inside a list too (a value written through Arrow's scalars).
    nested = query(server, "SELECT [TIMESTAMP 'infinity', TIMESTAMP '2020-01-01'] AS l, "
                           "{'d': DATE '-infinity'} AS s", "json").json()
    assert nested == [{"l": ["infinity", "2020-01-01 00:00:00.000000"],
                       "s": {"d": "-infinity"}}]


def test_csv_writes_infinity_and_any_year(server):
    lines = query(server, SQL, "csv").text.splitlines()
    header = [name.strip('"') for name in lines[0].split(",")]
    cells = [cell.strip('"') for cell in lines[1].split(",")]
    assert dict(zip(header, cells)) == EXPECTED


def test_csv_of_a_table_keeps_arrows_text_beside_infinity(server):
    """A 200,000-row table whose last row is infinity: the rows in batches without it
    are written as before (unquoted), the batch that holds it as text."""
    create = ("CREATE TABLE events AS SELECT i, CASE WHEN i = 199999 THEN 'infinity'::TIMESTAMP "
              "ELSE TIMESTAMP '2020-01-01' + INTERVAL (i) SECOND END AS at FROM range(200000) t(i)")
    query(server, create, "json")
    r = requests.get(f"{server.http}/tables/events", params={"format": "csv"}, timeout=60)
    assert r.status_code == 200, r.text
    lines = r.text.splitlines()
    assert len(lines) == 200001
    assert lines[1] == "0,2020-01-01 00:00:00.000000"
    assert lines[-1] == '199999,"infinity"'
    assert "out of range" not in r.text


def test_the_cli_refuses_csv_of_an_interval_before_any_byte(server, tmp_path):
    """It wrote the header and a cut line to stdout, then failed (a hostile run)."""
    from conftest import run_cli
    proc = run_cli("query", "SELECT 1 AS a, INTERVAL 5 DAY AS i", "--format", "csv",
                   "--server", server.uri, cwd=tmp_path)
    assert proc.returncode != 0
    assert proc.stdout == b"", proc.stdout
    assert b"interval" in proc.stderr, proc.stderr


def test_the_cli_table_writes_infinity_and_any_year(server, tmp_path):
    from conftest import run_cli
    proc = run_cli("query", "SELECT 'infinity'::TIMESTAMP AS a, DATE '294246-12-31' AS e, "
                            "'-infinity'::TIMESTAMPTZ AS g", "--format", "table",
                   "--server", server.uri, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    cells = [cell.strip() for cell in proc.stdout.decode().splitlines()[2].split("|")]
    assert cells == ["infinity", "294246-12-31", "-infinity"], proc.stdout


def test_time_24_00_and_intervals_in_text_results(server):
    """DuckDB's TIME '24:00:00' printed "<value out of range: 86400000000>"; an INTERVAL
    column made CSV fail after its 200 and header (a hostile run): now its own text, and
    a clear 400 before any byte for CSV of an interval."""
    sql = "SELECT TIME '24:00:00' AS t, TIME '12:00:00' AS u"
    assert query(server, sql, "json").json() == [{"t": "24:00:00.000000",
                                                  "u": "12:00:00.000000"}]
    assert query(server, sql, "csv").text.splitlines()[1] == '"24:00:00.000000",12:00:00.000000'
    r = requests.post(f"{server.http}/query", params={"format": "csv"},
                      data="SELECT INTERVAL 1 DAY AS i", headers={"Content-Type": "text/plain"},
                      timeout=60)
    assert r.status_code == 400, r.text
    assert "interval" in r.json()["error"]["message"], r.text
    assert query(server, "SELECT (INTERVAL 1 DAY)::VARCHAR AS i", "csv").text.splitlines()[1] \
        == '"1 day"'
