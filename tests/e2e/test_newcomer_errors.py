"""Errors a newcomer can act on (issue 36): a port in use, TLS on one side only, no server
(and a client that waits for one still starting), "already exists", config errors, the
help, and `arrowport query` of a long result on a terminal."""
import json
import os
import re
import select
import signal
import socket
import subprocess
import time

import grpc
import pytest
import requests

import rawflight
from conftest import ARROWPORT, RunningServer, run_cli
from test_cli_terminal import progress_counts, without_progress
from test_tls import certs, make_leaf, tls_server  # noqa: F401 (a fixture)


def free_port():
    """A port nothing listens on (bound and closed again)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(tmp_path, *args, env=None):
    return subprocess.run([ARROWPORT, "serve", "--db", str(tmp_path / "p.duckdb"), *args],
                          capture_output=True, text=True, timeout=120, env=env)


def assert_no_grpc_dump(stderr):
    assert "Server did not start properly" not in stderr, stderr
    assert "chttp2_server" not in stderr and "No address added" not in stderr, stderr


def test_a_port_in_use_names_the_port_and_how_to_choose_another(start_server, tmp_path):
    # A second server on the ports of a first: what a second user on the machine meets.
    first = start_server()
    http_port = int(first.http.rsplit(":", 1)[1])
    proc = serve(tmp_path, "--flight-port", str(first.port), "--http-port", "0")
    assert proc.returncode == 1, proc.stderr
    assert (f"port {first.port} is in use" in proc.stderr and "--flight-port" in proc.stderr
            and "ARROWPORT_FLIGHT_PORT" in proc.stderr), proc.stderr
    assert_no_grpc_dump(proc.stderr)
    proc = serve(tmp_path, "--flight-port", "0", "--http-port", str(http_port))
    assert proc.returncode == 1, proc.stderr
    assert (f"port {http_port} is in use" in proc.stderr and "--http-port" in proc.stderr
            and "ARROWPORT_HTTP_PORT" in proc.stderr), proc.stderr
    # Set through the environment, the same words.
    env = dict(os.environ, ARROWPORT_FLIGHT_PORT=str(first.port), ARROWPORT_HTTP_PORT="0")
    proc = serve(tmp_path, env=env)
    assert proc.returncode == 1 and f"port {first.port} is in use" in proc.stderr, proc.stderr
    assert_no_grpc_dump(proc.stderr)
    # Found before the database opens: the file is not even created.
    assert not (tmp_path / "p.duckdb").exists()


def test_tls_on_one_side_only_says_which_url_to_use(start_server, tmp_path, certs):  # noqa: F811
    plain = start_server()
    host_port = plain.uri.split("://", 1)[1]
    http_host_port = plain.http.split("://", 1)[1]
    out = run_cli("query", "SELECT 1", "--server", f"grpc+tls://{host_port}", timeout=120)
    assert out.returncode == 1
    assert (f"the server at grpc+tls://{host_port} does not speak TLS: use grpc://{host_port}"
            in out.stderr.decode()), out.stderr
    out = run_cli("query", "SELECT 1", "--server", f"https://{http_host_port}", timeout=120)
    assert out.returncode == 1
    assert (f"the server at https://{http_host_port} does not speak TLS: use "
            f"http://{http_host_port}" in out.stderr.decode()), out.stderr
    # The server says it too, on its plain HTTP port.
    assert plain.logged("a TLS handshake on the plain HTTP port"), plain.stderr()[-2000:]

    secured = tls_server(lambda *a: start_server(*a, db=tmp_path / "tls.duckdb"), tmp_path, certs)
    host_port = secured.uri.split("://", 1)[1]
    http_host_port = secured.http.split("://", 1)[1]
    for command in (["query", "SELECT 1"], ["tables"], ["status"]):
        out = run_cli(*command, "--server", f"grpc://{host_port}", timeout=120)
        assert out.returncode == 1
        assert (f"the server at grpc://{host_port} speaks TLS: use grpc+tls://{host_port}"
                in out.stderr.decode()), (command, out.stderr)
    out = run_cli("query", "SELECT 1", "--server", f"http://{http_host_port}", timeout=120)
    assert out.returncode == 1 and b"speaks HTTPS only: use https://" in out.stderr, out.stderr


def test_a_missing_sign_in_or_an_untrusted_certificate_says_the_fix(start_server, tmp_path,
                                                                   certs):  # noqa: F811
    """A server with authentication and a certificate from a private CA, as a newcomer
    meets it (issue 64): without --tls-ca the CLI said gRPC's handshake error, and without
    credentials it advised an Authorization header. Each now says the fix."""
    hashed = run_cli("hash-password", input=b"first-hour-secret\n", timeout=60)
    assert hashed.returncode == 0, hashed.stderr
    secured = tls_server(start_server, tmp_path, certs, extra=(
        "auth:\n  users:\n    - {name: ana, password_hash: \""
        + hashed.stdout.decode().strip() + "\", role: reader}\n"))
    env = {k: v for k, v in os.environ.items()
           if k not in ("ARROWPORT_USER", "ARROWPORT_PASSWORD", "ARROWPORT_TLS_CA",
                        "ARROWPORT_SERVER")}

    def run(*args, **more):
        out = subprocess.run([ARROWPORT, *args], capture_output=True, text=True, timeout=120,
                             env={**env, **more})
        assert out.returncode == 1, (args, out.stdout, out.stderr)
        assert "gRPC" not in out.stderr and "Authorization" not in out.stderr, (args, out.stderr)
        return out.stderr

    ca = str(certs / "ca.pem")
    for command in (["query", "SELECT 1"], ["tables"], ["sql", "-c", "SELECT 1"]):
        for url in (secured.uri, secured.http):
            if url == secured.http and command[0] != "query":
                continue  # tables and sql speak Flight only
            text = run(*command, "--server", url)
            assert (f"the certificate of the server at {url} is not signed by a CA this system "
                    "trusts" in text and "--tls-ca FILE" in text), (command, text)
            text = run(*command, "--server", url, "--tls-ca", ca)
            assert ("the server requires signing in: set ARROWPORT_USER and ARROWPORT_PASSWORD"
                    in text), (command, text)
    # Signed in, the same commands work.
    ok = subprocess.run([ARROWPORT, "query", "SELECT 41 + 1 AS n", "--server", secured.uri,
                         "--tls-ca", ca, "--format", "csv"], capture_output=True, text=True,
                        timeout=120, env={**env, "ARROWPORT_USER": "ana",
                                          "ARROWPORT_PASSWORD": "first-hour-secret"})
    assert ok.returncode == 0 and ok.stdout.split() == ['"n"', "42"], ok.stderr
    # A CA that did not sign it, and a name the certificate does not list, are told apart.
    text = run("query", "SELECT 1", "--server", secured.uri, "--tls-ca", str(certs / "other.pem"))
    assert f"is not signed by the CA in --tls-ca '{certs / 'other.pem'}'" in text, text
    # The test CA signs a certificate for another name only.
    for name in ("ca.pem", "ca.key"):
        (tmp_path / name).write_bytes((certs / name).read_bytes())
    make_leaf(tmp_path, "misnamed", "ca", "subjectAltName=DNS:elsewhere.example\n"
                                          "extendedKeyUsage=serverAuth\n")
    (tmp_path / "misnamed.yaml").write_text(
        f"tls: {{cert: {tmp_path / 'misnamed.pem'}, key: {tmp_path / 'misnamed.key'}}}\n")
    misnamed = start_server("--config", str(tmp_path / "misnamed.yaml"),
                            db=tmp_path / "misnamed.duckdb")
    text = run("query", "SELECT 1", "--server", misnamed.uri, "--tls-ca", ca)
    assert (f"the certificate of the server at {misnamed.uri} is not for '127.0.0.1'"
            in text), text


def test_no_server_names_the_server_option(tmp_path):
    port = free_port()
    for url in (f"grpc://127.0.0.1:{port}", f"http://127.0.0.1:{port}"):
        for command in (["query", "SELECT 1"], ["status"]):
            out = run_cli(*command, "--server", url, "--connect-wait", "0")
            assert out.returncode == 1
            text = out.stderr.decode()
            assert f"no Arrowport server at {url} (connection refused)" in text, text
            assert "arrowport serve" in text and "--server" in text, text
            assert "ARROWPORT_SERVER" in text, text
    # The default server, through the environment's wait.
    env = dict(os.environ, ARROWPORT_CONNECT_WAIT="0", ARROWPORT_SERVER=f"grpc://localhost:{port}")
    for command in (["tables"], ["streams"]):
        out = subprocess.run([ARROWPORT, *command], capture_output=True, env=env, timeout=120)
        assert out.returncode == 1
        assert f"no Arrowport server at grpc://localhost:{port}".encode() in out.stderr, out.stderr
    (tmp_path / "one.csv").write_text("x\n1\n")
    out = subprocess.run([ARROWPORT, "ingest", "one.csv", "--stream", "s"], cwd=tmp_path,
                         capture_output=True, env=env, timeout=120)
    assert out.returncode == 1 and b"ARROWPORT_SERVER" in out.stderr, out.stderr


@pytest.mark.slow
def test_a_port_that_accepts_but_never_answers_is_not_waited_on_for_ever(tmp_path):
    """A silent listener (another program on the port, a hung server) held a client command
    for ever: the first answer is awaited for the connect wait (at least 5 s) too."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        for url, command in ((f"grpc://127.0.0.1:{port}", ["tables"]),
                             (f"http://127.0.0.1:{port}", ["query", "SELECT 1"])):
            started = time.monotonic()
            # Bounded by the test's own timeout: before the fix the command never ended
            # (over HTTP, not for the 10 minutes a response may take).
            out = run_cli(*command, "--server", url, "--connect-wait", "1", timeout=120)
            took = time.monotonic() - started
            text = out.stderr.decode()
            assert out.returncode == 1, text
            assert f"the server at {url} accepted the connection but did not answer" in text, \
                text
            assert "--connect-wait" in text and "ARROWPORT_SERVER" in text, text
            assert took < 100, took


