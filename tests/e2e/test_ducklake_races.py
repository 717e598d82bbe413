"""Arrowport reading a DuckLake while DuckDB writes and maintains it (issue 38, found by the
hostile round): every answer is one catalog snapshot's rows, never a state between two of
DuckDB's commits (a flush of inlined rows between two catalog reads once dropped them:
995 rows served of 1000). Slow lane: each runs DuckDB's writer for many rounds."""
import threading
import time

import pytest

from test_ducklake_attack import (  # noqa: F401 (any_lake: a fixture)
    any_lake, arrowport_answer, assert_served_as_duckdb, duck, serve)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("maintenance", [
    "CALL ducklake_flush_inlined_data('lk')",
    "CALL ducklake_merge_adjacent_files('lk')",
    "CALL ducklake_rewrite_data_files('lk', 'events', delete_threshold => 0.0)",
])
def test_reads_while_duckdb_writes_and_maintains_see_whole_snapshots(start_server, tmp_path,
                                                                     any_lake, maintenance,
                                                                     request):
    """DuckDB inserts one row per transaction (inlined), deletes one older row of the
    files every other round, and runs its maintenance: every answer Arrowport gives is
    one snapshot's, so its count never goes down and its sum matches a snapshot's."""
    con = duck(any_lake)
    con.execute("CREATE TABLE lk.events (id BIGINT, v VARCHAR)")
    con.execute("INSERT INTO lk.events SELECT i, 'f' FROM range(1000) r(i)")
    server = serve(start_server, tmp_path, any_lake)
    assert_served_as_duckdb(server, any_lake)
    stop = threading.Event()
    states = set()
    failures = []
    errors = []

    def writer():
        try:
            i = 0
            while not stop.is_set() and i < 400:
                con.execute("BEGIN")
                con.execute("INSERT INTO lk.events VALUES (?, 'w')", [10000 + i])
                con.execute("DELETE FROM lk.events WHERE id = ?", [i])  # count stays 1000
                con.execute("COMMIT")
                if i % 5 == 4:
                    con.execute(maintenance)
                i += 1
        except Exception as e:  # noqa: BLE001
            failures.append(repr(e))

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and thread.is_alive():
            rows, error = arrowport_answer(server, "SELECT count(*), count(DISTINCT id) FROM events")
            if error is None:
                states.add(rows[0])
            else:
                errors.append(error[:300])
    finally:
        stop.set()
        thread.join()
        con.close()
    assert not failures, failures
    assert states and all(state == (1000, 1000) for state in states), sorted(states)[:10]
    # DuckDB's readers read every snapshot: Arrowport's refusals mid-maintenance are not
    # expected either.
    assert not errors, (len(errors), errors[:3])
    assert_served_as_duckdb(server, any_lake)


# --- Columns: nested, renamed across inlined schema versions ------------------------
