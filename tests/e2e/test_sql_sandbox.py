"""The SQL sandbox (issue 11, design section 7) against the real server, auth off (every caller
is the anonymous admin, the most privileged SQL there is): the attacks of the issue fail on
every surface that takes SQL (HTTP /query, Flight DoGet and GetFlightInfo, Flight SQL through
ADBC) with a permission error, the server's own state is intact afterwards, and what an admin
legitimately does (DDL/DML on user tables, configured views, spilling) still works."""
import json

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.flight as flight
import pytest
import requests

from test_flight_roundtrip import get, put
from test_http import ingest, ipc_bytes

# Each attack of the first paragraph, and the thing its refusal names.
ATTACKS = [
    ("SELECT * FROM read_csv('/etc/passwd')", "read_csv"),
    ("SELECT * FROM read_blob('/etc/hostname')", "read_blob"),
    ("SELECT * FROM read_text('/proc/self/environ')", "read_text"),
    ("SELECT * FROM glob('/*')", "glob"),
    ("SELECT * FROM read_parquet('https://example.com/x.parquet')", "read_parquet"),
    ("COPY (SELECT 1 AS a) TO '/tmp/arrowport_sandbox_copy.csv'", "COPY ... TO"),
    ("ATTACH ':memory:' AS other_db", "ATTACH"),
    ("ATTACH '/tmp/arrowport_sandbox_other.duckdb' AS other_db", "ATTACH"),
    ("SET GLOBAL memory_limit = '6GB'", "SET"),
    ("SET GLOBAL threads = 3000", "SET"),
    ("SET enable_external_access = true", "SET"),
    ("SET lock_configuration = false", "SET"),
    ("RESET GLOBAL temp_directory", "SET"),
    ("DETACH arrowport_scratch", "DETACH"),
    ("USE arrowport_scratch", "SET"),
    ("INSTALL httpfs", "INSTALL"),
    ("LOAD httpfs", "LOAD"),
    ("EXPORT DATABASE '/tmp/arrowport_sandbox_export'", "EXPORT"),
    ("DROP TABLE arrowport.requests", "arrowport.requests"),
    ("DROP SCHEMA arrowport CASCADE", "arrowport"),
    ("INSERT INTO arrowport.requests (request_id, stream, table_name, rows, batches) "
     "VALUES ('victim-key', 'victim', 'victim', 0, 0)", "arrowport.requests"),
    ("DELETE FROM arrowport.requests", "arrowport.requests"),
    ("SELECT * FROM arrowport.requests", "arrowport.requests"),
    # The key the server seals its lake commits with (issue 64).
    ("SELECT * FROM arrowport.secrets", "arrowport.secrets"),
    ("UPDATE arrowport.secrets SET value = 'x'", "arrowport.secrets"),
    ("SELECT 1; DROP TABLE victim", "one statement"),
    # Found by an outside review: checkpoints, storage statistics of the request log, SQL
    # and table names given as text, file readers in subqueries and CTEs.
    ("SELECT * FROM pragma_storage_info('arrowport.requests')", "pragma_storage_info"),
    ("SELECT * FROM query_table(coalesce(NULL, 'arrowport.requests'))", "query_table"),
    ("SELECT * FROM query('SELECT * FROM arrowport.requests')", "query"),
    ("SELECT (SELECT count(*) FROM read_blob('/etc/hostname')) AS n", "read_blob"),
    ("WITH f AS (SELECT * FROM read_text('/etc/hostname')) SELECT * FROM f", "read_text"),
    ("SELECT * FROM victim, read_csv('/etc/passwd')", "read_csv"),
]
IDS = [sql.split("(")[0][:40] + f"#{i}" for i, (sql, _) in enumerate(ATTACKS)]


def http_query(server, sql):
    return requests.post(f"{server.http}/query", data=sql,
                         headers={"Content-Type": "text/plain"}, timeout=60)


def adbc(server):
    return flight_sql.connect(server.uri, autocommit=True)


def victim_rows(server):
    return get(server.client(), {"sql": "SELECT count(*)::BIGINT AS n FROM victim"}).to_pylist()[0]["n"]


