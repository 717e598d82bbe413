"""Findings of an outside attack review: a client must not be able to change the server's
settings for everyone, make the server hold gigabytes per result batch, make a failed
download look complete, or make DuckDB materialise far more than it sent."""
import io
import json
import os

import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
import requests
import urllib3

import rawflight
from test_flight_roundtrip import get, put
from test_flight_sql import connect
from test_trust import peak_rss_bytes


def peak_rss_mib(pid):
    return peak_rss_bytes(pid) / (1 << 20)


def ticket(sql):
    return flight.Ticket(json.dumps({"sql": sql}).encode())


def settings_in_force(client):
    """The server's own view of DuckDB's settings (clients cannot read them by SQL)."""
    health = json.loads(next(client.do_action(flight.Action("health", b""))).body.to_pybytes())
    return health["duckdb"]


@pytest.mark.parametrize("statement", ["SET GLOBAL threads = 64", "SET memory_limit = '1MB'",
                                       "SET GLOBAL max_temp_directory_size = '0B'",
                                       "RESET GLOBAL memory_limit"])
def test_clients_cannot_change_the_servers_settings(server, statement):
    client = server.client()
    before = settings_in_force(client)
    with pytest.raises(pa.ArrowException):
        get(client, {"sql": statement})
    r = requests.post(f"{server.http}/query", data=statement,
                      headers={"Content-Type": "text/plain"}, timeout=30)
    # Refused by the SQL sandbox (SET is never client SQL), not just by DuckDB's lock.
    assert r.status_code == 403, r.text
    assert settings_in_force(client) == before
    put(client, pa.table({"x": pa.array(range(1000), pa.int64())}), {"stream": "still_works"})


def test_wide_result_rows_come_in_bounded_batches(server):
    client = server.client()
    reader = client.do_get(ticket("SELECT i, repeat('x', 10000) AS s FROM range(100000) t(i)"))
    rows = 0
    largest = 0
    for chunk in reader:
        rows += chunk.data.num_rows
        largest = max(largest, chunk.data.nbytes)
    assert rows == 100000
    assert largest < 64 << 20  # was one ~1 GB batch of 122,880 rows
    assert peak_rss_mib(server.proc.pid) < 900


def test_multi_megabyte_values_fit_a_clients_message_limit_in_a_transaction(server):
    # 12 rows of 5 MB are one DuckDB chunk; in a client's transaction chunks are converted
    # one by one, and that one went out as a 60 MB batch: ADBC (16 MiB message limit)
    # failed with "received message larger than max".
    sql = "SELECT i, repeat(chr(65 + i::INT), 5000000) AS s FROM range(12) t(i)"
    for autocommit in (True, False):
        with connect(server, autocommit=autocommit) as conn, conn.cursor() as cur:
            cur.execute(sql)
            batches = list(cur.fetch_record_batch())
            assert all(b.nbytes <= 8 << 20 for b in batches), [b.nbytes for b in batches]
            table = pa.Table.from_batches(batches)
            assert table.column("i").to_pylist() == list(range(12))
            assert [len(s) for s in table.column("s").to_pylist()] == [5000000] * 12
            assert [s[0] + s[-1] for s in table.column("s").to_pylist()] == \
                [chr(65 + i) * 2 for i in range(12)]


@pytest.mark.parametrize("fmt,encoding", [("arrow", None), ("parquet", None), ("arrow-file", None),
                                          ("csv", None), ("arrow", "zstd"), ("csv", "gzip")])
def test_a_result_that_fails_midway_never_looks_complete(compressing_server, fmt, encoding):
    server = compressing_server
    sql = ("SELECT i, CASE WHEN i < 3000000 THEN i ELSE error('boom') END AS v "
           "FROM range(5000000) t(i)")
    parts = []  # joined once: adding each part to bytes copied ~20 GB per test
    headers = {"Content-Type": "text/plain", "Accept-Encoding": encoding or "identity"}
    with requests.post(f"{server.http}/query?format={fmt}", data=sql, stream=True,
                       headers=headers, timeout=60) as r:
        assert r.status_code == 200
        assert r.headers.get("Content-Encoding") == encoding
        with pytest.raises((requests.exceptions.RequestException, urllib3.exceptions.HTTPError)):
            for part in r.raw.stream(1 << 16, decode_content=False):
                parts.append(part)
    body = b"".join(parts)
    # A lenient client: decompresses what came, ignoring the missing end of the frame.
    if encoding == "zstd":
        import zstandard
        body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
    elif encoding == "gzip":
        import zlib
        body = zlib.decompressobj(31).decompress(body)
    with pytest.raises(Exception):
        if fmt == "parquet":
            pq.read_table(io.BytesIO(body))
        elif fmt == "arrow-file":
            ipc.open_file(pa.BufferReader(body)).read_all()
        elif fmt == "csv":
            import pyarrow.csv as pacsv
            table = pacsv.read_csv(pa.BufferReader(body))
            assert table.num_rows < 3000000  # what a reader may make of the rows before
        else:
            ipc.open_stream(pa.BufferReader(body)).read_all()


