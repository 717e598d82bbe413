"""Idempotent retries: a request (or per_batch batch) carrying a request_id is logged in
the same transaction as its rows, so a retry after a lost acknowledgement, or copies sent
at once, write it once and are answered as duplicates (docs/ingest.md)."""
import threading
import time

import pyarrow as pa
import pyarrow.flight as flight
import pytest
import requests

from test_flight_roundtrip import get, put
from test_http import ARROW, ipc_bytes
from test_transforms import list_streams
from test_trust import rows_in


def test_idempotent_retries(server):
    client = server.client()
    table = pa.table({"x": pa.array(range(100), pa.int64())})
    first = put(client, table, {"stream": "idem", "request_id": "req-1"})[-1]
    again = put(client, table, {"stream": "idem", "request_id": "req-1"})[-1]
    assert first["duplicate"] is False and again["duplicate"] is True
    assert again["rows"] == 100
    assert rows_in(client, "idem") == 100

    body = ipc_bytes(table)
    headers = {"Content-Type": ARROW, "Idempotency-Key": "http-7"}
    r1 = requests.post(f"{server.http}/ingest/idem", data=body, headers=headers, timeout=60).json()
    r2 = requests.post(f"{server.http}/ingest/idem", data=body, headers=headers, timeout=60).json()
    assert (r1["duplicate"], r2["duplicate"]) == (False, True)
    assert rows_in(client, "idem") == 200

    # per_batch: a retry after a lost ack re-sends batches 0-2 and adds 3-4.
    batches = [pa.table({"x": pa.array(range(i * 10, i * 10 + 10), pa.int64())}) for i in range(5)]
    put(client, pa.concat_tables(batches[:3]), {"stream": "pb", "commit": "per_batch", "request_id": "r"}, chunk=10)
    partly = put(client, pa.concat_tables(batches), {"stream": "pb", "commit": "per_batch", "request_id": "r"}, chunk=10)
    assert partly[-1]["duplicate"] is False  # batches 3 and 4 are new
    got = get(client, {"sql": "SELECT x FROM pb ORDER BY x"}).column("x").to_pylist()
    assert got == list(range(50))
    # The stream's counters hold what was written, not the batches received again (they
    # said 80 rows here).
    counters = list_streams(client)["pb"]
    assert (counters["rows"], counters["batches"]) == (50, 5), counters
    # The request log itself is out of reach of SQL (test_sql_sandbox.py): its entries show
    # in what a retry is answered (the logged rows) and in nothing being inserted again.
    r3 = requests.post(f"{server.http}/ingest/idem", data=body, headers=headers, timeout=60).json()
    assert (r3["duplicate"], r3["rows"]) == (True, 100)
    # Every batch of "r" (r batch 0..4) is logged: sending all five again inserts none,
    # and is answered as a duplicate (it said duplicate: false, as if written).
    again = put(client, pa.concat_tables(batches), {"stream": "pb", "commit": "per_batch", "request_id": "r"}, chunk=10)
    assert (again[-1]["duplicate"], again[-1]["rows"], again[-1]["bytes"]) == (True, 50, 0), again[-1]
    assert get(client, {"sql": "SELECT x FROM pb ORDER BY x"}).column("x").to_pylist() == list(range(50))
    assert rows_in(client, "idem") == 200
    assert list_streams(client)["pb"]["rows"] == 50

    # The same request sent 8 times at once (a client retrying aggressively): one insert.
    # A copy whose request-log entry was refused by the first's (it read the log before
    # that one committed) was answered with DuckDB's "Duplicate key ... violates primary
    # key constraint" though the request was committed: it is now answered as a retry.
    for round_ in range(3):
        results, errors = [], []
        def send(i):
            try:
                summary = put(server.client(), table,
                              {"stream": "idem", "request_id": f"racing-{round_}"})[-1]
                results.append(summary["duplicate"])
            except Exception as e:  # noqa: BLE001 - a retryable conflict is allowed, not a double insert
                errors.append(str(e))
        threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert rows_in(client, "idem") == 300 + 100 * round_, (results, errors)
        assert results.count(False) == 1, (results, errors)
        assert all("retry" in e for e in errors), errors


