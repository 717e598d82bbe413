"""Users, roles and tokens (design section 7) on every surface, against the real server:
Flight (pyarrow, Basic exchanged for a bearer token, Handshake), Flight SQL (ADBC with
username/password), HTTP (Basic, Bearer, POST /auth/token); expired tokens, hot reload that
revokes a user, and secure-by-default binds. Password hashes come from the real
`arrowport hash-password`."""
import base64
import os
import json
import shutil
import subprocess
import time

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight
import pytest
import requests

from conftest import ARROWPORT, RunningServer, run_cli
from flightsql_wire import any_message
from rawflight import _field
from test_flight_roundtrip import get, put
from test_http import ARROW, ipc_bytes

PASSWORDS = {"reader": "r-secret", "writer": "w-secret", "admin": "a-secret", "narrow": "n-secret"}
PEOPLE = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": ["a", "b", "c"]})


def hash_password(password):
    proc = run_cli("hash-password", input=(password + "\n").encode(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    hashed = proc.stdout.decode().strip()
    assert hashed.startswith("$argon2id$v=19$"), hashed
    return hashed


@pytest.fixture(scope="module")
def hashes():
    return {user: hash_password(password) for user, password in PASSWORDS.items()}


def users_yaml(hashes, users=("reader", "writer", "admin", "narrow"), roles=None):
    roles = {"reader": "reader", "writer": "writer", "admin": "admin", "narrow": "reader",
             **(roles or {})}
    extra = {"writer": ", streams: [events]", "narrow": ", tables: [people]"}
    lines = ["auth:", "  users:"]
    for user in users:
        lines.append(f'    - {{name: {user}, password_hash: "{hashes[user]}", '
                     f'role: {roles[user]}{extra.get(user, "")}}}')
    return "\n".join(lines) + "\n"


def start_with_config(tmp_path, text, name="auth.yaml"):
    config = tmp_path / name
    config.write_text(text)
    return config, RunningServer(["--config", str(config), "--db", str(tmp_path / "auth.duckdb"),
                                  "--flight-port", "0", "--http-port", "0"], cwd=tmp_path)


@pytest.fixture
def auth_server(tmp_path, hashes):
    config, server = start_with_config(tmp_path, users_yaml(hashes))
    server.config = config
    try:
        client, options = flight_login(server, "admin")
        put_with(client, options, PEOPLE, {"stream": "people", "mode": "create"})
        yield server
    finally:
        server.stop()


def basic(user, password=None):
    raw = f"{user}:{PASSWORDS[user] if password is None else password}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def flight_login(server, user, password=None):
    """What pyarrow clients do: Basic in the Handshake's headers, bearer token back."""
    client = flight.connect(server.uri)
    pair = client.authenticate_basic_token(user, PASSWORDS[user] if password is None else password)
    assert pair[0] == b"authorization" and pair[1].startswith(b"Bearer "), pair
    return client, flight.FlightCallOptions(headers=[pair], timeout=60)


def put_with(client, options, table, command):
    return put(client, table, command, options=options)


def ticket(doc):
    return flight.Ticket(json.dumps(doc).encode())


def action(client, options, name):
    return [json.loads(r.body.to_pybytes()) for r in client.do_action(flight.Action(name, b""),
                                                                      options=options)]


def http_token(server, user):
    # Expiry is in whole seconds: a 1 s token asked for on a slow (sanitized) server can
    # already be at its expiry when the reply is read, but never before it was asked for.
    asked = time.time()
    r = requests.post(f"{server.http}/auth/token", headers={"Authorization": basic(user)},
                      timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["expires_at"] > asked
    return body["token"]


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


# ---- Flight ----

def test_flight_without_or_with_bad_credentials_is_unauthenticated(auth_server):
    client = flight.connect(auth_server.uri)
    with pytest.raises(flight.FlightUnauthenticatedError):
        client.do_get(ticket({"table": "people"})).read_all()
    with pytest.raises(flight.FlightUnauthenticatedError):
        list(client.list_flights())
    with pytest.raises(flight.FlightUnauthenticatedError):
        client.authenticate_basic_token("reader", "wrong")
    with pytest.raises(flight.FlightUnauthenticatedError):
        client.authenticate_basic_token("nobody", "r-secret")
    forged = flight.FlightCallOptions(headers=[(b"authorization", b"Bearer abc.def.ghi")])
    with pytest.raises(flight.FlightUnauthenticatedError):
        client.do_get(ticket({"table": "people"}), options=forged).read_all()
    # Each decision is audited: user, protocol, peer, outcome, reason.
    deadline = time.time() + 30
    while "invalid user name or password" not in auth_server.stderr() and time.time() < deadline:
        time.sleep(0.2)
    audit = [l for l in auth_server.stderr().splitlines() if "auth" in l and "denied" in l]
    assert any("user=reader" in l and "protocol=flight" in l and "peer=" in l and
               "invalid user name or password" in l for l in audit), audit


def test_flight_roles(auth_server):
    reader, r_opts = flight_login(auth_server, "reader")
    writer, w_opts = flight_login(auth_server, "writer")
    admin, a_opts = flight_login(auth_server, "admin")
    # Reads: every role.
    for client, options in ((reader, r_opts), (writer, w_opts), (admin, a_opts)):
        assert client.do_get(ticket({"table": "people"}), options=options).read_all().num_rows == 3
        assert client.do_get(ticket({"sql": "SELECT 42 AS x"}), options=options).read_all() \
            .column("x").to_pylist() == [42]
        info = client.get_flight_info(flight.FlightDescriptor.for_path("people"), options=options)
        assert info.schema.names == ["id", "name"]
        assert "people" in [f.descriptor.path[0].decode() for f in client.list_flights(options=options)]
        assert action(client, options, "list_streams") is not None
        assert action(client, options, "health")[0]["status"] == "ok"
    # Ingest: writer (its listed streams only) and admin.
    with pytest.raises(flight.FlightUnauthorizedError, match="needs role writer"):
        put_with(reader, r_opts, PEOPLE, {"stream": "events"})
    assert put_with(writer, w_opts, PEOPLE, {"stream": "events"})[-1]["rows"] == 3
    with pytest.raises(flight.FlightUnauthorizedError, match="allowed streams: events"):
        put_with(writer, w_opts, PEOPLE, {"stream": "people"})
    with pytest.raises(flight.FlightUnauthorizedError, match="may not write table"):
        put_with(writer, w_opts, PEOPLE, {"stream": "events", "table": "people"})
    assert put_with(admin, a_opts, PEOPLE, {"stream": "people"})[-1]["rows"] == 3
    # Server actions: admin only.
    for name in ("checkpoint", "reload_config"):
        for client, options in ((reader, r_opts), (writer, w_opts)):
            with pytest.raises(flight.FlightUnauthorizedError, match="needs role admin"):
                action(client, options, name)
        assert action(admin, a_opts, name) == [{"status": "ok"}]
    # The requests are logged under the user's name.
    assert any("do_put" in l and "user=writer" in l for l in auth_server.stderr().splitlines())


def test_flight_basic_on_every_call_and_table_lists(auth_server):
    client = flight.connect(auth_server.uri)
    options = flight.FlightCallOptions(headers=[(b"authorization", basic("narrow").encode())])
    # A Basic call works directly (and is cached: many calls, one KDF run).
    start = time.time()
    for _ in range(20):
        assert client.do_get(ticket({"table": "people"}), options=options).read_all().num_rows == 3
    assert time.time() - start < 20
    # narrow reads only its tables, by name and by SQL (the SQL sandbox holds it to them).
    put_with(*flight_login(auth_server, "admin"), PEOPLE, {"stream": "secret", "mode": "create"})
    with pytest.raises(flight.FlightUnauthorizedError, match="may not read table 'secret'"):
        client.do_get(ticket({"table": "secret"}), options=options).read_all()
    with pytest.raises(flight.FlightUnauthorizedError, match="may not read 'secret'"):
        client.do_get(ticket({"sql": "SELECT * FROM secret"}), options=options).read_all()
    sql = "SELECT count(*) AS n FROM people WHERE id IN (SELECT id FROM people)"
    assert client.do_get(ticket({"sql": sql}), options=options).read_all().to_pylist() == [{"n": 3}]
    listed = [f.descriptor.path[0].decode() for f in client.list_flights(options=options)]
    assert listed == ["people"]


# ---- Flight SQL (ADBC) ----

def adbc_connect(server, user, password=None):
    return flight_sql.connect(server.uri, db_kwargs={
        "username": user, "password": PASSWORDS[user] if password is None else password})


def test_one_user_cannot_take_every_flight_sql_slot(tmp_path, hashes):
    """A reader opened prepared statements (and transactions) until the server-wide caps
    were full, and the admin was refused everything (issue 64's attack): signed-in users
    each get a quarter of every cap."""
    _, server = start_with_config(tmp_path, users_yaml(hashes) +
                                  "flight:\n  sql_max_statements: 8\n")
    try:
        with adbc_connect(server, "reader") as reader:
            held = [reader.cursor() for _ in range(3)]
            held[0].adbc_prepare("SELECT 1")
            held[1].adbc_prepare("SELECT 2")
            with pytest.raises(adbc_driver_manager.Error,
                               match="user 'reader' holds its limit of 2 open prepared"):
                held[2].adbc_prepare("SELECT 3")
            with adbc_connect(server, "admin") as admin, admin.cursor() as cur:
                cur.execute("SELECT 42")
                assert cur.fetchone() == (42,)
            for cur in held:
                cur.close()
    finally:
        server.stop()


def test_flight_sql_adbc_username_password(auth_server):
    with adbc_connect(auth_server, "reader") as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM people")
        assert cur.fetchone() == (3,)
        assert conn.adbc_get_table_schema("people").names == ["id", "name"]
        with pytest.raises(adbc_driver_manager.Error, match="(?i)permission|needs role writer"):
            cur.adbc_ingest("events", PEOPLE, mode="create_append")
    with adbc_connect(auth_server, "writer") as conn, conn.cursor() as cur:
        assert cur.adbc_ingest("events", PEOPLE, mode="create_append") == 3
        with pytest.raises(adbc_driver_manager.Error, match="allowed streams: events"):
            cur.adbc_ingest("landed", PEOPLE, mode="create")
    with adbc_connect(auth_server, "admin") as conn, conn.cursor() as cur:
        assert cur.adbc_ingest("landed", PEOPLE, mode="create") == 3
        cur.execute("SELECT count(*) FROM landed")
        assert cur.fetchone() == (3,)
    with pytest.raises(adbc_driver_manager.Error, match="(?i)unauthenticated|invalid user"):
        with adbc_connect(auth_server, "reader", "wrong") as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchall()


# ---- HTTP ----

def test_http_open_routes_and_unauthenticated(auth_server):
    healthz = requests.get(f"{auth_server.http}/healthz", timeout=30).json()
    assert healthz["status"] == "ok" and healthz["storage"]["state"] == "ok", healthz
    # Anyone may call it: the storage's state without the server's paths.
    assert "path" not in healthz["storage"]["disk"], healthz
    ready = requests.get(f"{auth_server.http}/readyz", timeout=30)
    assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
    assert ready.json()["storage"]["writes"] == "accepted" and "writes" not in ready.json()
    for method, path in (("GET", "/tables"), ("GET", "/tables/people"), ("GET", "/streams"),
                         ("POST", "/query"), ("POST", "/ingest/events"), ("POST", "/stream/events"),
                         ("GET", "/openapi.json"), ("POST", "/auth/token")):
        r = requests.request(method, auth_server.http + path, timeout=30)
        assert r.status_code == 401, (path, r.text)
        assert r.headers["WWW-Authenticate"] == 'Basic realm="arrowport", Bearer'
        assert r.json()["error"]["code"] == "unauthenticated"
    r = requests.get(f"{auth_server.http}/tables", headers={"Authorization": basic("reader", "x")},
                     timeout=30)
    assert r.status_code == 401
    r = requests.get(f"{auth_server.http}/tables", headers=bearer("not-a-token"), timeout=30)
    assert r.status_code == 401


def test_http_basic_bearer_and_roles(auth_server):
    http = auth_server.http
    body = ipc_bytes(PEOPLE)
    arrow = {"Content-Type": ARROW}
    # Basic directly, and Bearer from POST /auth/token.
    r = requests.get(f"{http}/tables/people", headers={"Authorization": basic("reader")},
                     params={"format": "json"}, timeout=60)
    assert r.status_code == 200 and len(r.json()) == 3
    tokens = {user: http_token(auth_server, user) for user in ("reader", "writer", "admin")}
    # A token cannot mint its successor.
    r = requests.post(f"{http}/auth/token", headers=bearer(tokens["reader"]), timeout=30)
    assert r.status_code == 401
    for user, token in tokens.items():
        r = requests.post(f"{http}/query", json={"sql": "SELECT count(*)::BIGINT AS n FROM people"},
                          params={"format": "json"}, headers=bearer(token), timeout=60)
        assert r.status_code == 200 and r.json() == [{"n": 3}], (user, r.text)
        assert requests.get(f"{http}/tables", headers=bearer(token), timeout=60).status_code == 200
        assert requests.get(f"{http}/tables/people/schema", headers=bearer(token),
                            timeout=60).status_code == 200
    # Ingest: writer on its stream, admin anywhere, reader nowhere.
    r = requests.post(f"{http}/ingest/events", data=body, headers={**arrow, **bearer(tokens["reader"])},
                      timeout=60)
    assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied", r.text
    r = requests.post(f"{http}/ingest/events", data=body, headers={**arrow, **bearer(tokens["writer"])},
                      timeout=60)
    assert r.status_code == 200 and r.json()["rows"] == 3, r.text
    r = requests.post(f"{http}/ingest/people", data=body, headers={**arrow, **bearer(tokens["writer"])},
                      timeout=60)
    assert r.status_code == 403 and "allowed streams: events" in r.text
    r = requests.post(f"{http}/ingest/events", data=body, params={"table": "people"},
                      headers={**arrow, **bearer(tokens["writer"])}, timeout=60)
    assert r.status_code == 403
    seed = {"batch": {"data": base64.b64encode(body).decode()}}
    r = requests.post(f"{http}/stream/people", json=seed, headers=bearer(tokens["writer"]), timeout=60)
    assert r.status_code == 403, r.text
    r = requests.post(f"{http}/stream/events", json=seed, headers=bearer(tokens["writer"]), timeout=60)
    assert r.status_code == 200, r.text
    r = requests.post(f"{http}/ingest/people", data=body, headers={**arrow, **bearer(tokens["admin"])},
                      timeout=60)
    assert r.status_code == 200, r.text
    # narrow reads its table only.
    narrow = {"Authorization": basic("narrow")}
    assert requests.get(f"{http}/tables/people", headers=narrow, timeout=60).status_code == 200
    assert requests.get(f"{http}/tables/events", headers=narrow, timeout=60).status_code == 403
    assert requests.get(f"{http}/tables/events/schema", headers=narrow, timeout=60).status_code == 403
    listed = requests.get(f"{http}/tables", headers=narrow, timeout=60).json()["tables"]
    assert [t["name"] for t in listed] == ["people"]
    r = requests.post(f"{http}/query?format=json", data="SELECT count(*) AS n FROM people",
                      headers=narrow, timeout=60)
    assert r.status_code == 200, r.text
    assert requests.post(f"{http}/query", data="SELECT * FROM events", headers=narrow,
                         timeout=60).status_code == 403
    # Request lines name the user.
    lines = auth_server.stderr().splitlines()
    assert any("path=/ingest/events" in l and "user=writer" in l for l in lines)


def test_flight_token_works_over_http_and_back(auth_server):
    """One token format for both protocols."""
    token = http_token(auth_server, "reader")
    client = flight.connect(auth_server.uri)
    options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())])
    assert client.do_get(ticket({"table": "people"}), options=options).read_all().num_rows == 3


