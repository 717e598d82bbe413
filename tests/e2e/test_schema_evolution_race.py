"""Concurrent schema evolution (issue 34, item 1): many DoPut writers of one table with
`schema_policy: add_columns`, each request with a request id, each writer adding columns of
its own (ALTER TABLE ... ADD COLUMN) while the others append. DuckDB corrupts a table when
an ALTER TABLE's transaction overlaps transactions that append to the table
(tests/duckdb_repro/alter_append_race.cc shows it against DuckDB alone): the database was
invalidated, acknowledged requests came back partial or missing, failed ones landed twice.

Every request is retried with its id until acknowledged; after the run (and a clean restart)
every acknowledged request must be present exactly once and whole, and a request never
acknowledged whole or absent (per_request) or without a duplicated row (per_batch)."""
import json
import random
import signal
import subprocess
import threading
import time

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from conftest import REPO
from test_flight_roundtrip import put as put_on

CONFIG = """streams:
  evolve: {schema_policy: add_columns, commit: per_request}
  evolve_pb: {schema_policy: add_columns, commit: per_batch, target_table: evolve}
"""
SIZES = [1, 50, 183, 2000, 20000]  # 20000: past the small-request paths
PER_BATCH_CHUNK = 1000


def put(uri, table, command, chunk):
    client = flight.connect(uri)
    try:
        return put_on(client, table, command, chunk)
    finally:
        client.close()


class Run:
    """Writers against a server that `restart` may replace (kill -9) at any moment."""

    def __init__(self, start_server, db, config):
        self.start_server, self.db, self.config = start_server, db, config
        self.server = start_server("--config", str(config), db=db)
        self.lock = threading.Lock()
        self.acked = {}    # request id -> rows, acknowledged whole
        self.unknown = {}  # request id -> (rows, per_batch), never acknowledged (gave up)
        self.errors = []
        self.stop = threading.Event()
        self.killed_logs = ""  # what the servers killed on the way logged

    def writer(self, w, new_column_every):
        rnd = random.Random(w)
        column = 0
        n = 0
        while not self.stop.is_set():
            if n % new_column_every == 0:
                column += 1  # this writer's next request adds a column of its own
            rid = f"w{w}-{n}"
            rows = rnd.choice(SIZES)
            per_batch = rnd.random() < 0.2
            table = pa.table({"req": pa.array([rid] * rows),
                              "seq": pa.array(range(rows), pa.int64()),
                              f"c{w}_{column}": pa.array(range(rows), pa.int64())})
            command = {"stream": "evolve_pb" if per_batch else "evolve", "request_id": rid}
            chunk = PER_BATCH_CHUNK if per_batch else 65536
            # Retried with the same id until acknowledged: it must land once, whatever
            # the earlier attempts were told.
            deadline = time.time() + 60
            while True:
                try:
                    summary = put(self.server.uri, table, command, chunk)[-1]
                    assert summary["rows"] == rows, summary
                    with self.lock:
                        self.acked[rid] = rows
                    break
                except Exception as e:  # noqa: BLE001 - retried; kept for the report
                    with self.lock:
                        self.errors.append(f"{rid}: {str(e)[:200]}")
                    if "invalidated" in str(e):
                        self.stop.set()  # nothing more can be written: the check says why
                    if time.time() > deadline or self.stop.is_set() and "invalidated" in str(e):
                        with self.lock:
                            self.unknown[rid] = (rows, per_batch)
                        break
                    time.sleep(0.05)
            n += 1

    def run(self, writers, seconds, new_column_every, kills=0):
        threads = [threading.Thread(target=self.writer, args=(w, new_column_every))
                   for w in range(writers)]
        for t in threads:
            t.start()
        try:
            for _ in range(kills):
                time.sleep(seconds / (kills + 1))
                self.server.proc.send_signal(signal.SIGKILL)
                self.server.proc.wait(timeout=60)
                self.killed_logs += self.server.stderr()
                self.server = self.start_server("--config", str(self.config), db=self.db)
            time.sleep(seconds / (kills + 1))
        finally:
            self.stop.set()
            for t in threads:
                t.join(timeout=300)
        assert not any(t.is_alive() for t in threads)

    def check_after_restart(self):
        log = self.server.stderr()
        stopped = self.server.stop()
        logs = self.killed_logs + log
        server = self.start_server("--config", str(self.config), db=self.db)
        client = server.client()
        ticket = {"sql": "SELECT req, count(*)::BIGINT AS n, count(DISTINCT seq)::BIGINT AS d "
                         "FROM evolve GROUP BY req"}
        found = client.do_get(flight.Ticket(json.dumps(ticket).encode())).read_all().to_pylist()
        found = {row["req"]: (row["n"], row["d"]) for row in found}
        wrong = {rid: (rows, found.get(rid)) for rid, rows in self.acked.items()
                 if found.get(rid) != (rows, rows)}
        # Never acknowledged: per_request whole or absent, per_batch without a row twice.
        torn = {rid: (rows, found[rid]) for rid, (rows, per_batch) in self.unknown.items()
                if rid in found and (found[rid][0] != found[rid][1] or
                                     (not per_batch and found[rid][0] != rows))}
        stray = sorted(set(found) - set(self.acked) - set(self.unknown) - {"setup"})
        report = (f"{len(self.acked)} acknowledged, {len(self.unknown)} never; "
                  f"errors (first 5 of {len(self.errors)}): {self.errors[:5]}")
        invalidated = [line for line in logs.splitlines() if "invalidated" in line][:1]
        assert not wrong and not invalidated, f"database invalidated: {invalidated}; " \
            f"acknowledged (rows, (found, distinct)): {list(wrong.items())[:10]}; {report}"
        assert not torn, f"never acknowledged, torn: {list(torn.items())[:10]}; {report}"
        assert not stray, f"rows of requests never sent: {stray[:10]}"
        assert stopped == 0, log[-3000:]
        return report


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "streams.yaml"
    path.write_text(CONFIG)
    return path


