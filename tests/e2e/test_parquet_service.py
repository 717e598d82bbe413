"""The Parquet query service (issue 16): `generate --preset sample` writes the seed's
dataset, `serve --parquet` exposes files or a glob as one view, and the seed's queries
answer over Flight and HTTP with the numbers pyarrow computes over the same files."""
import csv
import datetime
import io
import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as flight
import pyarrow.parquet as pq
import pytest
import requests

from conftest import run_cli

ROWS_PER_FILE = 4000

FILTER = "SELECT id, value1 FROM {view} WHERE value1 > 100 AND active ORDER BY id, value1"
BY_CATEGORY = ("SELECT category, count(*) AS n, avg(value1) AS avg_value1, "
               "sum(value2) AS sum_value2 FROM {view} GROUP BY category ORDER BY category")
DATE_RANGE = ("SELECT count(*) AS n, sum(value2) AS sum_value2 FROM {view} "
              "WHERE date BETWEEN DATE '2024-01-01' AND DATE '2024-03-31'")
MONTHLY = ("SELECT DATE_TRUNC('month', date) AS month, count(*) AS n, avg(value1) AS avg_value1 "
           "FROM {view} GROUP BY 1 ORDER BY 1")


@pytest.fixture
def sample_files(tmp_path):
    """Two files of the seed's sample dataset (different seeds), and their rows together."""
    data = tmp_path / "data"
    data.mkdir()
    for name, seed in (("part1.parquet", "1"), ("part2.parquet", "2")):
        proc = run_cli("generate", "--preset", "sample", "--rows", str(ROWS_PER_FILE),
                       "--seed", seed, "-o", str(data / name))
        assert proc.returncode == 0, proc.stderr
    files = [data / "part1.parquet", data / "part2.parquet"]
    return files, pa.concat_tables(pq.read_table(f) for f in files)


def flight_sql(server, sql):
    ticket = flight.Ticket(json.dumps({"sql": sql}).encode())
    return server.client().do_get(ticket).read_all()


def http_sql(server, sql):
    response = requests.post(f"{server.http}/query", json={"sql": sql}, timeout=60)
    assert response.status_code == 200, response.text
    return pa.ipc.open_stream(response.content).read_all()


def expected_filter(table):
    mask = pc.and_(pc.greater(table["value1"], 100), table["active"])
    rows = table.filter(mask).select(["id", "value1"]).to_pylist()
    return sorted(rows, key=lambda r: (r["id"], r["value1"]))


def expected_by_category(table):
    grouped = table.group_by("category").aggregate(
        [("id", "count"), ("value1", "mean"), ("value2", "sum")])
    return sorted(({"category": r["category"], "n": r["id_count"],
                    "avg_value1": r["value1_mean"], "sum_value2": r["value2_sum"]}
                   for r in grouped.to_pylist()), key=lambda r: r["category"])


def expected_date_range(table):
    date = table["date"]
    mask = pc.and_(pc.greater_equal(date, pa.scalar(datetime.date(2024, 1, 1))),
                   pc.less_equal(date, pa.scalar(datetime.date(2024, 3, 31))))
    selected = table.filter(mask)
    return {"n": selected.num_rows, "sum_value2": pc.sum(selected["value2"]).as_py()}


def expected_monthly(table):
    months = {}
    for day, value in zip(table["date"].to_pylist(), table["value1"].to_pylist()):
        months.setdefault(day.replace(day=1), []).append(value)
    return [{"month": m, "n": len(v), "avg_value1": sum(v) / len(v)}
            for m, v in sorted(months.items())]


def as_date(value):
    # DuckDB's DATE_TRUNC of a DATE is a DATE or a TIMESTAMP depending on its version.
    return value.date() if isinstance(value, datetime.datetime) else value


