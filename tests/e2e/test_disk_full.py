"""A full disk is an expected state, not a crash (issue 34 item 3).

Each test runs the server on a 48 MB tmpfs of its own (root mounts it) and fills the disk
with a file of its own: writes are refused before DuckDB meets a full disk (Flight
RESOURCE_EXHAUSTED, HTTP 507, the path and the space in the message), reads go on, the
due checkpoint waits, and writes resume once space is freed, without a restart. A full
disk that DuckDB meets anyway (storage.min_free_mb 0) is the same kind of error; a
checkpoint it cannot finish invalidates the database, which the server reopens by itself
once space allows, every acknowledged row intact. A server killed on a nearly full disk
starts again, or says how much space it needs."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.flight as flight
import pytest
import requests

import flightsql_wire as wire
from conftest import ARROWPORT
from test_flight_roundtrip import get, put
from test_http import ARROW, ipc_bytes

MiB = 1 << 20


@pytest.fixture
def small_disk():
    """A 48 MB tmpfs under /tmp, unmounted (lazily: a server may still hold it) after."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    directory = tempfile.mkdtemp(prefix="arrowport-disk-", dir="/tmp")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", directory],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        os.rmdir(directory)
        pytest.skip(f"cannot mount a 48 MB tmpfs here: {mounted.stderr.strip()}")
    try:
        yield Path(directory)
    finally:
        subprocess.run(["umount", "-l", directory], check=False)
        shutil.rmtree(directory, ignore_errors=True)


def free_bytes(directory):
    info = os.statvfs(directory)
    return info.f_bavail * info.f_frsize


def fill(directory, leave_mib, name="filler"):
    """A file that leaves `leave_mib` MiB free on the disk; its path."""
    path = Path(directory) / name
    size = free_bytes(directory) - leave_mib * MiB
    assert size > 0, (free_bytes(directory), leave_mib)
    with open(path, "wb") as f:
        os.posix_fallocate(f.fileno(), 0, size)
    return path


def rows(n, start=0, columns=8):
    """`n` rows: an id and `columns - 1` random int64 columns, which DuckDB cannot
    compress: 100,000 rows are 6.4 MB in the WAL and again in the database file."""
    def random_int64():
        return pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(os.urandom(8 * n))])
    ids = pa.array(range(start, start + n), pa.int64())
    return pa.table({"id": ids, **{f"c{i}": random_int64() for i in range(1, columns)}})


def action(client, name, body=b""):
    return json.loads(next(client.do_action(flight.Action(name, body))).body.to_pybytes())


def storage_of(client):
    return action(client, "health")["storage"]


