"""HTTP under hostile input: decompression bombs, unbounded chunked bodies, slow clients,
connection floods, abandoned queries, shutdown with calls open, errors after the status
line."""
import gzip
import json
import os
import signal
import socket
import threading
import time

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest
import requests

from test_http import ARROW, assert_error, count, ipc_bytes


def host_port(server):
    host, port = server.http.removeprefix("http://").split(":")
    return host, int(port)


def peak_rss_mb(server):
    """VmHWM: the process's peak resident set so far."""
    with open(f"/proc/{server.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def cpu_seconds(server):
    with open(f"/proc/{server.proc.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def small_server(start_server, tmp_path, extra=""):
    config = tmp_path / "limits.yaml"
    config.write_text("http: {max_body_bytes: 10000000}\n" + extra)
    return start_server("--config", str(config))


def recv_response(sock, timeout=10.0):
    """Reads one HTTP response head (and what follows of the body) from a raw socket."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65536)
        if not part:
            break
        data += part
    return data


# ---- 1. decompression bombs are counted on decompressed bytes, while decoding ----

@pytest.mark.parametrize("encoding", ["zstd", "gzip"])
def test_query_and_seed_bodies_refuse_decompression_bombs(start_server, tmp_path, encoding):
    server = small_server(start_server, tmp_path)
    before = peak_rss_mb(server)
    padding = b" " * 150_000_000  # valid JSON whitespace: 150 MB once inflated
    body = b'{"sql": "SELECT 1 AS x"' + padding + b"}"
    if encoding == "zstd":
        bomb = pa.compress(body, codec="zstd", asbytes=True)
    else:
        bomb = gzip.compress(body, compresslevel=1)
    del body, padding
    assert len(bomb) < 2_000_000
    headers = {"Content-Type": "application/json", "Content-Encoding": encoding}
    for path, key in (("/query", "http.max_query_bytes"), ("/stream/seedy", "max_body_bytes")):
        r = requests.post(f"{server.http}{path}", data=bomb, headers=headers, timeout=60)
        assert_error(r, 413, "payload_too_large")
        assert key in r.json()["error"]["message"]
    assert peak_rss_mb(server) - before < 150, (before, peak_rss_mb(server))
    # A small compressed query still works.
    small = pa.compress(b'{"sql": "SELECT 41 + 1 AS x"}', codec="zstd", asbytes=True)
    r = requests.post(f"{server.http}/query", data=small, params={"format": "json"},
                      headers={"Content-Type": "application/json", "Content-Encoding": "zstd"},
                      timeout=30)
    assert r.status_code == 200 and r.json() == [{"x": 42}], r.text


def test_ingest_ipc_body_compression_bomb_is_refused(start_server, tmp_path):
    """One ZSTD-compressed record batch of a few KiB that decodes to 256 MiB."""
    server = small_server(start_server, tmp_path, "limits: {max_batch_bytes: 8000000}\n")
    before = peak_rss_mb(server)
    zeros = pa.table({"x": pa.repeat(pa.scalar(0, pa.int64()), 32 * 1024 * 1024)})
    bomb = ipc_bytes(zeros, compression="zstd", chunk=32 * 1024 * 1024)
    del zeros
    assert len(bomb) < 100_000
    r = requests.post(f"{server.http}/ingest/bomb", data=bomb, headers={"Content-Type": ARROW},
                      timeout=60)
    assert_error(r, 413, "payload_too_large")
    assert "limits.max_batch_bytes" in r.json()["error"]["message"]
    assert peak_rss_mb(server) - before < 150, (before, peak_rss_mb(server))
    assert count(server, "bomb") is None
    # Batches within the limit still go through, compressed or not.
    ok = pa.table({"x": pa.array(range(100_000), pa.int64())})
    for compression in (None, "zstd"):
        r = requests.post(f"{server.http}/ingest/fine", data=ipc_bytes(ok, compression=compression),
                          headers={"Content-Type": ARROW}, timeout=60)
        assert r.status_code == 200, r.text
    assert count(server, "fine") == 200_000


def test_ingest_batch_larger_than_max_batch_bytes_is_refused(start_server, tmp_path):
    server = small_server(start_server, tmp_path, "limits: {max_batch_bytes: 1048576}\n")
    body = ipc_bytes(pa.table({"x": pa.array(range(500_000), pa.int64())}), chunk=500_000)
    r = requests.post(f"{server.http}/ingest/wide", data=body, headers={"Content-Type": ARROW},
                      timeout=60)
    assert_error(r, 413, "payload_too_large")
    assert "limits.max_batch_bytes" in r.json()["error"]["message"]
    assert count(server, "wide") is None


# ---- 2. chunked bodies are counted as they arrive ----

@pytest.mark.parametrize("path", ["/query", "/stream/seedy"])
def test_unbounded_chunked_body_is_refused_while_reading(start_server, tmp_path, path):
    server = small_server(start_server, tmp_path)
    before = peak_rss_mb(server)
    chunk = b" " * (1 << 20)
    sent = 0
    response = b""
    with socket.create_connection(host_port(server)) as s:
        s.sendall((f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n").encode())
        s.sendall(b"1\r\n{\r\n")
        s.settimeout(5)
        try:
            while sent < 200 * len(chunk):
                s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                sent += len(chunk)
                s.setblocking(False)
                try:
                    response = s.recv(65536)
                except BlockingIOError:
                    pass
                s.setblocking(True)
                s.settimeout(5)
                if response:
                    break
        except OSError:
            pass  # the server closed the connection after answering
        if not response:
            response = recv_response(s)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert sent < 60 * len(chunk), sent
    assert peak_rss_mb(server) - before < 150
    assert requests.get(f"{server.http}/healthz", timeout=10).status_code == 200


@pytest.mark.parametrize("request_line, framing", [
    ("POST /auth/token", "Transfer-Encoding: chunked"),
    ("POST /no/such/route", "Transfer-Encoding: chunked"),
    ("PUT /tables/t", "Content-Length: 314572800"),
    ("POST /ingest/a/b", "Content-Length: 314572800"),
    ("GET /healthz", "Transfer-Encoding: chunked")])
def test_a_body_on_a_route_that_reads_none_is_not_read_past_64_kib(server, request_line,
                                                                   framing):
    """httplib reads the body of a request no handler reads (a route without a body
    reader, or no route) whole before answering: 300 MiB chunked to /auth/token took 300
    MiB of memory counted nowhere (an attack run). Now one declared larger than 64 KiB is
    refused (413) before any of it is read; of a chunked one at most 64 KiB is read, then
    the read fails; either way the connection is closed."""
    head = f"{request_line} HTTP/1.1\r\nHost: x\r\n{framing}\r\n\r\n".encode()
    with socket.create_connection(host_port(server)) as s:
        try:  # the start of a 300 MiB body; the server may close before it is all sent
            s.sendall(head + b"100000\r\n" + b" " * (1 << 20))
        except OSError:
            pass
        response = recv_response(s)
    status = int(response.split(b" ", 2)[1])
    assert status in (400, 413), response[:300]
    assert b"Connection: close" in response, response[:600]
    if b"Content-Length: 314572800" in head:
        assert status == 413 and b"reads no request body" in response, response[:600]
    # A small body there, chunked or not, is read and ignored, as before.
    with socket.create_connection(host_port(server)) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5\r\nhello\r\n0\r\n\r\n")
        assert recv_response(s).startswith(b"HTTP/1.1 200"), "a small chunked body"
    r = requests.get(f"{server.http}/healthz", data=b"x" * 1000, timeout=10)
    assert r.status_code == 200, r.text


# ---- 6. errors before the first byte are JSON errors; after it, a visible abort ----

def test_bad_parameter_is_a_400_before_the_status_line(server):
    r = requests.post(f"{server.http}/query", timeout=30,
                      json={"sql": "SELECT $1::INTEGER + 1 AS x", "params": ["abc"]})
    assert_error(r, 400)
    assert "abc" in r.json()["error"]["message"]
    r = requests.post(f"{server.http}/query", timeout=30, params={"format": "csv"},
                      json={"sql": "SELECT $1::INTEGER + 1 AS x", "params": ["41"]})
    assert r.status_code == 200 and r.text.split() == ['"x"', "42"], r.text


def test_error_after_the_first_byte_aborts_the_body(server):
    sql = ("SELECT CASE WHEN x = 20000000 THEN error('boom at twenty million') ELSE x END AS x "
           "FROM range(40000000) t(x)")
    with pytest.raises(requests.exceptions.RequestException):
        r = requests.post(f"{server.http}/query", json={"sql": sql}, timeout=60, stream=True)
        assert r.status_code == 200
        data = b"".join(r.iter_content(65536))
        # Reaching here means the body ended cleanly: it must not have.
        ipc.open_stream(pa.BufferReader(data)).read_all()
    assert server.logged("boom at twenty million")
    assert requests.get(f"{server.http}/healthz", timeout=10).status_code == 200


# ---- 3. slow clients, connection floods ----

@pytest.mark.slow
def test_slow_header_senders_do_not_block_other_clients(start_server, tmp_path):
    config = tmp_path / "slow.yaml"
    config.write_text("http: {header_timeout_s: 3}\n")
    server = start_server("--config", str(config))
    slow = []
    for _ in range(150):
        s = socket.create_connection(host_port(server))
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
        slow.append(s)
    try:
        started = time.time()
        closed = 0
        for i in range(6):
            for s in slow:
                try:
                    s.sendall(b"X-Slow-%d: 1\r\n" % i)
                except OSError:
                    pass
            t0 = time.time()
            r = requests.get(f"{server.http}/healthz", timeout=3)
            assert r.status_code == 200 and time.time() - t0 < 2
            time.sleep(0.8)
        # The header deadline (3 s from the first byte) has closed every slow connection.
        for s in slow:
            s.settimeout(5)
            try:
                data = s.recv(65536)
                while data and not data.endswith(b"}") and b"\r\n\r\n" not in data:
                    data += s.recv(65536)
                if not data or not data.startswith(b"HTTP/1.1 200"):
                    closed += 1
            except OSError:
                closed += 1
        assert closed == len(slow), (closed, time.time() - started)
    finally:
        for s in slow:
            s.close()


def test_connection_cap_answers_busy_at_once(start_server, tmp_path):
    config = tmp_path / "cap.yaml"
    config.write_text("http: {max_connections: 4}\n")
    server = start_server("--config", str(config))
    # From two addresses: one address holds at most half the slots
    # (limits.max_connections_per_address).
    held = [socket.create_connection(host_port(server), source_address=(source, 0))
            for source in ("127.0.0.2", "127.0.0.3") for _ in range(2)]
    try:
        time.sleep(0.3)
        t0 = time.time()
        r = requests.get(f"{server.http}/healthz", timeout=5)
        assert time.time() - t0 < 2
        assert_error(r, 503, "busy")
        assert r.headers["Retry-After"]
        assert "http.max_connections" in r.json()["error"]["message"]
    finally:
        for s in held:
            s.close()
    deadline = time.time() + 5
    while time.time() < deadline:
        if requests.get(f"{server.http}/healthz", timeout=5).status_code == 200:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("connections were not released")


def test_burst_of_clients_is_served_without_resets(server):
    results = []
    barrier = threading.Barrier(200)

    def client():
        try:
            barrier.wait(timeout=30)
            with socket.create_connection(host_port(server), timeout=20) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                results.append(recv_response(s, timeout=20)[:12])
        except OSError as e:
            results.append(repr(e).encode())

    threads = [threading.Thread(target=client) for _ in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(b"HTTP/1.1 200") == 200, set(results)


# ---- 5. shutdown with HTTP calls open ----

@pytest.mark.slow
def test_sigterm_with_open_http_calls_exits_within_the_grace(start_server, tmp_path):
    from test_flight_roundtrip import five_column_table
    db = tmp_path / "grace.duckdb"
    env = dict(os.environ, ARROWPORT_LIMITS_SHUTDOWN_GRACE_S="1")
    server = start_server(db=db, env=env)
    table = five_column_table(1_000_000)
    r = requests.post(f"{server.http}/ingest/kept", data=ipc_bytes(table),
                      headers={"Content-Type": ARROW}, timeout=120)
    assert r.status_code == 200, r.text
    body = ipc_bytes(pa.table({"x": pa.array(range(100_000), pa.int64())}))
    upload = socket.create_connection(host_port(server))
    upload.sendall((f"POST /ingest/unfinished HTTP/1.1\r\nHost: x\r\nContent-Type: {ARROW}\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n").encode())
    upload.sendall(b"%x\r\n" % (len(body) // 2) + body[: len(body) // 2] + b"\r\n")
    download = socket.create_connection(host_port(server))
    download.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    download.sendall(b"GET /tables/kept HTTP/1.1\r\nHost: x\r\n\r\n")
    download.recv(100)  # the response started; the rest stays unread
    time.sleep(0.5)
    t0 = time.time()
    server.proc.send_signal(signal.SIGTERM)
    try:
        code = server.proc.wait(timeout=10)
    except Exception:
        server.proc.kill()
        raise
    elapsed = time.time() - t0
    upload.close()
    download.close()
    assert code == 0, server.stderr()
    assert elapsed < 6, elapsed
    again = start_server(db=db)
    assert count(again, "kept") == 1_000_000
    assert count(again, "unfinished") is None


def test_an_upload_cut_by_shutdown_is_told_what_was_committed(start_server, tmp_path):
    """SIGTERM while a per_batch HTTP upload waits for the rest of its body: at the end
    of limits.shutdown_grace_s the call is cancelled and its handler answers 503 with the
    batches it committed. The connection was shut at the same instant, so the client got
    no answer at all and could not tell what to send again (an attack found it)."""
    db = tmp_path / "cut.duckdb"
    server = start_server(db=db, env=dict(os.environ, ARROWPORT_LIMITS_SHUTDOWN_GRACE_S="1"))
    table = pa.table({"x": pa.array(range(4000), pa.int64())})
    body = ipc_bytes(table, chunk=1000)  # 4 batches of 1,000 rows
    upload = socket.create_connection(host_port(server))
    upload.sendall((f"POST /ingest/cut?commit=per_batch HTTP/1.1\r\nHost: x\r\n"
                    f"Content-Type: {ARROW}\r\nContent-Length: {len(body)}\r\n\r\n").encode())
    upload.sendall(body[: len(body) * 3 // 4])  # about three batches; the rest never comes
    time.sleep(1)
    server.proc.send_signal(signal.SIGTERM)
    upload.settimeout(15)
    answer = b""
    while chunk := upload.recv(65536):
        answer += chunk
    upload.close()
    assert server.proc.wait(timeout=15) == 0, server.stderr()
    head, _, text = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503"), answer[:500]
    said = json.loads(text)
    assert said["error"]["code"] == "shutting_down", said
    committed = sum(batch["rows"] for batch in said["committed_batches"])
    assert committed >= 1000, said  # the batches before the cut, listed
    again = start_server(db=db)
    assert count(again, "cut") == committed



def test_flight_serves_no_new_call_while_http_uploads_drain(start_server, tmp_path):
    """At SIGTERM every listener stops: Flight went on serving new calls for the whole
    grace while an HTTP upload drained (the HTTP listener was stopped, and waited for,
    before Flight's; a hostile attack found it)."""
    import pyarrow.flight as flight
    server = start_server(env=dict(os.environ, ARROWPORT_LIMITS_SHUTDOWN_GRACE_S="2"))
    body = ipc_bytes(pa.table({"x": pa.array(range(4000), pa.int64())}), chunk=1000)
    upload = socket.create_connection(host_port(server))
    upload.sendall((f"POST /ingest/draining?commit=per_batch HTTP/1.1\r\nHost: x\r\n"
                    f"Content-Type: {ARROW}\r\nContent-Length: {len(body)}\r\n\r\n").encode())
    upload.sendall(body[: len(body) // 2])  # the rest never comes: the upload drains
    time.sleep(0.5)
    server.proc.send_signal(signal.SIGTERM)
    assert server.logged("shutting down")
    time.sleep(0.5)  # well inside the 2 s grace
    served = None
    try:
        client = flight.connect(server.uri)
        served = client.do_get(flight.Ticket(b"SELECT 42 AS v")).read_all().to_pylist()
    except (flight.FlightError, OSError):
        pass  # refused, or told the server is shutting down
    upload.close()
    assert server.proc.wait(timeout=30) == 0, server.stderr()
    assert served is None, served

# ---- 4. calls are admitted, watched and cancelled when their client leaves ----

SLOW_SQL = "SELECT count(*) FROM range(100000000000) t(x) WHERE x % 7 = 3"


def start_slow_query(server):
    s = socket.create_connection(host_port(server))
    body = json.dumps({"sql": SLOW_SQL}).encode()
    s.sendall((f"POST /query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
    return s


@pytest.mark.slow
def test_query_stops_when_its_client_disconnects(server):
    with pytest.raises(requests.exceptions.Timeout):
        requests.post(f"{server.http}/query", json={"sql": SLOW_SQL}, timeout=1)
    s = start_slow_query(server)
    time.sleep(1)
    s.close()
    time.sleep(1.5)
    before = cpu_seconds(server)
    time.sleep(3)
    used = cpu_seconds(server) - before
    assert used < 0.5, f"server used {used:.2f} s of CPU in 3 s after its clients left"
    assert requests.get(f"{server.http}/healthz", timeout=10).status_code == 200


def test_max_concurrent_requests_answers_busy(start_server, tmp_path):
    env = dict(os.environ, ARROWPORT_LIMITS_MAX_CONCURRENT_REQUESTS="2")
    server = start_server(env=env)
    slow = [start_slow_query(server) for _ in range(2)]
    try:
        time.sleep(0.5)
        r = requests.post(f"{server.http}/query", json={"sql": "SELECT 1 AS x"}, timeout=10)
        assert_error(r, 503, "busy")
        assert r.headers["Retry-After"]
        assert "max_concurrent_requests" in r.json()["error"]["message"]
        r = requests.post(f"{server.http}/ingest/t", data=ipc_bytes(pa.table({"x": [1]})),
                          headers={"Content-Type": ARROW}, timeout=10)
        assert_error(r, 503, "busy")
        # Not database calls: still served.
        assert requests.get(f"{server.http}/healthz", timeout=10).status_code == 200
    finally:
        for s in slow:
            s.close()
    deadline = time.time() + 10
    while time.time() < deadline:
        r = requests.post(f"{server.http}/query", json={"sql": "SELECT 1 AS x"}, timeout=10)
        if r.status_code == 200:
            break
        time.sleep(0.2)
    assert r.status_code == 200, r.text


@pytest.mark.slow
def test_stalled_body_and_idle_keep_alive_are_closed(start_server, tmp_path):
    config = tmp_path / "timeouts.yaml"
    config.write_text("http: {read_timeout_s: 2}\n")
    server = start_server("--config", str(config))
    body = ipc_bytes(pa.table({"x": pa.array(range(100_000), pa.int64())}))
    with socket.create_connection(host_port(server)) as s:
        s.sendall((f"POST /ingest/stalled HTTP/1.1\r\nHost: x\r\nContent-Type: {ARROW}\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body[:1000])
        t0 = time.time()
        s.settimeout(15)
        data = s.recv(65536)
        while data:
            data = s.recv(65536)
        assert time.time() - t0 < 5  # the body read timed out: answered or closed
    assert count(server, "stalled") is None
    with socket.create_connection(host_port(server)) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert recv_response(s).startswith(b"HTTP/1.1 200")
        t0 = time.time()
        s.settimeout(15)
        while s.recv(65536):
            pass
        assert 3 < time.time() - t0 < 8  # closed after the 5 s keep-alive timeout


def test_made_up_methods_share_one_metrics_label(server):
    """Each made-up HTTP method was a label of its own in arrowport_requests_total (20,000
    requests grew /metrics from 34 KiB to 5.4 MiB: an attack run); now they are OTHER."""
    from metrics_util import scrape, series
    for n in range(5):
        with socket.create_connection(host_port(server)) as s:
            s.sendall(f"X{n}MADEUP /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            recv_response(s)
    methods = {labels.get("method") for labels in
               series(scrape(f"{server.http}/metrics"), "arrowport_requests_total")}
    assert "OTHER (no route)" in methods, methods
    assert not [m for m in methods if m and "MADEUP" in m], methods


def test_a_body_refused_for_its_declared_length_ends_its_connection(server):
    """The 413 for a declared length over the route's limit said "Connection: close", yet
    the server read the body on and served a request pipelined after it (an attack run).
    Now the connection ends with the answer."""
    body = b" " * (5 << 20)  # over http.max_query_bytes (4 MiB)
    with socket.create_connection(host_port(server)) as s:
        s.sendall(f"POST /query HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n".encode())
        try:
            s.sendall(body + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        except OSError:
            pass  # closed already
        s.settimeout(15)
        answers = b""
        try:
            while True:
                part = s.recv(65536)
                if not part:
                    break
                answers += part
        except OSError:
            pass
    assert answers.startswith(b"HTTP/1.1 413"), answers[:300]
    assert b"Connection: close" in answers, answers[:600]
    assert answers.count(b"HTTP/1.1 ") == 1, answers[:2000]
