"""HTTP gateway with real clients: requests + pyarrow, curl, csv, parquet."""
import base64
import csv
import gzip
import io
import json
import shutil
import socket
import ssl
import subprocess
import time

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
import requests

from metrics_util import scrape, series, total
from test_flight_roundtrip import five_column_table, get, rich_table

# Also run against the release build in CI (bin/test --slow), whose default lane runs
# against the ASan/UBSan build: the shipped allocator and memory guard meet these.
pytestmark = pytest.mark.release_too

ARROW = "application/vnd.apache.arrow.stream"


def ipc_bytes(table, compression=None, chunk=50_000):
    sink = pa.BufferOutputStream()
    options = ipc.IpcWriteOptions(compression=compression)
    with ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table, max_chunksize=chunk)
    return sink.getvalue().to_pybytes()


def ingest(server, stream, body, headers=None, **params):
    headers = {"Content-Type": ARROW, **(headers or {})}
    return requests.post(f"{server.http}/ingest/{stream}", data=body, headers=headers,
                         params=params, timeout=120)


def read_arrow(response):
    return ipc.open_stream(pa.BufferReader(response.content)).read_all()


def count(server, table):
    r = requests.post(f"{server.http}/query", json={"sql": f"SELECT count(*)::BIGINT AS n FROM {table}"},
                      params={"format": "json"}, timeout=60)
    if r.status_code == 404:
        return None
    return r.json()[0]["n"]


def assert_error(response, status, code=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert "error" in body and body["error"]["message"]
    if code:
        assert body["error"]["code"] == code, body


def test_ingest_and_read_back_all_formats(server):
    table = five_column_table(300_000)
    r = ingest(server, "events", ipc_bytes(table))
    assert r.status_code == 200, r.text
    summary = r.json()
    assert summary["rows"] == 300_000 and summary["table"] == "events" and summary["batches"] == 6
    assert summary["bytes"] > 0 and summary["seconds"] >= 0

    back = read_arrow(requests.get(f"{server.http}/tables/events", timeout=60))
    assert back.equals(table)
    alias = requests.get(f"{server.http}/api/v1/arrow/bulk-read/events", timeout=60)
    assert alias.headers["Content-Type"] == ARROW
    assert read_arrow(alias).num_rows == 300_000

    parquet = requests.get(f"{server.http}/tables/events", params={"format": "parquet"}, timeout=60)
    assert parquet.headers["Content-Type"] == "application/vnd.apache.parquet"
    assert pq.read_table(io.BytesIO(parquet.content)).equals(table)

    csv_r = requests.get(f"{server.http}/tables/events", headers={"Accept": "text/csv"},
                         params={"columns": "id,name", "limit": "3"}, timeout=60)
    assert csv_r.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(csv_r.text)))
    assert rows == [{"id": str(i), "name": f"name_{i}"} for i in range(3)]

    js = requests.get(f"{server.http}/tables/events", headers={"Accept": "application/json"},
                      params={"limit": "2", "columns": "id,flag"}, timeout=60)
    assert js.json() == [{"id": 0, "flag": True}, {"id": 1, "flag": False}]

    arrow_file = requests.get(f"{server.http}/tables/events", params={"format": "arrow-file", "limit": "10"},
                              timeout=60)
    assert ipc.open_file(pa.BufferReader(arrow_file.content)).read_all().num_rows == 10


def test_query_endpoint_json_text_and_params(server):
    ingest(server, "q", ipc_bytes(pa.table({"x": pa.array(range(100), pa.int64())})))
    r = requests.post(f"{server.http}/query", json={"sql": "SELECT count(*)::BIGINT AS n FROM q WHERE x < $1::BIGINT",
                                                   "params": [10]}, timeout=60)
    assert r.status_code == 200 and r.headers["Content-Type"] == ARROW
    assert read_arrow(r).to_pylist() == [{"n": 10}]
    r = requests.post(f"{server.http}/query", data="SELECT sum(x)::BIGINT AS s FROM q",
                      headers={"Content-Type": "text/plain"}, params={"format": "json"}, timeout=60)
    assert r.json() == [{"s": 4950}]


