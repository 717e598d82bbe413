"""The DuckLake sink under bad input and faults (issue 38, "Bad input and faults"): its
catalog unreachable or going away mid-stream (a real PostgreSQL stopped and started
again), a catalog at a format version Arrowport does not write, partition values with
every character U+0000..U+00FF in a SQLite and a PostgreSQL catalog, DuckDB altering the
table or appending to it while Arrowport appends, and two Arrowport servers appending to
one PostgreSQL-catalogued table. After each: DuckDB 1.5.5's own ducklake reader sees every
acknowledged request's rows exactly once and nothing unacknowledged, and the server is
alive."""
import contextlib
import json
import sqlite3
import threading
import time

import duckdb
import pyarrow as pa
import pyarrow.flight as flight
import pytest
import requests

from ducklake_peers import PostgresServer, ducklake_duckdb
from lake_util import events, http_ingest, http_query, put_cmd, start_lake_server

ERRORS = (pa.ArrowException, flight.FlightError)


# ---- helpers ----

def ducklake_stream(catalog, data_path, table="events", partition_by=None, commit=None,
                    schema_policy=None, **options):
    """One `streams.NAME` entry routing the stream to the DuckLake table `table`."""
    lake = {"catalog": catalog, "data_path": str(data_path), "table": table, **options}
    if partition_by:
        lake["partition_by"] = list(partition_by)
    stream = {"sink": "ducklake", "ducklake": lake}
    if commit is not None:
        stream["commit"] = commit
    if schema_policy is not None:
        stream["schema_policy"] = schema_policy
    return stream