@pytest.fixture
def victim(server):
    """A server with a user table the attacks would like to damage."""
    r = ingest(server, "victim", ipc_bytes(pa.table({"x": pa.array([1, 2, 3], pa.int64())})),
               headers={"Idempotency-Key": "seed-key"})
    assert r.status_code == 200, r.text
    return server


@pytest.mark.parametrize("sql,names", ATTACKS, ids=IDS)
def test_attack_is_refused_on_every_surface(victim, sql, names):
    server = victim
    r = http_query(server, sql)
    assert r.status_code == 403, r.text
    error = r.json()["error"]
    assert error["code"] == "permission_denied"
    assert names in error["message"] and "sandbox" in error["message"]

    client = server.client()
    with pytest.raises(flight.FlightUnauthorizedError, match="sandbox"):
        get(client, {"sql": sql})
    with pytest.raises(flight.FlightUnauthorizedError, match="sandbox"):
        client.get_flight_info(flight.FlightDescriptor.for_command(json.dumps({"sql": sql})))

    with adbc(server) as conn:
        with conn.cursor() as cur, pytest.raises(adbc_driver_manager.Error, match="sandbox"):
            cur.execute(sql)
        with conn.cursor() as cur, pytest.raises(adbc_driver_manager.Error, match="sandbox"):
            cur.adbc_prepare(sql)

    assert victim_rows(server) == 3


def test_server_state_survives_the_attacks(victim):
    """After every attack on every surface: the settings are the operator's, ingest still works
    through the scratch catalog, and a forged request-log row cannot make a victim's first
    request look like a duplicate."""
    server = victim
    client = server.client()
    def settings():
        """The server's own view of DuckDB's settings (clients cannot read them by SQL)."""
        action = flight.Action("health", b"")
        return json.loads(next(client.do_action(action)).body.to_pybytes())["duckdb"]
    before = settings()
    for sql, _ in ATTACKS:
        assert http_query(server, sql).status_code == 403
        with adbc(server) as conn, conn.cursor() as cur:
            with pytest.raises(adbc_driver_manager.Error):
                cur.execute(sql)
    after = settings()
    assert after == before and after["external_access"] is False

    # The victim's first request with this key: inserted, not "duplicate".
    r = ingest(server, "victim", ipc_bytes(pa.table({"x": pa.array([4], pa.int64())})),
               headers={"Idempotency-Key": "victim-key"})
    assert r.status_code == 200, r.text
    assert r.json()["duplicate"] is False
    # A real repeat is still recognised: the request log works.
    r = ingest(server, "victim", ipc_bytes(pa.table({"x": pa.array([4], pa.int64())})),
               headers={"Idempotency-Key": "victim-key"})
    assert r.json()["duplicate"] is True
    # Flight ingest goes through the scratch catalog that DETACH would have removed.
    put(client, pa.table({"x": pa.array(range(1000), pa.int64())}), {"stream": "victim"})
    assert victim_rows(server) == 1004


def test_copy_over_the_database_file_is_refused_and_data_survives_a_restart(start_server,
                                                                              tmp_path):
    db = tmp_path / "kept.duckdb"
    server = start_server(db=db)
    r = ingest(server, "kept", ipc_bytes(pa.table({"x": pa.array(range(10), pa.int64())})))
    assert r.status_code == 200, r.text
    for target in (db, f"{db}.wal", tmp_path / "elsewhere.csv"):
        sql = f"COPY (SELECT 42 AS a) TO '{target}' (FORMAT csv)"
        r = http_query(server, sql)
        assert r.status_code == 403, r.text
        assert "sandbox" in r.text
        with pytest.raises(flight.FlightUnauthorizedError):
            get(server.client(), {"sql": sql})
        with adbc(server) as conn, conn.cursor() as cur:
            with pytest.raises(adbc_driver_manager.Error, match="sandbox"):
                cur.execute(sql)
    assert not (tmp_path / "elsewhere.csv").exists()
    assert server.stop() == 0

    again = start_server(db=db)
    back = get(again.client(), {"sql": "SELECT count(*)::BIGINT AS n, sum(x)::BIGINT AS s FROM kept"})
    assert back.to_pylist() == [{"n": 10, "s": 45}]


