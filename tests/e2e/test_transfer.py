"""Server-to-server transfer (design section 5): the copy_from and copy_to actions and
`arrowport copy`, between two real Arrowport servers (one with authentication and TLS on)
and a plain pyarrow Flight server as a foreign source. Peers must be listed in
transfer.allowed_peers (hot-reloaded); credentials never reach a log line."""
import json
import os
import pty
import re
import select
import subprocess
import threading
import time

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from conftest import ARROWPORT, RunningServer, run_cli
from test_tls import make_ca, make_leaf

ADMIN_PASSWORD = "copy-admin-secret-7f3a"
READER_PASSWORD = "copy-reader-secret-91c2"
# What a failed call raises: pyarrow maps some gRPC codes to Flight errors, others to Arrow's.
ERRORS = (flight.FlightError, pa.ArrowException)
SOURCE_ROWS = 200_000
SOURCE = pa.table({
    "id": pa.array(range(SOURCE_ROWS), pa.int64()),
    "value": pa.array([i * 0.5 for i in range(SOURCE_ROWS)], pa.float64()),
    "name": pa.array([f"n{i % 97}" for i in range(SOURCE_ROWS)], pa.string()),
})


class ForeignServer(flight.FlightServerBase):
    """A Flight server that is not Arrowport: tickets are its own bytes."""

    GOOD = pa.table({"k": pa.array([1, 2, 3], pa.int64()), "label": ["a", "b", "c"]})
    OTHER = pa.table({"k": pa.array(["x"], pa.string())})

    def __init__(self):
        super().__init__("grpc://127.0.0.1:0")
        # What its DoPut received, by table: {"rows", "metadata" (app_metadata messages),
        # "ended" (monotonic time its stream ended)}.
        self.uploads = {}
        # When a GetFlightInfo of table "hang" saw its call cancelled.
        self.planning_cancelled_at = None
        self.release = threading.Event()  # ends the waits of "hang" and "stuck"
        self.release_schema = threading.Event()  # ends the wait of "no-schema"
        # Set once the copy's progress line showed rows: "slow" then sends its second half.
        self.slow_watched = threading.Event()

    def get_flight_info(self, context, descriptor):
        cmd = json.loads(descriptor.command)
        if cmd.get("table") == "hang":
            # Plans without end, until the caller's call is cancelled.
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and not self.release.is_set():
                if context.is_cancelled():
                    self.planning_cancelled_at = time.monotonic()
                    break
                time.sleep(0.05)
            raise flight.FlightServerError("hang: gave up")
        ticket = {"good": b"good", "liar": b"liar", "slow": b"slow"}.get(cmd.get("table"))
        if ticket is None:
            raise flight.FlightServerError("no such table")
        # "liar" announces GOOD's schema and then sends another one.
        return flight.FlightInfo(self.GOOD.schema, descriptor,
                                 [flight.FlightEndpoint(ticket, [])], -1, -1)

    def do_get(self, context, ticket):
        name = ticket.ticket
        if name == b"good":
            return flight.RecordBatchStream(self.GOOD)
        if name == b"liar":
            return flight.RecordBatchStream(self.OTHER)
        if name == b"slow":
            # 20 batches of 1,000 rows, one every 100 ms: a copy someone can watch. The
            # second half waits (up to 60 s) until the watcher has seen rows on the line:
            # on a loaded sanitizer run the whole copy ended before the line showed any.
            def slowly():
                for i in range(20):
                    if i == 10:
                        self.slow_watched.wait(60)
                    time.sleep(0.1)
                    yield pa.record_batch([pa.array(range(i * 1000, (i + 1) * 1000),
                                                    pa.int64()),
                                           pa.array(["s"] * 1000)], schema=self.GOOD.schema)
            return flight.GeneratorStream(self.GOOD.schema, slowly())
        if name == b"tiny":
            # 50,000 one-row batches, as fast as they go (issue 34: such a copy ran the
            # target out of memory).
            def one_row_each():
                for i in range(50_000):
                    yield pa.record_batch([pa.array([i], pa.int64()), pa.array(["t"])],
                                          schema=self.GOOD.schema)
            return flight.GeneratorStream(self.GOOD.schema, one_row_each())
        if name == b"endless":
            # One-row batches, one every 10 ms, without end.
            def endlessly():
                i = 0
                while True:
                    time.sleep(0.01)
                    i += 1
                    yield pa.record_batch([pa.array([i], pa.int64()), pa.array(["e"])],
                                          schema=self.GOOD.schema)
            return flight.GeneratorStream(self.GOOD.schema, endlessly())
        if name == b"no-schema":
            # Answers nothing, not even the schema, until released.
            self.release_schema.wait(300)
            return flight.RecordBatchStream(self.GOOD)
        if name == b"fails-mid-stream":
            schema = self.GOOD.schema

            def batches():
                yield self.GOOD.to_batches()[0]
                yield self.GOOD.to_batches()[0]
                raise flight.FlightServerError("the source broke after two batches")
            return flight.GeneratorStream(schema, batches())
        raise flight.FlightServerError(f"unknown ticket {name!r}")

    def do_put(self, context, descriptor, reader, writer):
        """Keeps what it is sent; its table name says how it behaves: "liar" answers with
        a summary that looks like Arrowport's but counts 999,999,999 rows, "sluggish"
        reads a batch every 100 ms, "stuck" never reads."""
        table = json.loads(descriptor.command)["table"]
        upload = self.uploads.setdefault(table, {"rows": 0, "metadata": [], "ended": None})
        if table == "stuck":
            self.release.wait(300)
            return
        try:
            for chunk in reader:
                if chunk.data is not None:
                    upload["rows"] += chunk.data.num_rows
                if chunk.app_metadata is not None:
                    upload["metadata"].append(chunk.app_metadata.to_pybytes())
                if table == "sluggish":
                    time.sleep(0.1)
        finally:
            upload["ended"] = time.monotonic()
        if table == "liar":
            writer.write(pa.py_buffer(json.dumps({
                "stream": table, "table": table, "rows": 999_999_999, "batches": 1,
                "seconds": 0.1, "committed": True}).encode()))