def string_view_amplifier(rows, value_bytes):
    """`rows` string_view entries that all point at one `value_bytes`-long string."""
    data = b"y" * value_bytes
    views = bytearray()
    for _ in range(rows):
        views += value_bytes.to_bytes(4, "little") + data[:4] + (0).to_bytes(4, "little") \
            + (0).to_bytes(4, "little")
    array = pa.Array.from_buffers(pa.string_view(), rows,
                                  [None, pa.py_buffer(bytes(views)), pa.py_buffer(data)])
    # Valid Arrow, every view in bounds: checked in full on the first 100 rows, all alike
    # (in full on 200,000 it UTF-8-checks 200 GB, 12 s of the test's own CPU).
    array.slice(0, min(rows, 100)).validate(full=True)
    return pa.record_batch({"s": array})


def dictionary_amplifier(rows, value_bytes):
    values = pa.array(["z" * value_bytes])
    indices = pa.array([0] * rows, pa.int32())
    return pa.record_batch({"d": pa.DictionaryArray.from_arrays(indices, values)})


@pytest.mark.parametrize("make", [string_view_amplifier, dictionary_amplifier])
@pytest.mark.parametrize("path", ["flight", "http"])
def test_batches_that_expand_in_duckdb_are_bounded(start_server, tmp_path, make, path):
    config = tmp_path / "small.yaml"
    config.write_text("limits: {max_batch_bytes: 16777216}\n")  # 16 MiB
    server = start_server("--config", str(config))
    batch = make(2000, 1 << 20)  # ~1 MiB sent, ~2 GiB once every row has its own copy
    if path == "flight":
        with pytest.raises(pa.ArrowInvalid) as err:
            put(server.client(), pa.Table.from_batches([batch]), {"stream": "amp"})
        message = str(err.value)
    else:
        sink = pa.BufferOutputStream()
        with ipc.new_stream(sink, batch.schema) as w:
            w.write_batch(batch)
        r = requests.post(f"{server.http}/ingest/amp", data=sink.getvalue().to_pybytes(),
                          headers={"Content-Type": "application/vnd.apache.arrow.stream"},
                          timeout=60)
        assert r.status_code == 413, r.text
        message = r.json()["error"]["message"]
    assert "limits.max_batch_bytes" in message
    assert peak_rss_mib(server.proc.pid) < 600
    assert requests.get(f"{server.http}/healthz", timeout=10).status_code == 200


@pytest.mark.parametrize("path", ["flight", "http"])
def test_a_view_expansion_is_refused_before_it_is_read(server, path):
    """200,000 views of one 1 MiB string: refused at once, before full validation reads
    (and UTF-8-checks) 200 GB of repeated values; it used to burn 9 s of CPU per request,
    ignoring the client's deadline, the admission slot held all the while."""
    import time
    batch = string_view_amplifier(200_000, 1 << 20)
    started = time.time()
    if path == "flight":
        with pytest.raises(pa.ArrowInvalid) as err:
            put(server.client(), pa.Table.from_batches([batch]), {"stream": "views"})
        assert "limits.max_batch_bytes" in str(err.value)
    else:
        sink = pa.BufferOutputStream()
        with ipc.new_stream(sink, batch.schema) as w:
            w.write_batch(batch)
        r = requests.post(f"{server.http}/ingest/views", data=sink.getvalue().to_pybytes(),
                          headers={"Content-Type": "application/vnd.apache.arrow.stream"},
                          timeout=60)
        assert r.status_code == 413, r.text
    assert time.time() - started < 3