def wait_for(predicate, what, timeout=60, show=None):
    """Polls `predicate` (the server's state, seen through its API) until it holds; on
    failure says what `show()` gives then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not seen within {timeout} s: {what}"
                         + (f"; last seen: {show()}" if show else ""))


def wal_bytes(disk):
    wal = disk / "d.duckdb.wal"
    return wal.stat().st_size if wal.exists() else 0


def count(client, table="ev"):
    return get(client, {"sql": f"SELECT count(*)::BIGINT AS n FROM {table}"}).to_pylist()[0]["n"]


def serve(start_server, disk, min_free_mb, wal_bytes):
    env = {**os.environ, "ARROWPORT_STORAGE_MIN_FREE_MB": str(min_free_mb),
           "ARROWPORT_DUCKDB_CHECKPOINT_WAL_BYTES": wal_bytes,
           "ARROWPORT_DUCKDB_MEMORY_LIMIT": "256MB"}
    return start_server("--db", str(disk / "d.duckdb"), env=env)


def test_writes_are_refused_below_min_free_reads_go_on_and_writes_resume(small_disk,
                                                                        start_server):
    server = serve(start_server, small_disk, min_free_mb=16, wal_bytes="1MiB")
    client = server.client()
    put(client, rows(1000), {"stream": "ev"})
    acknowledged = 1000
    # 17 MiB free when it begins: accepted; its 6.4 MB of WAL take the disk below 16 MiB.
    # A checkpoint needs the WAL's size on top of the 16 MiB, which was never free once
    # the WAL was due (1 MiB): it waits.
    filler = fill(small_disk, leave_mib=17)
    put(client, rows(100_000, start=acknowledged), {"stream": "ev"})
    acknowledged += 100_000
    storage = wait_for(lambda: (s := storage_of(client))["state"] == "disk_full"
                       and s["checkpoint_deferred"] and s, "disk full, checkpoint deferred",
                       show=lambda: (storage_of(client), wal_bytes(small_disk),
                                     free_bytes(small_disk)))
    assert storage["writes"] == "refused: disk full", storage
    # The upkeep thread logs the change within its period (250 ms): waited for while the
    # disk is still full (asserted after space was freed, a loaded machine could miss it).
    assert server.logged("disk full: writes refused")
    assert storage["disk"]["min_free_bytes"] == 16 * MiB, storage
    assert storage["disk"]["free_bytes"] < 16 * MiB, storage
    # The checkpoint the WAL is due for waits: it would need the space that is missing.
    assert wal_bytes(small_disk) >= MiB
    with pytest.raises(flight.FlightError) as deferred:
        action(client, "checkpoint")
    assert "checkpoint deferred: disk full" in str(deferred.value), deferred.value

    # Writes are refused before DuckDB sees them, on both protocols, saying where and why.
    with pytest.raises(flight.FlightError) as refused:
        put(client, rows(10, start=10**9), {"stream": "ev"})
    text = str(refused.value)
    assert "RESOURCE_EXHAUSTED" in text and "disk full" in text, text
    assert f"under {small_disk}" in text and "writes need 16 MiB (storage.min_free_mb)" in text, text
    answer = requests.post(f"{server.http}/ingest/ev", data=ipc_bytes(rows(10, start=10**9)),
                           headers={"Content-Type": ARROW}, timeout=60)
    assert answer.status_code == 507, answer.text
    assert answer.json()["error"]["code"] == "disk_full", answer.text
    assert "storage.min_free_mb" in answer.json()["error"]["message"], answer.text

    # Reads go on; every probe says what is happening.
    assert count(client) == acknowledged
    healthz = requests.get(f"{server.http}/healthz", timeout=30)
    assert healthz.status_code == 200 and healthz.json()["storage"]["state"] == "disk_full"
    readyz = requests.get(f"{server.http}/readyz", timeout=30)
    assert readyz.status_code == 200, readyz.text
    assert readyz.json()["writes"].startswith("disk full: "), readyz.text
    status = action(client, "status")
    assert status["storage"]["state"] == "disk_full", status["storage"]

    # Space freed: writes resume and the deferred checkpoint runs, without a restart.
    filler.unlink()
    put(client, rows(500, start=acknowledged), {"stream": "ev"})
    acknowledged += 500
    wait_for(lambda: (s := storage_of(client))["state"] == "ok" and not s["checkpoint_deferred"]
             and wal_bytes(small_disk) < MiB, "the checkpoint done")
    assert count(client) == acknowledged
    assert server.logged("disk space back")


def test_a_full_disk_met_by_duckdb_is_disk_full_and_an_invalidated_database_reopens(
        small_disk, start_server):
    # storage.min_free_mb 0: nothing is refused ahead, DuckDB meets the full disk itself.
    server = serve(start_server, small_disk, min_free_mb=0, wal_bytes="1GiB")
    client = server.client()
    put(client, rows(100_000), {"stream": "ev"})
    acknowledged = 100_000
    # A result being read holds a connection of the database: an invalidated database is
    # closed (then opened again) only once its last connection is gone. The server ends
    # the calls running on it; this one, whose client reads nothing, waits in a write for
    # 5 s first (CallCancellation::kStuckAfter): the reopening below is seen meanwhile.
    reading = client.do_get(flight.Ticket(json.dumps(
        {"sql": "SELECT * FROM ev, range(100)"}).encode()))
    assert reading.read_chunk().data.num_rows > 0
    filler = fill(small_disk, leave_mib=1)

    # A plain write whose WAL does not fit: the disk-full kind, not an internal error.
    answer = requests.post(f"{server.http}/ingest/ev",
                           data=ipc_bytes(rows(100_000, start=10**9)),
                           headers={"Content-Type": ARROW}, timeout=120)
    assert answer.status_code == 507, answer.text
    assert answer.json()["error"]["code"] == "disk_full", answer.text
    assert "No space left on device" in answer.json()["error"]["message"], answer.text
    with pytest.raises(flight.FlightError) as refused:
        put(client, rows(100_000, start=10**9), {"stream": "ev"})
    assert "RESOURCE_EXHAUSTED" in str(refused.value) and "disk full" in str(refused.value)
    assert count(client) == acknowledged

    # A checkpoint that cannot finish: DuckDB invalidates the database (its own rule).
    with pytest.raises(flight.FlightError) as failed:
        action(client, "checkpoint")
    assert "disk full" in str(failed.value), failed.value
    # At once, before the server's upkeep has seen it: the status page still answers (a
    # catalog DuckDB refuses to list answered 500).
    status = requests.get(f"{server.http}/status", timeout=30)
    assert status.status_code == 200, status.text
    # A read then is told to retry, as once the upkeep has seen it: it was told disk full
    # (507) until then, its statement failing on what invalidated the database.
    answer = requests.post(f"{server.http}/query", json={"sql": "SELECT count(*) FROM ev"},
                           timeout=30)
    assert answer.status_code == 503, answer.text
    # The server sees it and reopens the database by itself, once the result still being
    # read lets the invalidated one go; meanwhile every probe says so.
    storage = wait_for(lambda: (s := storage_of(client))["state"] == "reopening" and s,
                       "the database being reopened", show=lambda: storage_of(client))
    assert "invalidated" in storage["reopening"]["after"], storage
    assert "No space left on device" in storage["summary"], storage
    assert storage["writes"] == "refused: the database is being reopened", storage
    healthz = requests.get(f"{server.http}/healthz", timeout=30)
    assert healthz.status_code == 200 and healthz.json()["storage"]["state"] == "reopening"
    readyz = requests.get(f"{server.http}/readyz", timeout=30)
    assert readyz.status_code == 503 and readyz.json()["storage"]["state"] == "reopening"
    with pytest.raises(flight.FlightUnavailableError) as busy:
        count(client)
    assert "being reopened" in str(busy.value), busy.value
    assert action(client, "status")["storage"]["state"] == "reopening"

    # The result ended, the database is opened again (DuckDB replays the WAL into
    # memory: even on the full disk).
    reading.cancel()
    storage = wait_for(lambda: (s := storage_of(client))["state"] == "ok" and s["reopens"] == 1
                       and s, "the database reopened", show=lambda: storage_of(client))
    assert "invalidated" in storage["last_reopen"]["after"], storage
    assert "database reopened at " in storage["summary"], storage
    assert requests.get(f"{server.http}/readyz", timeout=30).status_code == 200
    assert "database reopened" in action(client, "status")["storage"]["summary"]
    # Nothing acknowledged was lost, and writes work again once space is freed.
    assert count(client) == acknowledged
    filler.unlink()
    put(client, rows(10, start=acknowledged), {"stream": "ev"})
    assert count(client) == acknowledged + 10
    assert server.logged("database invalidated by DuckDB") and server.logged("database reopened")


def invalidate_on_full_disk(client, small_disk):
    """Fills the disk (1 MiB left) and asks for a checkpoint, which cannot finish: DuckDB
    invalidates the database. The filler's path."""
    filler = fill(small_disk, leave_mib=1)
    with pytest.raises(flight.FlightError) as failed:
        action(client, "checkpoint")
    assert "disk full" in str(failed.value), failed.value
    return filler