# ---- Tokens: expiry and revocation ----

def test_expired_token_is_refused(tmp_path, hashes):
    _, server = start_with_config(tmp_path, users_yaml(hashes, users=("reader",)) +
                                  "  token_ttl_s: 1\n")
    try:
        token = http_token(server, "reader")
        client, options = flight_login(server, "reader")
        time.sleep(2.5)
        r = requests.get(f"{server.http}/tables", headers=bearer(token), timeout=30)
        assert r.status_code == 401 and "expired" in r.json()["error"]["message"], r.text
        with pytest.raises(flight.FlightUnauthenticatedError, match="expired"):
            list(client.list_flights(options=options))
    finally:
        server.stop()


def test_hot_reload_removing_a_user_revokes_their_token(auth_server, hashes):
    token = http_token(auth_server, "writer")
    reader_token = http_token(auth_server, "reader")
    assert requests.get(f"{auth_server.http}/tables", headers=bearer(token), timeout=30).status_code == 200
    # writer removed, reader promoted: both tokens stop working.
    auth_server.config.write_text(users_yaml(hashes, users=("reader", "admin"),
                                             roles={"reader": "writer"}))
    admin, a_opts = flight_login(auth_server, "admin")
    assert action(admin, a_opts, "reload_config") == [{"status": "ok"}]
    r = requests.get(f"{auth_server.http}/tables", headers=bearer(token), timeout=30)
    assert r.status_code == 401 and "no longer exists" in r.text, r.text
    r = requests.get(f"{auth_server.http}/tables", headers=bearer(reader_token), timeout=30)
    assert r.status_code == 401 and "role" in r.text, r.text
    assert requests.post(f"{auth_server.http}/auth/token", headers={"Authorization": basic("writer")},
                         timeout=30).status_code == 401
    # A fresh login gets the new role.
    r = requests.post(f"{auth_server.http}/ingest/events", data=ipc_bytes(PEOPLE),
                      headers={"Content-Type": ARROW, "Authorization": basic("reader")}, timeout=60)
    assert r.status_code == 200, r.text


