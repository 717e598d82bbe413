"""The CLI as users run it: bin/arrowport from any directory, relative paths, exit codes."""
import csv
import io
import json
import subprocess
import time

import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from conftest import REPO, run_cli

# Also run against the release build in CI (bin/test --slow), whose default lane runs
# against the ASan/UBSan build: the shipped allocator and memory guard meet these.
pytestmark = pytest.mark.release_too


def test_generate_ingest_query_formats(server, tmp_path):
    url = server.uri
    for name in ("sample.parquet", "sample.arrow", "sample.csv"):
        proc = run_cli("generate", "--rows", "5000", "-o", name, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert (tmp_path / name).exists()  # relative to the caller's directory
    generated = pq.read_table(tmp_path / "sample.parquet")
    assert generated.num_rows == 5000
    assert generated.column_names == ["id", "date", "category", "value", "amount", "flag", "name"]

    proc = run_cli("ingest", "sample.parquet", "sample.arrow", "--stream", "sample",
                   "--server", url, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("ingest", "sample.csv", "--stream", "from_csv", "--server", url, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr

    proc = run_cli("query", "SELECT count(*) AS n FROM sample", "--format", "json",
                   "--server", url)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [{"n": 10000}]

    proc = run_cli("query", "SELECT id, category FROM from_csv ORDER BY id LIMIT 3",
                   "--format", "csv", "--server", url)
    rows = list(csv.DictReader(io.StringIO(proc.stdout.decode())))
    assert [r["id"] for r in rows] == ["0", "1", "2"]

    proc = run_cli("query", "SELECT * FROM sample WHERE id < 100", "-o", "out.parquet",
                   "--server", url, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert pq.read_table(tmp_path / "out.parquet").num_rows == 200

    proc = run_cli("query", "SELECT * FROM sample", "--format", "arrow", "--server", url)
    assert ipc.open_stream(pa.BufferReader(proc.stdout)).read_all().num_rows == 10000

    proc = run_cli("query", "SELECT category, count(*) AS n FROM sample GROUP BY 1 ORDER BY 1",
                   "--server", url)
    assert proc.returncode == 0
    assert b"category | n" in proc.stdout and b"(5 rows)" in proc.stdout

    proc = run_cli("tables", "--server", url)
    assert b"sample\t10000 rows" in proc.stdout
    proc = run_cli("streams", "--server", url)
    assert json.loads(proc.stdout)["streams"][0]["stream"] in ("from_csv", "sample")


def test_exit_codes(server):
    assert run_cli("query", "SELEC 1", "--server", server.uri).returncode == 1
    proc = run_cli("query", "SELECT 1", "--server", "grpc://127.0.0.1:1", "--connect-wait", "0")
    assert proc.returncode == 1
    assert run_cli("query").returncode == 2
    assert run_cli("no-such-command").returncode == 2
    assert run_cli("--help").returncode == 0
    assert run_cli("version").stdout.startswith(b"arrowport ")


def test_stdin_and_stdout_pass_through(server, tmp_path):
    # Arrow IPC on stdout, piped into a file by the shell, read back by pyarrow.
    proc = run_cli("query", "SELECT 42 AS answer", "--format", "arrow", "--server", server.uri)
    assert ipc.open_stream(pa.BufferReader(proc.stdout)).read_all().to_pylist() == [{"answer": 42}]


def test_cli_over_http(server, tmp_path):
    assert run_cli("generate", "--rows", "2000", "-o", "h.parquet", cwd=tmp_path).returncode == 0
    proc = run_cli("ingest", "h.parquet", "--stream", "via_http", "--server", server.http, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["rows"] == 2000
    proc = run_cli("query", "SELECT count(*) AS n FROM via_http", "--format", "json",
                   "--server", server.http)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [{"n": 2000}]
    proc = run_cli("query", "SELECT * FROM nowhere", "--server", server.http)
    assert proc.returncode == 1 and b"nowhere" in proc.stderr


def test_ingest_prints_the_servers_summary_every_time(server, tmp_path):
    """`arrowport ingest` of a 1,000-row file, 20 times in a row: each run exits 0 and prints
    the server's summary with the 1,000 rows the server committed (the summary is read to
    the end of the call before the call is closed). Before, Close() drained the reply
    stream beside the thread reading it: in 3 of 10 runs the summary went to the drain,
    the CLI printed an empty line and "0 rows -> ?" and exited 0 (a user retries and
    duplicates the data), or Close() failed on the pending read although the server had
    committed."""
    table = pa.table({"x": pa.array(range(1000), pa.int64())})
    pq.write_table(table, tmp_path / "small.parquet")
    client = server.client()
    for run in range(1, 21):
        proc = run_cli("ingest", "small.parquet", "--stream", "s", "--server", server.uri,
                       cwd=tmp_path)
        assert proc.returncode == 0, (run, proc.stdout, proc.stderr)
        assert proc.stdout.strip(), (run, "no summary printed", proc.stderr)
        summary = json.loads(proc.stdout)
        assert summary["rows"] == 1000 and summary["committed"] is True, (run, summary)
        assert b"small.parquet: 1000 rows -> s" in proc.stderr, (run, proc.stderr)
        reader = client.do_get(flight.Ticket(b"SELECT count(*) AS n FROM s"))
        assert reader.read_all().to_pylist() == [{"n": 1000 * run}], run


class _PeerWithoutSummary(flight.FlightServerBase):
    """A Flight server that takes an upload and answers as `replies` says: no summary at
    all, only a per_batch acknowledgement, or an error."""

    def __init__(self, replies):
        super().__init__("grpc://127.0.0.1:0")
        self.replies = replies

    def do_put(self, context, descriptor, reader, writer):
        rows = sum(chunk.data.num_rows for chunk in reader if chunk.data is not None)
        if self.replies == "error":
            raise flight.FlightServerError("disk on fire")
        if self.replies == "ack":
            writer.write(pa.py_buffer(json.dumps(
                {"batch": 0, "rows": rows, "committed": True}).encode()))


def test_ingest_without_the_servers_summary_fails(tmp_path):
    """A call that ends without the server's summary (or with an error) is not a success:
    the CLI exits 1 and says the outcome is unknown, never "0 rows" with exit 0."""
    pq.write_table(pa.table({"x": pa.array(range(1000), pa.int64())}), tmp_path / "f.parquet")
    for replies in ("none", "ack", "error"):
        peer = _PeerWithoutSummary(replies)
        try:
            proc = run_cli("ingest", "f.parquet", "--stream", "s", "--server",
                           f"grpc://127.0.0.1:{peer.port}", cwd=tmp_path)
        finally:
            peer.shutdown()
        assert proc.returncode == 1, (replies, proc.stdout, proc.stderr)
        assert proc.stdout == b"", (replies, proc.stdout)
        if replies == "error":
            assert b"disk on fire" in proc.stderr, proc.stderr
        else:
            assert b"without a summary of committed rows" in proc.stderr, proc.stderr
            assert b"check the table" in proc.stderr, proc.stderr


@pytest.mark.parametrize("protocol", ["flight", "http"])
def test_a_file_that_fails_to_read_midway_commits_nothing(server, tmp_path, protocol):
    """A CSV whose 140,000th row does not parse (past the reader's first 8 MB block,
    whose rows fixed the column's type) fails after the CLI has sent the block before it. The upload is sealed (an end marker follows the last batch), so the server
    commits nothing of a file the CLI could not read to its end, and the CLI says so.
    Before, the CLI half-closed the stream as for a finished file and the server
    committed the rows sent so far: sending the fixed file again stored them twice. Over
    HTTP the body is cut, which commits nothing either; the CLI now says so (it said
    "Connection handling canceled"), at once (it waited 30 s for an answer)."""
    pad = "p" * 100
    lines = ["x,pad"] + [f"{i},{pad}" for i in range(150_000)]
    lines[140_001] = f"not a number,{pad}"
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n")
    url = server.uri if protocol == "flight" else server.http
    started = time.monotonic()
    proc = run_cli("ingest", "bad.csv", "--stream", "half", "--server", url, cwd=tmp_path)
    # Over HTTP the CLI waited for an answer to the cut body, which the server gives only
    # when its body idle timeout (30 s) ends: the failure took 30 s to show.
    assert time.monotonic() - started < 15, "the CLI waited on a cut upload"
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert b"not a number" in proc.stderr or b"CSV" in proc.stderr, proc.stderr
    assert b"nothing of it was committed" in proc.stderr, proc.stderr
    with pytest.raises(pa.ArrowKeyError, match="half does not exist"):  # nor was created
        server.client().do_get(flight.Ticket(b"SELECT count(*) FROM half")).read_all()
    # Fixed, the file lands once, whole.
    lines[140_001] = f"140000,{pad}"
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n")
    proc = run_cli("ingest", "bad.csv", "--stream", "half", "--server", url, cwd=tmp_path)
    assert proc.returncode == 0 and json.loads(proc.stdout)["rows"] == 150_000, proc.stderr


def test_the_server_binary_holds_no_benchmark_and_no_test_support():
    # The benchmark (and the MinIO child process it shares with the unit tests) compiled
    # into every server build: 2,200 lines and a quarter of the CLI's compile (issue 36/37).
    # It is arrowport-bench now, which ./bin/arrowport bench builds and runs.
    release = REPO / "build" / "release"
    server = (release / "arrowport").read_bytes()
    bench = (release / "arrowport-bench").read_bytes()
    for namespace in (b"N9arrowport5bench", b"N9arrowport12test_support"):
        assert namespace in bench  # the symbols are there to find: the check can fail
        assert namespace not in server, namespace
    done = run_cli("bench", "--help")
    assert done.returncode == 0 and b"--only" in done.stdout, done
    # The server binary itself names where the benchmark went.
    done = subprocess.run(
        ["bash", "-c", 'source toolchain/env.sh && arrowport_exec_binary "$0" bench',
         str(release / "arrowport")], cwd=REPO, capture_output=True, timeout=60)
    assert done.returncode == 2 and b"arrowport-bench" in done.stderr, done
