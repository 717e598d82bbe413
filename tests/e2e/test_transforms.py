"""Transforms on ingest (design sections 3-6) against the real server: a stream's configured
`transform` (hot-reloaded) and a request's own (DoPut CMD "transform", HTTP
`?transform=`, the seed JSON body's config.transform) run over the incoming batches as they
stream, the request's first, before the schema policy; errors fail the request and commit
nothing; a request's transform is judged by the SQL sandbox for its caller, the configured
one as the operator's (design section 7); the stream listings show each transform."""
import base64
import contextlib
import datetime
import json
import os
import threading
import time

import pyarrow as pa
import pyarrow.flight as flight
import pytest
import requests

from conftest import RunningServer, run_cli

from test_auth import hash_password
from test_exchange import rows, running
from test_flight_roundtrip import get, put
from test_http import assert_error, count, ingest, ipc_bytes

RECEIVED_AT = "SELECT *, now() AS received_at FROM input"


def streams_config(reloaded="SELECT *, 'v1' AS version FROM input"):
    """The routing of the shared server; `reloaded`'s transform changes in the reload test."""
    return f"""streams:
  sensors: {{target_table: sensor_readings, transform: "{RECEIVED_AT}"}}
  chained: {{transform: "SELECT *, a * 2 AS b FROM input"}}
  strict_s: {{schema_policy: strict}}
  widen_s: {{schema_policy: add_columns}}
  ignore_s: {{schema_policy: ignore_extra}}
  pb: {{commit: per_batch, transform: "SELECT *, id * 10 AS tens FROM input"}}
  bad_cfg: {{transform: "SELECT id, CAST(s AS INTEGER) AS n FROM input"}}
  state_cfg: {{transform: "SELECT i.*, r.stream FROM input i, arrowport.requests r"}}
  reloaded: {{transform: "{reloaded}"}}
"""


@pytest.fixture(scope="module")
def tserver(tmp_path_factory):
    with running(tmp_path_factory.mktemp("transforms"), streams_config(), "transforms") as server:
        yield server


def readings(ids):
    return pa.table({"id": pa.array(ids, pa.int64()), "v": pa.array([i + 0.5 for i in ids])})


def id_text(ids, texts):
    return pa.table({"id": pa.array(ids, pa.int64()), "s": pa.array(texts, pa.string())})


def seed_body(table, **config):
    """The seed project's JSON body: config, Arrow schema and one record batch, base64."""
    batch = table.combine_chunks().to_batches()[0]
    return {"config": config,
            "batch": {"arrow_schema": base64.b64encode(table.schema.serialize().to_pybytes()).decode(),
                      "data": base64.b64encode(batch.serialize().to_pybytes()).decode()}}


def put_path(client, table, path):
    writer, metadata = client.do_put(flight.FlightDescriptor.for_path(*path), table.schema)
    writer.write_table(table)
    writer.done_writing()
    replies = []
    while (buf := metadata.read()) is not None:
        replies.append(json.loads(buf.to_pybytes()))
    writer.close()
    return replies


def put_refused(client, table, command):
    """A DoPut the server refuses: the error (the writer is closed either way)."""
    descriptor = flight.FlightDescriptor.for_command(json.dumps(command))
    writer, metadata = client.do_put(descriptor, table.schema)
    try:
        writer.write_table(table, max_chunksize=1)
        writer.done_writing()
        while metadata.read() is not None:
            pass
        writer.close()
    except pa.ArrowException as e:
        with contextlib.suppress(pa.ArrowException):
            writer.close()
        return e
    raise AssertionError(f"the DoPut {command} was accepted")


def http_ingest(server, stream, table, transform=None, chunk=50_000, **params):
    if transform is not None:
        params["transform"] = transform
    return ingest(server, stream, ipc_bytes(table, chunk=chunk), **params)


def list_streams(client, options=None):
    result = next(client.do_action(flight.Action("list_streams", b""), options=options))
    return {s["stream"]: s for s in json.loads(result.body.to_pybytes())["streams"]}


def http_streams(server):
    return {s["stream"]: s for s in requests.get(f"{server.http}/streams", timeout=30).json()["streams"]}


# ---- the stream's configured transform ----