def duck(catalog, data_path, sql):
    """`sql` through DuckDB 1.5.5's ducklake reader (the lake attached read-only as lk)."""
    con = ducklake_duckdb(catalog, data_path, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def duck_ids(catalog, data_path, table="events"):
    return [r[0] for r in duck(catalog, data_path, f"SELECT id FROM lk.{table}")]


def assert_exactly(catalog, data_path, expected_ids, table="events"):
    """DuckDB sees each id of `expected_ids` exactly once and no other row, with the
    values events() gave it."""
    ids = duck_ids(catalog, data_path, table)
    duplicated = sorted({i for i in ids if ids.count(i) > 1}) if len(ids) != len(set(ids)) else []
    assert not duplicated, f"rows landed twice: {duplicated[:20]}"
    missing = sorted(set(expected_ids) - set(ids))
    extra = sorted(set(ids) - set(expected_ids))
    assert not missing, f"acknowledged rows lost: {missing[:20]} ({len(missing)})"
    assert not extra, f"unacknowledged rows visible: {extra[:20]} ({len(extra)})"
    wanted = sum(i * 3 + 1 for i in expected_ids)
    assert duck(catalog, data_path, f"SELECT count(*), sum(x) FROM lk.{table}")[0] == \
        (len(expected_ids), wanted if expected_ids else None)


def alive(server):
    """The server answers HTTP and Flight and has not exited."""
    assert server.proc.poll() is None, "the server exited:\n" + server.stderr()[-3000:]
    assert requests.get(f"{server.http}/healthz", timeout=30).status_code in (200, 404)
    assert http_query(server, "SELECT 42 AS n").to_pylist() == [{"n": 42}]


def flight_error(client, table, command, timeout=120):
    """A DoPut the server refuses: its error (the test fails if it is accepted)."""
    descriptor = flight.FlightDescriptor.for_command(json.dumps(command))
    writer, metadata = client.do_put(descriptor, table.schema,
                                     options=flight.FlightCallOptions(timeout=timeout))
    try:
        writer.write_table(table)
        writer.done_writing()
        while metadata.read() is not None:
            pass
        writer.close()
    except ERRORS as e:
        with contextlib.suppress(*ERRORS):
            writer.close()
        return e
    pytest.fail(f"the write {command} was accepted")


def sent_until_accepted(send, what, timeout=90):
    """`send()` again (same request id) while the server answers 503, as its answer tells
    a client to: the catalog, just started again, may be slow to take connections."""
    deadline = time.monotonic() + timeout
    while True:
        answer = send()
        if answer.status_code != 503 or time.monotonic() > deadline:
            return answer
        print(f"{what}: busy, sent again: {answer.text}")
        time.sleep(0.5)


def request_ids_in_catalog(catalog, data_path):
    """commit_extra_info of every snapshot Arrowport made (its request-id markers)."""
    out = duck(catalog, data_path,
               "SELECT commit_extra_info FROM __ducklake_metadata_lk.ducklake_snapshot_changes "
               "WHERE author = 'arrowport'")
    return [json.loads(r[0]) for r in out if r[0]]


@pytest.fixture(scope="module")
def pg(postgres):
    """This module's PostgreSQL (conftest `postgres`; tests that stop a server make their
    own): each test takes a database of its own (create_database)."""
    return postgres


_databases = iter(range(1, 10_000))


def pg_catalog(pg):
    return "postgres:" + pg.create_database(f"lake{next(_databases)}")


def catalogs(tmp_path, pg):
    """The two catalogs every test that takes `kind` runs against."""
    return {"sqlite": f"sqlite:{tmp_path / 'catalog.sqlite'}", "postgres": pg_catalog(pg)}


# ---- the catalog goes away ----

def test_a_stopped_postgres_catalog_fails_writes_retryably_and_they_land_once_after(
        start_server, tmp_path):
    """PostgreSQL stopped: a write is refused with a retryable error naming the catalog
    (HTTP 503, Flight UNAVAILABLE), the server stays up and answers queries; once the
    catalog is back, the same request ids land exactly once."""
    postgres = PostgresServer()
    try:
        postgres.start()
        catalog, data = f"postgres:{postgres.conninfo}", tmp_path / "data"
        server = start_lake_server(start_server, tmp_path,
                                   {"events": ducklake_stream(catalog, data, refresh_ms=100)})
        client = server.client()
        put_cmd(client, events(range(10)), {"stream": "events", "request_id": "r-0"})
        postgres.stop()

        r = http_ingest(server, "events", events(range(10, 20)), request_id="r-1")
        assert r.status_code == 503, r.text
        error = r.json()["error"]
        # The catalog refused the connection: nothing can have been committed, and the
        # answer says so (not "outcome unknown").
        assert error["code"] == "store_unavailable", r.text
        assert "catalog" in error["message"].lower(), r.text
        err = flight_error(client, events(range(20, 30)), {"stream": "events",
                                                           "request_id": "r-2"})
        assert isinstance(err, flight.FlightUnavailableError), repr(err)
        assert "catalog" in str(err).lower(), str(err)
        alive(server)

        postgres.start()
        r = sent_until_accepted(
            lambda: http_ingest(server, "events", events(range(10, 20)), request_id="r-1"), "r-1")
        assert r.status_code == 200, r.text
        summary = put_cmd(client, events(range(20, 30)), {"stream": "events",
                                                          "request_id": "r-2"})[-1]
        assert summary["committed"] is True, summary
        # Each once more: answered as the duplicates they are.
        again = http_ingest(server, "events", events(range(10, 20)), request_id="r-1")
        assert again.status_code == 200 and again.json()["duplicate"] is True, again.text
        summary = put_cmd(client, events(range(20, 30)), {"stream": "events",
                                                          "request_id": "r-2"})[-1]
        assert summary["duplicate"] is True, summary
        assert_exactly(catalog, data, range(30))
        alive(server)
    finally:
        postgres.close()


def test_postgres_stopped_mid_stream_per_batch_keeps_every_acknowledged_batch_once(
        start_server, tmp_path):
    """per_batch with a request id, a client that waits for each batch's acknowledgement
    before it sends the next: the catalog stops after three. The next batch is refused at
    once with UNAVAILABLE naming the catalog (not left unanswered until the idle timeout
    cancels the call), the acknowledged batches stay and nothing else shows; after a
    restart the client sends the whole request again and only the missing batches land."""
    postgres = PostgresServer()
    try:
        postgres.start()
        catalog, data = f"postgres:{postgres.conninfo}", tmp_path / "data"
        # The idle timeout bounds how long an unanswered batch can hang the test.
        server = start_lake_server(start_server, tmp_path,
                                   {"events": ducklake_stream(catalog, data, commit="per_batch",
                                                              refresh_ms=100)},
                                   extra={"limits": {"idle_timeout_s": 10}})
        command = {"stream": "events", "request_id": "stream-1"}
        batch_rows, total = 500, 8

        def batch(k):
            return events(range(k * batch_rows, (k + 1) * batch_rows)).to_batches()[0]

        descriptor = flight.FlightDescriptor.for_command(json.dumps(command))
        writer, metadata = server.client().do_put(
            descriptor, batch(0).schema, options=flight.FlightCallOptions(timeout=120))
        acked, failure, waited = [], None, 0.0
        try:
            for k in range(total):
                if k == 3:
                    postgres.stop()
                writer.write_batch(batch(k))
                began = time.monotonic()
                buf = metadata.read()  # lockstep: the batch's acknowledgement, or the error
                waited = time.monotonic() - began
                if buf is None:  # the call ended: its status comes with close()
                    writer.close()
                    break
                ack = json.loads(buf.to_pybytes())
                assert ack.get("committed") is True and ack.get("batch") == k, ack
                acked.append(k)
            writer.done_writing()
            while metadata.read() is not None:
                pass
        except ERRORS as e:
            failure = e
        with contextlib.suppress(*ERRORS):
            writer.close()
        assert failure is not None, "the stream went on with its catalog stopped"
        assert acked == [0, 1, 2], acked
        alive(server)

        postgres.start()
        assert_exactly(catalog, data, range(3 * batch_rows))
        deadline = time.monotonic() + 90
        while True:  # the same request again, whole, until the catalog takes it
            try:
                answers = put_cmd(server.client(), events(range(total * batch_rows)), command,
                                  chunk=batch_rows)
                break
            except flight.FlightUnavailableError as e:
                assert time.monotonic() < deadline, repr(e)
                time.sleep(0.5)
        assert answers[-1]["committed"] is True, answers
        assert_exactly(catalog, data, range(total * batch_rows))
        alive(server)
        # How the failed batch was answered: checked last, so the data checks above run
        # whatever it was.
        assert isinstance(failure, flight.FlightUnavailableError) and \
            "catalog" in str(failure).lower(), \
            f"batch 3 answered after {waited:.1f} s with {failure!r}"
    finally:
        postgres.close()


# ---- format versions ----

# The default lane: a newer format on SQLite and an older one on PostgreSQL; all four in
# the slow lane.
@pytest.mark.parametrize("kind,version", [
    ("sqlite", "9.9"), ("postgres", "0.3"),
    pytest.param("sqlite", "0.3", marks=pytest.mark.slow),
    pytest.param("postgres", "9.9", marks=pytest.mark.slow)])
def test_a_catalog_at_another_format_version_is_refused_for_writes(start_server, tmp_path, pg,
                                                                   kind, version):
    """A catalog whose ducklake_metadata names a format version other than 1.0 (newer, or
    an old pre-1.0 one) is refused for writes with an error naming the version: 501, as
    for any table Arrowport does not write, nothing committed, the server up."""
    catalog = catalogs(tmp_path, pg)[kind]
    data = tmp_path / "data"
    # The running server plans on the snapshot it read before the version changed (its
    # refresh is an hour away): the catalog transaction finds the version and refuses.
    # The one started after reads the version first and refuses before writing a file.
    streams = {"events": ducklake_stream(catalog, data, refresh_ms=3_600_000)}
    server = start_lake_server(start_server, tmp_path, streams)
    put_cmd(server.client(), events(range(10)), {"stream": "events", "request_id": "v-0"})
    set_format_version(catalog, version)

    def refusal():
        r = http_ingest(server, "events", events(range(10, 20)), request_id="v-1")
        err = flight_error(server.client(), events(range(10, 20)),
                           {"stream": "events", "request_id": "v-1"})
        alive(server)
        return r, err

    def assert_refused(r, err, who):
        # 501: Arrowport does not write such a table (not the client's fault, not a
        # passing trouble: a retry gets the same answer).
        assert r.status_code == 501 and r.json()["error"]["code"] == "not_implemented", \
            f"{who}: {r.text}"
        assert f"format version '{version}'" in r.json()["error"]["message"], f"{who}: {r.text}"
        assert isinstance(err, pa.ArrowNotImplementedError) and \
            f"format version '{version}'" in str(err), f"{who}: {err!r}"

    stale = refusal()
    server.stop()
    server = start_lake_server(start_server, tmp_path, streams)
    assert_refused(*refusal(), "a server started on the catalog")
    # Reads of the table still answer (the rows committed before), or are refused: never
    # a crash.
    with contextlib.suppress(AssertionError):
        assert http_query(server, "SELECT count(*) AS n FROM events").to_pylist() == [{"n": 10}]
    alive(server)
    # Nothing was written: the catalog holds the first request alone (read back at 1.0:
    # DuckDB refuses to attach a catalog at another version).
    set_format_version(catalog, "1.0")
    assert_exactly(catalog, data, range(10))
    assert_refused(*stale, "the server running when the version changed")


def set_format_version(catalog, version):
    kind, _, target = catalog.partition(":")
    sql = "UPDATE ducklake_metadata SET value = '%s' WHERE key = 'version'" % version
    if kind == "sqlite":
        with contextlib.closing(sqlite3.connect(target)) as db:
            assert db.execute(sql).rowcount == 1
            db.commit()
    else:
        psql(target, sql)


def psql(conninfo, sql):
    """Runs `sql` on the PostgreSQL catalog through DuckDB's postgres extension."""
    from ducklake_peers import extension_directory
    import duckdb
    con = duckdb.connect(config={"extension_directory": extension_directory(),
                                 "autoinstall_known_extensions": False,
                                 "autoload_known_extensions": False})
    try:
        con.execute("LOAD postgres_scanner")
        con.execute("ATTACH " + "'" + conninfo.replace("'", "''") + "' AS pg (TYPE postgres)")
        con.execute("CALL postgres_execute('pg', '%s')" % sql.replace("'", "''"))
    finally:
        con.close()


# ---- partition values ----

# Every character U+0001..U+00FF alone (one request), then text that hive-style folder
# names, path checks and catalog SQL are likely to mangle (a request each).
EVERY_CHARACTER = [chr(c) for c in range(1, 256)]
AWKWARD = ["", "a/b=c", "../x", "x..y", "..", "%2F", "%", "__HIVE_DEFAULT_PARTITION__",
           "it's \"q\"", "a\\b", "ü x", "\u00ff\u0001", " lead", "trail ", "x" * 200]


FILTER_ALWAYS = set("'\"\\%/=. _\x01\x7f\x80\xa0\xff")


def partitioned_rows(values, first_id=0, per_value=2):
    ids, parts = [], []
    for k, value in enumerate(values):
        for j in range(per_value):
            ids.append(first_id + k * per_value + j)
            parts.append(value)
    return pa.table({"id": pa.array(ids, pa.int64()), "part": pa.array(parts, pa.string()),
                     "x": pa.array([i * 3 + 1 for i in ids], pa.int64())})


def assert_partitions_read_back(catalog, data, table, expected):
    """DuckDB reads every row with its value, and a filter on each value (pruned by the
    catalog's partition values) finds exactly its rows."""
    got = duck(catalog, data, f"SELECT id, part, x FROM lk.{table} ORDER BY id")
    want = sorted(tuple(r.values()) for r in expected.select(["id", "part", "x"]).to_pylist())
    assert got == want, "rows read back differ: " + repr(
        [(g, w) for g, w in zip(got, want) if g != w][:10] if len(got) == len(want)
        else (len(got), len(want)))
    counts = {}
    for value in expected.column("part").to_pylist():
        counts[value] = counts.get(value, 0) + 1
    con = ducklake_duckdb(catalog, data, read_only=True)
    try:
        wrong = []
        for value, n in counts.items():
            if value is None or "\0" in value:  # DuckDB cuts a pushed-down literal at NUL
                continue
            if len(value) == 1 and ord(value) % 7 and value not in FILTER_ALWAYS:
                continue  # a query each costs: every 7th character, and the riskiest
            seen = con.execute(f"SELECT count(*) FROM lk.{table} WHERE part = ?",
                               [value]).fetchone()[0]
            if seen != n:
                wrong.append((value, n, seen))
        assert not wrong, f"filters by partition value found other counts: {wrong[:10]}"
        nulls = con.execute(f"SELECT count(*) FROM lk.{table} WHERE part IS NULL").fetchone()[0]
        assert nulls == counts.get(None, 0)
    finally:
        con.close()
    # Every data file lies inside the table's folder (no value escaped its directory).
    table_dir = (data / "main" / table).resolve()
    for path in data.rglob("*.parquet"):
        assert table_dir in path.resolve().parents, f"a data file outside the table: {path}"


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.slow)])
def test_partition_values_with_every_character_land_and_read_back(start_server, tmp_path, pg,
                                                                   kind):
    """A table partitioned by a string column holding every character U+0001..U+00FF and
    NULL: each value lands as its own partition, DuckDB reads every row back and prunes
    by each value exactly, and so does Arrowport. NUL: a SQLite catalog keeps it; a
    PostgreSQL catalog cannot store it, so the request is refused with a clear error
    naming the column and nothing of it is committed or hidden."""
    catalog = catalogs(tmp_path, pg)[kind]
    data = tmp_path / "data"
    server = start_lake_server(start_server, tmp_path, {"parts": ducklake_stream(
        catalog, data, table="parts", partition_by=["part"])})
    client = server.client()
    expected = partitioned_rows(EVERY_CHARACTER + [None])
    summary = put_cmd(client, expected, {"stream": "parts", "request_id": "p-1"})[-1]
    assert summary["committed"] is True, summary
    assert_partitions_read_back(catalog, data, "parts", expected)

    with_nul = partitioned_rows(["\0", "a\0b", "tail"], first_id=100_000)
    r = http_ingest(server, "parts", with_nul, request_id="p-2")
    if kind == "sqlite":
        assert r.status_code == 200, r.text
        expected = pa.concat_tables([expected, with_nul])
        got = duck(catalog, data, "SELECT id, part FROM lk.parts WHERE id >= 100000 ORDER BY id")
        assert got == [(r["id"], r["part"]) for r in with_nul.to_pylist()]
    else:
        assert r.status_code == 422 and r.json()["error"]["code"] == "schema_mismatch", r.text
        assert "NUL" in r.json()["error"]["message"] and "part" in r.json()["error"]["message"]
        err = flight_error(client, with_nul, {"stream": "parts", "request_id": "p-3"})
        assert "NUL" in str(err), repr(err)
    alive(server)
    assert_partitions_read_back(catalog, data, "parts", expected)
    # Arrowport's own view agrees, row for row.
    ours = http_query(server, "SELECT id, part, x FROM parts ORDER BY id")
    assert ours.to_pylist() == expected.sort_by("id").to_pylist()


