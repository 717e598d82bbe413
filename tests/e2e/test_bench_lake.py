"""`arrowport bench --only lake`: the shipped lake benchmark runs end to end with its real
peers (MinIO, delta-rs and DuckDB 1.5.5's ducklake in this suite's Python, DuckDB's COPY),
checks what landed (DuckDB 1.5.5 reads both DuckLakes back), and prints every row of its
table with its CPU seconds and ratios; without a peer it says which is missing."""
import re
import sys

import pytest

from conftest import run_cli
from lake_util import minio_binary

# The lake benchmark against delta-rs: a measurement, about 8 s.
pytestmark = pytest.mark.slow


def table_rows(stdout: str) -> dict:
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[1].endswith(" M"):
            rows[cells[0]] = (float(cells[1][:-2]), cells[4], float(cells[3]))
    return rows


def row(rows: dict, prefix: str):
    return next(value for label, value in rows.items() if label.startswith(prefix))


def test_lake_bench_measures_every_path_against_its_peers(tmp_path):
    minio_binary()  # fails with how to get it when the suite has none
    done = run_cli("bench", "--only", "lake", "--rows", "30000", "--repeat", "1",
                   "--python", sys.executable, "--dir", str(tmp_path), timeout=300)
    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, err + out
    rows = table_rows(out)
    labels = "\n".join(rows)
    for label in ("DuckDB COPY TO Parquet", "delta-rs write_deltalake append (zstd), local dir",
                  "delta-rs write_deltalake append (zstd), S3 (MinIO)",
                  "DuckDB 1.5.5 INSERT INTO ducklake (SQLite catalog, zstd), local dir",
                  "Arrowport Flight DoPut -> lake, local dir",
                  "Arrowport Flight DoPut -> lake, S3 (MinIO)",
                  "Arrowport Flight DoPut -> DuckLake (SQLite catalog), local dir",
                  "two Arrowport nodes at once -> one lake, local dir",
                  "two Arrowport nodes at once -> one lake, S3 (MinIO)"):
        assert label in labels, out
    for label, (rate, _, cpu) in rows.items():
        assert rate > 0, label
        # Writing 30,000 rows costs some CPU, and not a minute of it.
        assert 0 < cpu < 60, (label, out)
    ours_local = row(rows, "Arrowport Flight DoPut -> lake, local")
    assert re.fullmatch(r"\d+\.\d\d x delta-rs; \d+\.\d\d x DuckDB COPY", ours_local[1]), out
    ours_ducklake = row(rows, "Arrowport Flight DoPut -> DuckLake")
    assert re.fullmatch(r"\d+\.\d\d x DuckDB 1\.5\.5 ducklake; \d+\.\d\d x our Delta",
                        ours_ducklake[1]), out
    pair = row(rows, "two Arrowport nodes at once -> one lake, S3")
    assert re.fullmatch(r"\d+\.\d\d x one node", pair[1]), out
    # The work directory is left clean: lakes, MinIO's data and the database are gone.
    assert not (tmp_path / "lake-bench").exists()


def test_lake_bench_without_delta_rs_says_so(tmp_path):
    done = run_cli("bench", "--only", "lake", "--rows", "20000", "--repeat", "1",
                   "--python", str(tmp_path / "no-such-python"), "--dir", str(tmp_path),
                   timeout=300)
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode() + out
    assert "delta-rs not measured: no Python with deltalake" in out, out
    assert "DuckDB 1.5.5's ducklake not measured: no Python with duckdb" in out, out
    rows = table_rows(out)
    assert not any("delta-rs" in label or "DuckDB 1.5.5" in label for label in rows), out
    ours_local = row(rows, "Arrowport Flight DoPut -> lake, local")
    assert re.fullmatch(r"\d+\.\d\d x DuckDB COPY", ours_local[1]), out
    # Our DuckLake ingest is still measured (its rows checked through its catalog).
    ours_ducklake = row(rows, "Arrowport Flight DoPut -> DuckLake")
    assert re.fullmatch(r"\d+\.\d\d x our Delta", ours_ducklake[1]), out