def test_admin_sql_still_runs_ddl_and_dml_on_user_tables(server):
    with adbc(server) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner VARCHAR, balance BIGINT)")
        cur.execute("INSERT INTO accounts VALUES (1, 'ann', 10), (2, 'bob', 20)")
        cur.execute("UPDATE accounts SET balance = balance + 5 WHERE id = ?", (1,))
        cur.execute("DELETE FROM accounts WHERE owner = ?", ("bob",))
        cur.execute("ALTER TABLE accounts ADD COLUMN note VARCHAR")
        cur.execute("CREATE VIEW rich AS SELECT * FROM accounts WHERE balance > 1")
        cur.execute("SELECT id, balance FROM rich")
        assert cur.fetchall() == [(1, 15)]
        cur.execute("EXPLAIN SELECT * FROM accounts")
        # Checkpoints are the checkpoint action's (where no allocation may be refused).
        with pytest.raises(adbc_driver_manager.Error, match="checkpoint action"):
            cur.execute("CHECKPOINT")
    r = http_query(server, "CREATE TABLE over_http AS SELECT range AS i FROM range(5)")
    assert r.status_code == 200, r.text
    assert get(server.client(), {"sql": "SELECT count(*)::BIGINT AS n FROM over_http"}).to_pylist() == [{"n": 5}]
    r = http_query(server, "DROP TABLE over_http")
    assert r.status_code == 200, r.text
    # Parameters work, and still cannot pick a table when the query runs.
    r = requests.post(f"{server.http}/query", json={"sql": "SELECT * FROM query_table($1)",
                                                    "params": ["arrowport.requests"]}, timeout=60)
    assert r.status_code == 403, r.text


def test_configured_views_keep_working_and_their_neighbours_stay_out_of_reach(start_server,
                                                                             tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    pcsv.write_csv(pa.table({"y": [1, 2, 3]}), data / "small.csv")
    pcsv.write_csv(pa.table({"s": ["secret"]}), data / "secret.csv")
    parts = tmp_path / "parts"
    parts.mkdir()
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"x": list(range(10))}), parts / "p1.parquet")
    pq.write_table(pa.table({"x": list(range(10, 15))}), parts / "p2.parquet")
    config = tmp_path / "views.yaml"
    config.write_text(f'views: {{dataset: "{parts}/p*.parquet", small: "{data}/small.csv"}}\n')
    server = start_server("--config", str(config))
    client = server.client()
    assert get(client, {"sql": "SELECT sum(y)::BIGINT AS s FROM small"}).to_pylist() == [{"s": 6}]
    assert get(client, {"sql": "SELECT count(*)::BIGINT AS n FROM dataset"}).to_pylist() == [{"n": 15}]
    r = http_query(server, f"SELECT * FROM read_csv('{data}/secret.csv')")
    assert r.status_code == 403, r.text
    # The views' files cannot be overwritten through SQL either.
    r = http_query(server, f"COPY (SELECT 0 AS y) TO '{data}/small.csv' (FORMAT csv)")
    assert r.status_code == 403, r.text
    assert get(client, {"sql": "SELECT sum(y)::BIGINT AS s FROM small"}).to_pylist() == [{"s": 6}]