def test_awkward_partition_values_land_and_the_table_stays_usable(start_server, tmp_path):
    """Text a folder name or a path check may mangle, a request each (SQLite catalog):
    every value lands, and the table stays readable and writable by Arrowport and
    DuckDB after each."""
    catalog, data = f"sqlite:{tmp_path / 'catalog.sqlite'}", tmp_path / "data"
    server = start_lake_server(start_server, tmp_path, {"parts": ducklake_stream(
        catalog, data, table="parts", partition_by=["part"])})
    landed, problems = [], []
    for k, value in enumerate(AWKWARD + ["after"]):
        rows_k = partitioned_rows([value], first_id=k * 10)
        r = http_ingest(server, "parts", rows_k, request_id=f"a-{k}")
        if r.status_code == 200:
            landed.append(rows_k)
        else:
            problems.append(f"{value!r}: {r.status_code} {r.text[:400]}")
        alive(server)
    expected = pa.concat_tables(landed)
    assert_partitions_read_back(catalog, data, "parts", expected)
    try:
        ours = http_query(server, "SELECT id, part, x FROM parts ORDER BY id").to_pylist()
        if ours != expected.sort_by("id").to_pylist():
            problems.append("Arrowport reads other rows than it acknowledged")
    except AssertionError as e:
        problems.append(f"Arrowport cannot read the table: {e}")
    assert not problems, "\n".join(problems)


