"""Ingest you can trust: hot reload, concurrent producers, crash safety under kill -9,
bounded memory (idempotent retries: test_idempotent_retries.py)."""
import json
import random
import signal
import threading
import time

import pyarrow as pa
import pyarrow.flight as flight
import pytest
import requests

from test_flight_roundtrip import get, put
from test_http import ARROW, ipc_bytes


def rows_in(client, table):
    try:
        return get(client, {"sql": f"SELECT count(*)::BIGINT AS n FROM {table}"}).column("n")[0].as_py()
    except pa.ArrowKeyError:
        return None


def wait_for(predicate, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_hot_reload_file_sighup_and_action(start_server, tmp_path):
    config = tmp_path / "routing.yaml"
    config.write_text("streams:\n  s: {target_table: first}\n")
    server = start_server("--config", str(config))
    client = server.client()
    one = pa.table({"x": pa.array([1], pa.int64())})
    put(client, one, {"stream": "s"})
    assert rows_in(client, "first") == 1

    config.write_text("streams:\n  s: {target_table: second}\n")  # edited in place
    assert wait_for(lambda: "config file changed" in server.stderr())
    put(client, one, {"stream": "s"})
    assert rows_in(client, "second") == 1

    config.write_text("streams:\n  s: {target_tabel: third}\n")  # a typo: rejected
    assert wait_for(lambda: "config reload rejected" in server.stderr())
    assert "target_tabel" in server.stderr()
    put(client, one, {"stream": "s"})
    assert rows_in(client, "second") == 2 and rows_in(client, "third") is None

    # Same size and second as before: only SIGHUP tells the server.
    config.write_text("streams:\n  s: {target_table: fourth}\n")
    server.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: rows_probe(client, one, "fourth"))

    config.write_text("streams:\n  s: {target_table: fifth}\n")
    assert json.loads(next(client.do_action(flight.Action("reload_config", b""))).body.to_pybytes())["status"] == "ok"
    put(client, one, {"stream": "s"})
    assert rows_in(client, "fifth") == 1
    streams = requests.get(f"{server.http}/streams", timeout=30).json()["streams"]
    assert [s["target_table"] for s in streams if s["stream"] == "s"] == ["fifth"]


def rows_probe(client, table, target):
    put(client, table, {"stream": "s"})
    return (rows_in(client, target) or 0) > 0


def test_concurrent_producers_and_readers(server):
    writers, requests_each, rows_each = 16, 6, 2000
    errors, stop = [], threading.Event()

    def write(w):
        try:
            client = server.client()
            table = "shared" if w % 2 == 0 else f"own_{w}"
            for r in range(requests_each):
                base = (w * requests_each + r) * rows_each
                data = pa.table({"id": pa.array(range(base, base + rows_each), pa.int64()),
                                 "writer": pa.array([w] * rows_each, pa.int32())})
                if w % 4 < 2:
                    put(client, data, {"stream": table}, chunk=500)
                else:
                    resp = requests.post(f"{server.http}/ingest/{table}", data=ipc_bytes(data, chunk=500),
                                         headers={"Content-Type": ARROW}, timeout=120)
                    assert resp.status_code == 200, resp.text
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(f"writer {w}: {exc!r}")

    def read():
        client = server.client()
        while not stop.is_set():
            try:
                list(client.list_flights())  # reads the catalog while tables are made
                requests.get(f"{server.http}/tables", timeout=30)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"reader: {exc!r}")

    readers = [threading.Thread(target=read) for _ in range(2)]
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in readers + threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    stop.set()
    for t in readers:
        t.join(timeout=60)
    assert not errors, (errors[:3], server.stderr()[-3000:])
    client = server.client()
    check = get(client, {"sql": "SELECT count(*)::BIGINT AS n, count(DISTINCT id)::BIGINT AS d FROM shared"})
    assert check.to_pylist() == [{"n": 8 * requests_each * rows_each, "d": 8 * requests_each * rows_each}]
    for w in range(1, writers, 2):
        assert rows_in(client, f"own_{w}") == requests_each * rows_each