def test_configured_transform_on_every_surface(tserver):
    client = tserver.client()
    before = datetime.datetime.now(datetime.timezone.utc)
    assert put_path(client, readings([1, 2]), ["sensors"])[-1]["rows"] == 2
    summary = put(client, readings([3]), {"stream": "sensors"})[-1]
    assert summary["table"] == "sensor_readings" and summary["rows"] == 1
    r = http_ingest(tserver, "sensors", readings([4, 5]))
    assert r.status_code == 200 and r.json()["table"] == "sensor_readings", r.text
    r = requests.post(f"{tserver.http}/stream/sensors", json=seed_body(readings([6])), timeout=60)
    assert r.status_code == 200 and r.json()["rows_processed"] == 1, r.text
    after = datetime.datetime.now(datetime.timezone.utc)

    back = get(client, {"sql": "SELECT * FROM sensor_readings ORDER BY id"})
    assert back.schema.names == ["id", "v", "received_at"]
    assert back.schema.field("received_at").type == pa.timestamp("us", tz="UTC")
    assert back.column("id").to_pylist() == [1, 2, 3, 4, 5, 6]
    assert back.column("v").to_pylist() == [1.5, 2.5, 3.5, 4.5, 5.5, 6.5]
    slack = datetime.timedelta(seconds=5)
    for stamp in back.column("received_at").to_pylist():
        assert before - slack <= stamp <= after + slack, (stamp, before, after)


def test_a_stream_named_in_another_case_takes_its_configured_route(tserver):
    """DuckDB's table names ignore case: "SENSORS" and "Sensors" wrote the configured
    stream's table without its routing (its target table, its transform: a client could
    skip a configured transform by capitalising the name). Now they take its route."""
    client = tserver.client()
    before = count(tserver, "sensor_readings") or 0
    summary = put(client, readings([7]), {"stream": "SENSORS"})[-1]
    assert summary["table"] == "sensor_readings" and summary["rows"] == 1, summary
    r = http_ingest(tserver, "Sensors", readings([8]))
    assert r.status_code == 200 and r.json()["table"] == "sensor_readings", r.text
    back = rows(tserver, "SELECT id, received_at IS NOT NULL AS stamped FROM sensor_readings "
                         "WHERE id IN (7, 8) ORDER BY id")
    assert back == [{"id": 7, "stamped": True}, {"id": 8, "stamped": True}], back
    assert count(tserver, "sensor_readings") == before + 2


def test_configured_transform_with_per_batch_commits(tserver):
    replies = put(tserver.client(), pa.table({"id": pa.array(range(6), pa.int64())}),
                  {"stream": "pb"}, chunk=2)
    acks, summary = replies[:-1], replies[-1]
    assert acks and [a["batch"] for a in acks] == list(range(len(acks)))
    assert all(a["committed"] is True for a in acks)
    assert sum(a["rows"] for a in acks) == 6
    assert summary["rows"] == 6 and summary["batches"] == len(acks)
    assert rows(tserver, "SELECT * FROM pb WHERE id < 1000 ORDER BY id") == \
        [{"id": i, "tens": i * 10} for i in range(6)]


def test_transformed_batches_are_committed_while_the_client_sends(tserver):
    """Transforms apply while streaming: in per_batch mode transformed batches are
    committed and acknowledged while the client still sends (the stream's transform, and a
    request's before it)."""
    client = tserver.client()
    schema = pa.schema([("id", pa.int64())])
    base, sent = 1000, 40
    for command in ({"stream": "pb", "commit": "per_batch"},
                    {"stream": "pb", "commit": "per_batch",
                     "transform": "SELECT id + 0 AS id FROM input"}):
        writer, metadata = client.do_put(flight.FlightDescriptor.for_command(json.dumps(command)),
                                         schema, options=flight.FlightCallOptions(timeout=60))
        finished = threading.Event()

        def send():
            for i in range(sent):
                writer.write_batch(pa.record_batch([pa.array([base + i], pa.int64())],
                                                   schema=schema))
                time.sleep(0.05)
            finished.set()
            writer.done_writing()
        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        replies, early = [], 0
        while (reply := metadata.read()) is not None:
            replies.append(json.loads(reply.to_pybytes()))
            early += 0 if finished.is_set() else 1
        sender.join()
        writer.close()
        assert early >= 2, f"{command}: only {early} acknowledgement(s) before the end"
        assert sum(r["rows"] for r in replies[:-1]) == sent == replies[-1]["rows"]
        base += sent
    assert rows(tserver, "SELECT count(*) AS n, sum(tens) AS t FROM pb WHERE id >= 1000") == \
        [{"n": 2 * sent, "t": 10 * sum(range(1000, 1000 + 2 * sent))}]