def test_a_gone_flight_sql_clients_statement_does_not_hold_the_reopen(small_disk,
                                                                      start_server):
    # A hostile run: a Flight SQL client that prepared a statement and went away kept a
    # connection of the invalidated database until its idle timeout (15 minutes), and
    # the server refused every call meanwhile. What clients hold is freed for the reopen.
    server = serve(start_server, small_disk, min_free_mb=0, wal_bytes="1GiB")
    client = server.client()
    put(client, rows(100_000), {"stream": "ev"})
    action_body = wire.create_prepared_statement("SELECT count(*) AS n FROM ev")
    [made] = list(client.do_action(flight.Action("CreatePreparedStatement", action_body)))
    handle = wire.unpack_any_field1(made.body.to_pybytes())
    prepared = flight.FlightDescriptor.for_command(wire.prepared_statement_query(handle))
    info = client.get_flight_info(prepared)
    assert client.do_get(info.endpoints[0].ticket).read_all().to_pylist() == [{"n": 100_000}]
    # Planning a table's read leaves the database's catalog connection open between calls
    # (Database::CatalogLease): let go for the reopen too.
    assert client.get_flight_info(flight.FlightDescriptor.for_path("ev")).endpoints
    filler = invalidate_on_full_disk(client, small_disk)
    # Reopened within the sweep's few seconds, the statement never closed by its client.
    wait_for(lambda: (s := storage_of(client))["state"] == "ok" and s["reopens"] == 1,
             "the database reopened", timeout=40, show=lambda: storage_of(client))
    # Its client's next call says why the handle is gone.
    with pytest.raises(KeyError, match="invalidated the database"):
        client.get_flight_info(prepared)
    assert count(client) == 100_000
    # The reopened database's functions are guarded as the first one's were.
    with pytest.raises(pa.ArrowInvalid, match="before the least timestamp"):
        get(client, {"sql": "SELECT make_timestamp(n - 9223372036854775000)::VARCHAR AS t "
                            "FROM (SELECT count(*) AS n FROM ev)"})
    filler.unlink()


