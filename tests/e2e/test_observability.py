"""Prometheus metrics (design section 8) against the real server: what each protocol's
calls add, checked by value; promtool's verdict on the exposition; a real Prometheus server
scraping with basic_auth and answering PromQL; the metrics listener; bounded labels;
counters across a config reload; nothing secret in the output."""
import json
import socket
import subprocess
import sys
import time

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.ipc as ipc
import pytest
import requests

from conftest import SANITIZED, RunningServer, run_cli
from metrics_util import parse, scrape, series, start_tool, tool, total
from test_auth import hash_password
from test_flight_sql_ingest_targets import begin, end, raw_ingest

ROWS = pa.table({"id": pa.array(range(1000), pa.int64()),
                 "name": pa.array(["sensor-%d" % (i % 7) for i in range(1000)])})


def put(client, stream, table, options=None):
    writer, _ = client.do_put(flight.FlightDescriptor.for_path(stream), table.schema,
                              options=options)
    writer.write_table(table)
    writer.close()


def ipc_body(table):
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def start_prometheus(tmp_path):
    """A real Prometheus on a free port (another test may take the port between the probe
    and Prometheus's bind: then it tries another)."""
    for _ in range(5):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = start_tool("prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
                          f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                          f"--web.listen-address=127.0.0.1:{port}", cwd=tmp_path)
        deadline = time.time() + 30
        while time.time() < deadline and proc.poll() is None:
            try:
                if requests.get(f"http://127.0.0.1:{port}/-/ready", timeout=2).ok:
                    return proc, port
            except requests.RequestException:
                pass
            time.sleep(0.2)
        proc.kill()
        proc.wait()
    raise AssertionError("Prometheus did not start")


