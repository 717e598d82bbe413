"""Memory the server gives one query and all calls together (hardening issue): no single
query, of any form, raises the server's RSS far past duckdb.memory_limit +
limits.max_query_memory or outlives limits.query_timeout_s by much; SQL text has a small
limit of its own on every surface; and every call's buffers (bodies, decoded batches,
planning, results) draw from one server-wide budget, limits.max_request_memory, so that 32
clients at the per-request limits get "busy" answers instead of taking the host."""
import json
import os
import threading
import time

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight
import pytest
import requests

import flightsql_wire as wire
from test_http import ARROW, ipc_bytes

# Also run against the release build in CI (bin/test --slow), whose default lane runs
# against the ASan/UBSan build: the shipped allocator and memory guard meet these.
pytestmark = pytest.mark.release_too

MiB = 1 << 20


def memory(server, field):
    for line in open(f"/proc/{server.proc.pid}/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    raise AssertionError(field)


def body_mib(batch):
    return -(-batch.nbytes // MiB)


def http_sql(server, sql, timeout=120):
    return requests.post(f"{server.http}/query", data=sql, timeout=timeout,
                         headers={"Content-Type": "text/plain", "Accept": ARROW})


# The queries the hostile run used (each took 4.6 to 21 GB and up to 70 s), and the same
# with sizes that are not constants, which only the allocation guard can stop.
RUNAWAY = [
    "SELECT unnest(range(1000000000))",
    "SELECT lpad('x', 2000000000, 'y')",
    "SELECT repeat('a', 2000000000)",
    "SELECT max(len(x)) FROM (SELECT range(0, 50000000) AS x FROM range(100))",
    "SELECT unnest(range(n)) FROM (SELECT 1000000000 AS n)",
    "SELECT length(repeat('a', n)) FROM (SELECT 2000000000 AS n)",
    "SELECT length(lpad('x', n, 'y')) FROM (SELECT 2000000000::INTEGER AS n)",
    "SELECT list_resize([1], n) FROM (SELECT 1000000000 AS n)",
]


@pytest.mark.slow
@pytest.mark.release_only("RSS is the sanitizer's there, and its own operator new "
                          "replaces the guard's")
def test_no_single_query_takes_the_machine(start_server):
    timeout_s = 4
    env = dict(os.environ, ARROWPORT_DUCKDB_MEMORY_LIMIT="1GiB",
               ARROWPORT_LIMITS_MAX_QUERY_MEMORY="512MiB",
               ARROWPORT_LIMITS_QUERY_TIMEOUT_S=str(timeout_s))
    server = start_server(env=env)
    baseline = memory(server, "VmRSS")
    ceiling = baseline + (1024 + 512 + 256) * MiB  # memory_limit + budget + slack
    for sql in RUNAWAY:
        start = time.time()
        r = http_sql(server, sql)
        elapsed = time.time() - start
        # Refused before it runs (413, a constant size) or failing fast with a resource
        # error (503); never running on past the timeout or taking the host's memory.
        # The lpad whose size is known only as it runs is stopped after the timeout, once
        # its growing value next allocates (the interrupt is not seen inside lpad; its
        # value doubles): 8.5 s alone with a 4 s timeout, 15.5 s with 8 s, and up to 2x
        # that beside other test files on a slow day. Run to its end it takes over 40 s
        # (one character at a time).
        bound = timeout_s + (24 if "lpad('x', n" in sql else 6)
        assert elapsed < bound, (sql, elapsed)
        if r.status_code == 200:
            continue  # small enough to run within the budget (the max(len(...)) one)
        # Refused (413 before it runs, 503 by the guard), or, for lpad with a size known
        # only as it runs (it pads one character at a time, 50 MB/s), stopped by the
        # query timeout (504) before it reaches the guard's cap on one value.
        assert r.status_code in (413, 503, 504), (sql, r.status_code, r.text)
        message = r.json()["error"]["message"]
        assert any(key in message for key in ("limits.max_query_memory", "duckdb.memory_limit",
                                              "limits.query_timeout_s")), (sql, message)
        assert memory(server, "VmHWM") < ceiling, (sql, memory(server, "VmHWM") >> 20)
    # Two at once (the hostile run: two exhausted a 24 GiB host).
    results = []
    threads = [threading.Thread(target=lambda q=q: results.append(http_sql(server, q)))
               for q in RUNAWAY[4:7]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(r.status_code in (200, 503, 504) for r in results), [r.text for r in results]
    assert memory(server, "VmHWM") < ceiling, memory(server, "VmHWM") >> 20
    # Over Flight: RESOURCE_EXHAUSTED (pyarrow: a FlightError carrying that gRPC status).
    client = server.client()
    ticket = flight.Ticket(json.dumps({"sql": RUNAWAY[5]}).encode())
    with pytest.raises(flight.FlightError) as error:
        client.do_get(ticket).read_all()
    assert error.value.extra_info[:2] == b"\x08\x08", error.value  # RESOURCE_EXHAUSTED
    # The server is whole: an ordinary query still runs.
    assert http_sql(server, "SELECT 42 AS answer").status_code == 200


# String functions over large values (issue 34): DuckDB folds a constant string_split
# into a list of 12 million values as it plans, each a small allocation; RE2 builds
# regexp_replace's result in a std::string that libstdc++ grows; and freed memory stayed
# with the allocators. Against a 1.5 GiB budget the server reached 2,009 MiB for one such
# string_split, 3,039 MiB for four at once, and 2,159 MiB for four regexp_replace.
FOLDED_SPLIT = "SELECT len(string_split(repeat('abcdefghijklmnopq,', 12000000), ',')) AS n"
GROWN_REPLACE = "SELECT length(regexp_replace(repeat('a', 100000000), 'a+', '\\0\\0')) AS n"


def string_budget_server(start_server):
    env = dict(os.environ, ARROWPORT_DUCKDB_MEMORY_LIMIT="1GiB",
               ARROWPORT_LIMITS_MAX_QUERY_MEMORY="512MiB",
               ARROWPORT_LIMITS_QUERY_TIMEOUT_S="120")
    server = start_server(env=env)
    # memory_limit + limits.max_query_memory + the slack of the test above
    return server, memory(server, "VmRSS") + (1024 + 512 + 256) * MiB


def run_at_once(server, sql, clients):
    """Runs `sql` from `clients` at once; each answers with its rows or a resource error
    naming the budget, and the server's peak stays under its ceiling."""
    results = []
    threads = [threading.Thread(target=lambda: results.append(http_sql(server, sql, 300)))
               for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert len(results) == clients
    for r in results:
        assert r.status_code in (200, 503), (sql, r.status_code, r.text)
        if r.status_code == 503:
            assert "limits.max_query_memory" in r.json()["error"]["message"], r.text


@pytest.mark.slow
@pytest.mark.release_only("RSS is the sanitizer's there, and its own operator new "
                          "replaces the guard's")
def test_a_string_split_duckdb_folds_as_it_plans_stays_within_the_budget(start_server):
    server, ceiling = string_budget_server(start_server)
    run_at_once(server, FOLDED_SPLIT, 1)
    assert memory(server, "VmHWM") < ceiling, memory(server, "VmHWM") >> 20
    assert http_sql(server, "SELECT 42 AS answer").status_code == 200


@pytest.mark.slow
@pytest.mark.release_only("RSS is the sanitizer's there, and its own operator new "
                          "replaces the guard's")
@pytest.mark.parametrize("sql", [FOLDED_SPLIT, GROWN_REPLACE], ids=["string_split", "regexp_replace"])
def test_four_string_queries_at_once_stay_within_the_budget(start_server, sql):
    server, ceiling = string_budget_server(start_server)
    run_at_once(server, sql, 4)
    assert memory(server, "VmHWM") < ceiling, memory(server, "VmHWM") >> 20
    assert http_sql(server, "SELECT 42 AS answer").status_code == 200


def test_sql_text_has_its_own_limit_on_every_surface(start_server):
    env = dict(os.environ, ARROWPORT_HTTP_MAX_QUERY_BYTES="64KiB",
               ARROWPORT_FLIGHT_MAX_QUERY_BYTES="64KiB")
    server = start_server(env=env)
    big = "SELECT 1 AS one WHERE 1 IN (" + ",".join(["1"] * 40000) + ")"  # ~80 KB
    small = "SELECT 1 AS one WHERE 1 IN (" + ",".join(["1"] * 10000) + ")"  # ~20 KB
    r = http_sql(server, big)
    assert r.status_code == 413 and "http.max_query_bytes" in r.text, r.text
    r = requests.post(f"{server.http}/query", json={"sql": big}, timeout=60)
    assert r.status_code == 413 and "http.max_query_bytes" in r.text, r.text
    assert http_sql(server, small).status_code == 200
    client = server.client()
    with pytest.raises(pa.ArrowInvalid, match="flight.max_query_bytes"):
        client.do_get(flight.Ticket(json.dumps({"sql": big}).encode())).read_all()
    with pytest.raises(pa.ArrowInvalid, match="flight.max_query_bytes"):
        client.get_flight_info(flight.FlightDescriptor.for_command(wire.statement_query(big)))
    with flight_sql.connect(server.uri) as conn, conn.cursor() as cur:
        with pytest.raises(adbc_driver_manager.Error, match="flight.max_query_bytes"):
            cur.execute(big)
        cur.execute(small)
        assert cur.fetchall() == [(1,)]
    assert client.do_get(flight.Ticket(json.dumps({"sql": small}).encode())).read_all().num_rows == 1


def resource_exhausted(error):
    text = str(error)
    return ("resource_exhausted" in text or "RESOURCE_EXHAUSTED" in text or
            "memory budget" in text or getattr(error, "extra_info", b"")[:2] == b"\x08\x08")


@pytest.mark.slow
@pytest.mark.release_only("RSS under ASan is the sanitizer's")
def test_32_clients_at_the_per_request_limits_stay_within_the_server_budget(start_server):
    budget = 256
    env = dict(os.environ, ARROWPORT_LIMITS_MAX_REQUEST_MEMORY=f"{budget}MiB",
               ARROWPORT_LIMITS_MAX_BATCH_BYTES="24MiB", ARROWPORT_DUCKDB_MEMORY_LIMIT="512MiB",
               ARROWPORT_LIMITS_MAX_QUERY_MEMORY="256MiB",
               ARROWPORT_LIMITS_MAX_CONCURRENT_REQUESTS="200",
               ARROWPORT_HTTP_MAX_CONNECTIONS="200")
    server = start_server(env=env)
    baseline = memory(server, "VmRSS")
    # One batch at the per-batch limit: 3M random int64 (incompressible), 22.9 MiB.
    rows = 3_000_000
    random = pa.Array.from_buffers(pa.int64(), rows, [None, pa.py_buffer(os.urandom(rows * 8))])
    batch = pa.record_batch([random], names=["x"])
    body = ipc_bytes(pa.Table.from_batches([batch]))
    sql_at_limit = "SELECT 1 AS one WHERE 1 IN (" + ",".join(["1"] * 2_000_000) + ")"
    outcomes = {"ok": 0, "busy": 0}
    other = []
    lock = threading.Lock()

    def record(ok, error=None):
        with lock:
            if ok:
                outcomes["ok"] += 1
            elif error is not None and resource_exhausted(error):
                outcomes["busy"] += 1
            else:
                other.append(repr(error)[:300])

    def flight_put(i):
        try:
            client = flight.connect(server.uri)
            descriptor = flight.FlightDescriptor.for_command(json.dumps({"stream": f"f{i}"}))
            writer, _ = client.do_put(descriptor, batch.schema)
            writer.write_batch(batch)
            writer.close()
            record(True)
        except Exception as e:  # noqa: BLE001 - classified
            record(False, e)

    def http_put(i):
        try:
            r = requests.post(f"{server.http}/ingest/h{i}", data=body,
                              headers={"Content-Type": ARROW}, timeout=300)
            record(r.status_code == 200, None if r.status_code == 200 else r.text)
        except Exception as e:  # noqa: BLE001
            record(False, e)

    def http_query(i):
        try:
            r = http_sql(server, sql_at_limit, timeout=300)
            record(r.status_code == 200, None if r.status_code == 200 else r.text)
        except Exception as e:  # noqa: BLE001
            record(False, e)

    threads = [threading.Thread(target=f, args=(i,))
               for f in (flight_put, http_put, http_query) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not other, other[:5]
    assert outcomes["ok"] > 0 and outcomes["busy"] > 0, outcomes
    # Peak: the budget, DuckDB's memory limit and query budget, and the baseline; and the
    # first batch of each DoPut beyond the 16 MiB it reserved before it (charged as it
    # arrives: an idle DoPut must not hold a whole batch's worth of the budget); and 5%
    # for what no budget counts (gRPC's own buffers, pages the allocators keep): a CI run
    # under a second workload peaked 17 MiB (1%) over the rest.
    peak = memory(server, "VmHWM")
    first_batches = 32 * (body_mib(batch) - 16) * MiB
    limit = baseline + (budget + 512 + 256 + 256) * MiB + first_batches
    limit += limit // 20
    print("32 clients per kind at the per-request limits: peak", peak >> 20, "MiB, limit",
          limit >> 20, "MiB, baseline", baseline >> 20, "MiB,", outcomes)
    assert peak < limit, (peak >> 20, limit >> 20, outcomes)
    # Whatever was acknowledged is there, whole.
    client = server.client()
    for info in client.list_flights():
        table = info.descriptor.path[0].decode()
        n = client.do_get(flight.Ticket(json.dumps(
            {"sql": f"SELECT count(*) AS n FROM {table}"}).encode())).read_all()
        assert n.column(0)[0].as_py() == rows, table


@pytest.mark.slow
def test_oversized_queries_do_not_fail_concurrent_appends(start_server):
    """A query asking DuckDB for more than its whole memory limit (2 GB under 512 MiB) made
    DuckDB claim that much of its pool while it tried to evict: every append in that moment
    failed for memory, part-way through the table, and the next checkpoint found the table
    corrupt and invalidated the database ("Corrupted in-memory column ... misaligned
    count"). Such a request now fails at once, and appends never meet a refusal."""
    server = start_server(env=dict(os.environ, ARROWPORT_DUCKDB_MEMORY_LIMIT="512MiB",
                                   ARROWPORT_LIMITS_MAX_QUERY_MEMORY="256MiB",
                                   ARROWPORT_DUCKDB_CHECKPOINT_WAL_BYTES="1MiB"))
    schema = pa.schema([("writer", pa.int64()), ("k", pa.int64())])
    stop, errors, acked = threading.Event(), [], [0] * 4

    def append(writer):
        client = flight.connect(server.uri)
        commit = "per_batch" if writer % 2 else "per_request"
        while not stop.is_set():
            try:
                put, metadata = client.do_put(flight.FlightDescriptor.for_command(
                    json.dumps({"stream": f"appended_{writer % 2}", "commit": commit})), schema)
                for _ in range(3):
                    put.write_batch(pa.record_batch([pa.array([writer] * 500, pa.int64()),
                                                     pa.array(range(500), pa.int64())], schema))
                put.done_writing()
                while metadata.read() is not None:
                    pass
                put.close()
                acked[writer] += 1500
            except Exception as e:  # noqa: BLE001 - any failure is the bug
                errors.append(str(e)[:300])
                return

    def oversized():
        while not stop.is_set():
            r = http_sql(server, "SELECT repeat('a', n) FROM (SELECT 2000000000 AS n)", timeout=60)
            assert r.status_code == 503, r.text

    workers = [threading.Thread(target=append, args=(w,)) for w in range(4)]
    workers += [threading.Thread(target=oversized) for _ in range(2)]
    for t in workers:
        t.start()
    time.sleep(12)
    stop.set()
    for t in workers:
        t.join(timeout=60)
    assert not errors, errors[:3]
    assert "invalidated" not in server.stderr()
    client = server.client()
    list(client.do_action(flight.Action("checkpoint", b"")))  # the tables check out whole
    for table in ("appended_0", "appended_1"):
        got = client.do_get(flight.Ticket(json.dumps(
            {"sql": f"SELECT writer, count(*) AS n FROM {table} GROUP BY writer"}).encode())
        ).read_all().to_pylist()
        for row in got:
            assert row["n"] == acked[row["writer"]], (table, row, acked)


def test_idle_doputs_do_not_hold_the_server_budget(start_server):
    """Found by an outside review: a DoPut that sent its schema and waited reserved the
    largest batch allowed (272 MiB) until its first batch came, so two idle calls held a
    600 MiB budget for limits.idle_timeout_s and every other call was answered busy. Before
    its first batch a call now reserves 16 MiB; a batch larger than that is charged as it
    arrives."""
    server = start_server(env=dict(os.environ, ARROWPORT_LIMITS_MAX_REQUEST_MEMORY="600MiB"))
    schema = pa.schema([("x", pa.int64())])
    idle = []
    for i in range(8):
        client = flight.connect(server.uri)
        writer, _ = client.do_put(flight.FlightDescriptor.for_command(
            json.dumps({"stream": f"idle{i}"})), schema)
        idle.append((client, writer))  # schema sent, no batch
    time.sleep(1.5)
    health = json.loads(next(iter(server.client().do_action(flight.Action("health", b""))))
                        .body.to_pybytes())
    assert health["memory"]["requests_held"] <= 8 * 16 * MiB + 8 * MiB, health["memory"]
    body = ipc_bytes(pa.table({"x": pa.array(range(5_000_000), pa.int64())}))  # 40 MB
    r = requests.post(f"{server.http}/ingest/busy_check", data=body,
                      headers={"Content-Type": ARROW}, timeout=60)
    assert r.status_code == 200, r.text
    assert http_sql(server, "SELECT 1 AS a" + " " * 1_000_000).status_code == 200
    writer, metadata = server.client().do_put(flight.FlightDescriptor.for_command(
        json.dumps({"stream": "third"})), schema)
    writer.write_batch(pa.record_batch([pa.array(range(3_000_000), pa.int64())], schema=schema))
    writer.done_writing()
    while metadata.read() is not None:
        pass
    writer.close()
    for client, writer in idle:
        writer.close()


def test_zstd_bodies_charge_their_windows_as_they_use_them(server):
    """A zstd frame's window (up to 8 MiB) is allocated when the frame's header is read.
    Uncharged, many uploads held memory the budget did not know of; charged at once, 17
    bytes of header stalled on 62 connections held a 512 MiB budget (an attack run), with
    the memory unused. It is charged as bytes pass through it (unit test
    BodyDecoderTest.AZstdWindowIsChargedAsItIsUsed), and given back with the body."""
    import socket
    import zstandard

    def held():
        health = json.loads(next(iter(server.client().do_action(flight.Action("health", b""))))
                            .body.to_pybytes())
        return health["memory"]["requests_held"]

    host, port = server.http.removeprefix("http://").split(":")
    header = b"\x28\xb5\x2f\xfd\x00" + bytes([(23 - 10) << 3])  # 8 MiB window, no size
    before = held()
    stalled = []
    for _ in range(8):
        s = socket.create_connection((host, int(port)))
        s.sendall(b"POST /query HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                  b"Content-Encoding: zstd\r\nContent-Length: 100000\r\n\r\n" + header)
        stalled.append(s)
    # Each decoder charges its 64 KiB output piece when it starts: all 8 have begun.
    deadline = time.time() + 30
    while held() - before < 8 * 64 * 1024 and time.time() < deadline:
        time.sleep(0.1)
    assert held() - before >= 8 * 64 * 1024, held() - before
    time.sleep(0.5)
    assert held() - before < 4 * MiB, held() - before  # 8 x 8.4 MiB when charged at once
    r = requests.post(f"{server.http}/query", params={"format": "json"}, timeout=30,
                      data=zstandard.ZstdCompressor().compress(b"SELECT 42 AS x"),
                      headers={"Content-Type": "text/plain", "Content-Encoding": "zstd"})
    assert r.status_code == 200 and r.json() == [{"x": 42}], r.text
    for s in stalled:
        s.close()
    deadline = time.time() + 30
    while held() > before and time.time() < deadline:
        time.sleep(0.1)
    assert held() <= before, (held(), before)


def test_an_ingest_the_server_budget_refuses_is_busy_not_too_large(start_server):
    """An HTTP ingest whose decoded batch the server-wide budget had no room for was
    answered 413 "a record batch needs more than ... limits.max_batch_bytes" (found by an
    attack run): the body was not too large, the server was busy. Now 503."""
    server = start_server(env=dict(os.environ, ARROWPORT_LIMITS_MAX_REQUEST_MEMORY="40MiB"))
    schema = pa.schema([("x", pa.int64())])
    idle = []
    for i in range(2):  # each reserves 16 MiB before its first batch
        client = flight.connect(server.uri)
        writer, _ = client.do_put(flight.FlightDescriptor.for_command(
            json.dumps({"stream": f"idle{i}"})), schema)
        idle.append((client, writer))

    def held():
        health = json.loads(next(iter(server.client().do_action(flight.Action("health", b""))))
                            .body.to_pybytes())
        return health["memory"]["requests_held"]

    deadline = time.time() + 30
    while held() < 32 * MiB and time.time() < deadline:
        time.sleep(0.1)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as stream:  # one 16 MB batch
        stream.write_batch(pa.record_batch([pa.array(range(2_000_000), pa.int64())],
                                           schema=schema))
    body = sink.getvalue().to_pybytes()
    r = requests.post(f"{server.http}/ingest/busy", data=body,
                      headers={"Content-Type": ARROW}, timeout=60)
    assert r.status_code == 503, r.text
    assert "limits.max_request_memory" in r.json()["error"]["message"], r.text
    # When to try again, as every other busy 503 says (this one, answered with the
    # ingest's committed batches, did not).
    assert r.headers.get("Retry-After") == "1", r.headers
    for client, writer in idle:
        writer.close()
        client.close()
    r = requests.post(f"{server.http}/ingest/busy", data=body,
                      headers={"Content-Type": ARROW}, timeout=60)
    assert r.status_code == 200, r.text