def test_a_view_glob_reads_the_files_it_matches_and_nothing_beside(start_server, tmp_path):
    """A `views:` glob let SQL read any file under its folder (DuckDB allowed the folder):
    a sub-folder's Parquet, a CSV beside the matched files, another Parquet there, through
    a table name given as text, DESCRIBE or COPY FROM. Exactly the files the glob matches
    are readable, also one added while the server runs (the view reads it)."""
    import pyarrow.parquet as pq
    parts = tmp_path / "parts"
    (parts / "sub").mkdir(parents=True)
    pq.write_table(pa.table({"x": list(range(10))}), parts / "p1.parquet")
    pq.write_table(pa.table({"x": [900]}), parts / "sub" / "p9.parquet")
    pq.write_table(pa.table({"x": [100]}), parts / "q1.parquet")
    pcsv.write_csv(pa.table({"s": ["secret"]}), parts / "secret.csv")
    config = tmp_path / "views.yaml"
    config.write_text(f'views: {{dataset: "{parts}/p*.parquet"}}\n')
    server = start_server("--config", str(config))
    client = server.client()
    assert http_query(server, "CREATE TABLE copied (s VARCHAR)").status_code == 200
    for sql in (f"SELECT * FROM '{parts}/sub/p9.parquet'",
                f"SELECT * FROM '{parts}/secret.csv'",
                f"SELECT * FROM '{parts}/q1.parquet'",
                f"SELECT * FROM '{parts}/*/*.parquet'",
                f"SELECT * FROM '{parts}/sub/../q1.parquet'",
                f"DESCRIBE '{parts}/secret.csv'",
                f"CREATE TABLE stolen AS SELECT * FROM '{parts}/secret.csv'",
                f"COPY copied FROM '{parts}/secret.csv'",
                f"CREATE VIEW peek AS SELECT * FROM '{parts}/q1.parquet'",
                f"SELECT * FROM 'arrowport-view://{parts}/secret.csv'"):
        r = http_query(server, sql)
        assert r.status_code == 403, (sql, r.text)
        assert "permission_denied" in r.text, r.text
    assert get(client, {"sql": "SELECT count(*)::BIGINT AS n FROM copied"}).to_pylist() == [{"n": 0}]
    assert get(client, {"sql": "SELECT count(*)::BIGINT AS n FROM dataset"}).to_pylist() == [{"n": 10}]
    pq.write_table(pa.table({"x": [10, 11]}), parts / "p2.parquet")
    assert get(client, {"sql": "SELECT count(*)::BIGINT AS n FROM dataset"}).to_pylist() == [{"n": 12}]


@pytest.mark.slow
def test_duckdb_still_spills_to_its_temp_directory(start_server, tmp_path):
    config = tmp_path / "small.yaml"
    config.write_text('duckdb: {memory_limit: "128MB"}\n')
    server = start_server("--config", str(config))
    sql = ("SELECT count(*)::BIGINT AS n, count(DISTINCT s)::BIGINT AS d FROM "
           "(SELECT i, md5(i::VARCHAR) || repeat('x', 60) AS s FROM range(3000000) t(i) ORDER BY s)")
    assert get(server.client(), {"sql": sql}).to_pylist() == [{"n": 3_000_000, "d": 3_000_000}]


@pytest.mark.parametrize("sql", [
    "SELECT * FROM query_table(coalesce($1, 'victim'))",
    "SELECT * FROM query(coalesce($1, 'SELECT 1'))",
])
def test_table_function_arguments_cannot_be_parameters(victim, sql):
    """Found by an outside review: checked with the parameter bound to NULL, the statement
    read `victim`; run with the parameter 'arrowport.requests' it read the request log (and
    the scratch catalog's in-flight ingest). Parameters in table function arguments are
    refused, on every surface."""
    server = victim
    target = "arrowport.requests" if "query_table" in sql else "SELECT * FROM arrowport.requests"
    r = requests.post(f"{server.http}/query", json={"sql": sql, "params": [target]}, timeout=60)
    assert r.status_code == 403, r.text
    assert "parameters" in r.json()["error"]["message"], r.text
    with pytest.raises(flight.FlightUnauthorizedError, match="parameters"):
        get(server.client(), {"sql": sql, "params": [target]})
    with adbc(server) as conn, conn.cursor() as cur:
        with pytest.raises(adbc_driver_manager.Error, match="parameters"):
            cur.execute(sql.replace("$1", "?"), (target,))


def test_database_file_and_wal_cannot_be_read(victim, tmp_path):
    """Found by an outside review: DuckDB allows its own database file and WAL to itself,
    and read_blob over them returned stored values and request-log keys."""
    server = victim
    for path in (tmp_path / "e2e.duckdb", tmp_path / "e2e.duckdb.wal"):
        r = http_query(server, f"SELECT content FROM read_blob('{path}')")
        assert r.status_code == 403, r.text