def test_a_value_the_environment_gives_that_an_option_refuses_is_an_error():
    """CLI11 passes over a refused environment value without a word: ARROWPORT_CONNECT_WAIT=abc
    waited the default 10 s instead of failing."""
    for value in ("abc", "nan", "inf"):
        env = dict(os.environ, ARROWPORT_CONNECT_WAIT=value)
        out = subprocess.run([ARROWPORT, "tables", "--server",
                              f"grpc://127.0.0.1:{free_port()}"],
                             capture_output=True, text=True, env=env, timeout=120)
        assert out.returncode == 2, out.stderr
        assert f"ARROWPORT_CONNECT_WAIT={value} is not a valid value for --connect-wait" in \
            out.stderr
    out = run_cli("tables", "--connect-wait", "nan", timeout=120)
    assert out.returncode == 2 and b"not a number of seconds" in out.stderr, out.stderr


def run_on_terminal(args, cwd=None, env=None):
    """bin/arrowport ARGS with stdout and stderr on a pseudo-terminal: (process, master)."""
    from test_cli_terminal import quiet_env
    import fcntl
    import struct
    import termios
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    proc = subprocess.Popen([ARROWPORT, *args], stdin=slave, stdout=slave, stderr=slave,
                            cwd=cwd, env=env or quiet_env(), close_fds=True)
    os.close(slave)
    return proc, master