def test_each_protocol_is_counted_by_stream_and_outcome(server):
    client = server.client()
    put(client, "obs", ROWS)
    # IPC body compression: the wire carries fewer bytes than the decoded batches.
    zstd = flight.FlightCallOptions(
        write_options=ipc.IpcWriteOptions(compression="zstd"))
    put(client, "obs", ROWS, options=zstd)
    response = requests.post(f"{server.http}/ingest/obs", data=ipc_body(ROWS.slice(0, 500)),
                             headers={"Content-Type": "application/vnd.apache.arrow.stream"})
    assert response.status_code == 200, response.text
    with flight_sql.connect(server.uri) as conn, conn.cursor() as cursor:
        cursor.adbc_ingest("obs_sql", ROWS.slice(0, 300), mode="create")
        conn.commit()
    # A batch that does not fit the table (strict): a schema mismatch of stream obs.
    bad = pa.table({"id": pa.array(["x"]), "name": pa.array([1])})
    response = requests.post(f"{server.http}/ingest/obs", data=ipc_body(bad),
                             headers={"Content-Type": "application/vnd.apache.arrow.stream"})
    assert response.status_code == 422, response.text

    assert client.do_get(flight.Ticket('{"table": "obs"}')).read_all().num_rows == 2500
    assert requests.get(f"{server.http}/tables/obs").status_code == 200
    with pytest.raises(KeyError):  # pyarrow raises NOT_FOUND as ArrowKeyError
        client.do_get(flight.Ticket('{"table": "nope"}')).read_all()
    assert requests.get(f"{server.http}/tables/nope").status_code == 404
    list(client.do_action(flight.Action("checkpoint", b"")))

    m = scrape(f"{server.http}/metrics")
    assert total(m, "arrowport_rows_ingested_total", stream="obs", protocol="flight") == 2000
    assert total(m, "arrowport_rows_ingested_total", stream="obs", protocol="http") == 500
    assert total(m, "arrowport_rows_ingested_total", stream="obs_sql",
                 protocol="flight_sql") == 300
    assert total(m, "arrowport_batches_ingested_total", stream="obs", protocol="flight") >= 2
    assert total(m, "arrowport_ingest_requests_total", stream="obs", outcome="ok") == 3
    assert total(m, "arrowport_ingest_requests_total", stream="obs", protocol="http",
                 outcome="error") == 1
    assert total(m, "arrowport_schema_mismatches_total", stream="obs") == 1
    assert total(m, "arrowport_rows_received_total", stream="obs", protocol="flight") == 2000
    assert total(m, "arrowport_bytes_received_total", protocol="flight") > 0
    assert total(m, "arrowport_wire_bytes_received_total", protocol="http") > 0
    # Two Flight requests (one compressed) and one HTTP request: fewer bytes on the wire.
    assert total(m, "arrowport_compression_ratio", stream="obs") > 1.0
    assert total(m, "arrowport_ingest_latency_seconds_count", protocol="flight") == 2
    assert total(m, "arrowport_ingest_latency_seconds_bucket", protocol="flight",
                 le="+Inf") == 2

    assert total(m, "arrowport_rows_served_total", protocol="flight") == 2500
    assert total(m, "arrowport_rows_served_total", protocol="http") == 2500
    assert total(m, "arrowport_queries_total", protocol="flight", outcome="ok") == 1
    assert total(m, "arrowport_queries_total", protocol="flight", outcome="error") == 1
    assert total(m, "arrowport_requests_total", protocol="flight", method="do_put") == 2
    assert total(m, "arrowport_requests_total", protocol="http", method="POST /ingest/{}") == 2
    assert total(m, "arrowport_requests_total", protocol="http", method="GET /tables/{}") == 2
    assert total(m, "arrowport_errors_total", protocol="flight", code="NOT_FOUND") == 1
    assert total(m, "arrowport_errors_total", protocol="http", code="404") == 1
    assert total(m, "arrowport_errors_total", protocol="http", code="422") == 1
    assert total(m, "arrowport_requests_total", protocol="flight_sql") >= 2
    # Histogram buckets are cumulative and end with the count.
    buckets = sorted((float(dict(k[1])["le"].replace("+Inf", "inf")), v) for k, v in m.items()
                     if k[0] == "arrowport_request_duration_seconds_bucket"
                     and dict(k[1])["protocol"] == "flight")
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)
    assert buckets[-1][1] == total(m, "arrowport_request_duration_seconds_count",
                                   protocol="flight")
    assert {0.00025, 0.001, 60.0} <= {le for le, _ in buckets}

    # This very scrape is an HTTP call in flight; the Flight client holds a connection.
    assert total(m, "arrowport_active_requests", protocol="http") == 1
    assert total(m, "arrowport_active_requests", protocol="flight") == 0
    assert total(m, "arrowport_active_connections", protocol="flight") >= 1
    # DuckDB's own figures, the process, the build.
    assert total(m, "arrowport_duckdb_database_size_bytes") > 0
    assert total(m, "arrowport_duckdb_memory_bytes", tag="BASE_TABLE") > 0
    assert total(m, "arrowport_duckdb_wal_size_bytes") >= 0
    assert total(m, "process_resident_memory_bytes") > 10 << 20
    assert total(m, "process_open_fds") > 0 and total(m, "process_threads") > 1
    assert total(m, "arrowport_uptime_seconds") > 0
    build = series(m, "arrowport_build_info")
    assert len(build) == 1 and build[0]["version"] and build[0]["duckdb_version"].startswith("v")
    client.close()


def test_promtool_accepts_the_exposition(server):
    client = server.client()
    put(client, "checked", ROWS)
    client.do_get(flight.Ticket('{"table": "checked"}')).read_all()
    requests.get(f"{server.http}/tables/missing")
    body = requests.get(f"{server.http}/metrics").content
    checked = tool("promtool", "check", "metrics", input=body)
    # promtool lints names, units, types and help text; it prints nothing when all is well.
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == b"" and checked.stderr.strip() == b""



def test_the_memory_guard_says_whether_it_replaces_operator_new(server):
    # The memory guard's global operator new (storage/memory/allocation_guard_new.cc) is
    # linked into the server deliberately; a sanitizer build keeps the sanitizer's own.
    # Which one runs is logged once at start and exported, so a build that lost the
    # override (it used to ride along in a static library) says so.
    body = requests.get(f"{server.http}/metrics").text
    assert "# HELP arrowport_memory_guard_new_override " in body
    assert "# TYPE arrowport_memory_guard_new_override gauge" in body
    assert total(parse(body), "arrowport_memory_guard_new_override") == (0 if SANITIZED else 1)
    assert server.logged("memory guard"), server.stderr()[-3000:]
    line = next(l for l in server.stderr().splitlines() if "memory guard" in l)
    state = "inactive" if SANITIZED else "active"
    assert f"operator_new_override={state}" in line, line
    assert sum("memory guard" in l for l in server.stderr().splitlines()) == 1