def test_rich_types_over_http(server):
    table = rich_table()
    assert ingest(server, "rich", ipc_bytes(table)).status_code == 200
    back = read_arrow(requests.get(f"{server.http}/tables/rich", timeout=60))
    assert back.column("dec").equals(table.column("dec"))
    assert back.column("st").equals(table.column("st"))
    assert back.column("ts_tz").equals(table.column("ts_tz"))


def test_a_format_that_cannot_hold_the_columns_is_refused_before_the_body(server):
    # CSV has no nested columns: a clear 400 naming the formats that can, for GET, HEAD and
    # POST /query (was 200 with a body cut at its start, and the reason only in the log).
    sql = "CREATE OR REPLACE TABLE nested_csv AS SELECT 1 AS id, [1, 2] AS l"
    assert requests.post(f"{server.http}/query", data=sql, headers={"Content-Type": "text/plain"},
                         timeout=60).status_code == 200
    for response in (
            requests.get(f"{server.http}/tables/nested_csv", params={"format": "csv"}, timeout=60),
            requests.post(f"{server.http}/query", params={"format": "csv"},
                          json={"sql": "SELECT * FROM nested_csv"}, timeout=60)):
        assert_error(response, 400, "invalid_argument")
        message = response.json()["error"]["message"]
        assert "format 'csv' cannot hold this result" in message and "format=arrow" in message
    head = requests.head(f"{server.http}/tables/nested_csv", params={"format": "csv"}, timeout=60)
    assert head.status_code == 400
    # The formats that hold it still answer.
    r = requests.get(f"{server.http}/tables/nested_csv", params={"format": "json"}, timeout=60)
    assert r.status_code == 200 and r.json() == [{"id": 1, "l": [1, 2]}]


def test_blobs_in_csv_are_written_as_duckdb_writes_them(server):
    # Arrow's CSV writer took blobs for UTF-8 text: a blob with any other byte ended the
    # body after its 200 and the rows before it. Now DuckDB's own text of a blob.
    sql = ("SELECT i, CASE WHEN i = 40000 THEN '\\xFF\\x00a\\x5C\"'::BLOB "
           "ELSE ('v' || i)::BLOB END AS b FROM range(40001) t(i)")
    r = requests.post(f"{server.http}/query", params={"format": "csv"}, data=sql,
                      headers={"Content-Type": "text/plain"}, timeout=60)
    assert r.status_code == 200, r.text
    lines = r.content.decode("ascii").splitlines()
    assert len(lines) == 40002
    assert lines[1] == '0,"v0"'
    assert lines[-1] == '40000,"\\xFF\\x00a\\x5C\\x22"'