def seed(run):
    put(run.server.uri, pa.table({"req": pa.array(["setup"]), "seq": pa.array([0], pa.int64())}),
        {"stream": "evolve", "request_id": "setup"}, 65536)


@pytest.mark.slow
def test_concurrent_writers_adding_columns_lose_and_duplicate_nothing(start_server, tmp_path,
                                                                       config):
    """16 writers for 8 s, each adding a column of its own every fourth request: the
    database was invalidated, acknowledged requests came back partial, missing or twice
    in every run (3 of 3) before appends and schema changes were kept apart per table."""
    run = Run(start_server, tmp_path / "evolve.duckdb", config)
    seed(run)
    run.run(writers=16, seconds=8, new_column_every=4)
    print(run.check_after_restart())
    assert len(run.acked) > 16
    # A write waits while the table's shape changes instead of failing on it (DuckDB's
    # "altered by a different transaction" conflicts were the most common answer).
    assert not run.errors, run.errors[:5]


@pytest.mark.slow
def test_forty_writers_adding_columns_through_kill_rounds(start_server, tmp_path, config):
    """The issue's run: 40 writers, each adding its own column (and a new one every tenth
    request), with three kill -9 rounds 10 s apart (40 s in all: 60 s cost the slow lane
    CPU without another kind of failure); every acknowledged request is present once and
    whole after a clean restart."""
    run = Run(start_server, tmp_path / "evolve.duckdb", config)
    seed(run)
    run.run(writers=40, seconds=40, new_column_every=10, kills=3)
    print(run.check_after_restart())
    assert len(run.acked) > 40


