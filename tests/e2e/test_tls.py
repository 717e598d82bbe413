"""TLS for both listeners (issue 11, design section 7): Flight over grpc+tls:// and HTTPS,
with real clients (pyarrow, curl, requests, ADBC), mutual TLS, and hostile connections to
the HTTPS port. Certificates are made here with the openssl CLI."""
import json
import os
import shutil
import socket
import ssl
import subprocess
import time

import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.ipc as ipc
import pytest
import requests

from conftest import run_cli
from test_flight_roundtrip import five_column_table, get, put
from test_flight_sql_jdbc import jdbc_classpath  # noqa: F401 (fixture)
from test_http import ARROW, FAILING_SQL, http10_query, ipc_bytes, read_until_closed
from test_http_limits import SLOW_SQL, cpu_seconds


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
            "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)


def make_leaf(d, name, ca, extensions):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    (d / f"{name}.ext").write_text(extensions)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
            cwd=d)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """ca: the test CA; server (127.0.0.1/localhost) and client certificates signed by it;
    other: an unrelated CA and a client certificate it signed (untrusted by the server)."""
    d = tmp_path_factory.mktemp("certs")
    make_ca(d, "ca")
    make_ca(d, "other")
    make_leaf(d, "server", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                                 "extendedKeyUsage=serverAuth\n")
    make_leaf(d, "client", "ca", "extendedKeyUsage=clientAuth\n")
    make_leaf(d, "stranger", "other", "extendedKeyUsage=clientAuth\n")
    return d


def tls_server(start_server, tmp_path, certs, client_ca=False, extra=""):
    config = tmp_path / "tls.yaml"
    lines = ["tls:", f"  cert: {certs / 'server.pem'}", f"  key: {certs / 'server.key'}"]
    if client_ca:
        lines.append(f"  client_ca: {certs / 'ca.pem'}")
    config.write_text("\n".join(lines) + "\n" + extra)
    return start_server("--config", str(config))


def pem(certs, name):
    return (certs / name).read_bytes()


def healthz(server, certs, **kwargs):
    return requests.get(f"{server.http}/healthz", verify=str(certs / "ca.pem"), timeout=30,
                        **kwargs)


def test_ready_line_and_log_say_tls(start_server, tmp_path, certs):
    server = tls_server(start_server, tmp_path, certs)
    assert server.uri.startswith("grpc+tls://127.0.0.1:")
    assert server.http.startswith("https://127.0.0.1:")
    assert server.logged("tls=on"), server.stderr()


def test_flight_put_and_get_over_tls(start_server, tmp_path, certs):
    server = tls_server(start_server, tmp_path, certs)
    client = flight.connect(server.uri, tls_root_certs=pem(certs, "ca.pem"))
    table = five_column_table(100_000)
    replies = put(client, table, {"stream": "secure", "mode": "create"})
    assert replies[-1]["rows"] == 100_000
    back = get(client, {"sql": "SELECT * FROM secure ORDER BY id"})
    assert back.equals(table)


def test_flight_client_that_does_not_trust_the_ca_fails(start_server, tmp_path, certs):
    server = tls_server(start_server, tmp_path, certs)
    for roots in (None, pem(certs, "other.pem")):
        kwargs = {} if roots is None else {"tls_root_certs": roots}
        client = flight.connect(server.uri, **kwargs)
        with pytest.raises(flight.FlightUnavailableError):
            list(client.list_flights(options=flight.FlightCallOptions(timeout=30)))
    # A plaintext gRPC client is refused too.
    plain = flight.connect(server.uri.replace("grpc+tls://", "grpc://"))
    with pytest.raises(flight.FlightUnavailableError):
        list(plain.list_flights(options=flight.FlightCallOptions(timeout=30)))