def assert_seed_queries(run, view, table):
    """The seed's example queries through `run` (Flight or HTTP) match pyarrow's answers."""
    assert run(f"SELECT count(*) AS n FROM {view}").to_pylist() == [{"n": table.num_rows}]

    assert run(FILTER.format(view=view)).to_pylist() == expected_filter(table)

    got = run(BY_CATEGORY.format(view=view)).to_pylist()
    want = expected_by_category(table)
    assert [(r["category"], r["n"]) for r in got] == [(r["category"], r["n"]) for r in want]
    for g, w in zip(got, want):
        assert g["avg_value1"] == pytest.approx(w["avg_value1"], rel=1e-9)
        assert g["sum_value2"] == pytest.approx(w["sum_value2"], rel=1e-9)

    got = run(DATE_RANGE.format(view=view)).to_pylist()
    want = expected_date_range(table)
    assert want["n"] > 0 and got[0]["n"] == want["n"]
    assert got[0]["sum_value2"] == pytest.approx(want["sum_value2"], rel=1e-9)

    got = run(MONTHLY.format(view=view)).to_pylist()
    want = expected_monthly(table)
    assert len(want) == 36  # 2023-01 .. 2025-12
    assert [(as_date(r["month"]), r["n"]) for r in got] == [(r["month"], r["n"]) for r in want]
    for g, w in zip(got, want):
        assert g["avg_value1"] == pytest.approx(w["avg_value1"], rel=1e-9)


def test_generate_preset_sample_has_the_seed_columns(sample_files):
    files, table = sample_files
    schema = pq.read_schema(files[0])
    assert [(f.name, str(f.type)) for f in schema] == [
        ("id", "int64"), ("date", "date32[day]"), ("category", "string"), ("value1", "double"),
        ("value2", "double"), ("active", "bool"), ("name", "string")]
    assert table.num_rows == 2 * ROWS_PER_FILE
    assert pc.mean(table["value1"]).as_py() == pytest.approx(100, abs=2)  # normal(100, 15)
    assert pc.mean(table["value2"]).as_py() == pytest.approx(50, rel=0.1)  # exponential(50)
    assert set(table["category"].to_pylist()) == {"A", "B", "C", "D", "E"}
    # Different seeds, different rows.
    assert pq.read_table(files[0])["value1"] != pq.read_table(files[1])["value1"]


def test_glob_is_one_view_over_flight_and_http(start_server, sample_files):
    files, table = sample_files
    server = start_server("--parquet", str(files[0].parent / "*.parquet"))
    assert_seed_queries(lambda sql: flight_sql(server, sql), "dataset", table)
    assert_seed_queries(lambda sql: http_sql(server, sql), "dataset", table)
    listed = [info.descriptor.path[0].decode() for info in server.client().list_flights()]
    assert "dataset" in listed


