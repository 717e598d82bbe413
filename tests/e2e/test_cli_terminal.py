"""The CLI on a terminal (a real pseudo-terminal) and off one: progress lines for long
work, tables fitted to the terminal's width, `arrowport status`."""
import fcntl
import json
import os
import re
import select
import struct
import subprocess
import termios

import pyarrow as pa
import pyarrow.flight as flight
import pytest
import requests

from conftest import ARROWPORT, run_cli

# The CLI on a pseudo-terminal; test_cli already runs its code under ASan.
pytestmark = pytest.mark.release_only("the terminal's drawing, checked on the release build")

ESC = b"\x1b["


def quiet_env():
    env = dict(os.environ)
    env.pop("COLUMNS", None)  # the terminal's own size decides
    return env


def run_in_terminal(*args, columns=100, cwd=None, timeout=180):
    """Runs bin/arrowport ARGS with stdin, stdout and stderr on a pseudo-terminal of
    `columns` columns; returns (exit code, everything it wrote)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    proc = subprocess.Popen([ARROWPORT, *args], stdin=slave, stdout=slave, stderr=slave,
                            cwd=cwd, env=quiet_env(), close_fds=True)
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], timeout)
        assert ready, f"no output for {timeout} s: {out[-2000:]!r}"
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every copy of the terminal's other side is closed
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return proc.wait(timeout=timeout), out


def run_piped(*args, cwd=None):
    return subprocess.run([ARROWPORT, *args], capture_output=True, cwd=cwd, env=quiet_env(),
                          timeout=300)


def without_progress(output):
    """`output` without the progress line's draws ("\\r...ESC[K") and erasures."""
    return re.sub(rb"\r[^\r\n]*?\x1b\[K", b"", output)


def progress_counts(output, what):
    """The row counts of the progress lines for `what`, in the order drawn."""
    return [int(n.replace(b",", b"")) for n in
            re.findall(re.escape(what) + rb"[^:\r\n]*: ([\d,]+) rows", output)]


@pytest.mark.slow
def test_long_commands_show_progress_on_a_terminal_only(server, tmp_path):
    code, out = run_in_terminal("generate", "--rows", "3000000", "-o", "big.parquet",
                                cwd=tmp_path)
    assert code == 0, out[-2000:]
    counts = progress_counts(out, b"generating big.parquet")
    assert counts and max(counts) > 0, out[-2000:]
    assert counts == sorted(counts)  # redrawn in place as the count grows
    assert b"\r" in out and b"rows/s" in out and b"3000000 rows -> big.parquet" in out
    piped = run_piped("generate", "--rows", "200000", "-o", "small.parquet", cwd=tmp_path)
    assert piped.returncode == 0
    # Off a terminal nothing but the summary: no carriage returns, no escapes.
    assert piped.stderr == b"200000 rows -> small.parquet\n"

    code, out = run_in_terminal("ingest", "big.parquet", "--stream", "big", "--server",
                                server.uri, cwd=tmp_path)
    assert code == 0, out[-2000:]
    assert progress_counts(out, b"ingesting big.parquet"), out[-2000:]
    assert b"big.parquet: 3000000 rows -> big" in out
    piped = run_piped("ingest", "small.parquet", "--stream", "small", "--server", server.uri,
                      cwd=tmp_path)
    assert piped.returncode == 0 and b"\r" not in piped.stderr and ESC not in piped.stderr
    assert json.loads(piped.stdout)["rows"] == 200000

    code, out = run_in_terminal("query", "SELECT * FROM big", "-o", "copy.arrow",
                                "--server", server.http, cwd=tmp_path)
    assert code == 0, out[-2000:]
    assert progress_counts(out, b"query -> copy.arrow"), out[-2000:]
    assert b"3000000 rows -> copy.arrow" in out
    piped = run_piped("query", "SELECT * FROM small", "-o", "copy2.arrow", "--server",
                      server.uri, cwd=tmp_path)
    assert piped.stderr == b"200000 rows -> copy2.arrow\n"


def wide_table(server):
    client = server.client()
    table = pa.table({"id": pa.array(range(100), pa.int64()),
                      "note": pa.array(["x" * 80 + str(i) for i in range(100)]),
                      "city": pa.array(["Zürich"] * 100)})
    writer, _ = client.do_put(flight.FlightDescriptor.for_path("wide"), table.schema)
    writer.write_table(table)
    writer.close()
    client.close()