def test_ipc_body_compression_and_content_encoding(server):
    table = five_column_table(50_000)
    for codec in ("zstd", "lz4"):
        r = ingest(server, "compressed", ipc_bytes(table, compression=codec))
        assert r.status_code == 200, r.text
    r = ingest(server, "compressed", gzip.compress(ipc_bytes(table)), headers={"Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text
    zstd_body = pa.compress(ipc_bytes(table), codec="zstd", asbytes=True)
    r = ingest(server, "compressed", zstd_body, headers={"Content-Encoding": "zstd"})
    assert r.status_code == 200, r.text
    assert count(server, "compressed") == 200_000


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_compression_and_errors(compressing_server, tmp_path):
    server = compressing_server
    body = tmp_path / "body.arrows"
    body.write_bytes(ipc_bytes(pa.table({"x": pa.array(range(1000), pa.int64())})))
    out = subprocess.run(["curl", "-sS", "-X", "POST", "--data-binary", f"@{body}",
                          "-H", f"Content-Type: {ARROW}", f"{server.http}/ingest/curl_t?mode=create"],
                         capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["rows"] == 1000
    # Response compression: curl decodes gzip with --compressed.
    out = subprocess.run(["curl", "-sS", "--compressed", "-H", "Accept: text/csv",
                          "-D", "-", f"{server.http}/tables/curl_t?limit=2"],
                         capture_output=True, text=True, check=True)
    assert "content-encoding:" in out.stdout.lower()
    assert out.stdout.rstrip().endswith("x\n0\n1") or out.stdout.rstrip().endswith("0\n1")
    out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                          f"{server.http}/tables/does_not_exist"], capture_output=True, text=True)
    assert out.stdout == "404"


def test_response_compression_zstd_and_gzip(compressing_server):
    server = compressing_server
    ingest(server, "rc", ipc_bytes(five_column_table(20_000)))
    # zstd pays on any body; gzip only on text: an Arrow stream offered only gzip is sent
    # as it is (Python requests offers "gzip, deflate" unasked).
    for accept, encoding, expected in (
            ("application/vnd.apache.arrow.stream", "zstd", "zstd"),
            ("application/vnd.apache.arrow.stream", "gzip, deflate, zstd;q=0.5", "zstd"),
            ("application/vnd.apache.arrow.stream", "gzip", None),
            ("application/vnd.apache.arrow.stream", "gzip, deflate", None),
            ("application/vnd.apache.parquet", "gzip", None),
            ("application/vnd.apache.parquet", "zstd", None),
            ("text/csv", "gzip;q=0\t, zstd;q=0", None),
            ("text/csv", "gzip", "gzip"),
            ("text/csv", "gzip;q=0, zstd;q=0", None),
            ("text/csv", "zstd;q=0.000, gzip;q=0.1", "gzip")):
        r = requests.get(f"{server.http}/tables/rc", headers={"Accept": accept, "Accept-Encoding": encoding},
                         stream=True, timeout=60)
        assert r.status_code == 200, r.text
        assert r.headers.get("Content-Encoding") == expected, (accept, encoding, r.headers)
        raw = r.raw.read()
        if expected == "gzip":
            data = gzip.decompress(raw)
        elif expected == "zstd":
            data = pa.input_stream(pa.BufferReader(raw), compression="zstd").read()
        else:
            data = raw
        if accept == "text/csv":
            assert len(data.decode().splitlines()) == 20_001
        elif "parquet" in accept:
            import pyarrow.parquet as pq
            assert pq.read_table(pa.BufferReader(data)).num_rows == 20_000
        else:
            assert ipc.open_stream(pa.BufferReader(data)).read_all().num_rows == 20_000
    # A default requests.get (which offers gzip, deflate) gets the Arrow stream as it is.
    r = requests.get(f"{server.http}/tables/rc", timeout=60)
    assert "Content-Encoding" not in r.headers, r.headers
    assert ipc.open_stream(pa.BufferReader(r.content)).read_all().num_rows == 20_000


def test_a_client_on_this_host_gets_no_compression_by_default(server):
    """http.compression: auto. A client on the server's own host reads over memory, where
    compressing only costs both ends CPU (a default Python 3.14 GET, which offers zstd,
    took 1.59x identity's time on loopback): offered or not, its bodies go as they are.
    Across a link it pays, and is used: test_slow_link (slow lane)."""
    ingest(server, "near", ipc_bytes(five_column_table(20_000)))
    for accept in ("application/vnd.apache.arrow.stream", "text/csv", "application/json"):
        for offered in ("gzip, deflate, zstd", "gzip, deflate, br, zstd", "zstd", "gzip"):
            r = requests.get(f"{server.http}/tables/near", stream=True, timeout=60,
                             headers={"Accept": accept, "Accept-Encoding": offered})
            assert r.status_code == 200 and "Content-Encoding" not in r.headers, (accept, offered)
            assert r.headers.get("Vary") == "Accept-Encoding", r.headers  # for caches
            body = r.raw.read()
            if accept == "text/csv":
                assert len(body.decode().splitlines()) == 20_001
            elif accept == "application/json":
                assert len(json.loads(body)) == 20_000
            else:
                assert ipc.open_stream(pa.BufferReader(body)).read_all().num_rows == 20_000


def test_compression_is_ours_not_brotli(compressing_server):
    """Browsers and curl --compressed offer br; cpp-httplib would answer with brotli at its
    slowest level (38 s for a 1M-row CSV). Text results use our zstd/gzip like Arrow does,
    and small JSON replies are not compressed at all."""
    server = compressing_server
    r = ingest(server, "enc", ipc_bytes(pa.table({"x": pa.array(range(5000), pa.int64())})),
               headers={"Accept-Encoding": "br"})
    assert r.status_code == 200 and "Content-Encoding" not in r.headers, r.headers
    assert r.json()["rows"] == 5000
    for accept in ("text/csv", "application/json"):
        r = requests.get(f"{server.http}/tables/enc", stream=True, timeout=60,
                         headers={"Accept": accept, "Accept-Encoding": "gzip, deflate, br"})
        assert r.headers.get("Content-Encoding") == "gzip", (accept, r.headers)
        text = gzip.decompress(r.raw.read()).decode()
        assert "4999" in text
        r = requests.get(f"{server.http}/tables/enc", stream=True, timeout=60,
                         headers={"Accept": accept, "Accept-Encoding": "br"})
        assert "Content-Encoding" not in r.headers, (accept, r.headers)
        assert "4999" in r.raw.read().decode()


def test_seed_json_endpoint(server):
    table = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "value": [0.5, 1.5, 2.5]})
    batch = table.to_batches()[0]
    body = {"config": {"target_table": "seed_values", "compression": "zstd"},
            "batch": {"arrow_schema": base64.b64encode(table.schema.serialize().to_pybytes()).decode(),
                      "data": base64.b64encode(batch.serialize().to_pybytes()).decode()}}
    r = requests.post(f"{server.http}/stream/seedy", json=body, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "success" and r.json()["rows_processed"] == 3
    assert r.json()["stream"] == "seedy"
    body["batch"]["data"] = base64.b64encode(ipc_bytes(table)).decode()  # a whole IPC stream
    assert requests.post(f"{server.http}/stream/seedy", json=body, timeout=60).json()["rows_processed"] == 3
    assert count(server, "seed_values") == 6
    bad = dict(body, batch={"data": "!!!not base64!!!"})
    assert_error(requests.post(f"{server.http}/stream/seedy", json=bad, timeout=60), 400)
    assert_error(requests.post(f"{server.http}/stream/seedy", data="{nope", timeout=60), 400)


def test_metadata_endpoints(server):
    ingest(server, "meta", ipc_bytes(pa.table({"a": pa.array([1], pa.int32()), "b": ["x"]})))
    tables = requests.get(f"{server.http}/tables", timeout=30).json()["tables"]
    assert tables[0]["name"] == "meta" and tables[0]["rows"] == 1
    assert tables[0]["columns"] == [{"name": "a", "type": "int32"}, {"name": "b", "type": "string"}]
    schema = requests.get(f"{server.http}/tables/meta/schema", timeout=30).json()
    assert [c["name"] for c in schema["columns"]] == ["a", "b"]
    streams = requests.get(f"{server.http}/streams", timeout=30).json()["streams"]
    assert streams[0]["stream"] == "meta" and streams[0]["rows"] == 1
    healthz = requests.get(f"{server.http}/healthz", timeout=30).json()
    assert healthz["status"] == "ok" and healthz["storage"]["state"] == "ok", healthz
    ready = requests.get(f"{server.http}/readyz", timeout=30).json()
    assert ready["status"] == "ready" and ready["storage"]["writes"] == "accepted", ready
    spec = requests.get(f"{server.http}/openapi.json", timeout=30).json()
    assert spec["openapi"].startswith("3.1")
    for path in ("/ingest/{stream}", "/stream/{stream}", "/query", "/tables", "/tables/{name}",
                 "/tables/{name}/schema", "/api/v1/arrow/bulk-read/{name}", "/streams",
                 "/healthz", "/readyz", "/openapi.json"):
        assert path in spec["paths"], path


def test_http_and_flight_share_one_pipeline(server):
    ingest(server, "shared", ipc_bytes(pa.table({"x": pa.array([1, 2], pa.int64())})))
    assert get(server.client(), {"table": "shared"}).num_rows == 2


# ---- bad input: right status, JSON error, server keeps serving, nothing committed ----

def test_bad_bodies(server):
    good = pa.table({"x": pa.array(range(100_000), pa.int64())})
    assert ingest(server, "bad", ipc_bytes(good)).status_code == 200
    body = ipc_bytes(good, chunk=10_000)
    assert_error(ingest(server, "bad", body[: len(body) * 2 // 3]), 400)           # truncated
    corrupt = bytearray(body)
    corrupt[200:260] = b"\xff" * 60
    assert ingest(server, "bad", bytes(corrupt)).status_code in (400, 500)
    assert_error(ingest(server, "bad", b"this is not arrow at all" * 10), 400)      # not Arrow
    assert_error(ingest(server, "bad", body, headers={"Content-Type": "text/csv"}), 415)
    assert_error(ingest(server, "bad", ipc_bytes(pa.table({"x": ["text"]}))), 422, "schema_mismatch")
    assert_error(ingest(server, "bad", body, mode="create"), 409, "already_exists")
    assert_error(ingest(server, "bad", body, mode="merge"), 400)
    assert count(server, "bad") == 100_000
    assert requests.get(f"{server.http}/healthz", timeout=30).status_code == 200


def test_names_are_validated(server):
    body = ipc_bytes(pa.table({"x": [1]}))
    assert_error(ingest(server, "x;DROP TABLE y", body), 400)
    assert_error(ingest(server, "ok", body, table="t\"--"), 400)
    assert_error(requests.get(f"{server.http}/tables/x;DROP", timeout=30), 400)
    assert_error(requests.get(f"{server.http}/tables/t", params={"columns": "a;DROP"}, timeout=30), 400)
    assert_error(requests.get(f"{server.http}/tables/t", params={"limit": "-1"}, timeout=30), 400)
    r = requests.get(f"{server.http}/tables/..%2F..%2Fetc%2Fpasswd", timeout=30)
    assert r.status_code in (400, 404)
    assert_error(requests.get(f"{server.http}/tables/missing", timeout=30), 404, "not_found")
    assert_error(requests.post(f"{server.http}/query", json={"sql": "SELEC 1"}, timeout=30), 400)
    assert_error(requests.post(f"{server.http}/query", data="SELECT 1",
                               headers={"Content-Type": "image/png"}, timeout=30), 415)
    assert_error(requests.get(f"{server.http}/tables/missing", headers={"Accept": "image/png"}, timeout=30), 406)
    assert_error(requests.get(f"{server.http}/no/such/route", timeout=30), 404)


def test_oversized_body_and_gzip_bomb(start_server, tmp_path):
    config = tmp_path / "small.yaml"
    config.write_text("http: {max_body_bytes: 1000000}\n")
    server = start_server("--config", str(config))
    body = ipc_bytes(pa.table({"x": pa.array(range(300_000), pa.int64())}))
    assert_error(ingest(server, "big", body), 413)
    # A valid Arrow stream of 48 MB of zeros: ~50 KB gzipped, refused while inflating.
    zeros = ipc_bytes(pa.table({"x": pa.array([0] * 6_000_000, pa.int64())}), chunk=1_000_000)
    bomb = gzip.compress(zeros, compresslevel=9)
    assert len(bomb) < 1_000_000
    assert_error(ingest(server, "big", bomb, headers={"Content-Encoding": "gzip"}), 413)
    # Plain zeros: whichever stops it first, the IPC reader (zeros read as an end-of-stream
    # marker: 400) or the decompressed-size limit (413), it is refused without inflating.
    zero_bomb = gzip.compress(b"\0" * 50_000_000)
    r = ingest(server, "big", zero_bomb, headers={"Content-Encoding": "gzip"})
    assert r.status_code in (400, 413) and r.json()["error"]["message"]
    assert count(server, "big") is None
    assert requests.get(f"{server.http}/healthz", timeout=30).status_code == 200


def test_client_hangs_up_mid_body_commits_nothing(server):
    body = ipc_bytes(pa.table({"x": pa.array(range(200_000), pa.int64())}))
    host, port = server.http.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as s:
        s.sendall((f"POST /ingest/hangup HTTP/1.1\r\nHost: x\r\nContent-Type: {ARROW}\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body[: len(body) // 2])
    # The server notices the closed connection; nothing of the request is committed.
    assert count(server, "hangup") is None
    assert requests.get(f"{server.http}/healthz", timeout=30).status_code == 200


def test_client_disconnects_mid_download(server):
    ingest(server, "dl", ipc_bytes(five_column_table(500_000)))
    host, port = server.http.removeprefix("http://").split(":")
    for _ in range(3):
        with socket.create_connection((host, int(port))) as s:
            s.sendall(b"GET /tables/dl HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(65536)
    assert read_arrow(requests.get(f"{server.http}/tables/dl", timeout=60)).num_rows == 500_000


def test_results_stream_chunked_over_one_kept_alive_connection(compressing_server):
    """Result bodies are framed by the server itself (httplib's chunked writer copied each
    write twice): every body, small or large, Arrow or CSV, plain or zstd, must end with its
    last chunk and leave the connection ready for the next request."""
    server = compressing_server
    import http.client
    import zstandard
    ingest(server, "framed", ipc_bytes(five_column_table(300_000)))
    host, port = server.http.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    local = None
    for path, accept, rows in [("/tables/framed", "identity", 300_000),
                               ("/tables/framed?limit=1", "identity", 1),
                               ("/tables/framed?format=csv", "identity", 300_000),
                               ("/tables/framed", "zstd", 300_000),
                               ("/tables/framed?limit=0", "identity", 0)]:
        connection.request("GET", path, headers={"Accept-Encoding": accept})
        r = connection.getresponse()
        body = r.read()  # http.client raises IncompleteRead on a body without its end
        assert r.status == 200 and r.getheader("Transfer-Encoding") == "chunked"
        assert r.getheader("Content-Length") is None
        if accept == "zstd":
            body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
        if "csv" in path:
            assert body.count(b"\n") == rows + 1
        else:
            assert ipc.open_stream(pa.BufferReader(body)).read_all().num_rows == rows
        local = local or connection.sock.getsockname()
        assert connection.sock.getsockname() == local  # the same connection throughout
    connection.close()


def test_a_range_of_a_result_is_ignored_and_head_says_what_get_sends(compressing_server):
    """A result streams without a length: a Range request got httplib's 416 with the
    chunked header over an unframed body (both Content-Length and Transfer-Encoding),
    which curl and requests could not parse. The Range is now ignored (RFC 9110): the whole
    body, on a connection that stays usable. HEAD announced Content-Length: 0 and byte
    ranges; it now sends GET's headers."""
    server = compressing_server
    import http.client
    ingest(server, "ranged", ipc_bytes(five_column_table(1000)))
    for method, path, data in [("GET", "/tables/ranged", None),
                               ("POST", "/query", "SELECT * FROM ranged")]:
        r = requests.request(method, f"{server.http}{path}", data=data, timeout=30,
                             headers={"Range": "bytes=0-10", "Content-Type": "text/plain"})
        assert r.status_code == 200, r.text
        assert r.headers.get("Transfer-Encoding") == "chunked"
        assert "Content-Range" not in r.headers and "Content-Length" not in r.headers
        assert read_arrow(r).num_rows == 1000
    head = requests.head(f"{server.http}/tables/ranged", timeout=30,
                         headers={"Accept-Encoding": "zstd"})
    assert head.status_code == 200
    assert head.headers.get("Accept-Ranges") == "none"
    assert head.headers.get("Transfer-Encoding") == "chunked"
    assert head.headers.get("Content-Encoding") == "zstd"
    assert "Content-Length" not in head.headers
    host, port = server.http.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    for headers in ({"Range": "bytes=0-"}, {}):
        connection.request("GET", "/tables/ranged", headers=headers)
        response = connection.getresponse()
        assert response.status == 200
        assert ipc.open_stream(pa.BufferReader(response.read())).read_all().num_rows == 1000
    connection.close()


def raw_http10(server, request: bytes) -> tuple:
    """Sends `request` over a fresh socket and reads until the server closes it: (head
    lines, body); fails when the connection stays open."""
    host, port = server.http.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):  # a socket.timeout here: the body never ended
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode().split("\r\n"), body


def test_an_http10_client_gets_an_unchunked_body_ended_by_close(compressing_server):
    """HTTP/1.0 knows no chunked coding (RFC 9112 6.1): results were sent chunked to
    HTTP/1.0 clients too, whose body then held the chunk sizes. Now the body goes
    unframed, for every format and with compression, and the server closes the
    connection to end it."""
    server = compressing_server
    import zstandard
    ingest(server, "old_client", ipc_bytes(five_column_table(200_000)))
    cases = [(b"GET /tables/old_client HTTP/1.0\r\n\r\n", "arrow", 200_000),
             (b"GET /tables/old_client?format=csv&limit=3 HTTP/1.0\r\n\r\n", "csv", 3),
             (b"GET /tables/old_client HTTP/1.0\r\nAccept-Encoding: zstd\r\n\r\n", "zstd",
              200_000)]
    sql = b"SELECT * FROM old_client LIMIT 7"
    cases.append((b"POST /query HTTP/1.0\r\nContent-Type: text/plain\r\nContent-Length: "
                  + str(len(sql)).encode() + b"\r\n\r\n" + sql, "arrow", 7))
    for request, kind, rows in cases:
        head, body = raw_http10(server, request)
        headers = {line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip()
                   for line in head[1:]}
        assert head[0].split()[1] == "200", head
        assert "transfer-encoding" not in headers, head
        assert headers.get("connection") == "close", head
        if kind == "zstd":
            assert headers.get("content-encoding") == "zstd"
            body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
        if kind == "csv":
            assert body.count(b"\n") == rows + 1 and body.startswith(b'"id"'), body[:80]
        else:
            assert ipc.open_stream(pa.BufferReader(body)).read_all().num_rows == rows
    # HEAD says the same.
    head, body = raw_http10(server, b"HEAD /tables/old_client HTTP/1.0\r\n\r\n")
    assert not any(line.lower().startswith("transfer-encoding") for line in head), head
    assert body == b""
    # HTTP/1.1 clients still get chunked bodies.
    r = requests.get(f"{server.http}/tables/old_client?limit=1", timeout=30)
    assert r.headers.get("Transfer-Encoding") == "chunked"


# Fails well after its first batch: DuckDB's workers run about 5 units (614,400 rows)
# ahead of the first fetch, and an error among them would be a 400 before the body.
FAILING_SQL = (b"SELECT i, CASE WHEN i < 1500000 THEN i ELSE error('boom') END AS v "
               b"FROM range(2000000) t(i)")


def http10_query(sql: bytes, fmt: str) -> bytes:
    return (f"POST /query?format={fmt} HTTP/1.0\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(sql)}\r\n\r\n").encode() + sql


def read_until_closed(sock) -> tuple:
    """Reads until the peer ends the connection: (bytes, None) for an orderly end, (bytes,
    the exception) for a reset or a TLS session cut without its close_notify."""
    data = bytearray()
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, ssl.SSLEOFError) as e:
        return bytes(data), e
    return bytes(data), None


def test_an_http10_body_that_fails_midway_ends_with_a_reset(server):
    # HTTP/1.0 has no chunks: the close ends the body, so a result that failed after its
    # 200 ended like a complete one (a JSON array without its "]" was the only sign).
    host, port = server.http.removeprefix("http://").split(":")
    for fmt in ("json", "csv", "arrow"):
        with socket.create_connection((host, int(port)), timeout=30) as s:
            s.sendall(http10_query(FAILING_SQL, fmt))
            data, error = read_until_closed(s)
        assert isinstance(error, ConnectionResetError), (fmt, data[:200], data[-200:])
    # A body that did not fail still ends in order.
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(http10_query(b"SELECT * FROM range(300000)", "json"))
        data, error = read_until_closed(s)
    assert error is None and data.startswith(b"HTTP/1.1 200") and data.endswith(b"]\n")
    # A client that half-closes after its request looks gone, and its body is never
    # written: that ended as a complete EMPTY result (hostile run). Now it is the whole
    # result when the server writes it before it sees the half-close (CI: a fast query),
    # a reset once the 200 is out, or an error status when the server sees the client gone
    # before its status line (a loaded machine: the watchdog polls first): never a 200
    # missing its rows.
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(http10_query(b"SELECT 42 AS answer", "csv"))
        s.shutdown(socket.SHUT_WR)
        data, error = read_until_closed(s)
    if error is None and data.startswith(b"HTTP/1.1 200"):
        assert data.endswith(b'\r\n\r\n"answer"\n42\n'), data
    elif error is None:
        assert data.startswith(b"HTTP/1.1 4") and b'"error"' in data, data
        assert server.logged("the client went away")
    else:
        assert isinstance(error, ConnectionResetError), data
        assert server.logged("the client left before the body")


def test_a_client_that_leaves_mid_result_is_logged_as_499_not_500(server):
    # A client that closed its connection part way through a streamed result was logged
    # as status=500, a server failure in every log-based alert.
    body = b"SELECT * FROM range(50000000)"
    host, port = server.http.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(b"POST /query?format=csv HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain"
                  b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        assert s.recv(1000).startswith(b"HTTP/1.1 200")
    # Before its first chunk or after (a slow server's body may not have begun).
    assert server.logged("status=499 error=\"the client"), server.stderr()[-2000:]
    assert "path=/query user=anonymous" not in "".join(
        line for line in server.stderr().splitlines(keepends=True) if "status=500" in line)
    # Counted as a failed call as well: a body cut after its 200 was counted as a success.
    # The call is counted once its connection is done with, just after the log line.
    deadline = time.monotonic() + 30
    while True:
        errors = scrape(f"{server.http}/metrics")
        cut = total(errors, "arrowport_errors_total", protocol="http", code="499")
        if cut or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert cut == 1, series(errors, "arrowport_errors_total")


def test_openapi_references_resolve(server):
    spec = requests.get(f"{server.http}/openapi.json", timeout=30).json()

    def refs(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    yield value
                else:
                    yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    for ref in refs(spec):
        target = spec
        for part in ref.lstrip("#/").split("/"):
            target = target[part]  # KeyError = a dangling reference
    props = spec["components"]["schemas"]["IngestResult"]["properties"]
    r = requests.post(f"{server.http}/ingest/oa", data=ipc_bytes(pa.table({"x": [1]})),
                      headers={"Content-Type": ARROW}, timeout=30)
    assert set(r.json()) == set(props)
