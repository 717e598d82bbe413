"""The CLI as users run it: bin/arrowport from any directory, relative paths, exit codes."""
import csv
import io
import json

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from conftest import run_cli


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
    proc = run_cli("query", "SELECT 1", "--server", "grpc://127.0.0.1:1")
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
