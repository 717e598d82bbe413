"""Soak (hardening issue, slow suite): mixed clients for a minute (ARROWPORT_SOAK_SECONDS)
against one server with its memory budgets set - Flight and HTTP ingest in both commit
modes, DoGet and HTTP reads, Flight SQL transactions (ADBC, cookies) whose results stream
while commits and rollbacks interleave, and bad requests - with one kill -9 and restart in
the middle.

Every acknowledged row must be present exactly once, no rolled-back row at all, and what
was in flight at the kill whole or absent. The run reports requests served, errors by kind,
p50/p99 latency per kind and peak RSS against the budget, to build/soak-report.json (and
the terminal), for the README."""
import json
import os
import random
import signal
import statistics
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import adbc_driver_flightsql
import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pyarrow.flight as flight
import pytest
import requests

from conftest import REPO
from test_http import ARROW, ipc_bytes

SECONDS = float(os.environ.get("ARROWPORT_SOAK_SECONDS", "60"))
BUDGETS = {"ARROWPORT_DUCKDB_MEMORY_LIMIT": "512MiB", "ARROWPORT_LIMITS_MAX_QUERY_MEMORY": "256MiB",
           "ARROWPORT_LIMITS_MAX_REQUEST_MEMORY": "512MiB",
           "ARROWPORT_LIMITS_QUERY_TIMEOUT_S": "30", "ARROWPORT_FLIGHT_SQL_BUSY_TIMEOUT_MS": "2000"}
BUDGET_MIB = 512 + 256 + 512
SCHEMA = pa.schema([("writer", pa.int64()), ("seq", pa.int64()), ("k", pa.int64())])


def rows(writer, seq, n):
    return pa.record_batch([pa.array([writer] * n, pa.int64()), pa.array([seq] * n, pa.int64()),
                            pa.array(range(n), pa.int64())], schema=SCHEMA)