def test_an_idempotency_key_and_a_request_id_that_differ_are_refused(server):
    """Two ids for one HTTP upload: the header won silently, so a retry carrying only
    ?request_id= was written a second time (a hostile run found it). Now 400, nothing
    written; the same id in both, or either alone, is accepted."""
    client = server.client()
    body = ipc_bytes(pa.table({"x": pa.array(range(10), pa.int64())}))
    url = f"{server.http}/ingest/two_ids"
    refused = requests.post(url, params={"request_id": "a"}, data=body,
                            headers={"Content-Type": ARROW, "Idempotency-Key": "b"}, timeout=60)
    assert refused.status_code == 400, refused.text
    message = refused.json()["error"]["message"]
    assert "Idempotency-Key" in message and "request_id" in message, message
    twice = requests.post(f"{url}?request_id=a&request_id=b", data=body,
                          headers={"Content-Type": ARROW}, timeout=60)
    assert twice.status_code == 400, twice.text
    same = requests.post(url, params={"request_id": "a"}, data=body,
                         headers={"Content-Type": ARROW, "Idempotency-Key": "a"}, timeout=60)
    assert same.status_code == 200 and same.json()["duplicate"] is False, same.text
    retry = requests.post(url, params={"request_id": "a"}, data=body,
                          headers={"Content-Type": ARROW}, timeout=60)
    assert retry.status_code == 200 and retry.json()["duplicate"] is True, retry.text
    assert rows_in(client, "two_ids") == 10


def test_a_request_id_is_scoped_to_the_table_it_writes(server):
    """One id sent to two tables is two requests, as a Delta table's transaction ids are
    per table: the second was answered duplicate and wrote nothing (a hostile run found
    it). Each table exists first (written without an id), so every write path is taken:
    the small per_request path, the planned one (20,000 rows), per_batch's small batches
    and a planned 20,000-row batch, and HTTP. A retry to either table is a duplicate."""
    client = server.client()
    small = pa.table({"x": pa.array(range(100), pa.int64())})
    large = pa.table({"x": pa.array(range(20000), pa.int64())})  # past the small paths
    cases = [(small, "per_request", 65536), (large, "per_request", 65536),
             (small, "per_batch", 25), (large, "per_batch", 20000)]
    for n, (table, commit, chunk) in enumerate(cases):
        for stream in (f"scope_a{n}", f"scope_b{n}"):
            put(client, table, {"stream": stream}, chunk=chunk)
            for attempt in range(2):
                command = {"stream": stream, "request_id": "shared", "commit": commit}
                summary = put(client, table, command, chunk=chunk)[-1]
                if commit == "per_request":
                    assert summary["duplicate"] is (attempt == 1), (n, stream, summary)
                    assert summary["rows"] == table.num_rows
            assert rows_in(client, stream) == 2 * table.num_rows, (n, stream)
    headers = {"Content-Type": ARROW, "Idempotency-Key": "shared"}
    for stream in ("scope_http_a", "scope_http_b"):
        answers = [requests.post(f"{server.http}/ingest/{stream}", data=ipc_bytes(small),
                                 headers=headers, timeout=60).json() for _ in range(2)]
        assert [a["duplicate"] for a in answers] == [False, True], answers
        assert rows_in(client, stream) == 100