def test_hot_reload_changes_the_transform(tserver):
    client = tserver.client()
    version = "SELECT *, '{}' AS version FROM input"
    assert put(client, readings([1]), {"stream": "reloaded"})[-1]["rows"] == 1
    try:
        # The Flight action: the file changes under the watcher's nose (same mtime), so only
        # reload_config can apply it.
        stat = os.stat(tserver.config)
        tserver.config.write_text(streams_config(version.format("v2")))
        os.utime(tserver.config, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        result = [json.loads(r.body.to_pybytes())
                  for r in client.do_action(flight.Action("reload_config", b""))]
        assert result == [{"status": "ok"}]
        assert list_streams(client)["reloaded"]["transform"] == version.format("v2")
        assert put(client, readings([2]), {"stream": "reloaded"})[-1]["rows"] == 1
        # A changed file: the watcher reloads it by itself.
        tserver.config.write_text(streams_config(version.format("v3")))
        deadline = time.time() + 15
        while http_streams(tserver)["reloaded"]["transform"] != version.format("v3"):
            assert time.time() < deadline, "the changed config file was not reloaded"
            time.sleep(0.2)
        assert http_ingest(tserver, "reloaded", readings([3])).status_code == 200
        # A config that does not load is refused; the previous transform stays in force.
        tserver.config.write_text(streams_config("  "))
        with pytest.raises((pa.ArrowInvalid, flight.FlightError),
                           match="streams.reloaded.transform"):
            list(client.do_action(flight.Action("reload_config", b"")))
        assert list_streams(client)["reloaded"]["transform"] == version.format("v3")
        assert http_ingest(tserver, "reloaded", readings([4])).status_code == 200
    finally:
        tserver.config.write_text(streams_config(version.format("v3")))
    assert rows(tserver, "SELECT id, version FROM reloaded ORDER BY id") == [
        {"id": 1, "version": "v1"}, {"id": 2, "version": "v2"}, {"id": 3, "version": "v3"},
        {"id": 4, "version": "v3"}]


def test_a_config_file_caught_mid_rewrite_does_not_drop_the_routing(tmp_path):
    """A file rewritten in place (truncated, then written: `>` in a shell, Python's
    write_text) reads empty for a moment, and an empty file is a valid config with no
    streams. The watcher once applied it: every stream lost its transform until the next
    change it noticed (the ASan lane caught it in test_hot_reload_changes_the_transform).
    Now a change applies only once the file has held the same text for a second."""
    text = streams_config()
    with running(tmp_path, text, "rewrite") as server:
        losses = []
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                listing = http_streams(server)
                if listing.get("sensors", {}).get("transform") != RECEIVED_AT:
                    losses.append(listing.get("sensors"))
                time.sleep(0.05)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            for _ in range(3):
                server.config.write_text("")  # the moment between truncating and writing
                time.sleep(0.3)
                server.config.write_text(text)
                time.sleep(0.6)
            time.sleep(1.5)  # the watcher has seen the file settle back
        finally:
            stop.set()
            watcher.join()
        assert not losses, losses
        assert "streams=0" not in server.stderr() and '"streams":"0"' not in server.stderr()
        # A real change still applies once it has settled.
        server.config.write_text(text.replace("sensor_readings", "sensor_rows"))
        deadline = time.monotonic() + 30
        while http_streams(server)["sensors"]["target_table"] != "sensor_rows":
            assert time.monotonic() < deadline, "the settled change was not applied"
            time.sleep(0.2)


def test_streams_listing_shows_each_transform(tserver):
    client = tserver.client()
    assert http_ingest(tserver, "untransformed", readings([1])).status_code == 200
    for listing in (http_streams(tserver), list_streams(client)):
        assert listing["sensors"]["transform"] == RECEIVED_AT
        assert listing["sensors"]["target_table"] == "sensor_readings"
        assert listing["pb"]["transform"] == "SELECT *, id * 10 AS tens FROM input"
        assert listing["untransformed"]["transform"] == ""


# ---- a request's own transform ----

def test_request_transform_on_every_surface(tserver):
    client = tserver.client()
    doubled = "SELECT *, v * 2 AS v2 FROM input"
    summary = put(client, readings([1, 2]), {"stream": "rt_put", "transform": doubled})[-1]
    assert summary["rows"] == 2
    r = http_ingest(tserver, "rt_http", readings([3, 4]), transform=doubled)
    assert r.status_code == 200 and r.json()["rows"] == 2, r.text
    r = requests.post(f"{tserver.http}/stream/rt_seed", timeout=60,
                      json=seed_body(readings([5]), target_table="rt_seed_rows", transform=doubled))
    assert r.status_code == 200 and r.json()["rows_processed"] == 1, r.text
    for table, ids in (("rt_put", [1, 2]), ("rt_http", [3, 4]), ("rt_seed_rows", [5])):
        assert rows(tserver, f"SELECT * FROM {table} ORDER BY id") == \
            [{"id": i, "v": i + 0.5, "v2": 2 * i + 1.0} for i in ids], table
    # The request's transform is the request's: the stream has none.
    assert http_streams(tserver)["rt_http"]["transform"] == ""


def test_request_transform_runs_before_the_configured_one(tserver):
    client = tserver.client()
    add_a = "SELECT *, id + 100 AS a FROM input"
    assert put(client, readings([1]), {"stream": "chained", "transform": add_a})[-1]["rows"] == 1
    assert http_ingest(tserver, "chained", readings([2]), transform=add_a).status_code == 200
    body = seed_body(readings([3]), transform=add_a)
    assert requests.post(f"{tserver.http}/stream/chained", json=body, timeout=60).status_code == 200
    assert rows(tserver, "SELECT id, a, b FROM chained ORDER BY id") == \
        [{"id": i, "a": 100 + i, "b": 2 * (100 + i)} for i in (1, 2, 3)]
    # Without the request's transform the configured one has no `a`: a clear error naming
    # the stream's transform, nothing committed.
    r = http_ingest(tserver, "chained", readings([4]))
    assert_error(r, 400)
    assert "transform of streams.chained" in r.json()["error"]["message"], r.text
    assert count(tserver, "chained") == 3


def test_request_transform_reads_other_tables_and_its_target(tserver):
    """A transform may read what its caller may read, the target table included: a
    de-duplicating ingest."""
    assert http_ingest(tserver, "dedup", readings([1, 2, 3])).status_code == 200
    dedup = "SELECT * FROM input WHERE id NOT IN (SELECT id FROM dedup)"
    r = http_ingest(tserver, "dedup", readings([2, 3, 4, 5]), transform=dedup, chunk=1)
    assert r.status_code == 200 and r.json()["rows"] == 2, r.text
    summary = put(tserver.client(), readings([5, 6]), {"stream": "dedup", "transform": dedup})[-1]
    assert summary["rows"] == 1
    assert rows(tserver, "SELECT id FROM dedup ORDER BY id") == [{"id": i} for i in range(1, 7)]
    # Joining a lookup table.
    assert http_ingest(tserver, "lookup", pa.table({"id": pa.array([1, 2], pa.int64()),
                                                     "label": ["one", "two"]})).status_code == 200
    r = http_ingest(tserver, "labelled", readings([1, 2, 3]), transform=(
        "SELECT i.id, l.label FROM input i LEFT JOIN lookup l USING (id) ORDER BY i.id"))
    assert r.status_code == 200, r.text
    assert rows(tserver, "SELECT * FROM labelled ORDER BY id") == [
        {"id": 1, "label": "one"}, {"id": 2, "label": "two"}, {"id": 3, "label": None}]


def test_transform_applies_before_the_schema_policy(tserver):
    client = tserver.client()
    extra = "SELECT *, 1 AS extra FROM input"
    # strict: the table exists without `extra`, so the transformed batches do not match.
    assert http_ingest(tserver, "strict_s", readings([1, 2])).status_code == 200
    r = http_ingest(tserver, "strict_s", readings([3]), transform=extra)
    assert_error(r, 422, "schema_mismatch")
    assert "extra" in r.json()["error"]["message"]
    error = put_refused(client, readings([3]), {"stream": "strict_s", "transform": extra})
    assert "extra" in str(error) and "strict" in str(error), error
    assert rows(tserver, "SELECT * FROM strict_s ORDER BY id") == \
        [{"id": 1, "v": 1.5}, {"id": 2, "v": 2.5}]
    # add_columns: the column the transform made is added.
    assert http_ingest(tserver, "widen_s", readings([1])).status_code == 200
    r = http_ingest(tserver, "widen_s", readings([2]), transform=extra)
    assert r.status_code == 200, r.text
    assert put(client, readings([3]), {"stream": "widen_s", "transform": extra})[-1]["rows"] == 1
    assert rows(tserver, "SELECT * FROM widen_s ORDER BY id") == [
        {"id": 1, "v": 1.5, "extra": None}, {"id": 2, "v": 2.5, "extra": 1},
        {"id": 3, "v": 3.5, "extra": 1}]
    # ignore_extra: the transform's new column is dropped, the rows land.
    assert http_ingest(tserver, "ignore_s", readings([1])).status_code == 200
    r = http_ingest(tserver, "ignore_s", readings([2]), transform=extra)
    assert r.status_code == 200 and r.json()["rows"] == 1, r.text
    assert rows(tserver, "SELECT * FROM ignore_s ORDER BY id") == [{"id": 1, "v": 1.5}, {"id": 2, "v": 2.5}]


def test_transform_errors_fail_the_request_and_commit_nothing(tserver):
    client = tserver.client()
    cast = "SELECT id, CAST(s AS INTEGER) AS n FROM input"
    r = http_ingest(tserver, "terr", id_text([1], ["1"]), transform=cast)
    assert r.status_code == 200, r.text
    # A value DuckDB cannot cast, in a later batch of the request.
    bad = id_text([2, 3, 4], ["2", "3", "four"])
    r = http_ingest(tserver, "terr", bad, transform=cast, chunk=1)
    assert_error(r, 400, "invalid_argument")
    assert "Conversion Error" in r.json()["error"]["message"] and "four" in r.text
    error = put_refused(client, bad, {"stream": "terr", "transform": cast})
    assert isinstance(error, pa.ArrowInvalid) and "Conversion Error" in str(error), error
    r = requests.post(f"{tserver.http}/stream/terr", json=seed_body(bad, transform=cast), timeout=60)
    assert_error(r, 400)
    assert "Conversion Error" in r.text
    assert rows(tserver, "SELECT * FROM terr") == [{"id": 1, "n": 1}]
    # SQL that does not parse or bind.
    r = http_ingest(tserver, "terr", id_text([5], ["5"]), transform="SELEC * FROM input")
    assert_error(r, 400)
    assert "syntax error" in r.text
    r = http_ingest(tserver, "terr", id_text([5], ["5"]), transform="SELECT nope FROM input")
    assert_error(r, 400)
    assert "nope" in r.text
    r = requests.post(f"{tserver.http}/stream/terr", timeout=60,
                      json={**seed_body(id_text([5], ["5"])), "config": {"transform": 42}})
    assert_error(r, 400)
    assert "config.transform" in r.text
    # The stream's configured transform fails the same way: named, nothing committed.
    r = http_ingest(tserver, "bad_cfg", bad, chunk=1)
    assert_error(r, 400)
    message = r.json()["error"]["message"]
    assert "Conversion Error" in message and "four" in message
    assert "streams.bad_cfg" in message or "CAST(s AS INTEGER)" in message, message
    error = put_refused(client, bad, {"stream": "bad_cfg"})
    assert "Conversion Error" in str(error)
    assert count(tserver, "bad_cfg") is None
    assert count(tserver, "terr") == 1


def test_a_transform_is_one_select_over_input(tserver):
    client = tserver.client()
    assert http_ingest(tserver, "victim", readings([1, 2])).status_code == 200
    for sql in ("DELETE FROM victim", "INSERT INTO victim SELECT * FROM input",
                "CREATE TABLE made_by_transform AS SELECT * FROM input", "DROP TABLE victim",
                "COPY victim TO '/tmp/arrowport_transform_copy.csv'", "PRAGMA version",
                "SELECT * FROM input; DROP TABLE victim"):
        r = http_ingest(tserver, "target", readings([9]), transform=sql)
        assert_error(r, 403, "permission_denied")
        assert "SQL sandbox" in r.text, (sql, r.text)
        with pytest.raises(flight.FlightUnauthorizedError, match="SQL sandbox"):
            put(client, readings([9]), {"stream": "target", "transform": sql})
    assert rows(tserver, "SELECT * FROM victim ORDER BY id") == [{"id": 1, "v": 1.5}, {"id": 2, "v": 2.5}]
    for table in ("target", "made_by_transform"):
        assert count(tserver, table) is None


def test_server_state_is_out_of_reach_of_transforms(tserver):
    client = tserver.client()
    for sql, names in (("SELECT i.*, r.stream FROM input i, arrowport.requests r", "arrowport.requests"),
                       ("SELECT * FROM arrowport.request_log", "arrowport.request_log"),
                       ("SELECT * FROM duckdb_settings()", "duckdb_settings"),
                       ("SELECT * FROM information_schema.tables", "information_schema.tables"),
                       ("SELECT * FROM read_text('/etc/hostname')", "read_text")):
        r = http_ingest(tserver, "snoop", readings([1]), transform=sql)
        assert_error(r, 403, "permission_denied")
        assert names in r.text, r.text
        with pytest.raises(flight.FlightUnauthorizedError, match="SQL sandbox"):
            put(client, readings([1]), {"stream": "snoop", "transform": sql})
    # The operator's transform runs as an admin's SQL: the server's state is refused there too.
    r = http_ingest(tserver, "state_cfg", readings([1]))
    assert_error(r, 403, "permission_denied")
    assert "arrowport.requests" in r.text
    assert count(tserver, "snoop") is None and count(tserver, "state_cfg") is None


def test_transform_reading_input_twice_lands_the_right_rows_or_fails(tserver):
    """`input` can be read once: a transform that reads it twice must land the right rows
    or fail, never report success with rows silently lost."""
    sql = "SELECT *, (SELECT max(id) FROM input) AS top FROM input"
    r = http_ingest(tserver, "twice", readings([1, 2, 3]), transform=sql)
    if r.status_code == 200:
        assert r.json()["rows"] == 3, r.text
        assert rows(tserver, "SELECT id, top FROM twice ORDER BY id") == \
            [{"id": i, "top": 3} for i in (1, 2, 3)]
    else:
        assert r.status_code in (400, 403), r.text
        assert count(tserver, "twice") is None


def test_transform_projection_and_filter_land_the_right_rows(start_server):
    """Transforms that pick columns by name and filter rows (a server of its own: a wrong
    column mapping can take the process down). Every case is tried, then all are judged."""
    server = start_server()
    table = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "v": [1.5, 2.5, 3.5],
                      "name": ["a", "b", "c"]})
    cases = [
        ("picked", "SELECT v FROM input", [{"v": 1.5}, {"v": 2.5}, {"v": 3.5}]),
        ("filtered", "SELECT * FROM input WHERE id >= 2",
         [{"id": 2, "v": 2.5, "name": "b"}, {"id": 3, "v": 3.5, "name": "c"}]),
        ("renamed", "SELECT name AS label, id FROM input WHERE v > 2",
         [{"label": "b", "id": 2}, {"label": "c", "id": 3}]),
        ("names", "SELECT name FROM input", [{"name": n} for n in "abc"]),
    ]
    wrong = {}
    for stream, sql, expected in cases:
        try:
            r = http_ingest(server, stream, table, transform=sql)
            got = rows(server, f"SELECT * FROM {stream} ORDER BY 1") if r.status_code == 200 \
                else r.text
        except (requests.ConnectionError, flight.FlightUnavailableError) as e:
            got = f"server gone: {e}"
        if got != expected:
            wrong[sql] = got
    assert wrong == {}