@pytest.fixture(scope="module")
def admin_hash():
    return hash_password("a-secret")


def auth_config(tmp_path, admin_hash, extra=""):
    config = tmp_path / "auth.yaml"
    config.write_text(f'auth:\n  users:\n    - {{name: admin, password_hash: "{admin_hash}", '
                      f'role: admin}}\n{extra}')
    return config


@pytest.mark.slow
def test_a_real_prometheus_scrapes_with_basic_auth(tmp_path, admin_hash):
    config = auth_config(tmp_path, admin_hash)
    server = RunningServer(["--config", str(config), "--db", str(tmp_path / "p.duckdb"),
                            "--flight-port", "0", "--http-port", "0"], cwd=tmp_path)
    prometheus = None
    try:
        # Like every route, /metrics needs credentials.
        refused = requests.get(f"{server.http}/metrics")
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"].startswith("Basic")
        client = flight.connect(server.uri)
        token = client.authenticate_basic_token(b"admin", b"a-secret")
        options = flight.FlightCallOptions(headers=[token])
        writer, _ = client.do_put(flight.FlightDescriptor.for_path("scraped"), ROWS.schema,
                                  options=options)
        writer.write_table(ROWS.slice(0, 777))
        writer.close()

        host_port = server.http.split("//", 1)[1]
        (tmp_path / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: arrowport\n"
            "    basic_auth: {username: admin, password: a-secret}\n"
            f"    static_configs: [{{targets: ['{host_port}']}}]\n")
        prometheus, port = start_prometheus(tmp_path)
        query = 'sum(arrowport_rows_ingested_total{stream="scraped"})'
        deadline = time.time() + 60
        answer = None
        while time.time() < deadline:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/api/v1/query",
                                      params={"query": query}, timeout=5).json()
                if answer["data"]["result"]:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        assert answer and answer["status"] == "success", answer
        assert float(answer["data"]["result"][0]["value"][1]) == 777
        # The target is up: Prometheus's own view of the scrape.
        up = requests.get(f"http://127.0.0.1:{port}/api/v1/query",
                          params={"query": 'up{job="arrowport"}'}, timeout=5).json()
        assert up["data"]["result"][0]["value"][1] == "1"
    finally:
        if prometheus is not None:
            prometheus.terminate()
            prometheus.wait(timeout=30)
        server.stop()


def test_the_metrics_listener_serves_metrics_only_and_asks_for_credentials(tmp_path,
                                                                            admin_hash):
    config = auth_config(tmp_path, admin_hash)
    server = RunningServer(["--config", str(config), "--db", str(tmp_path / "m.duckdb"),
                            "--flight-port", "0", "--http-port", "0", "--metrics-port", "0"],
                           cwd=tmp_path)
    try:
        assert server.metrics and server.metrics.startswith("http://127.0.0.1:")
        assert requests.get(f"{server.metrics}/metrics").status_code == 401
        token = requests.post(f"{server.http}/auth/token", auth=("admin", "a-secret")).json()
        bearer = {"Authorization": f"Bearer {token['token']}"}
        m = scrape(f"{server.metrics}/metrics", headers=bearer)
        assert total(m, "arrowport_uptime_seconds") > 0
        assert scrape(f"{server.metrics}/metrics", auth=("admin", "a-secret"))
        for path in ("/", "/status", "/tables", "/healthz"):
            assert requests.get(f"{server.metrics}{path}", headers=bearer).status_code == 404
        # Still on the HTTP port too.
        assert scrape(f"{server.http}/metrics", headers=bearer)
        status = requests.get(f"{server.http}/status", headers=bearer).json()
        assert status["listeners"]["metrics"] == f"{server.metrics}/metrics"
    finally:
        server.stop()


