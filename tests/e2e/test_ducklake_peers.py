"""The DuckLake tests' peers work (tests/e2e/ducklake_peers.py): DuckDB 1.5.5's ducklake
extension, loaded from its PyPI package, writes and reads a lake whose catalog is a SQLite
file and one whose catalog is the real PostgreSQL server of the postgres_server fixture."""
import datetime

import pytest

# A check of the peers themselves; the DuckLake tests use them in the default lane.
pytestmark = pytest.mark.slow

from ducklake_peers import ducklake_duckdb


def roundtrip(catalog, data_path):
    con = ducklake_duckdb(catalog, data_path)
    try:
        con.execute("CREATE TABLE lk.events (id INTEGER, name VARCHAR, day DATE)")
        con.execute("INSERT INTO lk.events VALUES (1, 'één', DATE '2024-02-29'), (2, NULL, NULL)")
        # Past the inlining limit: lands as a Parquet file under data_path.
        con.execute("INSERT INTO lk.events SELECT i, 'bulk', NULL FROM range(3, 1003) t(i)")
    finally:
        con.close()
    # A second connection reads what the first committed.
    con = ducklake_duckdb(catalog, data_path, read_only=True)
    try:
        assert con.execute("SELECT * FROM lk.events WHERE id <= 2 ORDER BY id").fetchall() == [
            (1, "één", datetime.date(2024, 2, 29)), (2, None, None)]
        assert con.execute("SELECT count(*), sum(id) FROM lk.events").fetchone() == (
            1002, sum(range(1, 1003)))
    finally:
        con.close()
    assert list(data_path.rglob("*.parquet")), "the bulk insert wrote no Parquet file"


def test_duckdb_writes_and_reads_a_lake_with_a_sqlite_catalog(tmp_path):
    roundtrip(f"sqlite:{tmp_path / 'catalog.sqlite'}", tmp_path / "data")


def test_duckdb_writes_and_reads_a_lake_with_a_postgres_catalog(tmp_path, postgres_server):
    assert postgres_server.startswith("host=127.0.0.1 port=")
    roundtrip(f"postgres:{postgres_server}", tmp_path / "data")