# ---- roles: a request's transform is the caller's SQL ----

AUTH_PASSWORDS = {"admin": "a-secret", "reader": "r-secret", "nwriter": "nw-secret"}


@pytest.fixture(scope="module")
def auth_tserver(tmp_path_factory):
    hashes = {user: hash_password(password) for user, password in AUTH_PASSWORDS.items()}
    config = f"""auth:
  users:
    - {{name: admin, password_hash: "{hashes['admin']}", role: admin}}
    - {{name: reader, password_hash: "{hashes['reader']}", role: reader}}
    - {{name: nwriter, password_hash: "{hashes['nwriter']}", role: writer, tables: [events], streams: [events]}}
streams:
  events: {{transform: "SELECT *, (SELECT count(*) FROM people) AS people_count FROM input"}}
"""
    with running(tmp_path_factory.mktemp("transforms_auth"), config, "auth") as server:
        people = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": ["a", "b", "c"]})
        for table in ("people", "secret"):
            r = ingest(server, table, ipc_bytes(people), headers={"Authorization": _basic("admin")})
            assert r.status_code == 200, r.text
        yield server


def _basic(user):
    raw = f"{user}:{AUTH_PASSWORDS[user]}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def _login(server, user):
    client = flight.connect(server.uri)
    pair = client.authenticate_basic_token(user, AUTH_PASSWORDS[user])
    return client, flight.FlightCallOptions(headers=[pair], timeout=60)