def test_racing_per_batch_retries_insert_each_batch_once(server):
    """The same per_batch request sent 8 times at once: each batch is inserted once, and a
    copy whose batch's log entry was refused by another copy's (it read the log before that
    one committed) is answered as a retry of that batch, not with DuckDB's "Duplicate key"
    error (per_batch_writer.cc's planned insert; the direct append of small batches
    answered such races already)."""
    client = server.client()
    batch_rows = 3000
    table = pa.table({"x": pa.array(range(5 * batch_rows), pa.int64())})
    for round_ in range(10):
        results, errors = [], []

        def send():
            try:
                summary = put(server.client(), table,
                              {"stream": "pb_race", "commit": "per_batch",
                               "request_id": f"pb-racing-{round_}"}, chunk=batch_rows)[-1]
                results.append(summary["rows"])
            except Exception as e:  # noqa: BLE001 - a retryable conflict is allowed
                errors.append(str(e))
        threads = [threading.Thread(target=send) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert rows_in(client, "pb_race") == table.num_rows * (round_ + 1), (results, errors)
        assert all("retry" in e for e in errors), errors
        assert len(results) + len(errors) == 8


def test_idempotent_retries_on_the_default_database_file(start_server, tmp_path):
    """DuckDB names the catalog after the file: with the default arrowport.duckdb, the
    request log's schema (arrowport) must not be ambiguous."""
    server = start_server(db=tmp_path / "arrowport.duckdb")
    client = server.client()
    table = pa.table({"x": pa.array(range(10), pa.int64())})
    for commit in ("per_request", "per_request", "per_batch"):
        put(client, table, {"stream": "idem", "request_id": f"k-{commit}", "commit": commit})
        again = put(client, table, {"stream": "idem", "request_id": f"k-{commit}", "commit": commit})[-1]
        assert again["rows"] == 10
    assert rows_in(client, "idem") == 20


def test_requests_logged_before_ids_were_scoped_are_duplicates_on_every_path(
        start_server, tmp_path):
    """A database whose log an older server wrote (keys: the bare id, "<id> batch <n>"),
    made here with the duckdb package: retries of its requests after the upgrade are
    duplicates, also on the small paths that meet only the log's key (a hostile run saw
    them written twice, and the same retry answered three different ways)."""
    import duckdb
    db = tmp_path / "old.duckdb"
    with duckdb.connect(str(db)) as old:
        old.execute("CREATE SCHEMA arrowport")
        old.execute("CREATE TABLE arrowport.requests (request_id VARCHAR PRIMARY KEY, "
                    "stream VARCHAR, table_name VARCHAR, rows BIGINT, batches BIGINT, "
                    "committed_at TIMESTAMP DEFAULT current_timestamp)")
        old.execute("CREATE TABLE ev AS SELECT range AS x FROM range(100)")
        old.execute("CREATE TABLE pb AS SELECT range AS x FROM range(30)")
        old.execute("INSERT INTO arrowport.requests (request_id, stream, table_name, rows, "
                    "batches) VALUES ('r1', 'ev', 'ev', 100, 1), ('h1', 'ev', 'ev', 100, 1), "
                    "('b1 batch 0', 'pb', 'pb', 10, 1), ('b1 batch 1', 'pb', 'pb', 10, 1), "
                    "('b1 batch 2', 'pb', 'pb', 10, 1)")
    server = start_server(db=db)
    assert server.logged("re-keyed to their tables entries=5"), server.stderr()  # at start
    client = server.client()
    small = pa.table({"x": pa.array(range(100), pa.int64())})
    for stream in ("ev", "pb"):  # known to the server: the next writes take the small paths
        put(client, pa.table({"x": pa.array([-1], pa.int64())}), {"stream": stream})
    for attempt in range(3):
        summary = put(client, small, {"stream": "ev", "request_id": "r1"})[-1]
        assert (summary["duplicate"], summary["rows"]) == (True, 100), (attempt, summary)
    answer = requests.post(f"{server.http}/ingest/ev", data=ipc_bytes(small),
                           headers={"Content-Type": ARROW, "Idempotency-Key": "h1"},
                           timeout=60).json()
    assert answer["duplicate"] is True, answer
    batches = put(client, pa.table({"x": pa.array(range(30), pa.int64())}),
                  {"stream": "pb", "commit": "per_batch", "request_id": "b1"}, chunk=10)
    assert batches[-1]["duplicate"] is True, batches[-1]
    assert (rows_in(client, "ev"), rows_in(client, "pb")) == (101, 31)
    # The same id to another table is a request of its own there.
    put(client, small, {"stream": "other", "request_id": "r1"})
    assert rows_in(client, "other") == 100


def test_a_request_log_changed_by_hand_is_the_servers_failure(start_server, tmp_path):
    """Logs a hostile run changed by hand: an entry whose count is NULL was answered
    "internal error ... stoll" (and, on the small paths, after 2 s of waiting for a racing
    copy, "retryable conflict" on every retry); a log with an INTEGER id (no server made
    one) failed its re-keying, and every request with an id was then refused as
    INVALID_ARGUMENT, blaming the client. Both are now named as the server's own failures,
    on the planned and the small paths; requests without an id still write."""
    import duckdb
    table = pa.table({"x": pa.array(range(3), pa.int64())})
    for id_type, entries, expected in (
            ("VARCHAR", "('r1 to ev', 'ev', 'ev', NULL, 1, NULL), "
                        "('r1 batch 0 to ev', 'ev', 'ev', NULL, 1, NULL)",
             "without a row or batch count"),
            ("INTEGER", "(1, 'ev', 'ev', 3, 1, NULL)",
             "request log (arrowport.requests) cannot be used")):
        db = tmp_path / f"{id_type}.duckdb"
        with duckdb.connect(str(db)) as made:
            made.execute("CREATE SCHEMA arrowport")
            made.execute(f"CREATE TABLE arrowport.requests (request_id {id_type} PRIMARY KEY, "
                         "stream VARCHAR, table_name VARCHAR, rows BIGINT, batches BIGINT, "
                         "committed_at TIMESTAMP)")
            made.execute(f"INSERT INTO arrowport.requests VALUES {entries}")
            made.execute("CREATE TABLE ev AS SELECT range AS x FROM range(3)")
        server = start_server(db=db)
        client = server.client()
        for warm in (False, True):  # the planned paths, then the small ones (table known)
            for commit in ("per_request", "per_batch"):
                started = time.monotonic()
                with pytest.raises(flight.FlightServerError) as failed:
                    put(client, table, {"stream": "ev", "request_id": "r1", "commit": commit})
                assert expected in str(failed.value), (warm, commit, failed.value)
                assert time.monotonic() - started < 1.5, (warm, commit)
            answer = requests.post(f"{server.http}/ingest/ev", data=ipc_bytes(table),
                                   headers={"Content-Type": ARROW, "Idempotency-Key": "r1"},
                                   timeout=60)
            assert answer.status_code == 500 and expected in answer.text, answer.text
            put(client, table, {"stream": "ev"})
        assert rows_in(client, "ev") == 9
        server.stop()


def test_a_per_batch_retry_after_a_failed_attempt_counts_every_batch_once(start_server, tmp_path):
    """An attempt that fails at batch 3 keeps batches 0-2; its retry skips them. The
    stream's counters said 20 rows (the retry's new batches only: the failed attempt's
    committed batches were counted nowhere, found by a hostile run and a review)."""
    import duckdb
    db = tmp_path / "nn.duckdb"
    with duckdb.connect(str(db)) as made:
        made.execute("CREATE TABLE pb (x BIGINT NOT NULL)")
    server = start_server(db=db)
    client = server.client()
    command = {"stream": "pb", "commit": "per_batch", "request_id": "f1"}
    clean = [pa.table({"x": pa.array(range(i * 10, i * 10 + 10), pa.int64())}) for i in range(5)]
    broken = clean[:3] + [pa.table({"x": pa.array([None] * 10, pa.int64())})] + clean[4:]
    with pytest.raises(pa.ArrowException, match="after 3 committed"):
        put(client, pa.concat_tables(broken), command, chunk=10)
    counters = list_streams(client)["pb"]
    assert (counters["rows"], counters["batches"], counters["errors"]) == (30, 3, 1), counters
    retried = put(client, pa.concat_tables(clean), command, chunk=10)[-1]
    assert (retried["duplicate"], retried["rows"]) == (False, 50), retried
    assert rows_in(client, "pb") == 50
    counters = list_streams(client)["pb"]
    assert (counters["rows"], counters["batches"]) == (50, 5), counters