# ---- Secure by default ----

def test_non_loopback_bind_without_users_refuses_to_start(tmp_path):
    proc = subprocess.run([ARROWPORT, "serve", "--host", "0.0.0.0", "--db", str(tmp_path / "x.duckdb"),
                           "--flight-port", "0", "--http-port", "0"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "without authentication is refused" in proc.stderr
    assert "auth.users" in proc.stderr and "enabled: false" in proc.stderr


def test_explicitly_disabled_auth_on_a_public_address_warns(tmp_path):
    config = tmp_path / "open.yaml"
    config.write_text("auth: {enabled: false}\n")
    server = RunningServer(["--config", str(config), "--host", "0.0.0.0",
                            "--db", str(tmp_path / "x.duckdb"), "--flight-port", "0",
                            "--http-port", "0"], cwd=tmp_path)
    try:
        assert "SECURITY WARNING" in server.stderr() or server.logged("SECURITY WARNING")
        port = server.http.rsplit(":", 1)[1]
        ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=30).json()
        assert ready["status"] == "ready" and "authentication is disabled" in ready["warning"]
        # Everyone is an anonymous admin.
        client = flight.connect(f"grpc://127.0.0.1:{server.port}")
        assert action(client, flight.FlightCallOptions(timeout=60), "checkpoint") == [{"status": "ok"}]
    finally:
        server.stop()


def test_plain_text_password_refused_at_start(tmp_path):
    config = tmp_path / "plain.yaml"
    config.write_text("auth:\n  users:\n    - {name: bob, password_hash: hunter2, role: admin}\n")
    proc = subprocess.run([ARROWPORT, "serve", "--config", str(config), "--db", str(tmp_path / "x.duckdb")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "plain-text passwords are refused" in proc.stderr and "hash-password" in proc.stderr


def test_a_config_with_secrets_other_users_may_read_is_refused(tmp_path, hashes):
    """Found by the fifth attack (issue 64): the packaged config was 0644, and any local
    user read auth.token_secret from it and forged an admin token. A config holding a
    secret that every user may read stops the start (exit 2) naming the file, the keys and
    the fix; one a group may read starts with a warning; a reload that finds the file
    opened up is refused and the previous config stays in force."""
    config = tmp_path / "secrets.yaml"
    config.write_text(users_yaml(hashes, users=("reader", "admin")) +
                      f"  token_secret: {'s' * 40}\n")
    config.chmod(0o644)
    proc = subprocess.run([ARROWPORT, "serve", "--config", str(config), "--db",
                           str(tmp_path / "x.duckdb"), "--flight-port", "0", "--http-port", "0"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert (f"config file '{config}' holds secrets (auth.token_secret, "
            f"auth.users[].password_hash) and every user of this machine may read it "
            f"(mode 0644)") in proc.stderr, proc.stderr
    assert f"chmod 600 {config}" in proc.stderr, proc.stderr

    config.chmod(0o640)
    server = RunningServer(["--config", str(config), "--db", str(tmp_path / "x.duckdb"),
                            "--flight-port", "0", "--http-port", "0"], cwd=tmp_path,
                           keep_config_mode=True)
    try:
        assert server.logged("holds secrets (auth.token_secret, auth.users[].password_hash) "
                             "and group "), server.stderr()
        r = requests.get(f"{server.http}/tables", headers={"Authorization": basic("reader")},
                         timeout=30)
        assert r.status_code == 200, r.text
        # Replaced while serving by one without the reader that every user may read: the
        # reload is refused.
        opened = tmp_path / "opened.yaml"
        opened.write_text(users_yaml(hashes, users=("admin",)) + f"  token_secret: {'s' * 40}\n")
        opened.chmod(0o604)
        os.replace(opened, config)
        assert server.logged("every user of this machine may read it (mode 0604)"), \
            server.stderr()
        assert "config reload rejected" in server.stderr()
        r = requests.get(f"{server.http}/tables", headers={"Authorization": basic("reader")},
                         timeout=30)
        assert r.status_code == 200, r.text
    finally:
        server.stop()


def test_init_sql_passwords_are_secrets_and_never_printed(tmp_path):
    """The attack on issue 64's change: a world-readable config started though its
    init_sql held a password in a URI (or an Azure key), and a failing statement was
    printed whole, password included, to stderr and the journal."""
    config = tmp_path / "init.yaml"
    config.write_text("duckdb: {init_sql: [\"ATTACH 'postgresql://alice:hunter2@127.0.0.1:1/db'"
                      " AS pg (TYPE postgres)\"]}\n")
    serve = [ARROWPORT, "serve", "--config", str(config), "--db", str(tmp_path / "x.duckdb"),
             "--flight-port", "0", "--http-port", "0"]
    config.chmod(0o644)
    proc = subprocess.run(serve, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "holds secrets (duckdb.init_sql[0])" in proc.stderr, proc.stderr
    config.chmod(0o600)
    proc = subprocess.run(serve, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0, proc.stderr  # no postgres there: the ATTACH fails
    assert "duckdb.init_sql[0] (not shown: it holds a secret)" in proc.stderr, proc.stderr
    assert "hunter2" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("catalog", [
    "postgres:postgresql://ap:s3%2Fcret@127.0.0.1:1/lake",
    "postgres:host=127.0.0.1 port=1 dbname=lake user=ap sslpassword=s3cret"])
def test_a_catalog_password_in_any_form_is_a_secret(tmp_path, catalog):
    """The attack on that fix: a PostgreSQL password whose escapes decode to '/' (any
    base64 password), ' ' or a quote, and libpq's sslpassword, were not known as
    secrets: a world-readable config holding them started."""
    config = tmp_path / "catalog.yaml"
    config.write_text("streams:\n  ev:\n    sink: ducklake\n"
                      f"    ducklake: {{catalog: \"{catalog}\", data_path: {tmp_path / 'data'}}}\n")
    config.chmod(0o644)
    proc = subprocess.run([ARROWPORT, "serve", "--config", str(config), "--db",
                           str(tmp_path / "x.duckdb"), "--flight-port", "0", "--http-port", "0"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "holds secrets (streams.ev.ducklake.catalog)" in proc.stderr, proc.stderr
    assert f"chmod 600 {config}" in proc.stderr, proc.stderr


# ---- Flight SQL (JDBC driver, user/password) ----

@pytest.mark.slow
def test_jdbc_user_password(auth_server):
    from test_flight_sql_jdbc import PROJECT
    if shutil.which("mvn") is None or shutil.which("java") is None:
        pytest.skip("Java and Maven are needed for the JDBC test")
    cp_file = auth_server.config.parent / "classpath.txt"
    subprocess.run(["mvn", "-q", "-B", "-f", str(PROJECT / "pom.xml"), "compile",
                    "dependency:build-classpath", f"-Dmdep.outputFile={cp_file}"],
                   check=True, timeout=900)
    classpath = f"{PROJECT / 'target' / 'classes'}:{cp_file.read_text().strip()}"
    host, port = auth_server.uri.removeprefix("grpc://").rsplit(":", 1)

    def run(user, password):
        result = subprocess.run(
            ["java", "--add-opens=java.base/java.nio=ALL-UNNAMED", "-cp", classpath,
             "arrowport.JdbcAuthCheck", host, port, user, password],
            capture_output=True, text=True, timeout=300)
        return result.stdout + result.stderr

    reader = run("reader", PASSWORDS["reader"])
    # Refused by the role check or, as JDBC prepares first, by the SQL sandbox at prepare.
    assert "ROWS 3" in reader and "UPDATE FAILED" in reader, reader
    assert "needs role admin" in reader or "only SELECT statements are allowed" in reader, reader
    admin = run("admin", PASSWORDS["admin"])
    assert "ROWS 3" in admin and "UPDATE OK" in admin, admin
    refused = run("reader", "wrong")
    assert "CONNECT FAILED" in refused or "QUERY FAILED" in refused, refused
    assert "ROWS" not in refused


# What the CLI says to a user who gave no credentials (issue 64: not the server's advice to
# send an Authorization header).
SIGN_IN_ADVICE = "the server requires signing in: set ARROWPORT_USER and ARROWPORT_PASSWORD"


def test_cli_client_logs_in_from_the_environment(auth_server):
    import os
    env = {**os.environ, "ARROWPORT_USER": "reader", "ARROWPORT_PASSWORD": PASSWORDS["reader"]}
    ok = subprocess.run([ARROWPORT, "tables", "--server", auth_server.uri], env=env,
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "people" in ok.stdout, ok.stderr
    for url in (auth_server.uri, auth_server.http):
        query = subprocess.run([ARROWPORT, "query", "SELECT count(*) AS n FROM people", "--format",
                                "json", "--server", url], env=env, capture_output=True, text=True,
                               timeout=120)
        assert query.returncode == 0 and '"n":3' in query.stdout.replace(" ", ""), \
            (url, query.stdout, query.stderr)
    anonymous = {k: v for k, v in os.environ.items() if not k.startswith("ARROWPORT_")}
    refused = subprocess.run([ARROWPORT, "tables", "--server", auth_server.uri], env=anonymous,
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and SIGN_IN_ADVICE in refused.stderr, refused.stderr
    # The SQL shell signs in the same way, and its statements run as that user.
    shell = [ARROWPORT, "sql", "--server", auth_server.uri, "--mode", "csv", "-c"]
    ok = subprocess.run(shell + ["SELECT count(*) AS n FROM people"], env=env,
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and ok.stdout.split() == ['"n"', "3"], ok.stderr
    denied = subprocess.run(shell + ["DROP TABLE people"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert denied.returncode == 1 and "people" not in denied.stdout, denied.stderr
    refused = subprocess.run(shell + ["SELECT 1"], env=anonymous, capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode != 0 and SIGN_IN_ADVICE in refused.stderr, refused.stderr
    # A health check (the container image's) has no password: readiness needs none.
    ready = subprocess.run([ARROWPORT, "status", "--ready", "--server", auth_server.http],
                           env=anonymous, capture_output=True, text=True, timeout=120)
    assert ready.returncode == 0 and '"ready"' in ready.stdout, ready.stdout + ready.stderr


def test_sql_shell_signs_in_again_when_its_token_expires(tmp_path, hashes):
    """A shell stays open longer than a token lives (auth.token_ttl_s): a statement
    refused as unauthenticated before anything ran signs in again and runs."""
    _, server = start_with_config(tmp_path, users_yaml(hashes, users=("reader",))
                                  + "  token_ttl_s: 1\n")
    try:
        env = {**os.environ, "ARROWPORT_USER": "reader",
               "ARROWPORT_PASSWORD": PASSWORDS["reader"]}
        shell = subprocess.Popen([ARROWPORT, "sql", "--server", server.uri, "--mode", "csv"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=env, text=True)
        shell.stdin.write("SELECT 1 AS first;\n")
        shell.stdin.flush()
        assert [shell.stdout.readline().strip() for _ in range(2)] == ['"first"', "1"]
        time.sleep(2.5)  # the token has expired
        shell.stdin.write("SELECT 2 AS second;\n")
        out, err = shell.communicate(timeout=60)
        assert shell.returncode == 0, err
        assert out.split() == ['"second"', "2"], (out, err)
    finally:
        server.stop()


def test_tokens_survive_a_restart_only_with_a_configured_secret(tmp_path, hashes):
    for secret, survives in (("s" * 40, True), (None, False)):
        text = users_yaml(hashes, users=("reader",))
        if secret:
            text += f"  token_secret: {secret}\n"
        _, server = start_with_config(tmp_path, text)
        try:
            token = http_token(server, "reader")
        finally:
            server.stop()
        _, server = start_with_config(tmp_path, text)
        try:
            r = requests.get(f"{server.http}/tables", headers=bearer(token), timeout=30)
            assert r.status_code == (200 if survives else 401), (secret, r.text)
        finally:
            server.stop()


def test_password_guessing_is_throttled_per_address(auth_server):
    """Found by an outside review: failed logins were not limited (33 guesses/s, and 200
    concurrent bogus logins made a real one take 4 s). After 20 failures from one address in a
    minute, its Basic logins get 429 / RESOURCE_EXHAUSTED before any password hash is computed;
    bearer tokens keep working."""
    token = http_token(auth_server, "reader")
    for _ in range(20):
        r = requests.get(f"{auth_server.http}/tables", headers={"Authorization": basic("admin", "guess")},
                         timeout=60)
        assert r.status_code == 401, r.text
    r = requests.get(f"{auth_server.http}/tables", headers={"Authorization": basic("admin")}, timeout=60)
    assert r.status_code == 429, r.text
    assert int(r.headers["Retry-After"]) >= 1
    assert "failed logins" in r.json()["error"]["message"]
    client = flight.connect(auth_server.uri)
    with pytest.raises(flight.FlightError, match="RESOURCE_EXHAUSTED|failed logins"):
        client.authenticate_basic_token("admin", PASSWORDS["admin"])
    r = requests.get(f"{auth_server.http}/tables", headers=bearer(token), timeout=60)
    assert r.status_code == 200, r.text


def test_table_limited_user_sees_only_its_tables_in_flight_sql_metadata(auth_server):
    """Found by an outside review: adbc_get_objects showed a table-limited user every table,
    column and schema (the request log included), although list_flights filtered."""
    client, options = flight_login(auth_server, "admin")
    put_with(client, options, PEOPLE, {"stream": "secret", "mode": "create"})
    with adbc_connect(auth_server, "narrow") as conn:
        objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
        names = {table["table_name"] for catalog in objects
                 for schema in (catalog["catalog_db_schemas"] or [])
                 for table in (schema["db_schema_tables"] or [])}
        assert names == {"people"}, names
    with adbc_connect(auth_server, "reader") as conn:
        objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
        names = {table["table_name"] for catalog in objects
                 for schema in (catalog["catalog_db_schemas"] or [])
                 for table in (schema["db_schema_tables"] or [])}
        assert {"people", "secret"} <= names, names


def catalog_call(client, options, command, value=b""):
    """A Flight SQL catalog command (GetDbSchemas, GetPrimaryKeys, ...) sent by hand."""
    descriptor = flight.FlightDescriptor.for_command(any_message(command, value))
    info = client.get_flight_info(descriptor, options=options)
    return client.do_get(info.endpoints[0].ticket, options=options).read_all().to_pylist()


def test_table_limited_user_sees_no_other_keys_schemas_or_the_request_log(auth_server):
    """Found by a hostile client: GetPrimaryKeys had no access filter (a table-limited user
    read the key columns of any table, the request log's included) and GetDbSchemas listed
    every schema, while GetTables showed that user its own tables only."""
    admin, options = flight_login(auth_server, "admin")
    for sql in ("CREATE TABLE keyed_secret (sk BIGINT PRIMARY KEY, v VARCHAR)",
                "CREATE SCHEMA IF NOT EXISTS other", "CREATE TABLE other.hidden (hk INT PRIMARY KEY)",
                # narrow's one table, with a key it must still see.
                "CREATE OR REPLACE TABLE people (id BIGINT PRIMARY KEY, name VARCHAR)"):
        admin.do_get(ticket({"sql": sql}), options=options).read_all()
    # A request id writes the request log (schema arrowport), which no catalog call shows.
    put_with(admin, options, PEOPLE, {"stream": "keyed_log", "request_id": "key-test-1"})
    def keys(client, call_options, table, schema=None):
        value = (_field(2, schema.encode()) if schema else b"") + _field(3, table.encode())
        return [r["column_name"] for r in
                catalog_call(client, call_options, "CommandGetPrimaryKeys", value)]
    narrow, narrow_options = flight_login(auth_server, "narrow")
    for table, schema, column in (("keyed_secret", None, "sk"), ("hidden", "other", "hk")):
        assert keys(admin, options, table, schema) == [column]  # there to be seen
        assert keys(narrow, narrow_options, table, schema) == [], table
    assert keys(narrow, narrow_options, "people") == ["id"]
    # The server's own state is no catalog's, whoever asks.
    assert keys(admin, options, "requests", "arrowport") == []
    assert keys(narrow, narrow_options, "requests", "arrowport") == []
    schemas = {r["db_schema_name"] for r in catalog_call(narrow, narrow_options,
                                                         "CommandGetDbSchemas")}
    assert schemas == {"main"}, schemas
    schemas = {r["db_schema_name"] for r in catalog_call(admin, options, "CommandGetDbSchemas")}
    assert {"main", "other"} <= schemas and "arrowport" not in schemas, schemas

def test_two_authorization_headers_are_refused(auth_server):
    """Found by the hardening review: with two Authorization headers the last one won
    (reader, then admin's credentials). Two credentials in one call are refused."""
    import http.client
    from urllib.parse import urlparse
    url = urlparse(auth_server.http)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    conn.putrequest("GET", "/tables")
    conn.putheader("Authorization", basic("reader"))
    conn.putheader("Authorization", basic("admin"))
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 401, response.read()
    assert b"more than one Authorization header" in response.read()
    conn.close()
    client = flight.connect(auth_server.uri)
    both = flight.FlightCallOptions(headers=[(b"authorization", basic("reader").encode()),
                                             (b"authorization", basic("admin").encode())])
    with pytest.raises(flight.FlightUnauthenticatedError, match="more than one"):
        list(client.list_flights(options=both))
    one = flight.FlightCallOptions(headers=[(b"authorization", basic("reader").encode())])
    assert [f for f in client.list_flights(options=one)]