def test_a_metrics_listener_off_loopback_needs_authentication(tmp_path):
    config = tmp_path / "open.yaml"
    config.write_text("metrics: {host: 0.0.0.0, port: 0}\n")
    proc = run_cli("serve", "--config", str(config), "--db", ":memory:", cwd=tmp_path,
                   timeout=60)
    assert proc.returncode == 2
    assert b"metrics.host" in proc.stderr and b"without authentication" in proc.stderr
    config.write_text("metrics: {enabled: false, port: 9999}\n")
    proc = run_cli("serve", "--config", str(config), "--db", ":memory:", cwd=tmp_path,
                   timeout=60)
    assert proc.returncode == 2 and b"metrics.port" in proc.stderr


def test_stream_labels_are_bounded(start_server, tmp_path):
    config = tmp_path / "labels.yaml"
    config.write_text("metrics: {max_stream_labels: 2}\nstreams: {configured: {}}\n")
    server = start_server("--config", str(config))
    client = server.client()
    table = ROWS.slice(0, 10)
    # A name that never succeeds takes no label: its table's column is another type.
    created = requests.post(f"{server.http}/query", data="CREATE TABLE broken (id BIGINT)",
                            headers={"Content-Type": "text/plain"})
    assert created.status_code == 200, created.text
    with pytest.raises(pa.ArrowInvalid, match="schema_policy=strict"):
        put(client, "broken", pa.table({"id": pa.array(["not a number"])}))
    for stream in ("s1", "s2", "s3", "s4", "configured"):
        put(client, stream, table)
    m = scrape(f"{server.http}/metrics")
    labels = {s["stream"] for s in series(m, "arrowport_rows_ingested_total")}
    assert labels == {"s1", "s2", "configured", "other"}, labels
    assert total(m, "arrowport_rows_ingested_total", stream="other") == 20
    assert "broken" not in requests.get(f"{server.http}/metrics").text
    client.close()


def test_counters_survive_a_config_reload(start_server, tmp_path):
    config = tmp_path / "reload.yaml"
    config.write_text("streams: {first: {}}\n")
    server = start_server("--config", str(config))
    client = server.client()
    put(client, "first", ROWS.slice(0, 10))
    config.write_text("streams: {first: {}, second: {target_table: second_table}}\n")
    list(client.do_action(flight.Action("reload_config", b"")))
    put(client, "second", ROWS.slice(0, 20))
    config.write_text("streams: [not, a, mapping]\n")
    with pytest.raises(pa.ArrowInvalid, match="expected a mapping"):
        list(client.do_action(flight.Action("reload_config", b"")))
    m = scrape(f"{server.http}/metrics")
    assert total(m, "arrowport_rows_ingested_total", stream="first") == 10
    assert total(m, "arrowport_rows_ingested_total", stream="second") == 20
    assert total(m, "arrowport_config_reloads_total", outcome="ok") >= 1
    assert total(m, "arrowport_config_reloads_total", outcome="rejected") >= 1
    client.close()


def test_no_secret_or_sql_text_reaches_the_metrics(tmp_path, admin_hash):
    config = auth_config(tmp_path, admin_hash)
    server = RunningServer(["--config", str(config), "--db", str(tmp_path / "s.duckdb"),
                            "--flight-port", "0", "--http-port", "0"], cwd=tmp_path)
    try:
        auth = ("admin", "a-secret")
        sql = "SELECT 'MARKER_IN_SQL_TEXT' AS x"
        assert requests.post(f"{server.http}/query", data=sql, auth=auth,
                             headers={"Content-Type": "text/plain"}).status_code == 200
        assert requests.post(f"{server.http}/query", data="SELEC MARKER_IN_BAD_SQL", auth=auth,
                             headers={"Content-Type": "text/plain"}).status_code == 400
        assert requests.get(f"{server.http}/metrics",
                            auth=("admin", "wrong-password")).status_code == 401
        token = requests.post(f"{server.http}/auth/token", auth=auth).json()["token"]
        text = requests.get(f"{server.http}/metrics", auth=auth).text
        for secret in ("MARKER_IN_SQL_TEXT", "MARKER_IN_BAD_SQL", "a-secret", "wrong-password",
                       token, admin_hash):
            assert secret not in text
        m = parse(text)
        assert total(m, "arrowport_auth_decisions_total", protocol="http", method="basic",
                     outcome="denied") >= 1
        assert total(m, "arrowport_errors_total", protocol="http", code="401") >= 1
    finally:
        server.stop()