def test_curl_with_cacert_ingests_and_queries(start_server, tmp_path, certs):
    server = tls_server(start_server, tmp_path, certs)
    ca = str(certs / "ca.pem")
    out = subprocess.run(["curl", "-sS", "--fail", "--cacert", ca, f"{server.http}/healthz"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "ok"
    body = tmp_path / "batch.arrows"
    body.write_bytes(ipc_bytes(five_column_table(5_000)))
    out = subprocess.run(["curl", "-sS", "--fail", "--cacert", ca, "-H", f"Content-Type: {ARROW}",
                          "--data-binary", f"@{body}", f"{server.http}/ingest/curled"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["rows"] == 5_000
    out = subprocess.run(["curl", "-sS", "--fail", "--cacert", ca, "-H",
                          "Content-Type: application/json", "--data",
                          json.dumps({"sql": "SELECT count(*)::BIGINT AS n FROM curled"}),
                          f"{server.http}/query?format=json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [{"n": 5000}]
    # Plain HTTP to the HTTPS port: a 400 that says why.
    out = subprocess.run(["curl", "-sS", server.http.replace("https://", "http://") + "/healthz"],
                         capture_output=True, text=True, timeout=60)
    assert json.loads(out.stdout)["error"]["code"] == "https_required", out
    # Without the CA, curl refuses the server's certificate (60: peer certificate).
    out = subprocess.run(["curl", "-sS", f"{server.http}/healthz"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 60, (out.returncode, out.stderr)


def test_requests_with_verify(start_server, tmp_path, certs):
    server = tls_server(start_server, tmp_path, certs)
    ca = str(certs / "ca.pem")
    table = five_column_table(50_000)
    r = requests.post(f"{server.http}/ingest/req", data=ipc_bytes(table),
                      headers={"Content-Type": ARROW}, verify=ca, timeout=60)
    assert r.status_code == 200, r.text
    # A large streamed (chunked) answer over TLS, on a kept-alive connection.
    with requests.Session() as session:
        for _ in range(3):
            r = session.get(f"{server.http}/tables/req", verify=ca, timeout=60)
            assert r.status_code == 200
            assert ipc.open_stream(pa.BufferReader(r.content)).read_all().equals(table)
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{server.http}/healthz", verify=str(certs / "other.pem"), timeout=30)
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{server.http}/healthz", timeout=30)  # system trust store only


def test_mutual_tls_flight(start_server, tmp_path, certs):
    server = tls_server(start_server, tmp_path, certs, client_ca=True)
    assert server.logged("client certificates required"), server.stderr()
    ca = pem(certs, "ca.pem")
    options = flight.FlightCallOptions(timeout=30)
    anonymous = flight.connect(server.uri, tls_root_certs=ca)
    with pytest.raises(flight.FlightUnavailableError):
        list(anonymous.list_flights(options=options))
    stranger = flight.connect(server.uri, tls_root_certs=ca, cert_chain=pem(certs, "stranger.pem"),
                              private_key=pem(certs, "stranger.key"))
    with pytest.raises(flight.FlightUnavailableError):
        list(stranger.list_flights(options=options))
    client = flight.connect(server.uri, tls_root_certs=ca, cert_chain=pem(certs, "client.pem"),
                            private_key=pem(certs, "client.key"))
    table = five_column_table(1_000)
    put(client, table, {"stream": "mtls", "mode": "create"})
    assert get(client, {"sql": "SELECT * FROM mtls ORDER BY id"}).equals(table)


def test_mutual_tls_https(start_server, tmp_path, certs):
    server = tls_server(start_server, tmp_path, certs, client_ca=True)
    refused = (requests.exceptions.SSLError, requests.exceptions.ConnectionError)
    with pytest.raises(refused):
        healthz(server, certs)
    with pytest.raises(refused):
        healthz(server, certs, cert=(str(certs / "stranger.pem"), str(certs / "stranger.key")))
    r = healthz(server, certs, cert=(str(certs / "client.pem"), str(certs / "client.key")))
    assert r.status_code == 200 and r.json()["status"] == "ok"
    out = subprocess.run(["curl", "-sS", "--fail", "--cacert", str(certs / "ca.pem"), "--cert",
                          str(certs / "client.pem"), "--key", str(certs / "client.key"),
                          f"{server.http}/healthz"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    out = subprocess.run(["curl", "-sS", "--fail", "--cacert", str(certs / "ca.pem"),
                          f"{server.http}/healthz"], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0


def closed_within(sock, seconds):
    """True when the server closes `sock` (EOF or reset) within `seconds`."""
    sock.settimeout(seconds)
    deadline = time.time() + seconds
    try:
        while time.time() < deadline:
            if not sock.recv(4096):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


def test_plaintext_garbage_and_silent_clients_do_not_hold_the_server(start_server, tmp_path,
                                                                      certs):
    server = tls_server(start_server, tmp_path, certs, extra="http:\n  header_timeout_s: 2\n")
    port = int(server.http.rsplit(":", 1)[1])
    silent = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(4)]
    plain = socket.create_connection(("127.0.0.1", port), timeout=30)
    plain.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    garbage = socket.create_connection(("127.0.0.1", port), timeout=30)
    garbage.sendall(b"\x16\x03\x01\xff\xff" + bytes(range(256)) * 8)
    # A handshake that starts and stops halfway holds the worker no longer than a silent one.
    partial = socket.create_connection(("127.0.0.1", port), timeout=30)
    partial.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    # Meanwhile TLS clients are served.
    for _ in range(5):
        assert healthz(server, certs).status_code == 200
    # The plain HTTP client is told, in plain text, to use HTTPS.
    plain.settimeout(30)
    answer = b""
    while b"https_required" not in answer:
        chunk = plain.recv(4096)
        if not chunk:
            break
        answer += chunk
    assert answer.startswith(b"HTTP/1.1 400") and b"https_required" in answer, answer
    assert closed_within(plain, 30)
    assert closed_within(garbage, 30)
    # Silent and half-handshake connections are dropped after the header timeout (2 s),
    # not held: well within 30 s even on a loaded machine.
    started = time.time()
    for sock in [*silent, partial]:
        assert closed_within(sock, 30)
    assert time.time() - started < 30
    for sock in [*silent, plain, garbage, partial]:
        sock.close()
    assert server.proc.poll() is None
    assert healthz(server, certs).status_code == 200


def test_client_leaving_mid_response(start_server, tmp_path, certs):
    server = tls_server(start_server, tmp_path, certs)
    client = flight.connect(server.uri, tls_root_certs=pem(certs, "ca.pem"))
    put(client, five_column_table(1_000_000), {"stream": "big", "mode": "create"})
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    port = int(server.http.rsplit(":", 1)[1])
    for _ in range(5):
        # Reads a little of a large answer, then vanishes: the server's writes fail (no
        # SIGPIPE may end the process) and the worker is freed.
        raw = socket.create_connection(("127.0.0.1", port), timeout=30)
        tls = context.wrap_socket(raw, server_hostname="127.0.0.1")
        tls.sendall(b"GET /tables/big HTTP/1.1\r\nHost: x\r\n\r\n")
        assert tls.recv(1024).startswith(b"HTTP/1.1 200")
        tls.shutdown(socket.SHUT_RDWR)  # TCP only: no close_notify
        tls.close()
    assert server.proc.poll() is None
    assert healthz(server, certs).status_code == 200


def test_an_http10_body_that_fails_midway_is_no_orderly_tls_end(start_server, tmp_path, certs):
    # Over TLS the server's close_notify ended a cut HTTP/1.0 body as if it were complete:
    # now no close_notify (and a reset), which a TLS client reports as a truncation.
    server = tls_server(start_server, tmp_path, certs)
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    port = int(server.http.rsplit(":", 1)[1])
    for sql, fails in ((FAILING_SQL, True), (b"SELECT * FROM range(300000)", False)):
        raw = socket.create_connection(("127.0.0.1", port), timeout=30)
        with context.wrap_socket(raw, server_hostname="127.0.0.1",
                                 suppress_ragged_eofs=False) as tls:
            tls.sendall(http10_query(sql, "json"))
            data, error = read_until_closed(tls)
        assert data.startswith(b"HTTP/1.1 200"), data[:200]
        if fails:
            assert error is not None and not data.endswith(b"]\n"), data[-200:]
        else:
            assert error is None and data.endswith(b"]\n"), data[-200:]


@pytest.mark.slow
def test_query_stops_when_its_tls_client_disconnects(start_server, tmp_path, certs):
    # The watchdog sees the hang-up on the socket under the TLS session, as for plain HTTP.
    server = tls_server(start_server, tmp_path, certs)
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    port = int(server.http.rsplit(":", 1)[1])
    tls = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30),
                              server_hostname="127.0.0.1")
    body = json.dumps({"sql": SLOW_SQL}).encode()
    tls.sendall((f"POST /query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
    time.sleep(1)
    before = cpu_seconds(server)
    time.sleep(3)
    assert cpu_seconds(server) - before > 0.2  # the query is running (so this can fail)
    tls.close()
    time.sleep(1.5)
    before = cpu_seconds(server)
    time.sleep(3)
    used = cpu_seconds(server) - before
    assert used < 0.5, f"server used {used:.2f} s of CPU in 3 s after its client left"
    assert healthz(server, certs).status_code == 200


def test_adbc_flight_sql_over_tls(start_server, tmp_path, certs):
    flight_sql = pytest.importorskip("adbc_driver_flightsql.dbapi")
    server = tls_server(start_server, tmp_path, certs)
    ca = (certs / "ca.pem").read_text()
    with flight_sql.connect(server.uri, autocommit=True, db_kwargs={
            "adbc.flight.sql.client_option.tls_root_certs": ca}) as conn, conn.cursor() as cur:
        cur.execute("SELECT 42 AS answer")
        assert cur.fetchall() == [(42,)]


def test_cli_query_and_ingest_over_tls_with_tls_ca(start_server, tmp_path, certs):
    server = tls_server(start_server, tmp_path, certs)
    ca = str(certs / "ca.pem")
    data = tmp_path / "rows.arrows"
    data.write_bytes(ipc_bytes(five_column_table(2_000)))
    for url in (server.uri, server.http):
        out = run_cli("ingest", str(data), "--stream", "cli_tls", "--server", url, "--tls-ca", ca)
        assert out.returncode == 0, out.stderr.decode()
        out = run_cli("query", "SELECT count(*) AS n FROM cli_tls", "--format", "csv",
                      "--server", url, "--tls-ca", ca)
        assert out.returncode == 0, out.stderr.decode()
        assert out.stdout.decode().split() == ['"n"', "2000" if url == server.uri else "4000"]
        # Without the test CA the server's certificate is not trusted.
        out = run_cli("query", "SELECT 1", "--server", url, timeout=120)
        assert out.returncode == 1, out.stderr.decode()
    out = run_cli("tables", "--server", server.uri, "--tls-ca", ca)
    assert out.returncode == 0 and "cli_tls" in out.stdout.decode()
    # The SQL shell takes TLS as the other client commands do.
    out = run_cli("sql", "--server", server.uri, "--tls-ca", ca, "--mode", "csv",
                  "-c", "SELECT count(*) AS n FROM cli_tls")
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.decode().split() == ['"n"', "4000"]


def test_cli_trusts_the_ca_store_ssl_cert_file_names(start_server, tmp_path, certs):
    """Issue 65: without --tls-ca the CLI's clients (Flight, the SQL shell, HTTPS) trust the
    host's CA store, not their libraries' compiled-in paths (Debian's, in a portable
    build), and SSL_CERT_FILE names that store: the test CA given there alone is trusted,
    another file's CAs are not, and a missing file is an error saying so."""
    server = tls_server(start_server, tmp_path, certs)
    def env(cert_file):
        return {**{k: v for k, v in os.environ.items() if not k.startswith(("SSL_CERT_",
                                                                             "ARROWPORT_TLS"))},
                "SSL_CERT_FILE": str(cert_file)}
    trusted, untrusted, missing = env(certs / "ca.pem"), env(certs / "other.pem"), env(
        tmp_path / "missing.pem")
    for url in (server.uri, server.http):
        out = run_cli("query", "SELECT 42 AS n", "--format", "csv", "--server", url,
                      env=trusted)
        assert out.returncode == 0, (url, out.stderr.decode())
        assert out.stdout.decode().split() == ['"n"', "42"]
        out = run_cli("query", "SELECT 42 AS n", "--server", url, env=untrusted, timeout=120)
        stderr = out.stderr.decode()
        assert out.returncode == 1, (url, stderr)
        assert "is not signed by a CA this system trusts" in stderr, (url, stderr)
        assert f"SSL_CERT_FILE={certs / 'other.pem'}" in stderr, (url, stderr)
        out = run_cli("query", "SELECT 42 AS n", "--server", url, env=missing, timeout=120)
        stderr = out.stderr.decode()
        assert out.returncode == 1, (url, stderr)
        assert f"SSL_CERT_FILE='{tmp_path / 'missing.pem'}' names no readable file" in stderr, (
            url, stderr)
    out = run_cli("sql", "--server", server.uri, "--mode", "csv", "-c", "SELECT 7 AS n",
                  env=trusted)
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.decode().split() == ['"n"', "7"]


def test_s3_over_https_trusts_the_ca_store_ssl_cert_file_names(start_server, tmp_path, certs):
    """Issue 65: the lake's S3 client (libcurl) trusts the host's CA store, which
    SSL_CERT_FILE names, not libcurl's compiled-in path: MinIO over HTTPS, with a
    certificate of the test CA, takes the server's writes when SSL_CERT_FILE names that
    CA, and the server refuses them, naming the CAs it trusted, when it names another."""
    from lake_util import Minio, events, lake_stream, start_lake_server
    (tmp_path / "minio" / "certs").mkdir(parents=True)
    shutil.copy(certs / "server.pem", tmp_path / "minio" / "certs" / "public.crt")
    shutil.copy(certs / "server.key", tmp_path / "minio" / "certs" / "private.key")
    store = Minio(tmp_path / "minio", ca=certs / "ca.pem").start()
    try:
        for name, ca in (("trusted", "ca.pem"), ("untrusted", "other.pem")):
            env = {**{k: v for k, v in os.environ.items() if not k.startswith("SSL_CERT_")},
                   "SSL_CERT_FILE": str(certs / ca)}
            server = start_lake_server(start_server, tmp_path,
                                       {"events": lake_stream(store.url(name))},
                                       minio=store, name=name, env=env)
            table = events(range(100))
            if name == "trusted":
                assert put(server.client(), table, {"stream": "events"})[-1]["rows"] == 100
                assert get(server.client(), {"sql": "SELECT count(*) AS n FROM events"}
                           ).column("n").to_pylist() == [100]
            else:
                with pytest.raises(pa.ArrowException) as refused:
                    put(server.client(), table, {"stream": "events"})
                message = str(refused.value)
                assert "TLS with S3 endpoint" in message, message
                assert f"SSL_CERT_FILE={certs / 'other.pem'}" in message, message
    finally:
        store.stop()


def jdbc_query(classpath, url, sql):
    return subprocess.run(["java", "--add-opens=java.base/java.nio=ALL-UNNAMED", "-cp", classpath,
                           "arrowport.JdbcQuery", url, sql],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_jdbc_over_tls_with_the_test_ca(start_server, tmp_path, certs, jdbc_classpath):
    server = tls_server(start_server, tmp_path, certs)
    host, port = server.uri.removeprefix("grpc+tls://").rsplit(":", 1)
    base = f"jdbc:arrow-flight-sql://{host}:{port}/?useEncryption=true"
    out = jdbc_query(jdbc_classpath, f"{base}&tlsRootCerts={certs / 'ca.pem'}", "SELECT 42")
    assert "JDBC RESULT 42" in out.stdout, out.stdout + out.stderr
    # The JVM's own trust store does not hold the test CA: refused.
    out = jdbc_query(jdbc_classpath, base, "SELECT 42")
    assert out.returncode != 0 and "JDBC RESULT" not in out.stdout


@pytest.mark.parametrize("case", ["not_pem", "mismatched_key", "missing", "client_ca_not_pem",
                                  "encrypted_key"])
def test_unusable_tls_files_are_start_up_errors(tmp_path, certs, case):
    cert, key, client_ca = certs / "server.pem", certs / "server.key", None
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    if case == "not_pem":
        cert = junk
    elif case == "mismatched_key":
        key = certs / "client.key"
    elif case == "missing":
        cert = tmp_path / "absent.pem"
    elif case == "encrypted_key":
        # Refused with a message, never a password prompt on the terminal.
        key = tmp_path / "encrypted.key"
        openssl("pkey", "-in", str(certs / "server.key"), "-aes256", "-passout", "pass:secret",
                "-out", str(key), cwd=tmp_path)
    else:
        client_ca = junk
    config = tmp_path / "bad.yaml"
    config.write_text(f"tls:\n  cert: {cert}\n  key: {key}\n" +
                      (f"  client_ca: {client_ca}\n" if client_ca else ""))
    out = run_cli("serve", "--config", str(config), "--db", str(tmp_path / "x.duckdb"),
                  "--flight-port", "0", "--http-port", "0", input=b"", timeout=120)
    stderr = out.stderr.decode()
    assert out.returncode == 2, stderr
    expected = {"not_pem": "tls.cert", "mismatched_key": "does not match",
                "missing": "no such file", "client_ca_not_pem": "tls.client_ca",
                "encrypted_key": "encrypted"}[case]
    assert expected in stderr, stderr


def test_a_key_other_users_may_read_is_refused_or_warned_of(start_server, tmp_path, certs):
    """A tls.key every user could read (mode 0644) was loaded without a word (the attack
    on issue 64's fixes): refused at start, naming the file and the fix, as OpenSSH
    refuses such a key; one its group may read starts with a warning."""
    key = tmp_path / "server.key"
    key.write_bytes((certs / "server.key").read_bytes())
    config = tmp_path / "tls.yaml"
    config.write_text(f"tls:\n  cert: {certs / 'server.pem'}\n  key: {key}\n")
    key.chmod(0o644)
    out = run_cli("serve", "--config", str(config), "--db", str(tmp_path / "x.duckdb"),
                  "--flight-port", "0", "--http-port", "0", input=b"", timeout=120)
    stderr = out.stderr.decode()
    assert out.returncode == 2, stderr
    assert (f"tls.key '{key}' may be read by every user of this machine (mode 0644)"
            in stderr), stderr
    assert f"chmod 600 {key}" in stderr, stderr
    key.chmod(0o640)
    server = start_server("--config", str(config))
    assert server.logged(f"tls.key '{key}' may be read by group"), server.stderr()
    assert server.http.startswith("https://")


def curl_seconds(url, ca=None):
    args = ["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{time_total} %{size_download}"]
    if ca:
        args += ["--cacert", ca]
    out = subprocess.run([*args, url], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    seconds, size = out.stdout.split()
    return float(seconds), int(size)


@pytest.mark.slow
@pytest.mark.measures
def test_https_read_throughput_against_http(start_server, tmp_path, certs):
    """HTTPS vs HTTP read of a 10M-row, 4-column Arrow IPC result, best of 3 each, same
    run (alternating). Prints the figures; fails only if TLS costs more than 3x."""
    rows = 10_000_000
    plain = start_server(db=tmp_path / "plain.duckdb")
    (tmp_path / "tls").mkdir()
    secure = tls_server(start_server, tmp_path / "tls", certs)
    sql = ("CREATE TABLE wide AS SELECT range AS id, range * 0.5 AS value, "
           "range % 2 = 0 AS flag, TIMESTAMP '2024-01-01' + to_microseconds(range) AS ts "
           f"FROM range({rows})")
    ca = str(certs / "ca.pem")
    for server, verify in ((plain, True), (secure, ca)):
        r = requests.post(f"{server.http}/query", json={"sql": sql}, verify=verify, timeout=600)
        assert r.status_code == 200, r.text
    best = {"http": float("inf"), "https": float("inf")}
    cpu = {"http": float("inf"), "https": float("inf")}
    sizes = {}
    for _ in range(3):
        for name, server, cafile in (("http", plain, None), ("https", secure, ca)):
            before = cpu_seconds(server)
            seconds, size = curl_seconds(f"{server.http}/tables/wide", cafile)
            cpu[name] = min(cpu[name], cpu_seconds(server) - before)
            best[name] = min(best[name], seconds)
            sizes[name] = size
    assert sizes["http"] == sizes["https"] > rows * 25
    report = {name: {"seconds": round(s, 3), "rows_per_s": round(rows / s),
                     "MB_per_s": round(sizes[name] / s / 1e6, 1),
                     "server_cpu_s": round(cpu[name], 2)} for name, s in best.items()}
    report["https_over_http"] = round(best["http"] / best["https"], 2)
    print("\nTLS read throughput:", json.dumps(report))
    assert best["https"] < 3 * best["http"], report


def test_sigterm_with_open_tls_connections_exits_promptly(start_server, tmp_path, certs):
    server = tls_server(start_server, tmp_path, certs,
                        extra="limits:\n  shutdown_grace_s: 5\n")
    port = int(server.http.rsplit(":", 1)[1])
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    # One kept-alive TLS connection after a request, one mid-handshake, one silent.
    idle = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30),
                               server_hostname="127.0.0.1")
    idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert idle.recv(4096).startswith(b"HTTP/1.1 200")
    partial = socket.create_connection(("127.0.0.1", port), timeout=30)
    partial.sendall(b"\x16\x03\x01\x02\x00\x01")
    silent = socket.create_connection(("127.0.0.1", port), timeout=30)
    started = time.time()
    assert server.stop(timeout=60) == 0
    assert time.time() - started < 30, "shutdown waited on idle TLS connections"
    for sock in (idle, partial, silent):
        sock.close()


def test_connection_cap_over_tls_closes_the_extra_connection(start_server, tmp_path, certs):
    server = tls_server(start_server, tmp_path, certs, extra="http:\n  max_connections: 2\n")
    port = int(server.http.rsplit(":", 1)[1])
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    held = []
    # From two addresses: one address holds at most half the slots
    # (limits.max_connections_per_address).
    for source in ("127.0.0.2", "127.0.0.3"):
        tls = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30,
                                                           source_address=(source, 0)),
                                  server_hostname="127.0.0.1")
        tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert tls.recv(4096).startswith(b"HTTP/1.1 200")
        held.append(tls)
    # Over the cap: closed at once, without plain text a TLS client could not read.
    extra = socket.create_connection(("127.0.0.1", port), timeout=30)
    with pytest.raises(OSError):  # ssl.SSLError, a reset or EOF during the handshake
        context.wrap_socket(extra, server_hostname="127.0.0.1")
    extra.close()
    for tls in held:
        tls.close()
    # The slots come back once the server has seen the closes: a new connection is served
    # again. (Checked once, not twice in a row: with a cap of one connection per address,
    # the next connection races the server's close of the one before it.)
    deadline = time.time() + 30
    served = False
    while time.time() < deadline and not served:
        try:
            served = healthz(server, certs).status_code == 200
        except requests.exceptions.ConnectionError:
            pass
        if not served:
            time.sleep(0.2)
    assert served


def test_tls_bench_reads_beside_arrow_flights_own_tls(tmp_path):
    """`arrowport bench --only tls`: our reads in the clear and over TLS, beside the ceiling
    (Arrow Flight's own server of the in-memory table, in the clear and over TLS), every
    read complete (the bench checks row counts) and each row with its ratio."""
    import re
    from conftest import run_cli
    done = run_cli("bench", "--only", "tls", "--rows", "30000", "--repeat", "1",
                   "--dir", str(tmp_path), timeout=300)
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode() + out
    for label in ("ceiling: plain Flight DoGet of the in-memory table, grpc / grpc+tls",
                  "Flight DoGet, grpc / grpc+tls", "HTTP POST /query (Arrow), http / https"):
        assert re.search(re.escape(label) + r" \| [\d.]+ M / [\d.]+ M \| [\d.]+ x \|", out), out
    assert re.search(r"Flight DoGet: [\d.]+ x the ceiling over grpc\+tls", out), out
