"""The status page (GET /) in a real headless Chromium while data is being ingested, GET
/status as each role sees it, and what the page does with hostile text."""
import html
import re
import threading
import time

import pyarrow as pa
import pyarrow.flight as flight
import pytest
import requests

from conftest import RunningServer
from metrics_util import ARTIFACTS, chromium
from test_auth import hash_password

BATCH = pa.table({"id": pa.array(range(2000), pa.int64()),
                  "reading": pa.array([i * 0.5 for i in range(2000)])})


def ingest_for(server, stream, seconds, sent, until=None):
    """Sends a batch to `stream` every 100 ms for `seconds` (a producer at work), and on
    until the event `until` is set when given."""
    client = server.client()
    deadline = time.time() + seconds
    while time.time() < deadline or (until is not None and not until.is_set()):
        writer, _ = client.do_put(flight.FlightDescriptor.for_path(stream), BATCH.schema)
        writer.write_table(BATCH)
        writer.close()
        sent.append(BATCH.num_rows)
        time.sleep(0.1)
    client.close()


def stream_row(dom, stream):
    match = re.search(r'<tr data-stream="%s">(.*?)</tr>' % re.escape(stream), dom, re.S)
    assert match, dom[:3000]
    return match.group(1)


@pytest.mark.slow
def test_the_page_shows_live_ingest_in_a_browser(server):
    sent = []
    # The producer works until the browser has the page: on a loaded machine Chromium took
    # over ten seconds to load it, and the last ten seconds' rate was then zero.
    browsed = threading.Event()
    producer = threading.Thread(target=ingest_for, args=(server, "live", 6, sent, browsed))
    producer.start()
    try:
        time.sleep(2.5)
        # The page draws its inline data at once, then refreshes from GET /status.
        dumped = chromium("--virtual-time-budget=3000", "--dump-dom", server.http + "/")
        assert dumped.returncode == 0, dumped.stderr[-2000:]
        dom = dumped.stdout.decode()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "status-page.png"
        shot.unlink(missing_ok=True)
        taken = chromium("--window-size=1400,900", "--virtual-time-budget=3000",
                         f"--screenshot={shot}", server.http + "/")
        assert taken.returncode == 0, taken.stderr[-2000:]
    finally:
        browsed.set()
        producer.join()
    row = stream_row(dom, "live")
    rows = int(re.search(r'<td class="num rows">([\d,]+)</td>', row).group(1).replace(",", ""))
    assert 0 < rows <= sum(sent) and rows % BATCH.num_rows == 0, (rows, sum(sent))
    # The chart: one point per second since the start (at least 30), some above the
    # baseline.
    points = re.search(r'<polyline points="([^"]+)"', row).group(1).split()
    heights = [float(p.split(",")[1]) for p in points]
    assert 30 <= len(heights) <= 300 and min(heights) < max(heights), heights[-20:]
    rate = int(re.search(r'<td class="num rate">([\d,]+)</td>', row).group(1).replace(",", ""))
    assert rate > 0
    assert 'id="version">' in dom and "grpc://" in dom
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 10_000
    # Once the producer stopped, the summary counts every row it sent.
    status = requests.get(f"{server.http}/status").json()
    live = [s for s in status["streams"] if s["stream"] == "live"][0]
    assert live["rows"] == sum(sent)
    assert sum(live["rows_per_second"]) == sum(sent)


def test_the_page_is_self_contained_and_escapes_what_clients_send(server):
    hostile = "<script>document.title='pwned'</script>"
    requests.get(f"{server.http}/tables/{requests.utils.quote(hostile)}")
    page = requests.get(f"{server.http}/")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    body = page.text
    # Nothing loaded from elsewhere: no external script, style, image or font.
    assert not re.search(r'(src|href)="(https?:)?//', body)
    assert "@import" not in body and "url(" not in body
    assert hostile not in body  # the inline data writes '<' as \u003c
    dumped = chromium("--virtual-time-budget=2000", "--dump-dom", server.http + "/")
    dom = dumped.stdout.decode()
    assert "<title>Arrowport status</title>" in dom  # the injected script did not run
    assert html.escape(hostile, quote=False) in dom  # shown as text in the errors table


@pytest.fixture(scope="module")
def hashes():
    return {"admin": hash_password("a-secret"), "narrow": hash_password("n-secret")}


