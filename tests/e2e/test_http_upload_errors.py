"""HTTP uploads a hostile client gets wrong on purpose: a body that stalls past
http.read_timeout_s (408, a client error, nothing committed) and a Content-Encoding the
server does not decode (415 naming the codings it does, before any body is read)."""
import base64
import gzip
import json
import socket
import time

import pyarrow as pa
import pytest
import requests

from metrics_util import scrape, total
from test_http import ARROW, count, ingest, ipc_bytes
from test_http_limits import host_port, recv_response

READ_TIMEOUT_S = 1


@pytest.fixture
def impatient_server(start_server, tmp_path):
    config = tmp_path / "impatient.yaml"
    config.write_text(f"http: {{read_timeout_s: {READ_TIMEOUT_S}}}\n")
    return start_server("--config", str(config))


def read_response(sock, timeout=15.0):
    """(status, headers text, JSON body) of one response with a Content-Length."""
    data = recv_response(sock, timeout)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":", 1)[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")))
    while len(body) < length:
        part = sock.recv(65536)
        if not part:
            break
        body += part
    return int(head.split()[1]), head.decode(), json.loads(body[:length])


def stalled_upload(server, path, content_type, body, sent):
    """Sends the headers and the first `sent` bytes of `body`, then nothing: the answer."""
    with socket.create_connection(host_port(server)) as s:
        s.sendall((f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body[:sent])
        started = time.time()
        answer = read_response(s)
        assert time.time() - started < READ_TIMEOUT_S + 5, "answered long after the timeout"
        return answer


def errors_by_code(server):
    samples = scrape(f"{server.http}/metrics")
    return {code: total(samples, "arrowport_errors_total", protocol="http", code=code)
            for code in ("408", "500")}


def seed_body(table):
    batch = table.to_batches()[0]
    return json.dumps({
        "config": {"target_table": "seeded"},
        "batch": {"arrow_schema": base64.b64encode(table.schema.serialize()).decode(),
                  "data": base64.b64encode(batch.serialize()).decode()}}).encode()


# ---- a body stalled past http.read_timeout_s ----

def test_a_stalled_ingest_body_is_a_408_and_commits_nothing(impatient_server):
    server = impatient_server
    table = pa.table({"x": pa.array(range(100_000), pa.int64())})
    assert ingest(server, "stalled", ipc_bytes(table)).status_code == 200
    # Two batches: the first whole (decoded and written, not yet committed), the second
    # cut short, so the stall comes mid-batch with the table's write under way.
    body = ipc_bytes(table, chunk=50_000)
    status, head, error = stalled_upload(server, "/ingest/stalled", ARROW, body,
                                         len(body) * 3 // 4)
    assert status == 408, (head, error)
    assert error["error"]["code"] == "request_timeout", error
    assert "http.read_timeout_s" in error["error"]["message"], error
    assert "Connection: close" in head, head
    assert count(server, "stalled") == 100_000
    errors = errors_by_code(server)
    assert errors["408"] == 1 and errors["500"] == 0, errors
    # Logged as the client's failure it is: a warning with its 408, not a server error.
    assert server.logged("request failed protocol=http method=POST path=/ingest/stalled")
    failed = [line for line in server.stderr().splitlines() if "path=/ingest/stalled" in line
              and "request failed" in line]
    assert len(failed) == 1 and " warn " in failed[0] and "status=408" in failed[0], failed
    assert " error " not in server.stderr(), server.stderr()
    # The server keeps serving, and the same upload sent whole still goes in.
    assert ingest(server, "stalled", body).status_code == 200
    assert count(server, "stalled") == 200_000
    # per_batch: the batch acknowledged before the stall stays, and the 408 lists it.
    status, head, error = stalled_upload(server, "/ingest/stalled?commit=per_batch", ARROW,
                                         body, len(body) * 3 // 4)
    assert status == 408 and error["committed_batches"] == [{"batch": 0, "rows": 50_000}], error
    assert count(server, "stalled") == 250_000


@pytest.mark.parametrize("transforms", [
    {"transform": "SELECT * FROM input LIMIT 10"},
    # Two transforms, the outer one stopping first: each drains its own input.
    {"transform": "SELECT * FROM input WHERE x >= 0"}])
def test_a_transform_that_needs_part_of_a_stalled_body_commits_nothing(start_server, tmp_path,
                                                                       transforms):
    """A transform that reads only some of the upload (LIMIT 10) ended before the body
    did: its rows were committed with 200 while the body stalled past
    http.read_timeout_s, or hung up with no answer at all (an attack run). Now, committed
    as a whole, its rows wait for the upload's own end: 408, nothing committed. (per_batch
    commits a transform's rows as they come, by design.)"""
    config = tmp_path / "limited.yaml"
    config.write_text(f"http: {{read_timeout_s: {READ_TIMEOUT_S}}}\n"
                      "streams: {limited: {transform: \"SELECT * FROM input LIMIT 10\"}}\n")
    server = start_server("--config", str(config))
    commit = "per_request"
    transform = transforms["transform"]
    body = ipc_bytes(pa.table({"x": pa.array(range(100_000), pa.int64())}), chunk=10_000)
    path = f"/ingest/limited?commit={commit}&transform={requests.utils.quote(transform)}"
    status, head, error = stalled_upload(server, path, ARROW, body, len(body) // 2)
    assert status == 408, (head, error)
    assert error["error"]["code"] == "request_timeout", error
    assert count(server, "limited") is None
    # The whole body: the stream's transform's ten rows.
    r = ingest(server, "limited", body, commit=commit, transform=transform)
    assert r.status_code == 200 and r.json()["rows"] == 10, r.text


def test_a_stalled_first_ingest_creates_no_table(impatient_server):
    body = ipc_bytes(pa.table({"x": pa.array(range(100_000), pa.int64())}), chunk=50_000)
    status, head, error = stalled_upload(impatient_server, "/ingest/never", ARROW, body, 200)
    assert status == 408 and error["error"]["code"] == "request_timeout", (head, error)
    assert count(impatient_server, "never") is None


@pytest.mark.parametrize("path, content_type", [("/query", "application/json"),
                                                ("/stream/seeded", "application/json")])
def test_a_stalled_whole_body_is_a_408(impatient_server, path, content_type):
    server = impatient_server
    if path == "/query":
        body = json.dumps({"sql": "CREATE TABLE made AS SELECT 1 AS x"}).encode()
    else:
        body = seed_body(pa.table({"x": pa.array(range(1000), pa.int64())}))
    status, head, error = stalled_upload(server, path, content_type, body, len(body) // 2)
    assert status == 408, (head, error)
    assert error["error"]["code"] == "request_timeout", error
    assert count(server, "made") is None and count(server, "seeded") is None
    assert errors_by_code(server) == {"408": 1, "500": 0}


@pytest.mark.parametrize("path, content_type", [("/ingest/hung", ARROW),
                                                ("/query", "application/json"),
                                                ("/stream/seeded", "application/json")])
def test_a_client_that_hangs_up_mid_body_is_a_400_not_a_408_or_500(server, path,
                                                                    content_type):
    """A body cut short by the client (it closes its side) is the client's 400 on every
    route; before the 408 change /ingest answered it 500."""
    if path == "/query":
        body = json.dumps({"sql": "CREATE TABLE made AS SELECT 1 AS x"}).encode()
    elif path.startswith("/stream"):
        body = seed_body(pa.table({"x": pa.array(range(1000), pa.int64())}))
    else:
        body = ipc_bytes(pa.table({"x": pa.array(range(100_000), pa.int64())}), chunk=50_000)
    with socket.create_connection(host_port(server)) as s:
        s.sendall((f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body[:len(body) // 2])
        s.shutdown(socket.SHUT_WR)
        status, head, error = read_response(s)
    assert status == 400, (path, head, error)
    assert count(server, "hung") is None and count(server, "made") is None
    assert count(server, "seeded") is None
    assert errors_by_code(server)["500"] == 0


# ---- Content-Encoding the server does not decode ----

def raw_post(server, path, headers, body):
    with socket.create_connection(host_port(server)) as s:
        lines = [f"POST {path} HTTP/1.1", "Host: x", f"Content-Length: {len(body)}", *headers]
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        return read_response(s)


@pytest.mark.parametrize("encodings", [
    ["Content-Encoding: compress"], ["Content-Encoding: foo"], ["Content-Encoding: br"],
    ["Content-Encoding: deflate"], ["Content-Encoding: gzip, zstd"],
    ["Content-Encoding: gzip", "Content-Encoding: zstd"], ["Content-Encoding: zstd, zstd"]])
def test_an_encoding_the_server_does_not_decode_is_a_415(server, encodings):
    body = gzip.compress(ipc_bytes(pa.table({"x": pa.array(range(1000), pa.int64())})))
    for path, content_type in (("/ingest/coded", ARROW), ("/query", "application/json"),
                               ("/stream/coded", "application/json")):
        status, head, error = raw_post(server, path, [f"Content-Type: {content_type}",
                                                      *encodings], body)
        assert status == 415, (path, encodings, head, error)
        assert error["error"]["code"] == "unsupported_media_type", error
        message = error["error"]["message"]
        assert "gzip" in message and "zstd" in message, message
        assert "disconnected" not in message, message
    assert count(server, "coded") is None
    assert requests.get(f"{server.http}/healthz", timeout=30).status_code == 200


@pytest.mark.parametrize("coding", ["gzip, chunked", "gzip", "chunked, chunked", "x-foo"])
def test_a_transfer_coding_the_server_does_not_frame_is_a_501(server, coding):
    """httplib reads a body as chunked only for "Transfer-Encoding: chunked" alone: a
    "gzip, chunked" body was read as no body, a /query of nothing answered 400 "empty
    query" and the upload's bytes were read as the next request."""
    table = pa.table({"x": pa.array(range(1000), pa.int64())})
    body = gzip.compress(ipc_bytes(table))
    chunked = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    # A GET too: httplib drains no GET body, which was then read as the next request, a
    # request smuggled past any proxy that framed the body as chunked.
    for method, path, content_type in (("POST", "/ingest/framed", ARROW),
                                       ("POST", "/query", "application/json"),
                                       ("GET", "/healthz", "text/plain")):
        with socket.create_connection(host_port(server)) as s:
            s.sendall((f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}"
                       f"\r\nTransfer-Encoding: {coding}\r\n\r\n").encode() + chunked +
                      b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
            status, head, error = read_response(s)
            assert status == 501, (path, coding, head, error)
            assert error["error"]["code"] == "not_implemented", error
            assert coding in error["error"]["message"], error
            assert "Content-Encoding: gzip or zstd" in error["error"]["message"], error
            assert "connection: close" in head.lower(), head  # RFC 9112 9.6: said
            # The rest of the bytes are not read as a request: the connection ends, in
            # order (not with a reset that could destroy the answer before it is read).
            s.settimeout(15)
            assert s.recv(65536) == b""
            # A client still sending its body meanwhile is read for a moment (1 MiB, 2 s),
            # not reset (it was, 0.1 s after the answer).
            time.sleep(0.2)
            for _ in range(8):  # past the first send, a reset fails the next ones
                s.sendall(b"x" * (16 << 10))
                time.sleep(0.02)
    assert count(server, "framed") is None
    # Chunked alone, in any case, is read.
    with socket.create_connection(host_port(server)) as s:
        s.sendall((f"POST /ingest/framed HTTP/1.1\r\nHost: x\r\nContent-Type: {ARROW}\r\n"
                   "Content-Encoding: gzip\r\nTransfer-Encoding: Chunked\r\n"
                   "Connection: close\r\n\r\n").encode() + chunked)
        status, head, answer = read_response(s)
        assert status == 200, (head, answer)
    assert count(server, "framed") == 1000


def test_a_request_without_a_body_is_not_refused_for_its_coding(server):
    """Content-Encoding says how a body is coded (RFC 9110 8.4): a GET has none to refuse."""
    r = requests.get(f"{server.http}/healthz", headers={"Content-Encoding": "br"}, timeout=30)
    assert r.status_code == 200, r.text


def test_the_codings_the_server_decodes_still_work_in_any_case(server):
    table = pa.table({"x": pa.array(range(1000), pa.int64())})
    for coding, body in (("gzip", gzip.compress(ipc_bytes(table))),
                         ("GZip", gzip.compress(ipc_bytes(table))),
                         ("ZSTD", pa.compress(ipc_bytes(table), codec="zstd", asbytes=True)),
                         # RFC 9110 8.4.1: x-gzip is gzip, identity is no coding.
                         ("x-gzip", gzip.compress(ipc_bytes(table))),
                         ("identity", ipc_bytes(table))):
        r = ingest(server, "decoded", body, headers={"Content-Encoding": coding})
        assert r.status_code == 200, (coding, r.text)
    assert count(server, "decoded") == 5000
    r = requests.post(f"{server.http}/query", params={"format": "json"},
                      data=gzip.compress(b'{"sql": "SELECT 42 AS x"}'),
                      headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
                      timeout=30)
    assert r.status_code == 200 and r.json() == [{"x": 42}], r.text


def flushed_gzip(pieces):
    """A gzip stream of `pieces`, flushed after each (Z_SYNC_FLUSH): (the whole stream,
    its length at each flush). Cut at a flush, it decodes to the pieces before the cut
    without an error: only its missing end (the trailer) tells."""
    import zlib
    coder = zlib.compressobj(wbits=31)  # gzip
    coded, ends = b"", []
    for piece in pieces:
        coded += coder.compress(piece) + coder.flush(zlib.Z_SYNC_FLUSH)
        ends.append(len(coded))
    return coded + coder.flush(), ends


def ipc_pieces(table, rows_per_batch):
    """An IPC stream of `table` in pieces: its schema, each batch, the end-of-stream
    marker."""
    batches = table.to_batches(max_chunksize=rows_per_batch)
    return ([table.schema.serialize().to_pybytes()] +
            [batch.serialize().to_pybytes() for batch in batches] +
            [b"\xff\xff\xff\xff\x00\x00\x00\x00"])


@pytest.mark.parametrize("commit", ["per_request", "per_batch"])
def test_a_gzip_body_cut_short_is_refused_and_commits_nothing_it_did_not_say(server, commit):
    """A gzip upload cut after a flush point, its trailer missing, decodes to whole
    batches, and the IPC stream ends cleanly at one. Before, httplib decoded it without
    an error and half the rows (the batches before the cut) were committed with 200: now
    the server decodes the body itself and refuses a coded stream that did not end (400,
    nothing committed; per_batch: only the batches its answer lists)."""
    table = pa.table({"x": pa.array(range(100_000), pa.int64())})
    coded, ends = flushed_gzip(ipc_pieces(table, 10_000))
    cut = coded[:ends[5]]  # the schema and five of ten batches; no end-of-stream marker
    stream = f"cut_{commit}"
    r = requests.post(f"{server.http}/ingest/{stream}", data=cut, timeout=60,
                      params={"commit": commit},
                      headers={"Content-Type": ARROW, "Content-Encoding": "gzip"})
    assert r.status_code == 400, r.text
    assert "stream is cut short" in r.json()["error"]["message"], r.text
    listed = sum(b["rows"] for b in r.json()["committed_batches"])
    assert (count(server, stream) or 0) == listed
    if commit == "per_request":
        assert listed == 0
    # Cut after the end-of-stream marker (the trailer missing), or with bytes after the
    # gzip stream's end: the IPC stream ended, yet the body did not end as gzip does.
    for body in (coded[:ends[-1]], coded + b"not gzip"):
        r = requests.post(f"{server.http}/ingest/{stream}", data=body, timeout=60,
                          params={"commit": commit},
                          headers={"Content-Type": ARROW, "Content-Encoding": "gzip"})
        assert r.status_code == 400, r.text
        assert "gzip" in r.json()["error"]["message"], r.text
        listed += sum(b["rows"] for b in r.json()["committed_batches"])
        assert (count(server, stream) or 0) == listed
    # The whole stream, and the same cut in a chunked body, to /query too.
    r = ingest(server, stream, coded, headers={"Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text
    assert count(server, stream) == 100_000 + listed
    sql, sql_ends = flushed_gzip([b"SELECT 42 AS x", b" UNION ALL SELECT 43"])
    r = requests.post(f"{server.http}/query", params={"format": "json"},
                      data=iter([sql[:sql_ends[0]]]), timeout=30,
                      headers={"Content-Type": "text/plain", "Content-Encoding": "gzip"})
    assert r.status_code == 400 and "gzip" in r.json()["error"]["message"], r.text
    r = requests.post(f"{server.http}/query", params={"format": "json"}, data=sql, timeout=30,
                      headers={"Content-Type": "text/plain", "Content-Encoding": "gzip"})
    assert r.status_code == 200 and r.json() == [{"x": 42}, {"x": 43}], r.text


@pytest.mark.parametrize("commit", ["per_request", "per_batch"])
@pytest.mark.parametrize("coding", [None, "gzip"])
def test_a_body_that_goes_on_after_its_stream_ends_is_refused(server, commit, coding):
    """Two IPC streams sent in one body: the first stream's end-of-stream marker ended
    the ingest, which committed its rows with 200, and the second stream was dropped
    unread. Now bytes after the marker are a 400 and nothing is committed (per_batch:
    only the batches its answer lists)."""
    first = pa.table({"x": pa.array(range(1000), pa.int64())})
    second = pa.table({"x": pa.array(range(1000, 3000), pa.int64())})
    body = ipc_bytes(first) + ipc_bytes(second)
    headers = {"Content-Type": ARROW}
    if coding:
        body, headers["Content-Encoding"] = gzip.compress(body), coding
    stream = f"two_{commit}_{coding}"
    r = requests.post(f"{server.http}/ingest/{stream}", data=body, params={"commit": commit},
                      headers=headers, timeout=60)
    assert r.status_code == 400, r.text
    assert "goes on after its Arrow IPC stream ended" in r.json()["error"]["message"], r.text
    listed = sum(b["rows"] for b in r.json()["committed_batches"])
    assert (count(server, stream) or 0) == listed
    if commit == "per_request":
        assert listed == 0
    r = ingest(server, stream, ipc_bytes(first))
    assert r.status_code == 200 and r.json()["rows"] == 1000, r.text


def test_a_refused_body_is_refused_before_the_client_is_told_to_send_it(server):
    """A client that waits for 100 Continue before its body (curl does for bodies over 1
    MiB) was told to send a body the server then refused unread (413): it had started
    sending it. Now the 413 comes instead of the 100, and the connection closes."""
    for request_line, length in (("POST /query", 10**10), ("POST /auth/token", 10**8),
                                 ("PUT /tables/t", 10**6)):
        with socket.create_connection(host_port(server)) as s:
            s.sendall(f"{request_line} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n"
                      f"Expect: 100-continue\r\n\r\n".encode())
            response = recv_response(s)
        assert response.startswith(b"HTTP/1.1 413"), (request_line, response[:300])
        assert b"Connection: close" in response, response[:600]
    # A body the route takes is asked for, and served.
    sql = b"SELECT 42 AS x"
    with socket.create_connection(host_port(server)) as s:
        s.sendall(f"POST /query?format=json HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain"
                  f"\r\nContent-Length: {len(sql)}\r\nExpect: 100-continue\r\n\r\n".encode())
        assert recv_response(s).startswith(b"HTTP/1.1 100 Continue"), "no 100 Continue"
        s.sendall(sql)
        response = recv_response(s)
    assert response.startswith(b"HTTP/1.1 200"), response[:300]


def test_coded_bytes_that_decode_to_nothing_are_bounded(start_server, tmp_path):
    """Empty gzip members (20 bytes each) decode to nothing: a chunked /query or ingest
    body of them was read for as long as the client sent them, since only decoded bytes
    were counted. Coded bytes are now bounded by the same limit (413), as a declared
    Content-Length already was."""
    config = tmp_path / "small.yaml"
    config.write_text("http: {max_query_bytes: 1024, max_body_bytes: 65536}\n")
    server = start_server("--config", str(config))
    empty = gzip.compress(b"") * 4_000  # 80,000 bytes: over both limits
    for path, tail, content_type in (
            ("/query", gzip.compress(b"SELECT 42 AS x"), "text/plain"),
            ("/ingest/empties", gzip.compress(ipc_bytes(pa.table({"x": [1]}))), ARROW)):
        r = requests.post(f"{server.http}{path}", data=iter([empty, tail]), timeout=60,
                          headers={"Content-Type": content_type, "Content-Encoding": "gzip"})
        assert r.status_code == 413, (path, r.text)
        assert "gzip coding passes" in r.json()["error"]["message"], r.text
    assert count(server, "empties") is None
    # Within the bound, the same body is served.
    r = requests.post(f"{server.http}/query", params={"format": "json"}, timeout=30,
                      data=iter([empty[:20 * 40], gzip.compress(b"SELECT 42 AS x")]),
                      headers={"Content-Type": "text/plain", "Content-Encoding": "gzip"})
    assert r.status_code == 200 and r.json() == [{"x": 42}], r.text


def test_an_ingest_that_ends_before_its_body_does_not_read_the_rest_for_ever(server):
    """After the 400 for bytes after the stream's end (or any ingest that fails before
    its body ends), httplib drained a chunked body for as long as it came: 190 MiB in a
    review's run. Now at most 16 MiB more is read and the connection closes."""
    stream = ipc_bytes(pa.table({"x": pa.array(range(1000), pa.int64())}))
    junk = b"%x\r\n%s\r\n" % (65536, b"\0" * 65536)
    sent = 0
    with socket.create_connection(host_port(server)) as s:
        s.sendall(f"POST /ingest/endless HTTP/1.1\r\nHost: x\r\nContent-Type: {ARROW}\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n".encode()
                  + b"%x\r\n%s\r\n" % (len(stream), stream))
        s.settimeout(30)
        try:
            while sent < 256 << 20:
                s.sendall(junk)
                sent += len(junk)
        except OSError:
            pass  # the server closed: what is wanted
        response = recv_response(s)
    assert response.startswith(b"HTTP/1.1 400"), response[:300]
    assert b"goes on after its Arrow IPC stream ended" in response, response[:600]
    assert sent < 64 << 20, sent  # 16 MiB read, the socket buffers besides
    assert count(server, "endless") is None


@pytest.mark.parametrize("rest", ["second stream", "garbage"])
def test_a_transform_that_needs_part_of_the_body_still_has_it_checked(server, rest):
    """Committed per batch, a transform that needed none or part of the body (SELECT 1,
    LIMIT 3) ended the ingest with 200 whatever followed: a second stream, or a body that
    is no Arrow IPC stream past its schema (an attack run). The rest is now read and
    checked as it is without a transform: 400, the committed batches listed."""
    table = pa.table({"x": pa.array(range(1000), pa.int64())})
    body = (ipc_bytes(table) + ipc_bytes(table) if rest == "second stream"
            else table.schema.serialize().to_pybytes() + b"GARBAGE" * 10)
    # (LIMIT 3 may have DuckDB read past the batches it needs: SELECT 1 reads none.)
    for transform in ("SELECT 1::BIGINT AS x", "SELECT * FROM input LIMIT 3"):
        stream = f"partly_{rest.replace(' ', '_')}_{len(transform)}"
        r = requests.post(f"{server.http}/ingest/{stream}", data=body, timeout=60,
                          params={"commit": "per_batch", "transform": transform},
                          headers={"Content-Type": ARROW})
        assert r.status_code == 400, (transform, r.text)
        listed = sum(b["rows"] for b in r.json()["committed_batches"])
        assert (count(server, stream) or 0) == listed, r.text


def test_a_per_batch_body_over_the_limit_lists_what_it_committed(start_server, tmp_path):
    """A per_batch ingest that passed http.max_body_bytes was answered 413 without
    committed_batches, while the batches before the limit stayed committed (an attack
    run): the client had no sign that rows had landed."""
    config = tmp_path / "small.yaml"
    config.write_text("http: {max_body_bytes: 1000000}\n")
    server = start_server("--config", str(config))
    table = pa.table({"x": pa.array(range(400_000), pa.int64())})  # 3.2 MB in 8 batches
    body = ipc_bytes(table)  # batches of 50,000 rows (400 KB)
    pieces = [body[i:i + 65536] for i in range(0, len(body), 65536)]
    r = requests.post(f"{server.http}/ingest/over", data=iter(pieces), timeout=60,
                      params={"commit": "per_batch"}, headers={"Content-Type": ARROW})
    assert r.status_code == 413, r.text
    listed = sum(b["rows"] for b in r.json()["committed_batches"])
    assert listed > 0, r.text
    assert count(server, "over") == listed