def read_until(master, seen, done, timeout=180):
    """Reads the terminal until done(output) (or its end); returns the output."""
    out = seen
    deadline = time.time() + timeout
    while not done(out):
        ready, _, _ = select.select([master], [], [], max(0.0, deadline - time.time()))
        assert ready, f"not seen within {timeout} s: {out[-2000:]!r}"
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the command ended
            break
        if not chunk:
            break
        out += chunk
    return out


def test_a_client_waits_for_a_server_that_is_starting(tmp_path):
    """The README's quick start as one block (`serve &`, then a client command): the client
    waits while the server is not up yet."""
    port, http_port = free_port(), free_port()
    url = f"grpc://127.0.0.1:{port}"
    # Generous: the point is the wait, not its default length.
    client, master = run_on_terminal(["query", "SELECT 42 AS answer", "--server", url,
                                      "--connect-wait", "300"])
    try:
        # Started only once the client said it waits: it met a refused connection first.
        out = read_until(master, b"", lambda o: b"waiting for a server at " + url.encode() in o
                         or client.poll() is not None)
        assert b"waiting for a server at" in out, out
        server = RunningServer(["--db", str(tmp_path / "w.duckdb"), "--flight-port", str(port),
                                "--http-port", str(http_port)], cwd=tmp_path)
        try:
            out = read_until(master, out, lambda o: False)
            assert client.wait(timeout=120) == 0, out
            assert re.search(rb"answer\s*\r?\n-+\r?\n\s*42", without_progress(out)), out
        finally:
            server.stop()
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
        os.close(master)