@pytest.mark.slow
def test_each_role_sees_its_own_part_and_the_browser_is_asked_to_sign_in(tmp_path, hashes):
    config = tmp_path / "status.yaml"
    config.write_text(
        "auth:\n  users:\n"
        f'    - {{name: admin, password_hash: "{hashes["admin"]}", role: admin}}\n'
        f'    - {{name: narrow, password_hash: "{hashes["narrow"]}", role: reader, '
        "tables: [people]}\n")
    server = RunningServer(["--config", str(config), "--db", str(tmp_path / "s.duckdb"),
                            "--flight-port", "0", "--http-port", "0"], cwd=tmp_path)
    try:
        admin, narrow = ("admin", "a-secret"), ("narrow", "n-secret")
        for path in ("/", "/status"):
            refused = requests.get(server.http + path)
            assert refused.status_code == 401
            assert refused.headers["WWW-Authenticate"].startswith("Basic")
        # A browser without credentials gets the refusal, not the page.
        dumped = chromium("--dump-dom", server.http + "/")
        assert b"unauthenticated" in dumped.stdout and b'id="streams"' not in dumped.stdout
        for table in ("people", "secrets"):
            body = pa.table({"id": pa.array(range(2_000_000), pa.int64())})
            client = flight.connect(server.uri)
            token = client.authenticate_basic_token(b"admin", b"a-secret")
            writer, _ = client.do_put(flight.FlightDescriptor.for_path(table), body.schema,
                                      options=flight.FlightCallOptions(headers=[token]))
            writer.write_table(body)
            writer.close()
            client.close()
        requests.get(f"{server.http}/tables/absent", auth=admin)
        # Large enough (192 MB) that a read held below cannot end into the socket and gRPC
        # buffers (16 MB could, and the call then left the active calls: a flaky test).
        grown = requests.post(f"{server.http}/query", auth=admin, json={
            "sql": "INSERT INTO secrets SELECT range FROM range(2000000, 24000000)"})
        assert grown.status_code == 200, grown.text

        page = requests.get(f"{server.http}/", auth=admin)
        assert page.status_code == 200 and 'id="initial"' in page.text
        full = requests.get(f"{server.http}/status", auth=admin).json()
        assert {t["name"] for t in full["tables"]} == {"people", "secrets"}
        assert {s["stream"] for s in full["streams"]} >= {"people", "secrets"}
        assert any(e["code"] == "404" and "absent" in e["message"]
                   for e in full["recent_errors"])
        assert full["auth"] is True

        # An admin's result being read (slowly): a call of someone else's while narrow looks.
        client = flight.connect(server.uri)
        token = client.authenticate_basic_token(b"admin", b"a-secret")
        held = client.do_get(flight.Ticket('{"table": "secrets"}'),
                             options=flight.FlightCallOptions(headers=[token]))
        assert held.read_chunk().data.num_rows > 0
        seen = requests.get(f"{server.http}/status", auth=admin).json()["active_calls"]
        assert any(c["user"] == "admin" and c["target"] == "secrets" for c in seen), seen
        mine = requests.get(f"{server.http}/status", auth=narrow).json()
        assert [t["name"] for t in mine["tables"]] == ["people"]
        assert [s["stream"] for s in mine["streams"]] == ["people"]
        assert mine["recent_errors"] is None  # messages may quote others' SQL and data
        assert mine["active_calls"] and all(c["user"] == "narrow" for c in mine["active_calls"])
        client.close()
    finally:
        server.stop()


def test_server_internals_are_for_those_who_may_see_the_whole_server(tmp_path):
    """/status, the page, and the `status` and `health` Flight actions: a user limited to
    some tables sees no server-wide figures (listeners, database, process: as /metrics
    refuses them), and the database file's path, which names the server's own state on
    disk, is shown to admins only. Before, every signed-in user saw the path and the rest
    (the hostile run found it as a table-limited user), and list_streams and GET /streams
    listed every stream to a user limited to some tables."""
    import json
    db = tmp_path / "hidden-place.duckdb"
    config = tmp_path / "status.yaml"
    config.write_text(
        "auth:\n  users:\n"
        f'    - {{name: admin, password_hash: "{hash_password("a-secret")}", role: admin}}\n'
        f'    - {{name: wide, password_hash: "{hash_password("w-secret")}", role: reader}}\n'
        f'    - {{name: narrow, password_hash: "{hash_password("n-secret")}", role: reader, '
        "tables: [people]}\n")
    server = RunningServer(["--config", str(config), "--db", str(db),
                            "--flight-port", "0", "--http-port", "0"], cwd=tmp_path)
    try:
        passwords = {"admin": "a-secret", "wide": "w-secret", "narrow": "n-secret"}
        client = flight.connect(server.uri)
        token = client.authenticate_basic_token(b"admin", b"a-secret")
        for table in ("people", "secrets"):
            writer, _ = client.do_put(flight.FlightDescriptor.for_path(table), BATCH.schema,
                                      options=flight.FlightCallOptions(headers=[token]))
            writer.write_table(BATCH)
            writer.close()
        seen = {}
        for user, password in passwords.items():
            token = client.authenticate_basic_token(user.encode(), password.encode())
            options = flight.FlightCallOptions(headers=[token])
            texts = {
                "/status": requests.get(f"{server.http}/status", auth=(user, password)).text,
                "/": requests.get(f"{server.http}/", auth=(user, password)).text,
            }
            texts["/streams"] = requests.get(f"{server.http}/streams", auth=(user, password)).text
            for action in ("status", "health", "list_streams"):
                [result] = client.do_action(flight.Action(action, b""), options=options)
                texts[action] = result.body.to_pybytes().decode()
            seen[user] = texts
        for user, texts in seen.items():
            for where in ("/status", "/", "status", "health"):
                text = texts[where]
                assert (str(db) in text) == (user == "admin"), (user, where, text[:400])
        narrow = json.loads(seen["narrow"]["/status"])
        assert narrow["database"] is None and narrow["process"] is None
        assert narrow["listeners"] is None
        assert set(json.loads(seen["narrow"]["health"])) == {"status", "version"}
        # Other users' streams too: list_streams and GET /streams listed every stream.
        for where in ("/streams", "list_streams", "/status"):
            names = [st["stream"] for st in json.loads(seen["narrow"][where])["streams"]]
            assert names == ["people"], (where, names)
            names = {st["stream"] for st in json.loads(seen["wide"][where])["streams"]}
            assert names == {"people", "secrets"}, (where, names)
        wide = json.loads(seen["wide"]["/status"])
        assert "path" not in wide["database"] and wide["database"]["size_bytes"] >= 0
        assert wide["listeners"]["flight"] and wide["process"]["rss_bytes"] > 0
        assert json.loads(seen["admin"]["/status"])["database"]["path"] == str(db)
        assert json.loads(seen["admin"]["health"])["database"] == str(db)
        client.close()
    finally:
        server.stop()