def run_duckdb_alone(tmp_path, writers, seconds, mode):
    """tests/duckdb_repro/alter_append_race.cc, built beside the server: (exit code, output)."""
    binary = REPO / "build" / "release" / "duckdb_alter_append_race"
    assert binary.exists(), f"{binary} is missing: toolchain/build.sh release builds it"
    script = 'source "$1/toolchain/env.sh"; shift; arrowport_exec_binary "$@"'
    done = subprocess.run(["bash", "-c", script, "-", str(REPO), str(binary),
                           str(tmp_path / "alone.duckdb"), str(writers), str(seconds), str(mode)],
                          capture_output=True, text=True, timeout=seconds + 300)
    return done.returncode, done.stdout + done.stderr


@pytest.mark.slow
def test_duckdb_alone_corrupts_a_table_altered_beside_appends_and_the_holds_prevent_it(tmp_path):
    """The root cause, without Arrowport: DuckDB 2.0.0 corrupts a table whose ALTER TABLE
    ADD COLUMN transaction overlaps transactions appending to it with plain SQL (the
    program's header says how). When the first half fails after a DuckDB upgrade, DuckDB
    fixed it, and storage/core/table_gates.h may be revisited. The second half is the
    discipline the server keeps (Connection::Hold): nothing lost, nothing refused."""
    code, output = run_duckdb_alone(tmp_path, writers=8, seconds=60, mode=0)
    # DuckDB's failure shows as the table invalidated or rows lost (exit 1, named), or as
    # the program dying of it on the way (a CI run on 2026-11-26: SIGSEGV, no output, 8
    # writers racing the ALTER; the program's own code only checks results).
    crashed = code in (-signal.SIGSEGV, -signal.SIGABRT, -signal.SIGBUS)
    assert code == 1 or crashed, f"DuckDB no longer corrupts the table:\n{output}"
    assert crashed or "invalidated" in output or "lost or partial" in output, output
    code, output = run_duckdb_alone(tmp_path, writers=40, seconds=10, mode=1)
    assert code == 0, output
    assert "0 of " in output and " x " not in output, output  # no errors at all


@pytest.mark.slow
def test_an_admins_sql_alter_and_inserts_wait_for_the_tables_writers(start_server, tmp_path,
                                                                      config):
    """The same race through Flight SQL (ADBC): an admin adds a column with ALTER TABLE and
    inserts rows, in a transaction each time, while DoPut writers append. Before, the
    database was invalidated in 3 of 3 runs ("Failed to alter table ... because the
    underlying table state was reverted by a concurrent transaction" on the way). A
    client's DDL and DML hold the tables they touch until their transaction ends; what
    began before a change of shape committed may fail as a retryable conflict."""
    from test_flight_sql import connect
    run = Run(start_server, tmp_path / "evolve.duckdb", config)
    seed(run)
    sql_done, sql_errors = [], []

    def admin(column_every):
        with connect(run.server, autocommit=False) as conn, conn.cursor() as cur:
            n = 0
            while not run.stop.is_set():
                rid = f"sql-{n}"
                try:
                    if n % column_every == 0:
                        cur.execute(f"ALTER TABLE evolve ADD COLUMN s_{n} BIGINT")
                    cur.execute(f"INSERT INTO evolve (req, seq) SELECT '{rid}', range "
                                f"FROM range({SIZES[n % len(SIZES)]})")
                    conn.commit()
                    sql_done.append((rid, SIZES[n % len(SIZES)]))
                except Exception as e:  # noqa: BLE001 - kept for the report
                    sql_errors.append(str(e)[:200])
                    try:
                        conn.rollback()
                    except Exception:  # noqa: BLE001 - a failed commit ended it already
                        pass
                n += 1

    thread = threading.Thread(target=admin, args=(1,))
    thread.start()
    try:
        run.run(writers=8, seconds=8, new_column_every=1000)  # the writers add one column
    finally:
        thread.join(timeout=300)
    for rid, rows in sql_done:
        run.acked[rid] = rows
    print(run.check_after_restart(), f"SQL: {len(sql_done)} committed, errors {sql_errors[:3]}")
    assert len(sql_done) > 3