# ---- concurrent writers ----

class Appender(threading.Thread):
    """Sends `count` HTTP requests of `rows` events each, with request ids; a 503 or 409
    (the catalog busy, a lost race, an unknown outcome) is sent again with the same id, as
    the answer tells a client to. `acked`: the ids of every acknowledged request."""

    def __init__(self, server, tag, first_id, count, rows=40, stream="events", timeout=120):
        super().__init__(daemon=True)
        self.server, self.tag, self.first_id = server, tag, first_id
        self.count, self.rows, self.stream, self.timeout = count, rows, stream, timeout
        self.acked, self.resent, self.failed = [], [], []
        self.stopping = threading.Event()

    def run(self):
        k = -1
        while not self.stopping.is_set() and (self.count is None or k + 1 < self.count):
            k += 1
            ids = range(self.first_id + k * self.rows, self.first_id + (k + 1) * self.rows)
            deadline = time.monotonic() + self.timeout
            while True:
                try:
                    r = http_ingest(self.server, self.stream, events(ids),
                                    request_id=f"{self.tag}-{k}")
                except requests.RequestException as e:
                    self.failed.append((k, repr(e)))
                    return
                if r.status_code == 200:
                    self.acked.extend(ids)
                    break
                if r.status_code in (409, 503) and time.monotonic() < deadline:
                    self.resent.append((k, r.text[:300]))
                    continue
                self.failed.append((k, f"{r.status_code} {r.text[:600]}"))
                return

    def finish(self, stop=True):
        """The acknowledged ids, once the thread ends (told to stop after its request in
        flight unless `stop` is False: then after its `count` requests)."""
        if stop:
            self.stopping.set()
        self.join(timeout=300)
        assert not self.is_alive(), f"{self.tag}: still sending"
        assert not self.failed, f"{self.tag}: requests failed: {self.failed}"
        return self.acked