def test_a_slow_reader_does_not_hold_the_reopen(small_disk, start_server):
    # An attack run: a client that read a large result one batch a minute (within the
    # write stall limit) kept a connection of the invalidated database, so the reopen,
    # and every other call's 503, lasted as long as it liked. The calls running when DuckDB
    # invalidates the database are ended (their queries fail on it anyway).
    server = serve(start_server, small_disk, min_free_mb=0, wal_bytes="1GiB")
    client = server.client()
    put(client, rows(100_000), {"stream": "ev"})
    reading = server.client().do_get(flight.Ticket(json.dumps(
        {"sql": "SELECT * FROM ev, range(100)"}).encode()))
    assert reading.read_chunk().data.num_rows > 0
    filler = invalidate_on_full_disk(client, small_disk)
    # Reopened while the reader still holds its stream, never read again.
    storage = wait_for(lambda: (s := storage_of(client))["state"] == "ok" and s["reopens"] == 1
                       and s, "the database reopened", timeout=30,
                       show=lambda: storage_of(client))
    assert "invalidated" in storage["last_reopen"]["after"], storage
    # Its result was cut: its writes waited for it, so gRPC ended the call (kStuckAfter).
    with pytest.raises(flight.FlightCancelledError):
        while True:
            reading.read_chunk()
    assert count(client) == 100_000
    filler.unlink()


def test_a_slow_http_reader_does_not_hold_the_reopen(small_disk, start_server):
    # The attack again, over HTTP: a result whose client stopped reading kept the
    # invalidated database until the client drained it, whatever the server cancelled. A
    # cancelled call still writing 5 s later has its socket shut down.
    server = serve(start_server, small_disk, min_free_mb=0, wal_bytes="1GiB")
    client = server.client()
    put(client, rows(100_000), {"stream": "ev"})
    host, port = server.http.split("://")[1].rsplit(":", 1)
    body = b"SELECT * FROM ev, range(100)"
    reader = socket.create_connection((host, int(port)), timeout=60)
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    reader.sendall(b"POST /query?format=csv HTTP/1.1\r\nHost: x\r\n"
                   b"Content-Type: text/plain\r\nContent-Length: " + str(len(body)).encode() +
                   b"\r\n\r\n" + body)
    assert b"200" in reader.recv(200)  # the answer has begun; nothing more is read
    filler = invalidate_on_full_disk(client, small_disk)
    wait_for(lambda: (s := storage_of(client))["state"] == "ok" and s["reopens"] == 1,
             "the database reopened", timeout=40, show=lambda: storage_of(client))
    assert count(client) == 100_000
    reader.close()
    filler.unlink()