def crash_round(start_server, db, batch_offset, rng):
    """Streams per_batch batches, kill -9s the server at a random moment, restarts it on the
    same file and checks every acknowledged batch is present exactly once and whole."""
    server = start_server(db=db)
    acked, rows_per_batch = [], 500
    descriptor = flight.FlightDescriptor.for_command(json.dumps({"stream": "crash", "commit": "per_batch"}))
    schema = pa.schema([("batch_id", pa.int64()), ("row", pa.int64())])

    def produce():
        try:
            writer, metadata = server.client().do_put(descriptor, schema)
            def acks():
                while True:
                    buf = metadata.read()
                    if buf is None:
                        return
                    doc = json.loads(buf.to_pybytes())
                    if doc.get("committed") and "batch" in doc:
                        acked.append(batch_offset + doc["batch"])
            reader = threading.Thread(target=acks)
            reader.start()
            for b in range(100_000):
                writer.write_batch(pa.record_batch([pa.array([batch_offset + b] * rows_per_batch, pa.int64()),
                                                    pa.array(range(rows_per_batch), pa.int64())], schema=schema))
            reader.join()
        except Exception:  # noqa: BLE001 - the server is killed under us
            pass

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(rng.uniform(0.3, 1.5))
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(timeout=30)
    producer.join(timeout=60)

    again = start_server(db=db)
    client = again.client()
    per_batch = get(client, {"sql": "SELECT batch_id, count(*)::BIGINT AS n FROM crash GROUP BY 1"})
    counts = dict(zip(per_batch.column("batch_id").to_pylist(), per_batch.column("n").to_pylist()))
    assert acked, "no batch was acknowledged before the kill"
    for batch in acked:
        assert counts.get(batch) == rows_per_batch, f"acknowledged batch {batch} lost or duplicated"
    torn = {b: n for b, n in counts.items() if n != rows_per_batch}
    assert not torn, f"torn or duplicated batches: {torn}"
    again.stop()
    return len(acked), max(counts) + 1 if counts else batch_offset


def run_crashes(start_server, tmp_path, kills):
    """Returns the database file, which then has the history of every kill."""
    db, rng, offset, survived, verified = tmp_path / "crash.duckdb", random.Random(1234), 0, 0, 0
    for _ in range(kills):
        acked, offset = crash_round(start_server, db, offset, rng)
        offset += 1_000_000
        survived += 1
        verified += acked
    print(f"crash safety: {survived} kill -9 survived, {verified} acknowledged batches verified")
    return db