def wait_for_progress(appender, what, requests_more=2):
    """Until `appender` has had `requests_more` more requests acknowledged."""
    target = len(appender.acked) + requests_more * appender.rows
    deadline = time.monotonic() + 120
    while len(appender.acked) < target:
        assert appender.is_alive(), f"the appender stopped {what}: {appender.failed}"
        assert time.monotonic() < deadline, f"no progress {what}"
        time.sleep(0.02)


@pytest.mark.slow
def test_duckdb_adding_columns_while_arrowport_appends(start_server, tmp_path, pg):
    """DuckDB runs ALTER TABLE ADD COLUMN on the table while Arrowport appends to it
    (PostgreSQL catalog): each commit planned on the older columns re-plans (or is
    answered "retry"), none is lost or doubled, and the new columns read NULL for
    Arrowport's rows."""
    catalog, data = pg_catalog(pg), tmp_path / "data"
    server = start_lake_server(start_server, tmp_path,
                               {"events": ducklake_stream(catalog, data, refresh_ms=100)})
    put_cmd(server.client(), events(range(10)), {"stream": "events", "request_id": "first"})
    appender = Appender(server, "alter", 1000, None)  # until the ALTERs are done
    appender.start()
    con = ducklake_duckdb(catalog, data)
    try:
        for i in range(2):
            wait_for_progress(appender, f"before ALTER {i}")
            for attempt in range(20):  # DuckDB loses races to Arrowport's commits: again
                try:
                    con.execute(f"ALTER TABLE lk.events ADD COLUMN extra{i} INTEGER")
                    break
                except duckdb.Error as e:
                    if not retryable_duckdb_error(e):
                        raise
                    print(f"ALTER {i}: {str(e)[:160]}")
            else:
                pytest.fail(f"DuckDB's ALTER {i} never committed")
    finally:
        con.close()
    acked = list(range(10)) + appender.finish()
    print(f"re-sent {len(appender.resent)} times: {appender.resent[:3]}")
    assert_exactly(catalog, data, acked)
    columns = [r[0] for r in duck(catalog, data, "SELECT column_name FROM (DESCRIBE lk.events)")]
    assert columns == ["id", "day", "x", "name", "extra0", "extra1"]
    assert duck(catalog, data, "SELECT count(*) FROM lk.events WHERE extra0 IS NOT NULL OR "
                               "extra1 IS NOT NULL") == [(0,)]
    # Arrowport writes on (its batches lack the new columns) and reads them all.
    put_cmd(server.client(), events(range(50_000, 50_010)), {"stream": "events",
                                                             "request_id": "after"})
    acked += list(range(50_000, 50_010))
    assert_exactly(catalog, data, acked)
    deadline = time.monotonic() + 60
    while True:
        seen = http_query(server, "SELECT count(*) AS n FROM events").to_pylist()
        if seen == [{"n": len(acked)}] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert seen == [{"n": len(acked)}]
    alive(server)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_duckdb_and_arrowport_append_to_one_table_at_once(start_server, tmp_path, pg, kind):
    """DuckDB inserts (small ones inlined in the catalog, larger ones as files) while
    Arrowport appends: every row of both once, read by DuckDB and by Arrowport."""
    catalog, data = catalogs(tmp_path, pg)[kind], tmp_path / "data"
    server = start_lake_server(start_server, tmp_path,
                               {"events": ducklake_stream(catalog, data, refresh_ms=100)})
    put_cmd(server.client(), events(range(10)), {"stream": "events", "request_id": "first"})
    appender = Appender(server, "both", 1000, None)  # until DuckDB's inserts are done
    appender.start()
    duck_ids_written, duck_retries = [], []
    con = ducklake_duckdb(catalog, data)
    try:
        for k in range(6):
            n = 5 if k % 2 else 40  # 5: inlined; 40: a Parquet file
            first = 1_000_000 + k * 100
            ids = list(range(first, first + n))
            for attempt in range(50):
                try:
                    con.execute(f"INSERT INTO lk.events (id, day, x, name) SELECT i, "
                                f"'2024-01-01', i * 3 + 1, 'duck' || i FROM range({first}, "
                                f"{first + n}) t(i)")
                    break
                except duckdb.Error as e:  # a conflict or a busy catalog: not committed
                    if not retryable_duckdb_error(e):
                        raise
                    duck_retries.append(str(e)[:200])
            else:
                pytest.fail(f"DuckDB's insert {k} never committed: {duck_retries[-3:]}")
            duck_ids_written.extend(ids)
    finally:
        con.close()
    acked = list(range(10)) + appender.finish() + duck_ids_written
    print(f"DuckDB retried {len(duck_retries)}: {duck_retries[:3]}; Arrowport re-sent "
          f"{len(appender.resent)}: {appender.resent[:3]}")
    assert_exactly(catalog, data, acked)
    deadline = time.monotonic() + 60
    while True:
        seen = http_query(server, "SELECT count(*) AS n, sum(x) AS s FROM events").to_pylist()
        want = [{"n": len(acked), "s": sum(i * 3 + 1 for i in acked)}]
        if seen == want or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert seen == want
    alive(server)


