"""DuckDB's own Delta reader for the lake tests: DuckDB 1.5.5 from PyPI with its `delta`
extension (delta-kernel-rs) and `httpfs` (S3), both from PyPI packages that carry the
signed extension binaries DuckDB would download (this machine cannot fetch them at run
time, and DuckDB 2.0 has none in Debian). See tests/e2e/requirements.txt."""
import urllib.parse
from pathlib import Path

import duckdb
import duckdb_extension_delta
import duckdb_extension_httpfs


def _duckdb_extension(module, name):
    """The path of a DuckDB extension shipped in a PyPI package (duckdb-extension-NAME: the
    signed binaries DuckDB would download, which this machine cannot fetch at run time)."""
    found = sorted(Path(module.__file__).parent.glob(f"extensions/*/{name}.duckdb_extension"))
    assert found, f"no {name}.duckdb_extension in {module.__name__} (tests/e2e/requirements.txt)"
    return str(found[-1])


def duckdb_delta_query(url, sql, s3_secret=None):
    """`sql` (over the view `lake`) run by DuckDB's delta extension on the table at `url`."""
    con = duckdb.connect()
    try:
        con.execute(f"LOAD '{_duckdb_extension(duckdb_extension_httpfs, 'httpfs')}'")
        con.execute(f"LOAD '{_duckdb_extension(duckdb_extension_delta, 'delta')}'")
        if s3_secret:
            options = ", ".join(f"{k} {v}" if isinstance(v, bool) else f"{k} '{v}'"
                                for k, v in s3_secret.items())
            con.execute(f"CREATE SECRET lake_store (TYPE s3, {options})")
        location = urllib.parse.unquote(urllib.parse.urlparse(url).path) \
            if url.startswith("file://") else url
        quoted = location.replace("'", "''")
        con.execute(f"CREATE VIEW lake AS SELECT * FROM delta_scan('{quoted}')")
        return con.execute(sql).to_arrow_table()
    finally:
        con.close()