def test_metrics_can_be_turned_off(start_server, tmp_path):
    config = tmp_path / "off.yaml"
    config.write_text("enable_metrics: false\n")  # the seed's spelling of metrics.enabled
    server = start_server("--config", str(config))
    response = requests.get(f"{server.http}/metrics")
    assert response.status_code == 404
    assert "metrics.enabled" in response.json()["error"]["message"]
    client = server.client()
    put(client, "quiet", ROWS.slice(0, 5))
    status = requests.get(f"{server.http}/status").json()
    assert status["listeners"]["metrics"] is None
    quiet = [s for s in status["streams"] if s["stream"] == "quiet"]
    assert quiet and quiet[0]["rows"] == 5
    client.close()


def test_what_counts_as_ingested_is_what_was_committed(server):
    """per_batch counts each batch as it commits, a retry's replayed batches are not
    counted twice, and rows written in a client's transaction count when (and only if) it
    commits."""
    client = server.client()
    batch = ROWS.slice(0, 100)

    def per_batch(request_id, batches):
        cmd = json.dumps({"stream": "pb", "commit": "per_batch", "request_id": request_id})
        writer, _ = client.do_put(flight.FlightDescriptor.for_command(cmd), batch.schema)
        for _ in range(batches):
            writer.write_batch(batch.to_batches()[0])
        writer.close()

    per_batch("job-1", 3)
    per_batch("job-1", 5)  # a retry: the first 3 batches are replayed, 2 are new
    m = scrape(f"{server.http}/metrics")
    assert total(m, "arrowport_rows_ingested_total", stream="pb") == 500
    assert total(m, "arrowport_batches_ingested_total", stream="pb") == 5

    # Raw Flight SQL: ADBC's driver sends no transaction id with its bulk ingest.
    txn = begin(client)
    raw_ingest(client, "txn", batch, transaction_id=txn)
    end(client, txn, commit=False)
    txn = begin(client)
    raw_ingest(client, "txn", batch.slice(0, 40), transaction_id=txn)
    m = scrape(f"{server.http}/metrics")
    assert total(m, "arrowport_rows_ingested_total", stream="txn") == 0  # not yet
    end(client, txn, commit=True)
    m = scrape(f"{server.http}/metrics")
    assert total(m, "arrowport_rows_ingested_total", stream="txn") == 40
    assert total(m, "arrowport_rows_received_total", stream="txn") == 140
    client.close()


def test_a_result_cut_off_by_its_client_is_counted_as_cancelled(server):
    """Each client that reads the first batch and is gone counts as one CANCELLED call. It
    was counted only when gRPC had flagged the call cancelled by the time the stream was
    dropped: about one in eight went uncounted (the write fails first)."""
    client = server.client()
    put(client, "big", pa.table({"x": pa.array(range(3_000_000), pa.int64())}))
    clients = 8
    for _ in range(clients):
        # A client process that reads the first batch and is gone.
        gone = subprocess.run(
            [sys.executable, "-c",
             "import os, sys, pyarrow.flight as f\n"
             "r = f.connect(sys.argv[1]).do_get(f.Ticket('{\"table\": \"big\"}'))\n"
             "print(r.read_chunk().data.num_rows, flush=True)\n"
             "os._exit(0)\n", server.uri], capture_output=True, timeout=60)
        assert int(gone.stdout) > 0, gone.stderr
    deadline = time.time() + 30
    m = {}
    while time.time() < deadline:
        m = scrape(f"{server.http}/metrics")
        if (total(m, "arrowport_queries_total", protocol="flight", outcome="error") == clients
                and total(m, "arrowport_active_requests", protocol="flight") == 0):
            break
        time.sleep(0.2)
    codes = {dict(labels).get("code"): value for (name, labels), value in m.items()
             if name == "arrowport_errors_total"}
    recent = requests.get(f"{server.http}/status", timeout=30).json()["recent_errors"]
    assert total(m, "arrowport_errors_total", protocol="flight", code="CANCELLED") == clients, \
        (codes, recent)
    assert total(m, "arrowport_queries_total", protocol="flight", outcome="error") == clients
    assert 0 < total(m, "arrowport_rows_served_total", protocol="flight") < clients * 3_000_000
    assert total(m, "arrowport_active_requests", protocol="flight") == 0


