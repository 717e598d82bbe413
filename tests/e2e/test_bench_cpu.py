"""`arrowport bench --only throughput` and `--only latency` (issue 40): beside every rate,
the server's CPU (the end-to-end servers and the plain Flight ceiling run as processes of
their own), and a CPU ratio to the ceiling; beside every round trip's median and p99, the
CPU per call, with the target for a DoPut, a DoGet by SQL ticket and a prepared query."""
import os
import re

import pytest
from conftest import run_cli

# Two small bench runs, about 20 s.
pytestmark = pytest.mark.slow

NUMBER = r"(\d+\.\d+)"


def children_left(tmp_path):
    """Processes whose command line names `tmp_path` (the bench's servers are started
    with it): none may outlive the bench."""
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if str(tmp_path).encode() in f.read():
                    left.append(pid)
        except OSError:
            pass  # gone meanwhile
    return left


def table_rows(out, columns):
    """The Markdown rows of `out` with `columns` cells, as lists of stripped cells."""
    rows = []
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == columns and not cells[0].startswith("-"):
            rows.append(cells)
    return rows


ALONE_INGEST = ("ceiling: DuckDB alone, CTAS from the Arrow stream + CHECKPOINT (file; by "
                "turns with Flight DoPut)")
# The same CTAS from the upload as it arrives (Arrow Flight's reader handed to DuckDB): the
# path our DoPut is, with none of our code in it.
ALONE_STREAMED = ("ceiling: DuckDB alone, CTAS from the uploaded Flight stream + CHECKPOINT "
                  "(Arrow Flight's reader handed to DuckDB; file; by turns with Flight DoPut)")
PUT_VS_STREAMED = ("Flight DoPut -> DuckDB file (ratios: vs DuckDB alone's CTAS from the "
                   "uploaded stream)")


def test_throughput_reports_server_cpu_beside_every_rate(tmp_path):
    done = run_cli("bench", "--only", "throughput", "--rows", "200000", "--repeat", "2",
                   "--threads", "1", "--no-seed-schema", "--dir", str(tmp_path), timeout=600)
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode() + out
    assert "CPU ratio: ours over the ceiling's (lower is better)" in out, out
    rows = {cells[3]: cells for cells in table_rows(out, 9)}
    header = rows.pop("measurement")
    assert header[7:] == ["CPU s per M rows", "CPU ratio to ceiling"], header
    for what in (ALONE_INGEST, ALONE_STREAMED, PUT_VS_STREAMED,
                 "ceiling: DuckDB alone, materialised parallel Arrow export",
                 "ceiling: plain Flight DoGet of in-memory table",
                 "ceiling: plain Flight DoPut, discarded",
                 "Flight DoPut -> DuckDB file (end to end)",
                 "Flight DoGet <- DuckDB (end to end)",
                 "HTTP POST /ingest -> DuckDB (end to end)"):
        assert what in rows, out
        assert float(rows[what][7]) > 0, rows[what]  # every process measured spent CPU
    for what in ("Flight DoPut -> DuckDB file (end to end)", PUT_VS_STREAMED,
                 "Flight DoGet <- DuckDB (end to end)",
                 "Flight SQL statement fetch <- DuckDB (ratio: vs Flight DoGet)"):
        ratio = re.fullmatch(NUMBER + " x", rows[what][8])
        assert ratio and float(ratio.group(1)) > 0, rows[what]
    # The servers ran as children that were stopped: their output files say they served.
    assert "arrowport ready flight=" in (tmp_path / "arrowport-server.out").read_text()
    assert "plain Flight ready grpc://" in (tmp_path / "plain-flight.out").read_text()
    # DuckDB alone's CTAS ran in a process of its own, by turns with our server's upload
    # (the VM's drift over minutes falls on both).
    assert "DuckDB alone ready grpc://" in (tmp_path / "duckdb-alone.out").read_text()
    assert children_left(tmp_path) == []


# Thousands of timed calls: alone, not beside three other workers on two cores (there it
# took 380-529 s of its 600 s timeout in this stop's CI runs).
@pytest.mark.measures
def test_latency_reports_cpu_per_call_and_the_target(tmp_path):
    done = run_cli("bench", "--only", "latency", "--dir", str(tmp_path), timeout=600)
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode() + out
    rows = {cells[0]: cells for cells in table_rows(out, 5)}
    header = next(cells for what, cells in rows.items() if what.startswith("1,000-row request"))
    assert header[1:] == ["median", "p99", "CPU per call", "CPU target"], header
    for what, cells in rows.items():
        if cells is header:
            continue
        for cell in cells[1:4]:  # median, p99, CPU per call
            assert re.fullmatch(NUMBER + " ms", cell), cells
        assert float(cells[3].split()[0]) > 0, cells
    for what in ("Flight DoPut -> DuckDB, one connection (end to end)",
                 "Flight DoGet of a 1,000-row query (ticket = the SQL)",
                 "Flight SQL prepared query of 1,000 rows (GetFlightInfo + DoGet)"):
        target = re.fullmatch(NUMBER + " ms", rows[what][4])
        assert target and float(target.group(1)) > 0.1, rows[what]
    assert children_left(tmp_path) == []