class Soak:
    """The server under test (restarted once) and what every client saw."""

    def __init__(self, start_server, db):
        self.start_server, self.db = start_server, db
        self.env = dict(os.environ, **BUDGETS)
        self.server = start_server(db=db, env=self.env)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.latency = defaultdict(list)
        self.served = Counter()
        self.errors = Counter()
        self.error_examples = {}
        # Per table: (writer, seq) -> rows, by what the client knows of it.
        self.acked = defaultdict(dict)
        self.uncertain = defaultdict(dict)
        self.rolled_back = defaultdict(dict)
        self.peak_rss_mib = 0
        self.restarting = threading.Event()

    def record(self, kind, seconds=None, error=None, example=None):
        with self.lock:
            if error is None:
                self.served[kind] += 1
                self.latency[kind].append(seconds)
            else:
                self.errors[f"{kind}: {error}"] += 1
                if example is not None:
                    self.error_examples.setdefault(f"{kind}: {error}", str(example)[:300])

    def note_rss(self):
        try:
            for line in open(f"/proc/{self.server.proc.pid}/status"):
                if line.startswith("VmHWM"):
                    self.peak_rss_mib = max(self.peak_rss_mib, int(line.split()[1]) // 1024)
        except FileNotFoundError:
            pass

    def kill_and_restart(self):
        self.note_rss()
        self.restarting.set()
        self.server.proc.send_signal(signal.SIGKILL)
        self.server.proc.wait(timeout=30)
        self.server = self.start_server(db=self.db, env=self.env)
        self.restarting.clear()


def kind_of(error):
    text = str(error).lower()
    if "ended prematurely" in text:  # an HTTP body cut off by the kill (requests' words)
        return "connect"
    for kind in ("resource_exhausted", "busy", "permission", "invalid", "not found",
                 "timed out", "cancel", "unavailable", "connect", "reset", "refused", "aborted"):
        if kind in text:
            return kind
    return type(error).__name__


def flight_writer(soak, writer, commit):
    table = f"soak_flight_{commit}"
    seq = 0
    while not soak.stop.is_set():
        seq += 1
        batches = [rows(writer, seq * 100 + b, 500) for b in range(3)]
        start = time.time()
        acked = []
        try:
            client = flight.connect(soak.server.uri)
            descriptor = flight.FlightDescriptor.for_command(
                json.dumps({"stream": table, "commit": commit}))
            writer_, metadata = client.do_put(descriptor, SCHEMA)
            for batch in batches:
                writer_.write_batch(batch)
            writer_.done_writing()
            while (buf := metadata.read()) is not None:
                doc = json.loads(buf.to_pybytes())
                if "batch" in doc:
                    acked.append(doc["batch"])
            writer_.close()
            with soak.lock:
                for b in range(3):
                    soak.acked[table][(writer, seq * 100 + b)] = 500
            soak.record("flight_put", time.time() - start)
        except Exception as e:  # noqa: BLE001 - classified
            with soak.lock:
                for b in range(3):
                    if commit == "per_batch" and b in acked:
                        soak.acked[table][(writer, seq * 100 + b)] = 500
                    else:
                        soak.uncertain[table][(writer, seq * 100 + b)] = 500
            soak.record("flight_put", error=kind_of(e), example=e)
            time.sleep(0.2)


def http_writer(soak, writer, commit):
    table = f"soak_http_{commit}"
    seq = 0
    while not soak.stop.is_set():
        seq += 1
        body = ipc_bytes(pa.Table.from_batches([rows(writer, seq, 800)]))
        start = time.time()
        try:
            r = requests.post(f"{soak.server.http}/ingest/{table}", data=body,
                              params={"commit": commit},
                              headers={"Content-Type": ARROW}, timeout=120)
            with soak.lock:
                target = soak.acked if r.status_code == 200 else soak.uncertain
                target[table][(writer, seq)] = 800
            if r.status_code == 200:
                soak.record("http_ingest", time.time() - start)
            else:
                soak.record("http_ingest", error=f"http {r.status_code}", example=r.text)
        except Exception as e:  # noqa: BLE001
            with soak.lock:
                soak.uncertain[table][(writer, seq)] = 800
            soak.record("http_ingest", error=kind_of(e), example=e)
            time.sleep(0.2)


def reader(soak, reader_id):
    rng = random.Random(reader_id)
    queries = ["SELECT count(*) AS n FROM soak_flight_per_request",
               "SELECT writer, count(*) AS n FROM soak_http_per_batch GROUP BY writer",
               "SELECT * FROM soak_flight_per_batch LIMIT 5000",
               "SELECT 42 AS answer"]
    while not soak.stop.is_set():
        sql = rng.choice(queries)
        start = time.time()
        try:
            if rng.random() < 0.5:
                client = flight.connect(soak.server.uri)
                client.do_get(flight.Ticket(json.dumps({"sql": sql}).encode())).read_all()
                soak.record("flight_get", time.time() - start)
            else:
                r = requests.post(f"{soak.server.http}/query", data=sql, timeout=60,
                                  headers={"Content-Type": "text/plain", "Accept": ARROW})
                if r.status_code in (200,):
                    soak.record("http_query", time.time() - start)
                elif r.status_code == 404:  # a table not made yet
                    soak.record("http_query", time.time() - start)
                else:
                    soak.record("http_query", error=f"http {r.status_code}", example=r.text)
        except Exception as e:  # noqa: BLE001
            text = str(e)
            if "does not exist" in text:
                soak.record("flight_get", time.time() - start)
            else:
                soak.record("flight_get", error=kind_of(e), example=e)
                time.sleep(0.2)


def transactions(soak, worker):
    """ADBC with cookies: begin, insert, stream a result partly or wholly, then commit or
    roll back (a refused end while the stream is open is retried once it is closed)."""
    rng = random.Random(1000 + worker)
    kwargs = {adbc_driver_flightsql.DatabaseOptions.WITH_COOKIE_MIDDLEWARE.value: "true"}
    seq = 0
    while not soak.stop.is_set():
        seq += 1
        commit = rng.random() < 0.5
        start = time.time()
        outcome = "uncertain"
        try:
            with flight_sql.connect(soak.server.uri, autocommit=False, db_kwargs=kwargs) as conn:
                cur = conn.cursor()
                cur.execute(f"INSERT INTO soak_txn SELECT {worker}, {seq}, range FROM range(300)")
                streaming = conn.cursor()
                streaming.execute("SELECT * FROM soak_txn")
                stream = streaming.fetch_record_batch()
                stream.read_next_batch()
                if rng.random() < 0.5:
                    stream.read_all()
                stream.close()
                streaming.close()
                (conn.commit if commit else conn.rollback)()
                outcome = "committed" if commit else "rolled_back"
                cur.close()
            soak.record("flight_sql_txn", time.time() - start)
        except Exception as e:  # noqa: BLE001
            soak.record("flight_sql_txn", error=kind_of(e), example=e)
            time.sleep(0.2)
        with soak.lock:
            target = {"committed": soak.acked, "rolled_back": soak.rolled_back,
                      "uncertain": soak.uncertain}[outcome]
            target["soak_txn"][(worker, seq)] = 300


def bad_requests(soak):
    rng = random.Random(7)
    while not soak.stop.is_set():
        start = time.time()
        choice = rng.randrange(5)
        try:
            if choice == 0:
                r = requests.post(f"{soak.server.http}/ingest/bad", data=b"not arrow",
                                  headers={"Content-Type": ARROW}, timeout=30)
            elif choice == 1:
                r = requests.post(f"{soak.server.http}/query", data="SELEC oops", timeout=30)
            elif choice == 2:
                r = requests.post(f"{soak.server.http}/query",
                                  data="SELECT * FROM read_csv('/etc/passwd')", timeout=30)
            elif choice == 3:
                r = requests.post(f"{soak.server.http}/query",
                                  data="SELECT repeat('a', n) FROM (SELECT 2000000000 AS n)",
                                  timeout=60)
            else:
                r = requests.get(f"{soak.server.http}/tables/no_such_table", timeout=30)
            if 400 <= r.status_code < 500 or r.status_code == 503:
                soak.record("bad_request_refused", time.time() - start)
            else:
                soak.record("bad_request_refused", error=f"http {r.status_code}",
                            example=f"{choice}: {r.text}")
        except Exception as e:  # noqa: BLE001
            soak.record("bad_request_refused", error=kind_of(e), example=e)
        time.sleep(0.05)


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else None


# Not marked `measures`: it runs beside the slow lane's other tests, a load of its own on
# top (its latencies are that machine's; the figures in docs/limits.md come from a run
# alone). Alone it took a minute of both cores, the longest step of CI's measures.
@pytest.mark.slow
def test_soak_mixed_clients_with_a_kill_in_the_middle(start_server, tmp_path):
    db = tmp_path / "soak.duckdb"
    soak = Soak(start_server, db)
    setup = flight_sql.connect(soak.server.uri, autocommit=True)
    with setup.cursor() as cur:
        cur.execute("CREATE TABLE soak_txn (writer BIGINT, seq BIGINT, k BIGINT)")
    setup.close()
    workers = ([threading.Thread(target=flight_writer, args=(soak, w, c))
                for w, c in ((1, "per_request"), (2, "per_batch"))] +
               [threading.Thread(target=http_writer, args=(soak, w, c))
                for w, c in ((3, "per_request"), (4, "per_batch"))] +
               [threading.Thread(target=reader, args=(soak, r)) for r in range(2)] +
               [threading.Thread(target=transactions, args=(soak, t)) for t in range(2)] +
               [threading.Thread(target=bad_requests, args=(soak,))])
    began = time.time()
    for t in workers:
        t.start()
    time.sleep(SECONDS / 2)
    soak.kill_and_restart()
    time.sleep(SECONDS / 2)
    soak.stop.set()
    for t in workers:
        t.join(timeout=180)
    soak.note_rss()
    elapsed = time.time() - began

    # Every acknowledged row once, no rolled-back row, in-flight ones whole or absent.
    client = flight.connect(soak.server.uri)
    problems = []
    for table in set(soak.acked) | set(soak.uncertain) | set(soak.rolled_back):
        result = client.do_get(flight.Ticket(json.dumps(
            {"sql": f"SELECT writer, seq, count(*) AS n, count(DISTINCT k) AS d "
                    f"FROM {table} GROUP BY writer, seq"}).encode())).read_all().to_pylist()
        present = {(r["writer"], r["seq"]): (r["n"], r["d"]) for r in result}
        for key, n in soak.acked[table].items():
            if present.get(key) != (n, n):
                problems.append(f"{table} acknowledged {key}: {present.get(key)} != {n} rows once")
        for key in soak.rolled_back[table]:
            if key in present:
                problems.append(f"{table} rolled back {key}: present {present[key]}")
        for key, n in soak.uncertain[table].items():
            if key in present and present[key] != (n, n):
                problems.append(f"{table} in flight {key}: torn {present[key]}")
    report = {
        "seconds": round(elapsed, 1),
        "requests_served": sum(soak.served.values()),
        "served_by_kind": dict(soak.served),
        "errors_by_kind": dict(soak.errors),
        "error_examples": soak.error_examples,
        "latency_ms": {kind: {"p50": round(1000 * statistics.median(v), 1),
                              "p99": round(1000 * percentile(v, 0.99), 1)}
                       for kind, v in soak.latency.items() if v},
        "peak_rss_mib": soak.peak_rss_mib,
        "budget_mib": {"memory_limit + max_query_memory + max_request_memory": BUDGET_MIB},
        "rows_verified": {table: {"acknowledged": len(soak.acked[table]),
                                  "rolled_back": len(soak.rolled_back[table]),
                                  "in_flight": len(soak.uncertain[table])}
                          for table in soak.acked},
        "problems": problems[:20],
    }
    out = Path(REPO) / "build" / "soak-report.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print("soak report:", json.dumps(report))
    assert not problems, problems[:20]
    assert report["requests_served"] > 0 and all(
        soak.served[k] > 0 for k in ("flight_put", "http_ingest", "flight_get", "flight_sql_txn"))
    # Failures other than the kill and the refused bad requests are not expected.
    # A bad request answered 5xx (but 503, busy) is a server error; so is any other error
    # than those of the kill (connections cut) and busy answers.
    unexpected = {k: v for k, v in soak.errors.items()
                  if (k.startswith("bad_request") and "http 5" in k and "http 503" not in k)
                  or (not k.startswith("bad_request") and not any(
                      x in k for x in ("unavailable", "connect", "reset", "refused", "cancel",
                                       "aborted", "busy", "resource_exhausted", "http 503")))}
    assert not unexpected, (unexpected, soak.error_examples)
    assert soak.peak_rss_mib < BUDGET_MIB + 512, report