def _put(client, options, table, command):
    writer, metadata = client.do_put(flight.FlightDescriptor.for_command(json.dumps(command)),
                                     table.schema, options=options)
    try:
        writer.write_table(table)
        writer.done_writing()
        replies = []
        while (buf := metadata.read()) is not None:
            replies.append(json.loads(buf.to_pybytes()))
    except pa.ArrowException:
        with contextlib.suppress(pa.ArrowException):
            writer.close()
        raise
    writer.close()  # a refused DoPut reports its error here
    return replies


def _events(server):
    r = requests.post(f"{server.http}/query", params={"format": "json"}, timeout=60,
                      json={"sql": "SELECT * FROM events ORDER BY id, value"},
                      headers={"Authorization": _basic("admin")})
    return [] if r.status_code == 404 else r.json()


def test_request_transform_is_judged_for_the_caller(auth_tserver):
    server = auth_tserver
    batch = pa.table({"id": pa.array([1, 2], pa.int64()), "value": [1.0, 2.0]})
    nwriter, n_opts = _login(server, "nwriter")
    auth = {"Authorization": _basic("nwriter")}
    # nwriter (tables: [events]) cannot read another table through a transform ...
    for sql in ("SELECT i.* FROM input i JOIN secret s USING (id)",
                "SELECT *, (SELECT count(*) FROM secret) AS n FROM input"):
        with pytest.raises(flight.FlightUnauthorizedError, match="may not read 'secret'"):
            _put(nwriter, n_opts, batch, {"stream": "events", "transform": sql})
        r = ingest(server, "events", ipc_bytes(batch), headers=auth, transform=sql)
        assert_error(r, 403, "permission_denied")
        assert "may not read 'secret'" in r.text
        r = requests.post(f"{server.http}/stream/events", json=seed_body(batch, transform=sql),
                          headers=auth, timeout=60)
        assert r.status_code == 403 and "may not read 'secret'" in r.text, r.text
    r = ingest(server, "events", ipc_bytes(batch), headers=auth,
               transform="SELECT * FROM arrowport.requests")
    assert_error(r, 403, "permission_denied")
    assert _events(server) == []  # nothing committed
    # ... while the stream's configured transform, the operator's SQL, reads `people`.
    assert _put(nwriter, n_opts, batch, {"stream": "events"})[-1]["rows"] == 2
    # And a transform over input alone is the caller's to give.
    r = ingest(server, "events", ipc_bytes(batch), headers=auth,
               transform="SELECT id, value * 10 AS value FROM input")
    assert r.status_code == 200, r.text
    assert _events(server) == [
        {"id": 1, "value": 1.0, "people_count": 3}, {"id": 1, "value": 10.0, "people_count": 3},
        {"id": 2, "value": 2.0, "people_count": 3}, {"id": 2, "value": 20.0, "people_count": 3}]
    # A reader cannot ingest, transform or not.
    r = ingest(server, "events", ipc_bytes(batch), headers={"Authorization": _basic("reader")},
               transform="SELECT * FROM input")
    assert_error(r, 403, "permission_denied")
    assert "needs role writer" in r.text
    # The operator's SQL is for admins to read; other roles learn that there is one.
    listed = list_streams(*_login(server, "reader"))
    assert listed["events"]["transform"] == "(set; admins see it)"