def retryable_duckdb_error(error):
    """Whether DuckDB's `error` is a commit that lost a race or met a busy catalog
    (nothing committed: the caller retries). SQLite's "database is locked" comes as
    whichever class the failing step raises (seen once as a plain duckdb.Error, which
    failed this file's retries): matched by its words then."""
    return (isinstance(error, (duckdb.TransactionException, duckdb.IOException,
                               duckdb.InvalidInputException, duckdb.CatalogException))
            or "database is locked" in str(error))


def test_two_arrowport_servers_append_to_one_postgres_table(start_server, tmp_path, pg):
    """Two servers, two clients each, appending to one PostgreSQL-catalogued table at
    once: every acknowledged request's rows once (count and sum by DuckDB), the request
    ids each in the catalog once, and each server reads every row."""
    catalog, data = pg_catalog(pg), tmp_path / "data"
    streams = {"events": ducklake_stream(catalog, data, refresh_ms=100)}
    one = start_lake_server(start_server, tmp_path, streams, name="one")
    two = start_lake_server(start_server, tmp_path, streams, name="two")
    appenders = [Appender(server, f"{name}{c}", (i * 2 + c + 1) * 100_000, 20, rows=30)
                 for i, (name, server) in enumerate((("one", one), ("two", two)))
                 for c in range(2)]
    for appender in appenders:
        appender.start()
    acked = [i for appender in appenders for i in appender.finish()]
    resent = sum(len(a.resent) for a in appenders)
    print(f"re-sent {resent}: {[a.resent[:2] for a in appenders]}")
    assert_exactly(catalog, data, acked)
    markers = [m["arrowport"] for m in request_ids_in_catalog(catalog, data)]
    print(markers[:3])
    for server in (one, two):
        deadline = time.monotonic() + 60
        while True:
            seen = http_query(server, "SELECT count(*) AS n, sum(x) AS s FROM events").to_pylist()
            want = [{"n": len(acked), "s": sum(i * 3 + 1 for i in acked)}]
            if seen == want or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert seen == want
        alive(server)


