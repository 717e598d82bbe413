"""Every write bounded (design section 11, issue 34): a request whose rows are not simply
its client's own (a transform of an upload, both DoExchange forms, copy_from) runs under
the query deadline from its first batch and may write at most limits.max_write_factor
times what its client sent plus a floor; a client that stops reading what the server
sends (a result, acknowledgements) is cut after limits.write_stall_timeout_s."""
import json
import socket
import time

import pyarrow as pa
import pyarrow.flight as flight
import pytest
import requests

from conftest import SANITIZED, RunningServer
from test_auth import basic, flight_login, hashes, start_with_config, users_yaml  # noqa: F401

# One row in, a trillion out (the hostile run's amplifier: 64M rows committed in 30 s).
AMPLIFIER = ("SELECT i.x, r.range AS n, md5(r.range::VARCHAR) AS pad "
             "FROM input i, range(1000000000000) r")
ONE_ROW = pa.table({"x": pa.array([1], pa.int64())})
# Under ASan the server's RSS is the sanitizer's (quarantine, shadow memory): 1 GiB for what
# the release server does in 100 MiB. The memory bound is checked on the release server.


def limits_yaml(**limits):
    return "limits:\n" + "".join(f"  {key}: {value}\n" for key, value in limits.items())


def limits_server(tmp_path, **limits):
    """A server with these `limits:` keys, no auth."""
    config = tmp_path / "c.yaml"
    config.write_text(limits_yaml(**limits))
    return RunningServer(["--config", str(config), "--db", str(tmp_path / "w.duckdb"),
                          "--flight-port", "0", "--http-port", "0"], cwd=tmp_path)


@pytest.fixture
def capped(tmp_path, hashes):  # noqa: F811
    """Auth on; a writer limited to stream `events`; a small cap, no deadline."""
    config, server = start_with_config(
        tmp_path, users_yaml(hashes) + limits_yaml(max_write_factor=10,
                                                   max_write_floor_rows=200000))
    yield server
    server.stop()


def count(server, table, user="admin"):
    client, options = flight_login(server, user)
    ticket = flight.Ticket(json.dumps({"sql": f"SELECT count(*) AS n FROM {table}"}))
    return client.do_get(ticket, options).read_all().column("n")[0].as_py()


def put_amplified(server, user, command, timeout=120):
    """DoPut of one row with the amplifier: (acknowledgements, the error raised)."""
    client, options = flight_login(server, user)
    options = flight.FlightCallOptions(headers=options.headers, timeout=timeout)
    descriptor = flight.FlightDescriptor.for_command(json.dumps(command))
    writer, metadata = client.do_put(descriptor, ONE_ROW.schema, options=options)
    writer.write_table(ONE_ROW)
    writer.done_writing()
    acks, error = [], None
    try:
        while (buf := metadata.read()) is not None:
            acks.append(json.loads(buf.to_pybytes()))
        writer.close()
    except flight.FlightError as e:
        error = e
    return acks, error


def assert_write_limit(error, started):
    assert error is not None, "the amplified write was answered OK"
    text = str(error)
    assert "limits.max_write_factor" in text and "RESOURCE_EXHAUSTED" in text, text
    assert not isinstance(error, flight.FlightTimedOutError), text
    # Stopped by the cap, long before the client's own deadline.
    assert time.monotonic() - started < 100, time.monotonic() - started


def test_one_row_amplified_per_batch_keeps_what_was_acknowledged_and_stops(capped):
    started = time.monotonic()
    acks, error = put_amplified(capped, "writer", {"stream": "events", "commit": "per_batch",
                                                   "transform": AMPLIFIER})
    assert_write_limit(error, started)
    acknowledged = sum(a["rows"] for a in acks if "batch" in a)
    committed = count(capped, "events")
    # What was acknowledged stays; the rest stops at the cap (10 x 1 row + 200,000 rows,
    # give or take the batch that crossed it).
    assert acknowledged <= committed <= 200_010 + 122_880, (acknowledged, committed)
    assert committed >= acknowledged > 0