def raw_do_get_code(server, sql):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        call = channel.unary_stream("/arrow.flight.protocol.FlightService/DoGet",
                                    request_serializer=None, response_deserializer=None)
        ticket = json.dumps({"sql": sql}).encode()
        try:
            list(call(rawflight._field(1, ticket), timeout=60))
        except grpc.RpcError as e:
            return e.code(), e.details()
    return grpc.StatusCode.OK, ""


def test_already_exists_is_already_exists_not_not_found(server):
    assert raw_do_get_code(server, "CREATE TABLE made (x INTEGER)")[0] == grpc.StatusCode.OK
    code, details = raw_do_get_code(server, "CREATE TABLE made (x INTEGER)")
    assert code == grpc.StatusCode.ALREADY_EXISTS and "already exists" in details, (code, details)
    code, _ = raw_do_get_code(server, "CREATE SCHEMA s1")
    assert code == grpc.StatusCode.OK
    code, _ = raw_do_get_code(server, "CREATE SCHEMA s1")
    assert code == grpc.StatusCode.ALREADY_EXISTS
    # What is missing stays NOT_FOUND.
    assert raw_do_get_code(server, "SELECT * FROM missing")[0] == grpc.StatusCode.NOT_FOUND
    answer = requests.post(f"{server.http}/query", json={"sql": "CREATE TABLE made (x INTEGER)"},
                           timeout=60)
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "already_exists", answer.text
    answer = requests.post(f"{server.http}/query", json={"sql": "SELECT * FROM missing"},
                           timeout=60)
    assert answer.status_code == 404, answer.text


@pytest.mark.parametrize("text, key", [
    ("limits:\n  query_timeout_s: abc\n", "limits.query_timeout_s"),
    ("limits:\n  query_timeout: 5\n", "limits.query_timeout"),
])
def test_a_config_error_exits_2_and_names_the_key(tmp_path, text, key):
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    proc = serve(tmp_path, "--config", str(config), "--flight-port", "0", "--http-port", "0")
    assert proc.returncode == 2, proc.stderr
    assert f"key '{key}'" in proc.stderr, proc.stderr
    env = dict(os.environ, ARROWPORT_LIMITS_QUERY_TIMEOUT_S="abc")
    proc = serve(tmp_path, "--flight-port", "0", "--http-port", "0", env=env)
    assert proc.returncode == 2 and "ARROWPORT_LIMITS_QUERY_TIMEOUT_S" in proc.stderr, proc.stderr