def hash_password(password):
    proc = run_cli("hash-password", input=(password + "\n").encode(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.decode().strip()


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    make_ca(d, "ca")
    make_leaf(d, "server", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                                 "extendedKeyUsage=serverAuth\n")
    return d


@pytest.fixture(scope="module")
def foreign():
    server = ForeignServer()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def peers(tmp_path_factory, certs):
    """plain: no auth, no TLS; secure: TLS and users (admin, reader). Both may reach any
    port of 127.0.0.1."""
    d = tmp_path_factory.mktemp("peers")
    allowed = "transfer: {allowed_peers: ['127.0.0.1:*', '10.255.255.1:1']}\n"
    (d / "plain.yaml").write_text(allowed)
    plain = RunningServer(["--config", str(d / "plain.yaml"), "--db", str(d / "plain.duckdb"),
                           "--flight-port", "0", "--http-port", "0"], cwd=d)
    (d / "secure.yaml").write_text(
        allowed + f"tls: {{cert: {certs / 'server.pem'}, key: {certs / 'server.key'}}}\n"
        "auth:\n  users:\n"
        f"    - {{name: admin, password_hash: \"{hash_password(ADMIN_PASSWORD)}\", role: admin}}\n"
        f"    - {{name: reader, password_hash: \"{hash_password(READER_PASSWORD)}\", "
        "role: reader}\n")
    secure = RunningServer(["--config", str(d / "secure.yaml"), "--db", str(d / "secure.duckdb"),
                            "--flight-port", "0", "--http-port", "0"], cwd=d)
    assert secure.uri.startswith("grpc+tls://")
    client = flight.connect(plain.uri)
    writer, _ = client.do_put(flight.FlightDescriptor.for_command(
        json.dumps({"stream": "src", "mode": "create"})), SOURCE.schema)
    writer.write_table(SOURCE, max_chunksize=50_000)
    writer.close()
    yield plain, secure
    for server in (plain, secure):
        server.stop()  # both, before either is judged: a failed check left one running
    for server in (plain, secure):
        assert server.proc.returncode == 0, server.stderr()[-3000:]


def secure_client(secure, certs, user="admin", password=ADMIN_PASSWORD):
    client = flight.connect(secure.uri, tls_root_certs=(certs / "ca.pem").read_bytes())
    token = client.authenticate_basic_token(user, password)
    return client, flight.FlightCallOptions(headers=[token], timeout=120)


def action(client, name, body, options=None):
    results = list(client.do_action(flight.Action(name, json.dumps(body).encode()),
                                    options=options))
    assert len(results) == 1
    return json.loads(results[0].body.to_pybytes())


def query(client, sql, options=None):
    return client.do_get(flight.Ticket(json.dumps({"sql": sql}).encode()),
                         options=options).read_all().to_pylist()


def table_exists(client, name, options=None):
    try:
        query(client, f'SELECT 1 FROM "{name}" LIMIT 1', options)
        return True
    except ERRORS as e:
        assert "does not exist" in str(e), e
        return False


def test_copy_from_pulls_a_table_and_a_query_into_a_tls_server_with_auth(peers, certs):
    plain, secure = peers
    client, options = secure_client(secure, certs)
    summary = action(client, "copy_from", {"source": plain.uri, "source_table": "src",
                                           "target_table": "src_copy"}, options)
    assert summary["rows"] == SOURCE_ROWS and summary["committed"] is True
    assert summary["table"] == "src_copy" and summary["created"] is True
    assert summary["source"] == plain.uri.split("://")[1]
    got = query(client, "SELECT count(*) AS n, sum(id) AS s, sum(value) AS v, "
                        "count(DISTINCT name) AS names FROM src_copy", options)
    assert got == [{"n": SOURCE_ROWS, "s": sum(range(SOURCE_ROWS)),
                    "v": sum(i * 0.5 for i in range(SOURCE_ROWS)), "names": 97}]
    # A query, replacing: the source runs the SQL, the target lands its result.
    summary = action(client, "copy_from", {"source": plain.uri, "mode": "replace",
                                           "sql": "SELECT id, name FROM src WHERE id % 10 = 0",
                                           "target_table": "src_copy"}, options)
    assert summary["rows"] == SOURCE_ROWS // 10
    assert query(client, "SELECT count(*) AS n, max(id) AS m FROM src_copy", options) == [
        {"n": SOURCE_ROWS // 10, "m": SOURCE_ROWS - 10}]
    # per_batch commits as it goes and says the same.
    summary = action(client, "copy_from", {"source": plain.uri, "source_table": "src",
                                           "target_table": "per_batch_copy",
                                           "commit": "per_batch"}, options)
    assert summary["rows"] == SOURCE_ROWS
    assert query(client, "SELECT count(*) AS n FROM per_batch_copy", options) == [
        {"n": SOURCE_ROWS}]


def test_copy_to_pushes_over_tls_with_credentials_that_no_log_shows(peers, certs):
    plain, secure = peers
    summary = action(flight.connect(plain.uri), "copy_to", {
        "target": secure.uri, "tls_ca": str(certs / "ca.pem"), "user": "admin",
        "password": ADMIN_PASSWORD, "sql": "SELECT id, value * 2 AS doubled FROM src",
        "target_table": "pushed"})
    assert summary["rows"] == SOURCE_ROWS and summary["committed"] is True
    assert summary["target"] == secure.uri.split("://")[1]
    client, options = secure_client(secure, certs)
    assert query(client, "SELECT count(*) AS n, sum(doubled) AS d FROM pushed", options) == [
        {"n": SOURCE_ROWS, "d": sum(i * 1.0 for i in range(SOURCE_ROWS))}]
    # A wrong password is refused by the target, and the message does not echo it.
    with pytest.raises(flight.FlightError) as refused:
        action(flight.connect(plain.uri), "copy_to", {
            "target": secure.uri, "tls_ca": str(certs / "ca.pem"), "user": "admin",
            "password": "wrong-password-123", "source_table": "src", "target_table": "nope"})
    assert "signing in to" in str(refused.value)
    assert "wrong-password-123" not in str(refused.value)
    # Without the CA the target's certificate is not trusted.
    with pytest.raises(flight.FlightError):
        action(flight.connect(plain.uri), "copy_to", {
            "target": secure.uri, "user": "admin", "password": ADMIN_PASSWORD,
            "source_table": "src", "target_table": "nope"})
    assert plain.logged("action=copy_to") and secure.logged("table=pushed")
    for server in (plain, secure):
        for secret in (ADMIN_PASSWORD, "wrong-password-123"):
            assert secret not in server.stderr()


def test_copy_to_without_tls_ca_trusts_the_ca_store_ssl_cert_file_names(peers, certs,
                                                                        start_server,
                                                                        tmp_path):
    """Issue 65: a grpc+tls:// peer given no tls_ca is checked against the host's CA store
    (SSL_CERT_FILE names it here), not gRPC's compiled-in path (Debian's, in a portable
    build); an SSL_CERT_FILE naming no file is an error saying so."""
    _, secure = peers
    config = tmp_path / "pusher.yaml"
    config.write_text("transfer: {allowed_peers: ['127.0.0.1:*']}\n")
    base = {k: v for k, v in os.environ.items() if not k.startswith("SSL_CERT_")}
    body = {"target": secure.uri, "user": "admin", "password": ADMIN_PASSWORD,
            "sql": "SELECT 42 AS answer", "target_table": "pushed_by_the_store"}
    pusher = start_server("--config", str(config),
                          env={**base, "SSL_CERT_FILE": str(certs / "ca.pem")})
    assert action(pusher.client(), "copy_to", body)["rows"] == 1
    client, options = secure_client(secure, certs)
    assert query(client, "SELECT answer FROM pushed_by_the_store", options) == [{"answer": 42}]
    missing = tmp_path / "missing.pem"
    pusher = start_server("--config", str(config), db=tmp_path / "second.duckdb",
                          env={**base, "SSL_CERT_FILE": str(missing)})
    with pytest.raises(flight.FlightError) as refused:
        action(pusher.client(), "copy_to", body)
    assert f"SSL_CERT_FILE='{missing}' names no readable file" in str(refused.value)


def test_copy_from_a_foreign_flight_server_by_raw_ticket_and_descriptor(peers, foreign):
    plain, _ = peers
    client = flight.connect(plain.uri)
    source = f"grpc://127.0.0.1:{foreign.port}"
    summary = action(client, "copy_from", {"source": source, "ticket": "good",
                                           "target_table": "foreign_rows"})
    assert summary["rows"] == 3
    assert query(client, "SELECT k, label FROM foreign_rows ORDER BY k") == \
        ForeignServer.GOOD.to_pylist()
    summary = action(client, "copy_from", {"source": source, "source_table": "good",
                                           "target_table": "foreign_rows"})
    assert summary["rows"] == 3
    assert query(client, "SELECT count(*) AS n FROM foreign_rows") == [{"n": 6}]


def test_copy_from_runs_under_the_query_deadline_from_its_first_batch(start_server, tmp_path,
                                                                      foreign):
    """A small action makes a peer send without end: the copy stops at the query deadline
    (issue 34) and commits nothing of a per_request copy."""
    config = tmp_path / "c.yaml"
    config.write_text("transfer: {allowed_peers: ['127.0.0.1:*']}\n"
                      "limits: {query_timeout_s: 3}\n")
    server = start_server("--config", str(config))
    client = flight.connect(server.uri)
    started = time.monotonic()
    with pytest.raises(flight.FlightTimedOutError) as e:
        action(client, "copy_from", {"source": f"grpc://127.0.0.1:{foreign.port}",
                                     "ticket": "endless", "target_table": "endless"},
               options=flight.FlightCallOptions(timeout=120))
    assert "limits.query_timeout_s" in str(e.value) and "first batch" in str(e.value)
    assert time.monotonic() - started < 60
    assert not table_exists(client, "endless")


def test_a_copy_whose_source_never_begins_its_stream_ends_with_its_client(start_server,
                                                                          tmp_path, foreign):
    """Arrow's DoGet waits for the peer's schema in a call nothing could cancel: a source
    that never sent one held each copy, its admission slot, and the server's stop, past
    its client leaving (an attack run: SIGTERM did not end the server in 90 s)."""
    config = tmp_path / "c.yaml"
    config.write_text("transfer: {allowed_peers: ['127.0.0.1:*']}\n"
                      "limits: {max_concurrent_requests: 2}\n")
    server = start_server("--config", str(config))
    client = flight.connect(server.uri)
    try:
        for i in range(2):
            with pytest.raises(flight.FlightTimedOutError):
                action(client, "copy_from", {"source": f"grpc://127.0.0.1:{foreign.port}",
                                             "ticket": "no-schema", "target_table": f"ns{i}"},
                       options=flight.FlightCallOptions(timeout=2))
        # Both calls end with their clients: the two slots serve again.
        gone = time.monotonic()
        while True:
            try:
                assert query(client, "SELECT 42 AS x") == [{"x": 42}]
                break
            except flight.FlightUnavailableError as busy:
                assert time.monotonic() - gone < 15, f"the copies still hold their slots: {busy}"
                time.sleep(0.1)
        assert not table_exists(client, "ns0")
        started = time.monotonic()
        assert server.stop(timeout=60) == 0
        assert time.monotonic() - started < 30
    finally:
        foreign.release_schema.set()


def test_a_per_batch_copy_from_stopped_midway_says_what_it_committed(start_server, tmp_path,
                                                                     foreign):
    """A per_batch copy_from has no acknowledgements: its error is the only place that can
    say how many rows stay (it said only why it stopped)."""
    config = tmp_path / "c.yaml"
    config.write_text("transfer: {allowed_peers: ['127.0.0.1:*']}\n"
                      "limits: {query_timeout_s: 3}\n")
    server = start_server("--config", str(config))
    client = flight.connect(server.uri)
    with pytest.raises(flight.FlightTimedOutError) as e:
        action(client, "copy_from", {"source": f"grpc://127.0.0.1:{foreign.port}",
                                     "ticket": "endless", "target_table": "endless",
                                     "commit": "per_batch"},
               options=flight.FlightCallOptions(timeout=120))
    said = re.search(r"(\d+) rows in (\d+) batches were committed before it and stay",
                     str(e.value))
    assert said, str(e.value)
    assert int(said.group(2)) > 0
    assert query(client, "SELECT count(*) AS n FROM endless") == [{"n": int(said.group(1))}]


@pytest.mark.slow
def test_copy_from_a_source_of_one_row_batches_in_bounded_memory(start_server, tmp_path,
                                                                  foreign):
    """DuckDB held about 14 KB per batch of a per_request write until it committed: a
    peer streaming one-row batches ran a 256 MB DuckDB out of memory after some 20,000."""
    config = tmp_path / "c.yaml"
    config.write_text("transfer: {allowed_peers: ['127.0.0.1:*']}\n"
                      "duckdb: {memory_limit: 256MB}\n")
    server = start_server("--config", str(config))
    client = flight.connect(server.uri)
    summary = action(client, "copy_from", {"source": f"grpc://127.0.0.1:{foreign.port}",
                                           "ticket": "tiny", "target_table": "tiny"},
                     options=flight.FlightCallOptions(timeout=300))
    assert summary["rows"] == 50_000 and summary["batches"] == 50_000, summary
    assert query(client, "SELECT count(*) AS n, count(DISTINCT k) AS d FROM tiny") == \
        [{"n": 50_000, "d": 50_000}]


def test_a_source_that_sends_another_schema_than_it_announced_commits_nothing(peers, foreign):
    plain, _ = peers
    client = flight.connect(plain.uri)
    with pytest.raises(ERRORS) as e:
        action(client, "copy_from", {"source": f"grpc://127.0.0.1:{foreign.port}",
                                     "source_table": "liar", "target_table": "lied_to"})
    assert "not the one it announced" in str(e.value)
    assert not table_exists(client, "lied_to")


@pytest.mark.parametrize("commit,committed", [("per_request", None), ("per_batch", 6)])
def test_a_source_failing_mid_stream(peers, foreign, commit, committed):
    plain, _ = peers
    client = flight.connect(plain.uri)
    table = f"broken_{commit}"
    with pytest.raises(ERRORS) as e:
        action(client, "copy_from", {"source": f"grpc://127.0.0.1:{foreign.port}",
                                     "ticket": "fails-mid-stream", "target_table": table,
                                     "commit": commit})
    assert "the source broke after two batches" in str(e.value)
    if committed is None:
        assert not table_exists(client, table)  # all or nothing
    else:
        assert query(client, f"SELECT count(*) AS n FROM {table}") == [{"n": committed}]


def test_a_source_schema_that_conflicts_with_the_target_table(peers, foreign):
    plain, _ = peers
    client = flight.connect(plain.uri)
    writer, _ = client.do_put(flight.FlightDescriptor.for_path("typed"),
                              ForeignServer.GOOD.schema)
    writer.write_table(ForeignServer.GOOD)
    writer.close()
    with pytest.raises(ERRORS) as e:
        action(client, "copy_from", {"source": plain.uri,
                                     "sql": "SELECT 'x' AS k, 'y' AS label",
                                     "target_table": "typed"})
    assert "schema_policy=strict" in str(e.value) and "typed" in str(e.value)
    assert query(client, "SELECT count(*) AS n FROM typed") == [{"n": 3}]


def test_unreachable_source_bad_ticket_and_bad_bodies_leave_both_servers_serving(peers, foreign):
    plain, _ = peers
    client = flight.connect(plain.uri)
    cases = [
        ({"source": "grpc://127.0.0.1:1", "source_table": "src", "target_table": "x"},
         "127.0.0.1:1"),
        ({"source": f"grpc://127.0.0.1:{foreign.port}", "ticket": "no-such-ticket",
          "target_table": "x"}, "unknown ticket"),
        ({"source": plain.uri, "sql": "SELEKT 1", "target_table": "x"}, "syntax error"),
        ({"source": "http://127.0.0.1:80", "source_table": "src", "target_table": "x"},
         "scheme must be grpc"),
        ({"source": plain.uri, "target_table": "x"}, "exactly one of"),
        ({"source": plain.uri, "source_table": "src", "target_table": "x; DROP TABLE src"},
         "target_table"),
        ({"source": plain.uri, "source_table": "src", "bogus": 1}, "unknown field 'bogus'"),
    ]
    for body, expected in cases:
        with pytest.raises(ERRORS) as e:
            action(client, "copy_from", body)
        assert expected in str(e.value), (body, str(e.value))
    assert not table_exists(client, "x")
    assert query(client, "SELECT count(*) AS n FROM src") == [{"n": SOURCE_ROWS}]
    assert plain.proc.poll() is None


def test_peers_must_be_listed_and_the_list_is_hot_reloaded(start_server, tmp_path, peers):
    plain, _ = peers
    config = tmp_path / "closed.yaml"
    config.write_text("log: {level: info}\n")
    server = start_server("--config", str(config))
    client = server.client()
    for name, body in [("copy_from", {"source": plain.uri, "source_table": "src",
                                      "target_table": "t"}),
                       ("copy_to", {"target": plain.uri, "sql": "SELECT 1 AS one",
                                    "target_table": "t"})]:
        with pytest.raises(flight.FlightUnauthorizedError) as e:
            action(client, name, body)
        assert "transfer.allowed_peers" in str(e.value) and "empty" in str(e.value)
    port = plain.uri.rsplit(":", 1)[1]
    config.write_text(f"transfer: {{allowed_peers: ['localhost:1', '127.0.0.?:{port}']}}\n")
    action(client, "reload_config", {})
    summary = action(client, "copy_from", {"source": plain.uri, "source_table": "src",
                                           "target_table": "t"})
    assert summary["rows"] == SOURCE_ROWS
    with pytest.raises(flight.FlightUnauthorizedError) as e:
        action(client, "copy_from", {"source": "grpc://127.0.0.1:1", "source_table": "src",
                                     "target_table": "t"})
    assert "no pattern matches" in str(e.value)


def test_copy_actions_are_for_admins_only(peers, certs):
    plain, secure = peers
    client, options = secure_client(secure, certs, "reader", READER_PASSWORD)
    for name, body in [("copy_from", {"source": plain.uri, "source_table": "src",
                                      "target_table": "stolen"}),
                       ("copy_to", {"target": plain.uri, "source_table": "pushed",
                                    "target_table": "stolen"})]:
        with pytest.raises(flight.FlightUnauthorizedError) as e:
            action(client, name, body, options)
        assert "admin" in str(e.value)
    assert "copy_from" in [a.type for a in client.list_actions(options=options)]


def run_on_terminal(args, env, on_output=None):
    """Runs `args` on a pseudo-terminal; returns what it wrote (it must exit 0).
    `on_output(everything so far)` is called as it comes."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(args[0], args, env)
    output = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 120)
        assert ready, output[-2000:]
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child's side is closed
            break
        if not chunk:
            break
        output += chunk
        if on_output is not None:
            on_output(output)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, output
    return output


def test_cli_copy_between_servers_with_a_progress_line_on_a_terminal(peers, certs, foreign):
    plain, secure = peers
    env = {**os.environ, "ARROWPORT_SKIP_BUILD": "1", "ARROWPORT_USER": "admin",
           "ARROWPORT_PASSWORD": ADMIN_PASSWORD}
    args = [ARROWPORT, "copy", "--from", plain.uri, "--to", secure.uri, "--table", "src",
            "--target", "cli_copy", "--tls-ca", str(certs / "ca.pem")]
    proc = subprocess.run(args, env=env, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["rows"] == SOURCE_ROWS and summary["table"] == "cli_copy"
    assert proc.stderr == b""  # nothing extra when stderr is not a terminal
    # On a terminal: the progress line, then what was copied.
    output = run_on_terminal(args[:-4] + ["--target", "cli_copy_tty", "--tls-ca",
                                          str(certs / "ca.pem")], env)
    text = output.decode(errors="replace")
    # (A copy this short may end before its progress line is first drawn: the line is
    # checked on the long copy below.)
    assert f"copied {SOURCE_ROWS} rows" in text and "rows/s" in text
    # A copy long enough to be watched (a source that sends a batch every 100 ms): the line
    # shows the rows the target has received so far (its status: the copy_from call's
    # progress), growing.
    progress = re.compile(rb"to \S+: ([\d,]+) rows")

    def watch(output):
        if any(int(n.replace(b",", b"")) > 0 for n in progress.findall(output)):
            foreign.slow_watched.set()

    foreign.slow_watched.clear()
    output = run_on_terminal([ARROWPORT, "copy", "--from", f"grpc://127.0.0.1:{foreign.port}",
                              "--to", plain.uri, "--table", "slow", "--target", "slow_copy"],
                             env, on_output=watch)
    assert foreign.slow_watched.is_set(), output[-3000:]
    assert f"copying slow from grpc://127.0.0.1:{foreign.port} to {plain.uri}".encode() in output
    seen = [int(n.replace(b",", b"")) for n in progress.findall(output)]
    assert seen and 0 < max(seen) <= 20_000 and seen == sorted(seen), output[-3000:]
    assert b"copied 20000 rows" in output
    # Usage errors exit 2.
    bad = subprocess.run([ARROWPORT, "copy", "--from", plain.uri, "--to", secure.uri],
                         env=env, capture_output=True, timeout=60)
    assert bad.returncode == 2 and b"--table or --sql" in bad.stderr


def test_copy_to_that_fails_half_way_leaves_nothing_at_the_target(peers, certs):
    """The local query fails after some batches were pushed: the upload is half-closed
    without its end marker, so the target commits nothing (per_request), and the action
    answers with the local error instead of hanging on the target's acknowledgements."""
    plain, secure = peers
    failing = ("SELECT CAST(CASE WHEN id < 150000 THEN id::VARCHAR ELSE 'x' END AS BIGINT) AS id "
               "FROM src")
    started = time.time()
    with pytest.raises(ERRORS) as e:
        action(flight.connect(plain.uri), "copy_to", {
            "target": secure.uri, "tls_ca": str(certs / "ca.pem"), "user": "admin",
            "password": ADMIN_PASSWORD, "sql": failing, "target_table": "half_pushed"})
    assert "Conversion Error" in str(e.value)
    assert time.time() - started < 60
    client, options = secure_client(secure, certs)
    assert not table_exists(client, "half_pushed", options)
    assert secure.logged("without its end marker")


def test_copy_to_a_foreign_target_says_what_was_sent_not_that_it_committed(peers, foreign):
    """Only an Arrowport target's sealed summary for the rows sent says "committed": a
    plain Flight server sends none, and one that sends a summary of 999,999,999 rows for
    the 1,000 it got is not repeated (issue 35, item 7)."""
    plain, _ = peers
    client = flight.connect(plain.uri)
    target = f"grpc://127.0.0.1:{foreign.port}"
    for table in ("plain_target", "liar"):
        summary = action(client, "copy_to", {"target": target, "target_table": table,
                                             "sql": "SELECT id FROM src WHERE id < 1000"})
        assert summary["sent"] == 1000 and summary["committed"] is None, summary
        assert summary.get("rows") != 999_999_999, summary
        assert "unknown" in summary["note"], summary
        assert foreign.uploads[table]["rows"] == 1000
        assert foreign.uploads[table]["metadata"] == [b"arrowport:end"]
    # An Arrowport target's own summary, for the rows sent.
    summary = action(client, "copy_to", {"target": plain.uri, "target_table": "to_self",
                                         "sql": "SELECT id FROM src WHERE id < 1000"})
    assert summary["sent"] == summary["rows"] == 1000 and summary["committed"] is True, summary
    assert query(client, "SELECT count(*) AS n FROM to_self") == [{"n": 1000}]


def test_copy_to_stops_with_its_caller(peers, foreign):
    """The caller gives up (its deadline) while a target reads slowly: the push stops
    soon after, without the end marker (a sealed Arrowport target commits nothing)."""
    plain, _ = peers
    client = flight.connect(plain.uri)
    with pytest.raises(flight.FlightTimedOutError):
        action(client, "copy_to", {"target": f"grpc://127.0.0.1:{foreign.port}",
                                   "target_table": "sluggish",
                                   "sql": "SELECT range AS id FROM range(20000000)"},
               options=flight.FlightCallOptions(timeout=2))
    gave_up = time.monotonic()
    upload = foreign.uploads["sluggish"]
    while upload["ended"] is None and time.monotonic() - gave_up < 120:
        time.sleep(0.1)
    assert upload["ended"] is not None and upload["ended"] - gave_up < 60, upload["rows"]
    assert upload["rows"] < 20_000_000 and upload["metadata"] == []
    assert plain.proc.poll() is None


def test_copy_to_has_a_default_timeout(start_server, tmp_path, foreign):
    """A target that never reads nor answers: without "timeout_s" the push ends at
    limits.query_timeout_s instead of holding the action for good."""
    config = tmp_path / "c.yaml"
    config.write_text("transfer: {allowed_peers: ['127.0.0.1:*']}\n"
                      "limits: {query_timeout_s: 3}\n")
    server = start_server("--config", str(config))
    client = flight.connect(server.uri)
    started = time.monotonic()
    try:
        with pytest.raises(ERRORS) as e:
            action(client, "copy_to", {"target": f"grpc://127.0.0.1:{foreign.port}",
                                       "target_table": "stuck", "sql": "SELECT 1 AS one"},
                   options=flight.FlightCallOptions(timeout=120))
    finally:
        foreign.release.set()
    assert "copy_to 127.0.0.1" in str(e.value), str(e.value)
    assert time.monotonic() - started < 60


def test_copy_from_planning_is_cancelled_with_its_caller(peers, foreign):
    """A source whose GetFlightInfo never answers: the client leaves, and the source sees
    the planning call cancelled then (not at the 120 s planning bound), the copy's
    admission slot freed."""
    plain, _ = peers
    client = flight.connect(plain.uri)
    foreign.release.clear()
    with pytest.raises(flight.FlightTimedOutError):
        action(client, "copy_from", {"source": f"grpc://127.0.0.1:{foreign.port}",
                                     "source_table": "hang", "target_table": "never"},
               options=flight.FlightCallOptions(timeout=2))
    gave_up = time.monotonic()
    while foreign.planning_cancelled_at is None and time.monotonic() - gave_up < 150:
        time.sleep(0.1)
    assert foreign.planning_cancelled_at is not None
    assert foreign.planning_cancelled_at - gave_up < 60
    assert plain.logged("action=copy_from") and not table_exists(client, "never")


def test_a_sealed_upload_without_its_end_marker_commits_nothing(peers):
    """What copy_to relies on, as any client sees it: DoPut with "sealed": true."""
    plain, _ = peers
    client = flight.connect(plain.uri)
    writer, _ = client.do_put(flight.FlightDescriptor.for_command(
        json.dumps({"stream": "sealed_rows", "sealed": True})), ForeignServer.GOOD.schema)
    writer.write_table(ForeignServer.GOOD)
    with pytest.raises(ERRORS, match="end marker"):
        writer.close()
    assert not table_exists(client, "sealed_rows")
    writer, _ = client.do_put(flight.FlightDescriptor.for_command(
        json.dumps({"stream": "sealed_rows", "sealed": True})), ForeignServer.GOOD.schema)
    writer.write_table(ForeignServer.GOOD)
    writer.write_metadata(pa.py_buffer(b"arrowport:end"))
    writer.close()
    assert query(client, "SELECT count(*) AS n FROM sealed_rows") == [{"n": 3}]
    # per_batch: the batches acknowledged stay, and the error says so (it said "nothing of
    # it is committed" before "3 rows in 1 batches were committed before it and stay").
    writer, _ = client.do_put(flight.FlightDescriptor.for_command(
        json.dumps({"stream": "sealed_rows", "sealed": True, "commit": "per_batch"})),
        ForeignServer.GOOD.schema)
    writer.write_table(ForeignServer.GOOD)
    with pytest.raises(ERRORS) as err:
        writer.close()
    assert "3 rows in 1 batches were committed before it and stay" in str(err.value), err.value
    assert "nothing" not in str(err.value), err.value
    assert query(client, "SELECT count(*) AS n FROM sealed_rows") == [{"n": 6}]


def test_hostile_peer_settings_are_refused_and_never_echoed(peers, tmp_path):
    plain, _ = peers
    client = flight.connect(plain.uri)
    port = plain.uri.rsplit(":", 1)[1]
    not_pem = tmp_path / "not-a-ca.txt"
    not_pem.write_text("hello")
    cases = [
        # A token gRPC would refuse as a header (it aborted the process).
        ({"source": plain.uri, "ticket": "x", "target_table": "t", "token": "SECRET\ntoken"},
         "printable"),
        # Credentials in the URL, escapes that decode into another host, a trailing dot.
        ({"source": f"grpc://admin:URLSECRET@127.0.0.1:{port}", "ticket": "x",
          "target_table": "t"}, "no user info"),
        ({"source": f"grpc://127.0.0.1%3F.peers.internal:{port}", "ticket": "x",
          "target_table": "t"}, "no user info"),
        ({"source": f"grpc://127.0.0.%31:{port}", "ticket": "x", "target_table": "t"},
         "no user info"),
        # A remote peer over plain text gets no password.
        ({"source": "grpc://10.255.255.1:1", "ticket": "x", "target_table": "t", "user": "u",
          "password": "PLAINSECRET"}, "plain text"),
        # tls_ca must be a small PEM file (not any file the server can read).
        ({"source": "grpc+tls://127.0.0.1:1", "ticket": "x", "target_table": "t",
          "tls_ca": str(not_pem)}, "PEM file"),
        ({"source": "grpc+tls://127.0.0.1:1", "ticket": "x", "target_table": "t",
          "tls_ca": "/dev/zero"}, "PEM file"),
        ({"source": plain.uri, "ticket": "x", "target_table": "t", "timeout_s": -1},
         "timeout_s"),
    ]
    for body, expected in cases:
        with pytest.raises(ERRORS) as e:
            action(client, "copy_from", body)
        assert expected in str(e.value), (body, str(e.value))
    assert plain.proc.poll() is None
    for secret in ("SECRET", "URLSECRET", "PLAINSECRET", str(not_pem)):
        assert secret not in plain.stderr()