# Named once, but DuckDB runs the recursive part again at each step, with `input`: over 3
# rows it answered 4 rows of 40 (from the first step alone), committed with "committed": true.
RECURSIVE_OVER_INPUT = ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r, input "
                        "WHERE n < 4) SELECT n AS id, n::DOUBLE AS value FROM r")
DELETING_CTE = "WITH d AS (DELETE FROM people RETURNING *) SELECT * FROM input"


def _admin_rows(server, sql):
    r = requests.post(f"{server.http}/query", params={"format": "json"}, timeout=60,
                      json={"sql": sql}, headers={"Authorization": _basic("admin")})
    assert r.status_code == 200, r.text
    return r.json()


def test_a_transform_reads_input_once_and_changes_nothing_for_every_role(auth_tserver):
    """A transform that would scan `input` again is refused before anything runs, and
    one that changes a table (an admin's data-changing CTE deleted rows so) is refused for
    every role: over DoPut in both commit modes and over HTTP, nothing is committed."""
    server = auth_tserver
    batch = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "value": [1.0, 2.0, 3.0]})
    events = _events(server)
    for user in ("admin", "nwriter"):
        client, options = _login(server, user)
        for commit in ("per_request", "per_batch"):
            command = {"stream": "events", "commit": commit}
            with pytest.raises(pa.ArrowInvalid, match="'input' is read more than once"):
                _put(client, options, batch, {**command, "transform": RECURSIVE_OVER_INPUT})
            with pytest.raises(flight.FlightUnauthorizedError,
                               match="changes nothing, for every user"):
                _put(client, options, batch, {**command, "transform": DELETING_CTE})
        auth = {"Authorization": _basic(user)}
        r = ingest(server, "events", ipc_bytes(batch), headers=auth,
                   transform=RECURSIVE_OVER_INPUT)
        assert_error(r, 400)
        assert "'input' is read more than once" in r.text
        r = ingest(server, "events", ipc_bytes(batch), headers=auth, transform=DELETING_CTE)
        assert_error(r, 403, "permission_denied")
        assert "changes nothing, for every user" in r.text
    assert _events(server) == events
    assert _admin_rows(server, "SELECT count(*) AS n FROM people") == [{"n": 3}]
    # What the refusal advises lands every row of every step.
    client, options = _login(server, "nwriter")
    advised = ("WITH RECURSIVE i AS MATERIALIZED (SELECT * FROM input), r(n) AS (SELECT 1 "
               "UNION ALL SELECT n + 1 FROM r, i WHERE n < 4) "
               "SELECT n + 100 AS id, n::DOUBLE AS value FROM r")
    replies = _put(client, options, batch, {"stream": "events", "transform": advised})
    assert replies[-1]["rows"] == 1 + 3 + 9 + 27 and replies[-1]["committed"] is True
    assert len([e for e in _events(server) if e["id"] > 100]) == 40