def test_one_row_amplified_per_request_commits_nothing(capped):
    started = time.monotonic()
    _, error = put_amplified(capped, "writer", {"stream": "events", "transform": AMPLIFIER})
    assert_write_limit(error, started)
    client, options = flight_login(capped, "admin")
    tables = [f.descriptor.path[0].decode() for f in client.list_flights(options=options)]
    assert "events" not in tables or count(capped, "events") == 0


def test_exchange_amplified_both_forms(capped):
    client, options = flight_login(capped, "writer")
    options = flight.FlightCallOptions(headers=options.headers, timeout=120)
    # The stream form: the rows land in a table, per_batch, as DoPut's.
    started = time.monotonic()
    command = {"sql": AMPLIFIER, "stream": "events", "commit": "per_batch"}
    writer, reader = client.do_exchange(
        flight.FlightDescriptor.for_command(json.dumps(command)), options=options)
    writer.begin(ONE_ROW.schema)
    writer.write_table(ONE_ROW)
    writer.done_writing()
    with pytest.raises(flight.FlightError) as raised:
        while True:
            reader.read_chunk()
    assert_write_limit(raised.value, started)
    assert 0 < count(capped, "events") <= 200_010 + 122_880
    # The SQL form: what is sent back is capped the same way.
    started = time.monotonic()
    writer, reader = client.do_exchange(
        flight.FlightDescriptor.for_command(json.dumps({"sql": AMPLIFIER})), options=options)
    writer.begin(ONE_ROW.schema)
    writer.write_table(ONE_ROW)
    writer.done_writing()
    received = 0
    with pytest.raises(flight.FlightError) as raised:
        while True:
            received += reader.read_chunk().data.num_rows
    assert_write_limit(raised.value, started)
    assert received <= 200_010 + 122_880, received


def test_http_ingest_amplified_is_413(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(limits_yaml(max_write_factor=10, max_write_floor_rows=100000)
                      + f'streams:\n  amp: {{transform: "{AMPLIFIER}"}}\n')
    server = RunningServer(["--config", str(config), "--db", str(tmp_path / "h.duckdb"),
                            "--flight-port", "0", "--http-port", "0"], cwd=tmp_path)
    try:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, ONE_ROW.schema) as out:
            out.write_table(ONE_ROW)
        r = requests.post(f"{server.http}/ingest/amp", data=sink.getvalue().to_pybytes(),
                          headers={"Content-Type": "application/vnd.apache.arrow.stream"},
                          timeout=120)
        assert r.status_code == 413 and r.json()["error"]["code"] == "write_limit", r.text
        assert "limits.max_write_factor" in r.json()["error"]["message"]
    finally:
        server.stop()


def test_transformed_write_runs_under_the_query_deadline_from_its_first_batch(tmp_path, hashes):  # noqa: F811
    """A cap too high to matter: the deadline stops it, and the time the client took
    before its first batch is not counted."""
    config, server = start_with_config(
        tmp_path, users_yaml(hashes) + limits_yaml(query_timeout_s=4,
                                                   max_write_floor_rows=10**15,
                                                   max_write_floor_bytes="1000TB"))
    try:
        client, options = flight_login(server, "writer")
        options = flight.FlightCallOptions(headers=options.headers, timeout=120)
        command = {"stream": "events", "commit": "per_batch", "transform": AMPLIFIER}
        writer, metadata = client.do_put(flight.FlightDescriptor.for_command(json.dumps(command)),
                                         ONE_ROW.schema, options=options)
        time.sleep(6)  # longer than the deadline, before the first batch
        started = time.monotonic()
        writer.write_table(ONE_ROW)
        writer.done_writing()
        acks, error = [], None
        try:
            while (buf := metadata.read()) is not None:
                acks.append(json.loads(buf.to_pybytes()))
            writer.close()
        except flight.FlightError as e:
            error = e
        took = time.monotonic() - started
        assert isinstance(error, flight.FlightTimedOutError), error
        assert "limits.query_timeout_s" in str(error) and "first batch" in str(error), error
        assert acks, "the write was stopped before its first batch committed"
        # Stopped by its deadline: 4 s, with room for a machine twice as slow.
        assert took < 60, took
        assert count(server, "events") >= sum(a["rows"] for a in acks if "batch" in a)
    finally:
        server.stop()


