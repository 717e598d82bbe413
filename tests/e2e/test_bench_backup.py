"""`arrowport bench --only backup` (issue 66): our backup action beside DuckDB's own COPY
FROM DATABASE and EXPORT DATABASE of the same file, and a producer's ingest without and
during a backup: every row of its tables printed with a time, a CPU and a ratio, and the
copies removed."""
import pytest

from conftest import run_cli

# A measurement: its producer runs at least 2 s twice; about 10 s.
pytestmark = pytest.mark.slow


def cells_of(stdout):
    return [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in stdout.splitlines() if line.startswith("| 30000 |")]


def test_backup_bench_measures_ours_against_duckdb_and_ingest_during_a_backup(tmp_path):
    done = run_cli("bench", "--only", "backup", "--rows", "30000", "--repeat", "1",
                   "--dir", str(tmp_path), timeout=300)
    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, err + out
    rows = cells_of(out)
    backups = {r[2]: r for r in rows if len(r) == 8}
    for label in ("ours: backup action", "ceiling: DuckDB COPY FROM DATABASE",
                  "ceiling: DuckDB EXPORT DATABASE", "ours while a producer pushes"):
        found = [r for name, r in backups.items() if name.startswith(label)]
        assert found and float(found[0][3]) > 0, (label, out)
    for name, r in backups.items():
        if not name.startswith("ours while"):
            assert 0 < float(r[4]) < 60, (name, out)  # CPU seconds
    ingest = {r[1]: r for r in rows if len(r) == 4}
    assert ingest["without a backup"][3] == "1.00 x", out
    assert float(ingest["while a backup runs"][2].rstrip(" M")) > 0, out
    # The backups and DuckDB's copies are gone.
    assert not (tmp_path / "bench.duckdb.backups").exists()