def test_reads_answer_while_a_commit_waits_for_a_locked_sqlite_catalog(start_server, tmp_path):
    """Another process holds the SQLite catalog's write lock: a commit waits for it (the
    busy timeout), and reads of the table meanwhile answer from the catalog at once
    (they waited behind the commit when both shared one connection); once the lock goes
    the commit lands."""
    catalog, data = f"sqlite:{tmp_path / 'catalog.sqlite'}", tmp_path / "data"
    server = start_lake_server(start_server, tmp_path, {"events": ducklake_stream(
        catalog, data, refresh_ms=100)})
    assert http_ingest(server, "events", events(range(10)), request_id="first").status_code == 200
    locker = sqlite3.connect(str(tmp_path / "catalog.sqlite"), isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    replies = []
    writer = threading.Thread(target=lambda: replies.append(
        http_ingest(server, "events", events(range(10, 20)), request_id="second")), daemon=True)
    def parquet_files():
        return len(list(data.rglob("*.parquet")))

    files_before = parquet_files()
    try:
        writer.start()
        # The second request's file is written before its catalog transaction begins.
        deadline = time.monotonic() + 60
        while parquet_files() == files_before:
            assert time.monotonic() < deadline and not replies, replies
            time.sleep(0.05)
        count = http_query(server, "SELECT count(*) AS n FROM events").to_pylist()
        assert count == [{"n": 10}]
        # The read answered while the commit still waits: it did not queue behind it.
        assert not replies, replies
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    writer.join(timeout=60)
    assert replies and replies[0].status_code == 200, replies
    assert_exactly(catalog, data, range(20))


def test_deletes_arrowport_cannot_apply_refuse_reads_but_not_appends(start_server, tmp_path):
    """A delete file in a format Arrowport does not read (Puffin deletion vectors, here
    registered by hand): reads of the table are refused naming it, never served with the
    deleted rows back; appends still land (they do not read rows)."""
    catalog, data = f"sqlite:{tmp_path / 'catalog.sqlite'}", tmp_path / "data"
    server = start_lake_server(start_server, tmp_path, {"events": ducklake_stream(
        catalog, data, refresh_ms=100)})
    assert http_ingest(server, "events", events(range(10)), request_id="a").status_code == 200
    con = sqlite3.connect(str(tmp_path / "catalog.sqlite"), isolation_level=None)
    try:
        file_id, table_id, snapshot = con.execute(
            "SELECT data_file_id, table_id, begin_snapshot FROM ducklake_data_file").fetchone()
        con.execute("INSERT INTO ducklake_delete_file (delete_file_id, table_id, begin_snapshot, "
                    "data_file_id, path, path_is_relative, format, delete_count, "
                    "file_size_bytes, footer_size) VALUES (999, ?, ?, ?, 'd.puffin', 1, "
                    "'puffin', 1, 10, 10)", (table_id, snapshot, file_id))
    finally:
        con.close()
    assert http_ingest(server, "events", events(range(10, 20)), request_id="b").status_code == 200
    r = requests.post(f"{server.http}/query", json={"sql": "SELECT count(*) FROM events"},
                      timeout=60)
    assert r.status_code != 200 and "puffin" in r.text, r.text
    con = sqlite3.connect(str(tmp_path / "catalog.sqlite"))
    try:
        assert con.execute("SELECT sum(record_count) FROM ducklake_data_file").fetchone() == (20,)
    finally:
        con.close()
    alive(server)