def test_tables_fit_the_terminal(server):
    wide_table(server)
    code, out = run_in_terminal("query", "SELECT * FROM wide ORDER BY id", "--server",
                                server.uri, columns=60)
    assert code == 0, out
    # (A progress line, on stderr, is drawn below the rows while they come and erased.)
    lines = without_progress(out).decode().replace("\r\n", "\n").splitlines()
    assert all(len(line) <= 60 for line in lines), [l for l in lines if len(l) > 60]
    assert lines[0].split("|")[0].strip() == "id"
    assert "…" in out.decode()
    # On a terminal: the first and last 20 rows of 100.
    assert lines[-1] == "(100 rows, 40 shown)"
    assert lines[2].split("|")[0].strip() == "0" and lines[-2].split("|")[0].strip() == "99"
    # In a pipe every row, whole.
    piped = run_piped("query", "SELECT * FROM wide ORDER BY id", "--server", server.uri)
    assert piped.stdout.decode().splitlines()[-1] == "(100 rows)"
    assert "x" * 80 + "99" in piped.stdout.decode()

    code, out = run_in_terminal("tables", "--server", server.uri, columns=80)
    text = out.decode()
    assert code == 0 and re.search(r"name\s*\|\s*rows\s*\|\s*columns", text), text
    assert re.search(r"wide\s*\|\s*100\s*\|\s*id: int64, note: string", text), text
    piped = run_piped("tables", "--server", server.uri)
    assert piped.stdout == b"wide\t100 rows\n"
    listed = json.loads(run_piped("tables", "--server", server.uri, "--format", "json").stdout)
    assert listed["tables"][0]["name"] == "wide" and listed["tables"][0]["rows"] == 100

    code, out = run_in_terminal("streams", "--server", server.uri, columns=120)
    assert code == 0 and re.search(rb"stream\s*\|\s*table\s*\|\s*commit", out), out
    assert re.search(rb"wide\s*\|\s*wide\s*\|\s*per_request", out), out
    piped = run_piped("streams", "--server", server.uri)
    assert json.loads(piped.stdout)["streams"][0]["stream"] == "wide"


def test_status_prints_what_the_page_shows(server):
    wide_table(server)
    requests_404 = run_piped("query", "SELECT * FROM nowhere", "--server", server.http)
    assert requests_404.returncode == 1
    for url in (server.uri, server.http):
        piped = run_piped("status", "--server", url)
        assert piped.returncode == 0, piped.stderr
        text = piped.stdout.decode()
        assert text.startswith("Arrowport ") and f"Flight   {server.uri}" in text, text
        assert re.search(r"wide\s*\|\s*wide\s*\|\s*per_request\s*\|\s*100\s*\|", text), text
        assert re.search(r"Tables\n.*\n.*\nwide\s*\|\s*table\s*\|\s*100", text), text
        assert "Recent errors" in text and "nowhere" in text
    doc = json.loads(run_piped("status", "--server", server.http, "--format", "json").stdout)
    assert doc["listeners"]["flight"] == server.uri
    assert [s["stream"] for s in doc["streams"]] == ["wide"]
    assert run_piped("status", "--server", "grpc://127.0.0.1:1", "--connect-wait",
                     "0").returncode == 1
    assert run_piped("status", "--format", "xml").returncode == 2


# ESC starting a colour (CSI), an OSC title change ended by BEL, and U+009B (a one-character
# CSI): what a value, a name or an error message could use to drive the terminal.
EVIL = "red\x1b[31m title\x1b]0;owned\x07 csi\u009b2J"