@pytest.mark.slow
def test_a_client_that_stops_reading_a_result_is_cut(tmp_path):
    """A Flight DoGet nobody reads: cut, logged, its slot and memory freed."""
    server = limits_server(tmp_path, write_stall_timeout_s=2)
    try:
        # A small receive window: the server's writes wait after a few batches.
        client = flight.FlightClient(server.uri, generic_options=[
            ("grpc.http2.lookahead_bytes", 65536), ("grpc.http2.bdp_probe", 0)])
        sql = "SELECT range AS i, repeat('x', 200) AS s FROM range(50000000)"
        reader = client.do_get(flight.Ticket(json.dumps({"sql": sql})))
        reader.read_chunk()  # one batch, then nothing more is read
        assert server.logged("limits.write_stall_timeout_s", timeout=60), server.stderr()[-2000:]
        # The call is over on the server: its admission slot and memory are free.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = requests.get(f"{server.http}/status", timeout=10).json()
            if not [c for c in status["active_calls"] if c["method"] == "do_get"]:
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the stalled DoGet is still running: {status}")
        # The client sees the call cancelled (pyarrow raises gRPC's CANCELLED as a
        # KeyboardInterrupt); the reason is in the server's log.
        with pytest.raises((flight.FlightError, KeyboardInterrupt)):
            reader.read_all()
        assert server.logged("result stream ended early"), server.stderr()[-2000:]
    finally:
        server.stop()


def test_a_client_that_stops_reading_a_download_is_cut(tmp_path):
    server = limits_server(tmp_path, write_stall_timeout_s=2)
    try:
        # HTTP: a download nobody reads is cut the same way (a result far larger than
        # anything drained below: only a cut ends it within the minute).
        big = "SELECT range AS i, repeat('x', 200) AS s FROM range(1000000000)"
        sock = socket.create_connection(("127.0.0.1", int(server.http.rsplit(":", 1)[1])))
        sock.sendall(f"POST /query?format=csv HTTP/1.1\r\nHost: x\r\n"
                     f"Content-Type: text/plain\r\nContent-Length: {len(big)}\r\n\r\n{big}"
                     .encode())
        # Nothing read: the socket buffers fill, the server's write waits, then gives up.
        assert server.logged("the client stopped reading the response", timeout=60), \
            server.stderr()[-2000:]
        sock.settimeout(5)
        closed = False
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                if not sock.recv(1 << 20):
                    closed = True
                    break
        except ConnectionResetError:
            closed = True
        except socket.timeout:
            pass  # open, and silent: not cut
        sock.close()
        assert closed, "the server still holds a download nobody reads"
    finally:
        server.stop()


def test_a_client_that_stops_reading_acknowledgements_is_cut(tmp_path):
    server = limits_server(tmp_path, write_stall_timeout_s=2)
    try:
        # A small receive window (gRPC's default grows to megabytes): the server's
        # acknowledgements wait after a few dozen.
        client = flight.FlightClient(server.uri, generic_options=[
            ("grpc.http2.lookahead_bytes", 1024), ("grpc.http2.bdp_probe", 0)])
        batch = pa.record_batch({"x": pa.array([1], pa.int64())})
        command = {"stream": "acks", "commit": "per_batch"}
        # No client deadline: a write that fails must be the server's cut, not the
        # client giving up (review: with a deadline the test passed without the feature).
        writer, _ = client.do_put(flight.FlightDescriptor.for_command(json.dumps(command)),
                                  batch.schema)
        # Thousands of batches, acknowledgements never read: gRPC's windows fill, the
        # server's acknowledgement waits, and the call is cut.
        try:
            for _ in range(200_000):
                writer.write_batch(batch)
                if server.logged("limits.write_stall_timeout_s", timeout=0):
                    break
        except (flight.FlightError, OSError):
            pass
        # Whatever the client saw, the server says it cut the call for the stall.
        assert server.logged("limits.write_stall_timeout_s", timeout=60), \
            server.stderr()[-2000:]
        with pytest.raises(Exception):
            writer.close()
    finally:
        server.stop()