def test_help_shows_defaults_and_how_to_sign_in():
    text = run_cli("serve", "--help").stdout.decode()
    for default in ("[8815]", "[8888]", "[127.0.0.1]", "[arrowport.duckdb]", "[text]"):
        assert default in text, text
    for name in ("ARROWPORT_FLIGHT_PORT", "ARROWPORT_HTTP_PORT"):
        assert name in text, text
    for command in ("query", "ingest", "tables", "streams", "status", "copy"):
        text = " ".join(run_cli(command, "--help").stdout.decode().split())
        assert "ARROWPORT_USER" in text and "ARROWPORT_PASSWORD" in text, (command, text)
        assert "--connect-wait" in text and "ARROWPORT_SERVER" in text, (command, text)


def test_query_on_a_terminal_shows_the_first_rows_and_progress_at_once(server):
    """A result that does not end within the test (a trillion rows): the first rows and a
    progress line that counts up are on the terminal while it is still read."""
    proc, master = run_on_terminal(["query", "SELECT range AS n FROM range(1000000000000)",
                                    "--server", server.uri])
    try:
        def shown(out):
            counts = [n for n in progress_counts(out, b"query") if n > 0]
            return (re.search(rb"\n\s*19\r?\n", without_progress(out)) is not None
                    and len(set(counts)) >= 2 and counts == sorted(counts))
        out = read_until(master, b"", lambda o: shown(o) or proc.poll() is not None)
        assert proc.poll() is None, out[-2000:]
        lines = without_progress(out).decode().replace("\r\n", "\n").splitlines()
        assert lines[0].strip() == "n" and set(lines[1]) == {"-"}, lines[:3]
        assert [line.strip() for line in lines[2:22]] == [str(i) for i in range(20)], lines
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.close(master)


def test_query_on_a_terminal_ends_with_the_last_rows_and_the_count(server):
    proc, master = run_on_terminal(["query", "SELECT range AS n FROM range(500000)",
                                    "--server", server.uri])
    try:
        out = read_until(master, b"", lambda o: False)
        assert proc.wait(timeout=120) == 0, out[-2000:]
    finally:
        os.close(master)
    assert progress_counts(out, b"query"), out[-2000:]  # a progress line while it read
    lines = without_progress(out).decode().replace("\r\n", "\n").splitlines()
    lines = [line for line in lines if line.strip()]
    assert [line.strip() for line in lines[2:22]] == [str(i) for i in range(20)], lines
    assert lines[22].strip() == "…", lines
    assert [line.strip() for line in lines[23:43]] == [str(i) for i in range(499980, 500000)]
    assert lines[43] == "(500000 rows, 40 shown)", lines
    # In a pipe: unchanged, every row and no progress.
    piped = run_cli("query", "SELECT range AS n FROM range(3000)", "--server", server.uri)
    assert piped.returncode == 0 and piped.stderr == b""
    assert piped.stdout.decode().splitlines()[-1] == "(3000 rows)"
    assert b"\r" not in piped.stdout and b"\x1b[" not in piped.stdout


def test_a_database_file_named_as_the_servers_own_catalog_says_so(start_server, tmp_path):
    # DuckDB names a database after its file: one named as the server's scratch catalog
    # failed to start with DuckDB's words only (an attack run).
    for name in ("arrowport_scratch.duckdb", "ARROWPORT_Scratch.duckdb"):  # DuckDB's case
        proc = subprocess.run([ARROWPORT, "serve", "--db", str(tmp_path / name),
                               "--flight-port", "0", "--http-port", "0"],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1, proc.stderr
        assert name in proc.stderr and "another name" in proc.stderr, proc.stderr
    # A name near it serves.
    server = start_server(db=tmp_path / "arrowport_scratch2.duckdb")
    answer = requests.post(f"{server.http}/query", json={"sql": "SELECT 42 AS x"}, timeout=30)
    assert answer.status_code == 200, answer.text