def test_results_and_errors_on_a_terminal_cannot_drive_it(server):
    """CSV and JSON results and every error message reach a terminal with their control
    characters as spaces (as the table mode always did), from `arrowport query` and the SQL
    shell alike; written to a pipe, a result's bytes stay exact (issue 64)."""
    client = server.client()
    table = pa.table({"id": [1], "note": [EVIL]})
    writer, _ = client.do_put(flight.FlightDescriptor.for_path("evil"), table.schema)
    writer.write_table(table)
    writer.close()
    client.close()
    shown_as = b"red [31m title ]0;owned  csi 2J"
    # (JSON writes C0 controls as \u escapes itself, but not U+009B.)
    json_shown_as = b'red\\u001b[31m title\\u001b]0;owned\\u0007 csi 2J'
    for args, expected in ((["query", "SELECT * FROM evil", "--format", "csv"], shown_as),
                           (["query", "SELECT note FROM evil", "--format", "json"],
                            json_shown_as),
                           (["sql", "--mode", "json", "-c", "SELECT note FROM evil"],
                            json_shown_as),
                           (["sql", "--mode", "csv", "-c", "SELECT note FROM evil"], shown_as),
                           (["sql", "-c", ".mode csv", "-c", "SELECT note FROM evil"], shown_as)):
        code, out = run_in_terminal(*args, "--server", server.uri)
        shown = without_progress(out)
        assert code == 0, (args, out)
        assert b"\x1b" not in shown and b"\x07" not in shown and b"\xc2\x9b" not in shown, \
            (args, shown)
        assert expected in shown, (args, shown)
    for args in (["query", f"SELECT * FROM \"no{EVIL}\""],
                 ["query", f"SELECT CAST('{EVIL}' AS INTEGER)"],
                 ["sql", "-c", f"SELECT CAST('{EVIL}' AS INTEGER)"]):
        code, out = run_in_terminal(*args, "--server", server.uri)
        shown = without_progress(out)
        assert code == 1 and b"arrowport: error: " in shown, (args, out)
        assert b"\x1b" not in shown and b"\x07" not in shown and b"\xc2\x9b" not in shown, \
            (args, shown)
        assert shown_as in shown, (args, shown)
    # In a pipe (or a file) the data is the data.
    for args in (["query", "SELECT note FROM evil", "--format", "csv"],
                 ["sql", "--mode", "csv", "-c", "SELECT note FROM evil"]):
        piped = run_piped(*args, "--server", server.uri)
        assert piped.returncode == 0, piped.stderr
        assert piped.stdout == b'"note"\n"' + EVIL.encode() + b'"\n', piped.stdout


def test_an_output_path_that_is_the_terminal_is_cleaned_too(server, tmp_path):
    """`arrowport query -o /dev/stdout` (or the shell's `.output /dev/stdout`) on a
    terminal passed ESC through: only `-o -` was cleaned (the attack on issue 64's fixes).
    Whatever path opens the terminal is cleaned; a file still gets the exact bytes."""
    client = server.client()
    table = pa.table({"note": [EVIL]})
    writer, _ = client.do_put(flight.FlightDescriptor.for_path("evil_path"), table.schema)
    writer.write_table(table)
    writer.close()
    client.close()
    for args in (["query", "SELECT note FROM evil_path", "--format", "csv", "-o",
                  "/dev/stdout"],
                 ["sql", "--mode", "csv", "-c", ".output /dev/stdout",
                  "-c", "SELECT note FROM evil_path"]):
        code, out = run_in_terminal(*args, "--server", server.uri, cwd=tmp_path)
        shown = without_progress(out)
        assert code == 0, (args, out)
        assert b"\x1b" not in shown and b"\x07" not in shown and b"\xc2\x9b" not in shown, \
            (args, shown)
        assert b"red [31m title ]0;owned  csi 2J" in shown, (args, shown)
    code, out = run_in_terminal("query", "SELECT note FROM evil_path", "--format", "csv",
                                "-o", str(tmp_path / "notes.csv"), "--server", server.uri)
    assert code == 0, out
    assert (tmp_path / "notes.csv").read_bytes() == b'"note"\n"' + EVIL.encode() + b'"\n'


# Seconds of DuckDB work before its only row, whatever the machine's cores: one DuckDB
# thread hashing each of 15M values twice (about 6 s here).
SLOW_SQL = "SELECT max(md5(md5(i::VARCHAR))) AS m FROM slow"


def test_a_slow_query_shows_duckdbs_progress_before_its_first_rows(start_server):
    """`arrowport query` and the shell on a terminal, while a query has produced no row:
    the line says how far DuckDB says the query has come (the query_progress action),
    not "0 rows" for its whole run (issue 64: a 10M-row ORDER BY showed "0 rows" for
    17 s)."""
    env = {**os.environ, "ARROWPORT_DUCKDB_THREADS": "1"}
    server = start_server(env=env)
    answer = requests.post(f"{server.http}/query", timeout=300,
                           json={"sql": "CREATE TABLE slow AS SELECT i FROM range(15000000) t(i)"})
    assert answer.status_code == 200, answer.text
    for what, args in ((b"query", ("query", SLOW_SQL, "--server", server.uri)),
                       (b"running", ("sql", "--server", server.uri, "-c", SLOW_SQL))):
        code, out = run_in_terminal(*args)
        assert code == 0, out[-2000:]
        first_row = out.index(b"(1 row)")
        percents = [float(p) for p in re.findall(
            re.escape(what) + rb": (\d+)% of the query done", out[:first_row])]
        assert percents, out[:first_row][-2000:]
        assert all(0 <= p <= 100 for p in percents) and percents == sorted(percents), percents