def peak_rss_bytes(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def stream_gigabytes(server, gigabytes):
    rows_per_batch = 1 << 16
    schema = pa.schema([("id", pa.int64()), ("value", pa.float64())])  # 16 bytes/row
    batches = int(gigabytes * (1 << 30) / (16 * rows_per_batch))
    ids = pa.array(range(rows_per_batch), pa.int64())
    values = pa.array([0.5] * rows_per_batch, pa.float64())
    writer, metadata = server.client().do_put(
        flight.FlightDescriptor.for_command(json.dumps({"stream": "big"})), schema)
    for _ in range(batches):  # generated on the fly, never stored
        writer.write_batch(pa.record_batch([ids, values], schema=schema))
    writer.done_writing()
    summary = json.loads(metadata.read().to_pybytes())
    writer.close()
    assert summary["rows"] == batches * rows_per_batch
    rss = peak_rss_bytes(server.proc.pid)
    print(f"bounded memory: {gigabytes} GB streamed, server peak RSS {rss / 2**20:.0f} MiB")
    assert rss < 1 << 30, f"peak RSS {rss / 2**20:.0f} MiB"


def check_memory_after_crashes(start_server, tmp_path, kills, gigabytes):
    # The bound is checked on the database the crash rounds left behind, not on a fresh
    # file: peaks of 0.9-1.1 GiB were reported on a database with 30 kill -9 cycles behind
    # it while DuckDB's memory limit defaulted to 80% of RAM.
    db = run_crashes(start_server, tmp_path, kills=kills)
    server = start_server(db=db)
    stream_gigabytes(server, gigabytes)
    assert "database opened" in server.stderr() and "memory_limit=" in server.stderr()


def test_kill_9_keeps_every_acknowledged_batch_then_memory_stays_bounded(start_server, tmp_path):
    check_memory_after_crashes(start_server, tmp_path, kills=3, gigabytes=1)


@pytest.mark.slow
def test_kill_9_twenty_times_then_ten_gigabytes(start_server, tmp_path):
    check_memory_after_crashes(start_server, tmp_path, kills=20, gigabytes=10)


def test_awkward_schemas(server):
    client = server.client()
    odd = pa.table({"select": [1], 'we"ird': [2], "with space": [3], "ünïcödé": [4], "Order": [5]})
    put(client, odd, {"stream": "odd"})
    assert get(client, {"table": "odd"}).equals(odd)
    with pytest.raises(pa.ArrowInvalid, match="duplicate column name 'A'"):
        put(client, pa.table([pa.array([1]), pa.array([2])], names=["a", "A"]), {"stream": "dups"})
    assert put(client, pa.table({"x": pa.array([], pa.int64())}), {"stream": "empty"})[-1]["rows"] == 0
    assert rows_in(client, "empty") == 0
    with pytest.raises(pa.ArrowInvalid, match="no columns"):
        put(client, pa.table({}), {"stream": "nocols"})
    wide = pa.table([pa.array([1], pa.int8())] * 100_000, names=[f"c{i}" for i in range(100_000)])
    started = time.time()
    with pytest.raises(pa.ArrowInvalid, match="100000 columns; at most 10000"):
        put(client, wide, {"stream": "wide"})
    assert time.time() - started < 30
    assert rows_in(client, "wide") is None
    streams = requests.get(f"{server.http}/streams", timeout=30).json()["streams"]
    assert {s["stream"]: s["errors"] for s in streams}["dups"] == 1


def test_table_altered_elsewhere_between_requests(server):
    """The server caches table shapes for small requests; a column dropped by SQL in between
    must give the schema-policy error, never silently drop the request's data."""
    client = server.client()
    two = pa.table({"id": pa.array([1, 2], pa.int64()), "note": ["a", "b"]})
    put(client, two, {"stream": "altered"})
    put(client, two, {"stream": "altered"})  # now cached
    get(client, {"sql": "ALTER TABLE altered DROP COLUMN note"})
    with pytest.raises(pa.ArrowInvalid, match="column 'note' .* does not exist in table altered"):
        put(client, two, {"stream": "altered"})
    assert rows_in(client, "altered") == 4
    put(client, pa.table({"id": pa.array([3], pa.int64())}), {"stream": "altered"})
    assert rows_in(client, "altered") == 5


def test_http_per_batch_lists_committed_batches(server):
    good = pa.table({"x": pa.array(range(3000), pa.int64())})
    body = ipc_bytes(good, chunk=1000)
    r = requests.post(f"{server.http}/ingest/pbh", params={"commit": "per_batch"}, data=body,
                      headers={"Content-Type": ARROW}, timeout=60)
    assert r.status_code == 200 and r.json()["batches"] == 3
    # Cut inside the third batch: two batches commit, the response lists them.
    r = requests.post(f"{server.http}/ingest/pbh", params={"commit": "per_batch"},
                      data=body[: len(body) - 4000], headers={"Content-Type": ARROW}, timeout=60)
    assert r.status_code == 400
    assert r.json()["committed_batches"] == [{"batch": 0, "rows": 1000}, {"batch": 1, "rows": 1000}]
    assert rows_in(server.client(), "pbh") == 5000


def test_periodic_checkpoint(start_server, tmp_path):
    # Control: without the interval the committed data stays in the WAL.
    control = start_server(db=tmp_path / "control.duckdb")
    put(control.client(), pa.table({"x": pa.array(range(100_000), pa.int64())}), {"stream": "cp"})
    time.sleep(2)
    assert (tmp_path / "control.duckdb.wal").stat().st_size > 0
    config = tmp_path / "cp.yaml"
    config.write_text("duckdb: {checkpoint_interval_s: 1}\n")
    db = tmp_path / "cp.duckdb"
    server = start_server("--config", str(config), db=db)
    put(server.client(), pa.table({"x": pa.array(range(100_000), pa.int64())}), {"stream": "cp"})
    wal = tmp_path / "cp.duckdb.wal"
    assert wait_for(lambda: not wal.exists() or wal.stat().st_size == 0, timeout=10)
    assert rows_in(server.client(), "cp") == 100_000