def test_a_trickling_http_upload_does_not_hold_the_reopen(small_disk, start_server):
    # An attack run: an upload sending a byte every few seconds (within
    # http.read_timeout_s) held its database connection, so the reopen and every other
    # call's 503, for as long as its client liked. The reopen ends the calls running on
    # the invalidated database, an upload waiting for its body's bytes included.
    from test_http_upload_errors import read_response
    server = serve(start_server, small_disk, min_free_mb=0, wal_bytes="1GiB")
    client = server.client()
    put(client, rows(100_000), {"stream": "ev"})
    body = ipc_bytes(rows(20_000, start=10**9), chunk=10_000)
    sent = len(body) * 3 // 4  # the first batch whole, the second cut short
    host, port = server.http.split("://")[1].rsplit(":", 1)
    uploader = socket.create_connection((host, int(port)), timeout=60)
    uploader.sendall((f"POST /ingest/ev?commit=per_batch HTTP/1.1\r\nHost: x\r\n"
                      f"Content-Type: {ARROW}\r\nContent-Length: {len(body)}\r\n\r\n"
                      ).encode() + body[:sent])
    # Its first batch committed: the upload is under way on its connection.
    wait_for(lambda: count(client) == 110_000, "the upload's first batch committed")
    stop = threading.Event()

    def trickle():
        for at in range(sent, len(body) - 1):
            if stop.wait(2):
                return
            try:
                uploader.sendall(body[at:at + 1])
            except OSError:
                return  # the server answered and closed

    trickling = threading.Thread(target=trickle)
    trickling.start()
    try:
        filler = invalidate_on_full_disk(client, small_disk)
        wait_for(lambda: (s := storage_of(client))["state"] == "ok" and s["reopens"] == 1,
                 "the database reopened", timeout=40, show=lambda: storage_of(client))
        status, head, error = read_response(uploader, timeout=30)
        # And the connection ends with the answer, however long the client trickles: it
        # was drained to its declared length, a byte at a time.
        trickling.join(timeout=30)
        assert not trickling.is_alive(), "the server still reads the trickle"
    finally:
        stop.set()
        trickling.join()
        uploader.close()
    assert status == 503, (head, error)
    assert "reopening" in error["error"]["message"], error
    assert error["committed_batches"] == [{"batch": 0, "rows": 10_000}], error
    assert count(client) == 110_000
    filler.unlink()


def test_a_server_killed_on_a_nearly_full_disk_starts_again(small_disk, start_server):
    server = serve(start_server, small_disk, min_free_mb=16, wal_bytes="1GiB")
    client = server.client()
    put(client, rows(100_000), {"stream": "ev"})  # 6.4 MB in the WAL, never checkpointed
    acknowledged = 100_000
    filler = fill(small_disk, leave_mib=4)
    server.stop(signal.SIGKILL)

    # DuckDB replays the WAL into memory: the server starts on the nearly full disk, reads
    # work and writes are refused until space is freed.
    server = serve(start_server, small_disk, min_free_mb=16, wal_bytes="1GiB")
    client = server.client()
    assert count(client) == acknowledged
    assert storage_of(client)["state"] == "disk_full"
    with pytest.raises(flight.FlightError) as refused:
        put(client, rows(10, start=acknowledged), {"stream": "ev"})
    assert "RESOURCE_EXHAUSTED" in str(refused.value), refused.value
    # Stopped on the full disk: neither the server's checkpoint nor DuckDB's at close runs
    # (one that failed for want of space would leave a recovery to finish at the next
    # start); the WAL is replayed again.
    assert server.stop() == 0
    assert server.logged("checkpoint at shutdown failed") and "checkpoint deferred" in server.stderr()
    assert wal_bytes(small_disk) >= 6 * MiB

    server = serve(start_server, small_disk, min_free_mb=16, wal_bytes="1GiB")
    client = server.client()
    assert count(client) == acknowledged
    filler.unlink()
    put(client, rows(10, start=acknowledged), {"stream": "ev"})
    assert count(client) == acknowledged + 10