def test_a_configured_transform_that_is_not_one_select_stops_the_start_and_reloads(tmp_path):
    """The operator's transforms are checked when the config is read: a DELETE (or a text
    that does not parse) stops the start naming the key, and a reload bringing one is
    refused with the previous routing kept."""
    config = tmp_path / "bad.yaml"
    for sql, reason in (("DELETE FROM victim", "one SELECT over 'input'"),
                        ("WITH d AS (DELETE FROM victim RETURNING *) SELECT * FROM input",
                         "changes nothing, for every user"),
                        ("SELEC * FROM input", "syntax error")):
        config.write_text(f'streams: {{s: {{transform: "{sql}"}}}}\n')
        proc = run_cli("serve", "--config", str(config), "--db", str(tmp_path / "x.duckdb"),
                       "--flight-port", "0", "--http-port", "0", timeout=120)
        assert proc.returncode != 0
        assert b"streams.s.transform" in proc.stderr and reason.encode() in proc.stderr, \
            proc.stderr
    config.write_text('streams: {s: {transform: "SELECT *, 1 AS one FROM input"}}\n')
    server = RunningServer(["--config", str(config), "--db", str(tmp_path / "y.duckdb"),
                            "--flight-port", "0", "--http-port", "0"], cwd=tmp_path)
    try:
        config.write_text('streams: {s: {transform: "DROP TABLE s"}}\n')
        with pytest.raises((flight.FlightError, pa.ArrowException), match="streams.s.transform"):
            list(server.client().do_action(flight.Action("reload_config", b"")))
        assert list_streams(server.client())["s"]["transform"] == "SELECT *, 1 AS one FROM input"
    finally:
        server.stop()