def test_probes_and_head_requests_are_not_counted_as_queries(server):
    client = server.client()
    put(client, "probed", ROWS.slice(0, 10))
    for _ in range(3):
        assert requests.get(f"{server.http}/readyz").status_code == 200
    head = requests.head(f"{server.http}/tables/probed")
    assert head.status_code == 200 and head.headers["Content-Type"].startswith(
        "application/vnd.apache.arrow.stream")
    assert requests.head(f"{server.http}/tables/absent").status_code == 404
    m = scrape(f"{server.http}/metrics")
    assert total(m, "arrowport_queries_total") == 0
    assert total(m, "arrowport_rows_served_total") == 0
    assert total(m, "arrowport_requests_total", protocol="http", method="GET /readyz") == 3
    client.close()


def test_a_malformed_request_is_counted_and_its_connection_closed(server):
    host, port = server.http.split("//", 1)[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"FOO /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        answer = b""
        while True:  # the server closes the connection after its one answer
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400") and answer.count(b"HTTP/1.1") == 1
    m = scrape(f"{server.http}/metrics")
    assert total(m, "arrowport_errors_total", protocol="http", code="400") == 1


def test_connections_over_the_cap_are_counted(start_server, tmp_path):
    config = tmp_path / "cap.yaml"
    config.write_text("http: {max_connections: 1}\n")
    server = start_server("--config", str(config))
    host, port = server.http.split("//", 1)[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as held:
        held.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        assert held.recv(4096).startswith(b"HTTP/1.1 200")  # kept alive: the one slot
        refused = requests.get(f"{server.http}/healthz")
        assert refused.status_code == 503
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            m = scrape(f"{server.http}/metrics")
            break
        except (AssertionError, requests.RequestException):
            time.sleep(0.2)  # the held connection's slot frees after its keep-alive
    assert total(m, "arrowport_connections_refused_total", protocol="http", reason="busy") >= 1


def test_limited_users_get_no_metrics_and_their_own_status(tmp_path, admin_hash):
    narrow = hash_password("n-secret")
    config = auth_config(tmp_path, admin_hash,
                         "    - {name: narrow, password_hash: \"" + narrow +
                         "\", role: reader, tables: [t1]}\n")
    server = RunningServer(["--config", str(config), "--db", str(tmp_path / "n.duckdb"),
                            "--flight-port", "0", "--http-port", "0"], cwd=tmp_path)
    try:
        refused = requests.get(f"{server.http}/metrics", auth=("narrow", "n-secret"))
        assert refused.status_code == 403
        assert "limited to some tables" in refused.json()["error"]["message"]
        assert requests.get(f"{server.http}/metrics", auth=("admin", "a-secret")).ok
        client = flight.connect(server.uri)
        token = client.authenticate_basic_token(b"narrow", b"n-secret")
        options = flight.FlightCallOptions(headers=[token])
        status = json.loads(next(client.do_action(flight.Action("status", b""), options))
                            .body.to_pybytes())
        assert status["recent_errors"] is None and status["tables"] == []
        client.close()
    finally:
        server.stop()


def test_copy_from_streams_its_progress_when_asked(start_server, tmp_path):
    config = tmp_path / "peers.yaml"
    config.write_text("transfer: {allowed_peers: ['127.0.0.1:*']}\n")
    source = start_server("--config", str(config), db=tmp_path / "source.duckdb")
    target = start_server("--config", str(config), db=tmp_path / "target.duckdb")
    client = source.client()
    put(client, "origin", pa.table({"x": pa.array(range(200_000), pa.int64())}))
    client.close()
    body = json.dumps({"source": source.uri, "source_table": "origin", "target_table": "copy",
                       "progress": True}).encode()
    results = [json.loads(r.body.to_pybytes())
               for r in target.client().do_action(flight.Action("copy_from", body))]
    summary = results[-1]
    assert summary["rows"] == 200_000 and summary["table"] == "copy"
    for progress in results[:-1]:
        assert 0 <= progress["progress"]["rows"] <= 200_000
    bad = json.dumps({"source": source.uri, "source_table": "origin", "target_table": "c2",
                      "progress": "yes"}).encode()
    with pytest.raises(pa.ArrowInvalid, match="'progress' must be true or false"):
        list(target.client().do_action(flight.Action("copy_from", bad)))