def server_rss_mib(server):
    with open(f"/proc/{server.proc.pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return 0


class QueriesBeside:
    """Another user's small queries, run over and over while an upload goes on; each
    must succeed. Also samples the server's peak RSS."""

    def __init__(self, server):
        import threading
        self.server, self.errors, self.answered, self.peak = server, [], 0, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        client = flight.connect(self.server.uri)
        ticket = flight.Ticket(json.dumps(
            {"sql": "SELECT count(*) AS n, sum(range) AS s FROM range(2000000)"}))
        while not self.stop.is_set():
            try:
                n = client.do_get(ticket).read_all().column("n")[0].as_py()
                assert n == 2_000_000
                self.answered += 1
            except Exception as e:  # noqa: BLE001 - every failure is reported
                self.errors.append(str(e)[:300])
            self.peak = max(self.peak, server_rss_mib(self.server))
            time.sleep(0.05)

    def finish(self):
        self.stop.set()
        self.thread.join(timeout=60)
        return self


def tiny_batch_server(tmp_path, **extra):
    """DuckDB held to 256 MB: before batches were joined, DuckDB kept about 14 KB per
    batch of a per_request upload, and ran out after some 20,000 one-row batches."""
    config = tmp_path / "c.yaml"
    config.write_text("duckdb: {memory_limit: 256MB}\n"
                      + "".join(f"{k}: {v}\n" for k, v in extra.items()))
    return RunningServer(["--config", str(config), "--db", str(tmp_path / "t.duckdb"),
                          "--flight-port", "0", "--http-port", "0"], cwd=tmp_path)


ONE_ROW_BATCH = pa.record_batch({"i": pa.array([7], pa.int64()), "s": pa.array(["x" * 20])})


def upload_one_row_batches(server, count, stream="tiny"):
    client = flight.connect(server.uri)
    writer, reader = client.do_put(
        flight.FlightDescriptor.for_command(json.dumps({"stream": stream})),
        ONE_ROW_BATCH.schema, options=flight.FlightCallOptions(timeout=600))
    for _ in range(count):
        writer.write_batch(ONE_ROW_BATCH)
    writer.done_writing()
    summary = json.loads(reader.read().to_pybytes())
    writer.close()
    return summary


@pytest.mark.parametrize("batches", [
    pytest.param(100_000, marks=pytest.mark.slow), pytest.param(500_000, marks=pytest.mark.slow)])
def test_many_one_row_batches_leave_memory_and_other_users_alone(tmp_path, batches):
    server = tiny_batch_server(tmp_path)
    try:
        beside = QueriesBeside(server)
        summary = upload_one_row_batches(server, batches)
        beside.finish()
        assert summary["rows"] == batches and summary["batches"] == batches, summary
        assert count_plain(server, "tiny") == batches
        assert beside.answered > 0 and not beside.errors, beside.errors[:3]
        # Memory does not grow with the batch count (measured: about 280 MiB at 500,000).
        assert SANITIZED or beside.peak < 700, beside.peak
    finally:
        server.stop()


@pytest.mark.release_too  # its RSS bound: release build only
def test_http_ingest_of_many_one_row_batches(tmp_path):
    server = tiny_batch_server(tmp_path)
    try:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, ONE_ROW_BATCH.schema) as out:
            for _ in range(100_000):
                out.write_batch(ONE_ROW_BATCH)
        beside = QueriesBeside(server)
        r = requests.post(f"{server.http}/ingest/tiny", data=sink.getvalue().to_pybytes(),
                          headers={"Content-Type": "application/vnd.apache.arrow.stream"},
                          timeout=600)
        beside.finish()
        assert r.status_code == 200 and r.json()["rows"] == 100_000, r.text
        assert r.json()["batches"] == 100_000, r.text
        assert not beside.errors, beside.errors[:3]
        assert SANITIZED or beside.peak < 700, beside.peak
    finally:
        server.stop()


def count_plain(server, table):
    ticket = flight.Ticket(json.dumps({"sql": f"SELECT count(*) AS n FROM {table}"}))
    return flight.connect(server.uri).do_get(ticket).read_all().column("n")[0].as_py()