def test_named_view_over_explicit_files_and_query_outputs(start_server, sample_files, tmp_path):
    files, table = sample_files
    server = start_server("--parquet", str(files[0]), "--parquet", str(files[1]),
                          "--view", "sales")
    assert_seed_queries(lambda sql: flight_sql(server, sql), "sales", table)
    assert_seed_queries(lambda sql: http_sql(server, sql), "sales", table)
    with pytest.raises(pa.ArrowKeyError, match="dataset"):  # NOT_FOUND
        flight_sql(server, "SELECT * FROM dataset")

    # `arrowport query` writes the result by the -o file's extension, or as a table.
    sql = BY_CATEGORY.format(view="sales")
    want = expected_by_category(table)
    proc = run_cli("query", sql, "-o", "out.csv", "--server", server.uri, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out.csv").read_text())))
    assert [(r["category"], int(r["n"])) for r in rows] == [(w["category"], w["n"]) for w in want]
    for r, w in zip(rows, want):
        assert float(r["avg_value1"]) == pytest.approx(w["avg_value1"], rel=1e-6)

    proc = run_cli("query", FILTER.format(view="sales"), "-o", "out.parquet",
                   "--server", server.http, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert pq.read_table(tmp_path / "out.parquet").to_pylist() == expected_filter(table)

    proc = run_cli("query", sql, "--format", "table", "--server", server.uri)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().splitlines()
    assert lines[0].split("|")[0].strip() == "category" and "(5 rows)" in lines[-1]
    body = [[cell.strip() for cell in line.split("|")] for line in lines[2:-1]]
    assert [(cells[0], int(cells[1])) for cells in body] == [(w["category"], w["n"]) for w in want]


def test_views_config_takes_a_list_of_files(start_server, sample_files, tmp_path):
    files, table = sample_files
    config = tmp_path / "views.yaml"
    config.write_text(f"views: {{dataset: ['{files[0]}', '{files[1]}'], "
                      f"first: '{files[0]}'}}\n")
    server = start_server("--config", str(config))
    assert flight_sql(server, "SELECT count(*) AS n FROM dataset").to_pylist() == [
        {"n": table.num_rows}]
    assert flight_sql(server, "SELECT count(*) AS n FROM first").to_pylist() == [
        {"n": ROWS_PER_FILE}]
    # --parquet replaces the configured view of its name and keeps the others.
    server = start_server("--config", str(config), "--parquet", str(files[1]),
                          db=tmp_path / "second.duckdb")
    assert flight_sql(server, "SELECT count(*) AS n FROM dataset").to_pylist() == [
        {"n": ROWS_PER_FILE}]
    assert flight_sql(server, "SELECT count(*) AS n FROM first").to_pylist() == [
        {"n": ROWS_PER_FILE}]


def serve_fails(*args, cwd=None):
    """Runs `serve` expected to refuse its arguments; returns (exit code, stderr)."""
    proc = run_cli("serve", "--db", ":memory:", "--flight-port", "0", "--http-port", "0", *args,
                   cwd=cwd, timeout=60)
    return proc.returncode, proc.stderr.decode()


def test_bad_parquet_arguments_are_usage_errors(sample_files, tmp_path):
    files, _ = sample_files
    code, err = serve_fails("--parquet", str(tmp_path / "missing.parquet"))
    assert code == 2 and "--parquet" in err and "missing.parquet': no such file" in err
    code, err = serve_fails("--parquet", str(tmp_path / "nowhere" / "*.parquet"))
    assert code == 2 and "no such directory" in err
    code, err = serve_fails("--parquet", str(tmp_path / "data" / "*.csv"))
    assert code == 2 and "matches no file" in err
    code, err = serve_fails("--parquet", str(files[0]), "--view", "bad-name")
    assert code == 2 and "--view" in err and "bad-name" in err
    code, err = serve_fails("--parquet", str(files[0]), "--view", "")
    assert code == 2 and "--view" in err
    code, err = serve_fails("--view", "sales")
    assert code == 2 and "--parquet" in err

    config = tmp_path / "bad.yaml"
    for text, reason in ((f"views: {{dataset: []}}\n", "empty"),
                         (f"views: {{dataset: [[a]]}}\n", "a list of them"),
                         (f"views: {{dataset: '{tmp_path}/gone.parquet'}}\n", "no such file")):
        config.write_text(text)
        code, err = serve_fails("--config", str(config))
        assert code == 2 and "key 'views.dataset'" in err and reason in err, err

    proc = run_cli("generate", "--preset", "nope", "-o", "x.parquet", cwd=tmp_path)
    assert proc.returncode == 2 and b"known: sample" in proc.stderr
    assert not (tmp_path / "x.parquet").exists()


def test_one_view_cannot_mix_formats(sample_files, tmp_path):
    files, _ = sample_files
    other = tmp_path / "small.csv"
    other.write_text("id\n1\n")
    config = tmp_path / "mixed.yaml"
    config.write_text(f"views: {{dataset: ['{files[0]}', '{other}']}}\n")
    code, err = serve_fails("--config", str(config))
    assert code == 1 and "views.dataset" in err and "one format" in err, err
