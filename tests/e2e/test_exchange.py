"""Flight DoExchange (design section 5) against the real server: a client's stream through
one SELECT over `input`, results streamed back while the client is still sending; the stream
form that lands the transformed rows in a stream's table (acknowledgements and summary as
app_metadata); errors mid-stream, clients that hang up or go silent, bad commands, the SQL
sandbox and roles (design section 7)."""
import contextlib
import json
import threading
import time

import grpc
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as flight
import pytest
import requests

import rawflight
from conftest import CRASH_EXIT_CODES, RunningServer
from test_auth import PASSWORDS, flight_login, hash_password, put_with, users_yaml
from test_flight_roundtrip import get, normalized, rich_table
from test_http import count

DO_EXCHANGE = "/arrow.flight.protocol.FlightService/DoExchange"
DOUBLED = "SELECT *, value * 2 AS doubled FROM input"
ID_VALUE = pa.schema([("id", pa.int64()), ("value", pa.float64())])
ID_TEXT = pa.schema([("id", pa.int64()), ("s", pa.string())])


# ---- servers and helpers ----

@contextlib.contextmanager
def running(directory, config=None, name="exchange"):
    """An `arrowport serve` for a whole module (tests that do not interfere share it)."""
    args = ["--db", str(directory / f"{name}.duckdb"), "--flight-port", "0", "--http-port", "0"]
    if config is not None:
        path = directory / f"{name}.yaml"
        path.write_text(config)
        args += ["--config", str(path)]
    server = RunningServer(args, cwd=directory)
    server.config = path if config is not None else None
    try:
        yield server
    finally:
        if server.proc.poll() is None:
            server.stop()
        assert server.proc.returncode not in CRASH_EXIT_CODES, \
            f"server died of signal {-server.proc.returncode}:\n{server.stderr()[-3000:]}"


@pytest.fixture(scope="module")
def xserver(tmp_path_factory):
    config = ("streams:\n"
              "  routed: {target_table: routed_rows, "
              "transform: \"SELECT *, 'configured' AS via FROM input\"}\n")
    with running(tmp_path_factory.mktemp("exchange"), config) as server:
        yield server


def command(doc):
    return flight.FlightDescriptor.for_command(json.dumps(doc))


def id_value(ids, values=None):
    values = [float(i) / 2 for i in ids] if values is None else values
    return pa.record_batch({"id": pa.array(ids, pa.int64()), "value": pa.array(values, pa.float64())},
                           schema=ID_VALUE)


def id_text(ids, texts):
    return pa.record_batch({"id": pa.array(ids, pa.int64()), "s": pa.array(texts, pa.string())},
                           schema=ID_TEXT)


def exchange(client, doc, batches, schema, options=None):
    """Sends every batch, then reads everything back: (data table, [metadata]); the table
    is None when no schema came back (the stream form answers with metadata only)."""
    writer, reader = client.do_exchange(command(doc), options=options)
    try:
        writer.begin(schema)
        for batch in batches:
            writer.write_batch(batch)
        writer.done_writing()
        data, metadata = [], []
        for chunk in reader:
            if chunk.data is not None:
                data.append(chunk.data)
            if chunk.app_metadata is not None:
                metadata.append(json.loads(chunk.app_metadata.to_pybytes()))
    finally:
        # Ends the call (an error is reported again by close: it was raised above).
        with contextlib.suppress(pa.ArrowException):
            writer.close()
    if data:
        return pa.Table.from_batches(data, schema=data[0].schema), metadata
    try:
        return reader.schema.empty_table(), metadata  # no rows, still a schema
    except pa.ArrowException:
        return None, metadata


def transform(client, sql, batches, schema=ID_VALUE, options=None):
    table, metadata = exchange(client, {"sql": sql}, batches, schema, options)
    assert metadata == [], metadata
    return table


@contextlib.contextmanager
def open_exchange(client, doc, schema, options=None):
    """(writer, reader) of a begun exchange; the call is cancelled if the test fails inside
    (a reader thread may still wait on it) and closed in any case."""
    writer, reader = client.do_exchange(command(doc), options=options)
    writer.begin(schema)
    try:
        yield writer, reader
    except BaseException:
        reader.cancel()
        raise
    finally:
        with contextlib.suppress(pa.ArrowException):
            writer.close()


def read_within(reader, seconds):
    """reader.read_chunk() on a thread: the chunk, or None when nothing came in time."""
    got = {}

    def read():
        try:
            got["chunk"] = reader.read_chunk()
        except BaseException as e:  # noqa: B902 - reported to the test below
            got["error"] = e

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(seconds)
    if "error" in got:
        raise got["error"]
    return got.get("chunk")


def rows(server, sql):
    return get(server.client(), {"sql": sql}).to_pylist()


class RawExchange:
    """A raw gRPC DoExchange: sends the schema and `batches`, then (hold=True) nothing more
    until released, so a test can hang up, cancel, or let it go idle."""

    def __init__(self, server, doc, batches, hold=True):
        messages = rawflight.ipc_messages(batches)
        descriptor = rawflight.command_descriptor(json.dumps(doc).encode())
        self.frames = [rawflight.flight_data(messages[0][0], descriptor=descriptor)]
        self.frames += [rawflight.flight_data(h, b) for h, b in messages[1:]]
        self.hold = hold
        self.release = threading.Event()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
        call = self.channel.stream_stream(DO_EXCHANGE, request_serializer=None,
                                          response_deserializer=None)
        self.responses = call(self._requests(), timeout=60)

    def _requests(self):
        yield from self.frames
        if self.hold:
            self.release.wait(60)

    def finish(self):
        """Waits for the call's end: (response frames, grpc error or None)."""
        frames = []
        try:
            for frame in self.responses:
                frames.append(frame)
        except grpc.RpcError as e:
            return frames, e
        return frames, None

    def close(self):
        self.release.set()
        self.channel.close()


def wait_for(predicate, timeout=15.0, what="condition"):
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.time() < deadline, f"timed out waiting for {what} (last: {value!r})"
        time.sleep(0.1)


# ---- results stream back ----

def test_each_batch_is_transformed_and_streamed_back(xserver):
    client = xserver.client()
    batches = [id_value([1, 2, 3]), id_value([4]), id_value([5, 6])]
    result = transform(client, DOUBLED, batches)
    assert result.schema == pa.schema([("id", pa.int64()), ("value", pa.float64()),
                                       ("doubled", pa.float64())])
    assert result.to_pylist() == [{"id": i, "value": i / 2, "doubled": float(i)} for i in range(1, 7)]


def test_first_result_arrives_before_the_client_finishes_sending(xserver):
    client = xserver.client()
    writer, reader = client.do_exchange(command({"sql": DOUBLED}))
    writer.begin(ID_VALUE)
    finished = {}

    def send():
        for i in range(20):
            writer.write_batch(id_value([i]))
            time.sleep(0.05)
        finished["at"] = time.monotonic()
        writer.done_writing()

    started = time.monotonic()
    thread = threading.Thread(target=send)
    thread.start()
    arrivals, got = [], []
    for chunk in reader:
        arrivals.append(time.monotonic())
        got += chunk.data.to_pylist()
    thread.join(30)
    writer.close()
    assert got == [{"id": i, "value": i / 2, "doubled": float(i)} for i in range(20)]
    # The writer took ~1 s: the first answer came long before it was done, and results kept
    # coming while it sent (not one batch at the end).
    assert arrivals[0] < finished["at"] - 0.5, (arrivals[0] - started, finished["at"] - started)
    before = sum(1 for t in arrivals if t < finished["at"])
    assert before >= 10, (before, [round(t - started, 3) for t in arrivals])


def test_each_batch_is_answered_before_the_next_is_sent(xserver):
    """Lock step (each_batch): the client sends one batch and waits for its answer before
    sending the next. Each answer must come without more input, every time: many short
    exchanges, since a withheld answer showed most often for an exchange's first batch.
    (Over the whole stream DuckDB may read a batch ahead before it answers.)"""
    client = xserver.client()
    for attempt in range(30):
        with open_exchange(client, {"sql": DOUBLED, "each_batch": True}, ID_VALUE) as (
                writer, reader):
            for i in range(2):
                writer.write_batch(id_value([i, i + 100]))
                chunk = read_within(reader, 2.0)
                assert chunk is not None, f"exchange {attempt}, batch {i}: its result was " \
                                          f"withheld until more input came"
                assert chunk.data.to_pylist() == [
                    {"id": i, "value": i / 2, "doubled": float(i)},
                    {"id": i + 100, "value": (i + 100) / 2, "doubled": float(i + 100)}]
            writer.done_writing()
            assert reader.read_all().num_rows == 0


def test_aggregate_over_the_whole_input(xserver):
    client = xserver.client()
    batches = [id_value(list(range(i * 10, i * 10 + 10))) for i in range(5)]  # ids 0..49
    result = transform(client, "SELECT count(*) AS n, sum(value) AS total, min(id) AS low, "
                               "max(id) AS high FROM input", batches)
    assert result.to_pylist() == [{"n": 50, "total": sum(range(50)) / 2, "low": 0, "high": 49}]
    grouped = transform(client, "SELECT id % 3 AS k, count(*) AS n, sum(value) AS total "
                                "FROM input GROUP BY ALL ORDER BY k", batches)
    assert grouped.to_pylist() == [
        {"k": k, "n": len(range(k, 50, 3)), "total": sum(range(k, 50, 3)) / 2} for k in range(3)]


def test_projection_filter_and_column_order(start_server):
    """Columns picked by name, in any order, and WHERE clauses over `input` (on a server of
    its own: a wrong column mapping can take the process down). Every case is tried, then
    all are judged."""
    server = start_server()
    schema = pa.schema([("id", pa.int64()), ("value", pa.float64()), ("name", pa.string())])
    batch = pa.record_batch({"id": pa.array([1, 2, 3, 4], pa.int64()),
                             "value": [10.0, 20.0, 30.0, 40.0], "name": ["a", "b", "c", "d"]},
                            schema=schema)
    cases = [
        ("SELECT value FROM input", [{"value": v} for v in (10.0, 20.0, 30.0, 40.0)]),
        ("SELECT sum(value) AS total FROM input", [{"total": 100.0}]),
        ("SELECT id FROM input WHERE value > 15 AND id < 4", [{"id": 2}, {"id": 3}]),
        ("SELECT * FROM input WHERE name = 'c'", [{"id": 3, "value": 30.0, "name": "c"}]),
        ("SELECT name, value * 10 AS v10 FROM input WHERE id % 2 = 0",
         [{"name": "b", "v10": 200.0}, {"name": "d", "v10": 400.0}]),
        ("SELECT name FROM input", [{"name": n} for n in "abcd"]),
    ]
    wrong = {}
    for sql, expected in cases:
        try:
            got = transform(server.client(), sql, [batch], schema).to_pylist()
        except pa.ArrowException as e:
            got = f"{type(e).__name__}: {str(e)[:200]}"
        if got != expected:
            wrong[sql] = got
    assert wrong == {}


def test_reading_input_twice_is_answered_correctly_or_refused(xserver):
    """`input` is a stream that can be read once. A query that reads it twice must get the
    right answer or a clear error, never a silently empty result."""
    client = xserver.client()
    batches = [id_value([1, 2]), id_value([3])]
    for sql, expected in (
            ("SELECT id, (SELECT count(*) FROM input) AS total FROM input ORDER BY id",
             [{"id": i, "total": 3} for i in (1, 2, 3)]),
            ("SELECT a.id FROM input a JOIN input b USING (id) ORDER BY a.id",
             [{"id": i} for i in (1, 2, 3)])):
        try:
            result = transform(client, sql, batches)
        except pa.ArrowException as e:  # refused: it must say why
            assert "input" in str(e) and "Unavailable" not in type(e).__name__, (sql, str(e))
        else:
            assert result.to_pylist() == expected, sql
    # What the refusal advises: name `input` once, in a CTE, and use that twice.
    sql = ("WITH i AS (SELECT * FROM input) "
           "SELECT id, (SELECT count(*) FROM i) AS total FROM i ORDER BY id")
    assert transform(client, sql, batches).to_pylist() == [{"id": i, "total": 3} for i in (1, 2, 3)]


def test_large_input_through_a_writer_thread(xserver):
    client = xserver.client()
    n, per_batch = 200_000, 10_000
    ids = pa.array(range(n), pa.int64())
    table = pa.table({"id": ids, "value": pc.divide(pc.cast(ids, pa.float64()), 4.0)})
    writer, reader = client.do_exchange(command({"sql": DOUBLED}))
    writer.begin(ID_VALUE)
    errors = []

    def send():
        try:
            writer.write_table(table, max_chunksize=per_batch)
            writer.done_writing()
        except Exception as e:  # reported below
            errors.append(e)

    thread = threading.Thread(target=send)
    thread.start()
    result = reader.read_all()
    thread.join(60)
    writer.close()
    assert not errors, errors
    assert result.num_rows == n
    assert result.column("id").equals(table.column("id"))
    assert result.column("doubled").equals(pc.multiply(table.column("value"), 2.0))


def test_rich_types_pass_through(xserver):
    table = rich_table()
    back = transform(xserver.client(), "SELECT * FROM input", table.to_batches(), table.schema)
    assert back.num_rows == 3
    for name in table.column_names:
        want = normalized(table.column(name).type)
        assert back.column(name).type == want, name
        assert back.column(name).equals(table.column(name).cast(want)), name


def test_empty_input_gives_an_empty_result_with_its_schema(xserver):
    client = xserver.client()
    result = transform(client, DOUBLED, [])
    assert result.num_rows == 0
    assert result.schema.names == ["id", "value", "doubled"]
    assert transform(client, "SELECT count(*) AS n FROM input", []).to_pylist() == [{"n": 0}]


# ---- errors ----

def test_error_mid_stream_ends_the_call_and_the_server_keeps_serving(xserver):
    client = xserver.client()
    writer, reader = client.do_exchange(
        command({"sql": "SELECT id, CAST(s AS INTEGER) AS n FROM input"}))
    writer.begin(ID_TEXT)
    batches = [id_text([1, 2], ["10", "20"]), id_text([3], ["30"]),
               id_text([4, 5], ["40", "not a number"]), id_text([6], ["60"])]

    def send():
        with contextlib.suppress(pa.ArrowException):  # the call ends under the writer
            for batch in batches:
                writer.write_batch(batch)
                time.sleep(0.1)
            writer.done_writing()

    thread = threading.Thread(target=send)
    thread.start()
    got = []
    with pytest.raises((pa.ArrowInvalid, flight.FlightError), match="Conversion Error") as err:
        for chunk in reader:
            got += chunk.data.to_pylist()
    thread.join(30)
    assert "not a number" in str(err.value)
    with contextlib.suppress(pa.ArrowException):
        writer.close()
    # What came back before the error is right (the rows of the good batches, in order).
    assert got == [{"id": i, "n": i * 10} for i in range(1, len(got) + 1)]
    assert len(got) <= 3
    # The same client and connection go on working.
    assert transform(client, DOUBLED, [id_value([7])]).to_pylist() == \
        [{"id": 7, "value": 3.5, "doubled": 7.0}]
    assert get(client, {"sql": "SELECT 42 AS x"}).to_pylist() == [{"x": 42}]
    assert requests.get(f"{xserver.http}/healthz", timeout=30).json()["status"] == "ok"


@pytest.mark.parametrize("descriptor,message", [
    (flight.FlightDescriptor.for_path("input"), "CMD descriptor"),
    (flight.FlightDescriptor.for_command(b"SELECT * FROM input"), "CMD descriptor"),
    (flight.FlightDescriptor.for_command(b"{not json"), "CMD descriptor"),
    (flight.FlightDescriptor.for_command(b"[1, 2]"), "CMD descriptor"),
    (command({"stream": "s"}), "sql"),
    (command({"sql": 42}), "sql"),
    (command({"sql": "  ;  "}), "'sql' is empty"),
    (command({"sql": DOUBLED, "bogus": 1}), "unknown field 'bogus'"),
    (command({"sql": DOUBLED, "table": "t"}), "the field 'table' needs \"stream\""),
    (command({"sql": DOUBLED, "transform": DOUBLED}), "give the transform as 'sql'"),
    (command({"sql": DOUBLED, "stream": "s", "bogus": 1}), "unknown field 'bogus'"),
    (command({"sql": DOUBLED, "stream": "s", "mode": "merge"}), "mode"),
    (command({"sql": DOUBLED, "stream": "s", "commit": "sometimes"}), "commit"),
    (command({"sql": DOUBLED, "stream": "x;DROP TABLE y"}), "invalid stream name"),
    (command({"sql": DOUBLED, "stream": "s", "table": "t\"--"}), "invalid table name"),
    (command({"sql": "SELEC * FROM input"}), "syntax error"),
], ids=["path", "plain-text", "not-json", "json-array", "no-sql", "sql-not-text", "empty-sql",
        "unknown-field", "table-without-stream", "transform-field", "stream-unknown-field",
        "bad-mode", "bad-commit", "bad-stream", "bad-table", "sql-syntax"])
def test_bad_commands_are_invalid_argument(xserver, descriptor, message):
    client = xserver.client()
    writer, reader = client.do_exchange(descriptor)
    with pytest.raises(pa.ArrowInvalid, match=message):
        writer.begin(ID_VALUE)
        writer.write_batch(id_value([1]))
        writer.done_writing()
        reader.read_all()
    with contextlib.suppress(Exception):
        writer.close()
    for name in ("s", "t", "input"):
        assert count(xserver, name) is None


NOT_SELECT = [
    "DELETE FROM keep",
    "INSERT INTO keep SELECT * FROM input",
    "UPDATE keep SET value = 0",
    "CREATE TABLE made_by_exchange AS SELECT * FROM input",
    "DROP TABLE keep",
    "COPY keep TO '/tmp/arrowport_exchange_copy.csv'",
    "PRAGMA version",
    "EXPLAIN SELECT * FROM input",
    "SET threads = 1",
    "CALL pragma_version()",
]


@pytest.fixture(scope="module")
def keep(xserver):
    """A table the refused statements would change."""
    exchange(xserver.client(), {"sql": "SELECT * FROM input", "stream": "keep"},
             [id_value([1, 2])], ID_VALUE)
    return xserver


@pytest.mark.parametrize("sql", NOT_SELECT, ids=[s.split()[0] + f"#{i}" for i, s in enumerate(NOT_SELECT)])
def test_a_transform_is_one_select(keep, sql):
    xserver = keep
    client = xserver.client()
    with pytest.raises(flight.FlightUnauthorizedError,
                       match="a transform is one SELECT over 'input'"):
        transform(client, sql, [id_value([9])])
    assert rows(xserver, "SELECT id, value FROM keep ORDER BY id") == \
        [{"id": 1, "value": 0.5}, {"id": 2, "value": 1.0}]
    assert count(xserver, "made_by_exchange") is None


def test_two_statements_are_refused(keep):
    with pytest.raises(flight.FlightUnauthorizedError, match="one statement"):
        transform(keep.client(), "SELECT * FROM input; DROP TABLE keep", [id_value([1])])
    assert count(keep, "keep") == 2


@pytest.mark.parametrize("sql,names", [
    ("SELECT * FROM arrowport.request_log", "arrowport.request_log"),
    ("SELECT * FROM arrowport.requests", "arrowport.requests"),
    ("SELECT i.*, r.stream FROM input i, arrowport.requests r", "arrowport.requests"),
    ("SELECT * FROM duckdb_settings()", "duckdb_settings"),
    ("SELECT * FROM information_schema.tables", "information_schema.tables"),
    ("SELECT * FROM duckdb_tables()", "duckdb_tables"),
    ("SELECT * FROM arrowport_scratch.main.arrowport_in_0", "arrowport_scratch"),
    ("SELECT *, current_setting('memory_limit') AS m FROM input", "current_setting"),
    ("SELECT * FROM read_csv('/etc/passwd')", "read_csv"),
    ("SELECT * FROM query('SELECT * FROM arrowport.requests')", "query"),
], ids=["request_log", "requests", "requests-joined", "settings", "information_schema",
        "duckdb_tables", "scratch-catalog", "current_setting", "read_csv", "query"])
def test_server_state_is_refused(xserver, sql, names):
    with pytest.raises(flight.FlightUnauthorizedError, match="SQL sandbox") as err:
        transform(xserver.client(), sql, [id_value([1])])
    assert names in str(err.value)


# ---- the stream form: transformed rows land in a table ----

def test_stream_form_per_batch_acks_summary_and_table(xserver):
    client = xserver.client()
    doc = {"sql": "SELECT *, id * 10 AS tens FROM input", "stream": "landed", "commit": "per_batch"}
    with open_exchange(client, doc, ID_VALUE) as (writer, reader):
        def send():
            for ids in ([1, 2], [3], [4, 5, 6]):
                writer.write_batch(id_value(ids))
                time.sleep(0.1)
            writer.done_writing()

        thread = threading.Thread(target=send)
        thread.start()
        chunks = list(reader)
        thread.join(30)
    assert all(c.data is None for c in chunks)  # metadata only: no data comes back
    replies = [json.loads(c.app_metadata.to_pybytes()) for c in chunks]
    acks, summary = replies[:-1], replies[-1]
    assert acks, replies
    assert [a["batch"] for a in acks] == list(range(len(acks)))
    assert all(set(a) == {"batch", "rows", "committed"} and a["committed"] is True for a in acks)
    assert sum(a["rows"] for a in acks) == 6
    assert set(summary) == {"stream", "table", "rows", "batches", "bytes", "seconds", "created",
                            "committed", "duplicate"}
    assert summary["stream"] == "landed" and summary["table"] == "landed"
    assert summary["rows"] == 6 and summary["batches"] == len(acks)
    assert summary["created"] is True and summary["committed"] is True
    assert summary["duplicate"] is False
    assert summary["bytes"] > 0 and summary["seconds"] >= 0
    assert rows(xserver, "SELECT * FROM landed ORDER BY id") == \
        [{"id": i, "value": i / 2, "tens": i * 10} for i in range(1, 7)]


def test_stream_form_per_batch_acknowledges_while_the_client_sends(xserver):
    """per_batch: the transformed rows are committed and acknowledged while the client is
    still sending (the acknowledged batches are the transform's, as DuckDB makes them), and
    every row lands once."""
    client = xserver.client()
    doc = {"sql": "SELECT *, id * 10 AS tens FROM input", "stream": "acked", "commit": "per_batch"}
    sent = 40
    with open_exchange(client, doc, ID_VALUE) as (writer, reader):
        finished = threading.Event()

        def send():
            for i in range(sent):
                writer.write_batch(id_value([i]))
                time.sleep(0.05)
            finished.set()
            writer.done_writing()
        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        replies, early = [], 0
        for chunk in reader:
            assert chunk.data is None
            replies.append(json.loads(chunk.app_metadata.to_pybytes()))
            early += 0 if finished.is_set() else 1
        sender.join()
    acks, summary = replies[:-1], replies[-1]
    assert early >= 2, f"only {early} acknowledgement(s) came before the client finished"
    assert [a["batch"] for a in acks] == list(range(len(acks)))
    assert all(a["committed"] is True for a in acks)
    assert sum(a["rows"] for a in acks) == sent == summary["rows"]
    assert rows(xserver, "SELECT count(DISTINCT id) AS n, sum(tens) AS t FROM acked") == \
        [{"n": sent, "t": 10 * sum(range(sent))}]


def test_stream_form_per_request_summary_only(xserver):
    client = xserver.client()
    data, metadata = exchange(client, {"sql": DOUBLED, "stream": "once", "table": "once_rows"},
                              [id_value([1, 2]), id_value([3])], ID_VALUE)
    assert data is None
    assert len(metadata) == 1, metadata  # no per-batch acknowledgements
    assert metadata[0]["table"] == "once_rows" and metadata[0]["rows"] == 3
    assert metadata[0]["stream"] == "once" and metadata[0]["committed"] is True
    assert rows(xserver, "SELECT id, doubled FROM once_rows ORDER BY id") == \
        [{"id": i, "doubled": float(i)} for i in (1, 2, 3)]


def test_stream_form_per_request_error_commits_nothing(xserver):
    client = xserver.client()
    sql = "SELECT id, CAST(s AS INTEGER) AS n FROM input"
    _, metadata = exchange(client, {"sql": sql, "stream": "all_or_nothing", "mode": "create"},
                           [id_text([1], ["1"])], ID_TEXT)
    assert metadata[-1]["rows"] == 1
    good = [id_text([2, 3], ["2", "3"]), id_text([4], ["4"])]
    with pytest.raises((pa.ArrowInvalid, flight.FlightError), match="Conversion Error"):
        exchange(client, {"sql": sql, "stream": "all_or_nothing"},
                 good + [id_text([5], ["five"])], ID_TEXT)
    assert rows(xserver, "SELECT * FROM all_or_nothing") == [{"id": 1, "n": 1}]
    # A new table is not even created.
    with pytest.raises((pa.ArrowInvalid, flight.FlightError), match="Conversion Error"):
        exchange(client, {"sql": sql, "stream": "never_made"}, good + [id_text([5], ["five"])],
                 ID_TEXT)
    assert count(xserver, "never_made") is None


def test_stream_form_per_batch_error_keeps_what_was_acknowledged(xserver):
    client = xserver.client()
    doc = {"sql": "SELECT id, CAST(s AS INTEGER) AS n FROM input", "stream": "partly",
           "commit": "per_batch"}
    writer, reader = client.do_exchange(command(doc))
    writer.begin(ID_TEXT)
    batches = [id_text([1, 2], ["1", "2"]), id_text([3], ["3"]), id_text([4], ["four"])]

    def send():
        with contextlib.suppress(pa.ArrowException):
            for batch in batches:
                writer.write_batch(batch)
                time.sleep(0.2)
            writer.done_writing()

    thread = threading.Thread(target=send)
    thread.start()
    acks = []
    with pytest.raises((pa.ArrowInvalid, flight.FlightError), match="Conversion Error"):
        for chunk in reader:
            assert chunk.data is None
            acks.append(json.loads(chunk.app_metadata.to_pybytes()))
    thread.join(30)
    with contextlib.suppress(pa.ArrowException):
        writer.close()
    assert [a["batch"] for a in acks] == list(range(len(acks)))
    assert all(a["committed"] is True for a in acks)
    # Exactly what was acknowledged is in the table: nothing of the failed batch.
    acked = sum(a["rows"] for a in acks)
    assert acked <= 3
    assert (count(xserver, "partly") or 0) == acked
    if acked:
        assert rows(xserver, "SELECT * FROM partly ORDER BY id") == \
            [{"id": i, "n": i} for i in range(1, acked + 1)]


def test_stream_form_modes_request_id_and_configured_transform(xserver):
    client = xserver.client()
    sql = "SELECT *, id + 1000 AS big FROM input"
    # create, then create again: refused, table untouched.
    _, meta = exchange(client, {"sql": sql, "stream": "moded", "mode": "create"},
                       [id_value([1, 2])], ID_VALUE)
    assert meta[-1]["created"] is True
    with pytest.raises(pa.ArrowException, match="already exists"):  # ALREADY_EXISTS
        exchange(client, {"sql": sql, "stream": "moded", "mode": "create"}, [id_value([3])], ID_VALUE)
    assert rows(xserver, "SELECT id FROM moded ORDER BY id") == [{"id": 1}, {"id": 2}]
    # replace.
    _, meta = exchange(client, {"sql": sql, "stream": "moded", "mode": "replace"},
                       [id_value([7])], ID_VALUE)
    assert meta[-1]["rows"] == 1
    assert rows(xserver, "SELECT id, big FROM moded") == [{"id": 7, "big": 1007}]
    # A repeated request_id is answered as a duplicate and lands nothing twice.
    doc = {"sql": sql, "stream": "moded", "request_id": "exchange-req-1"}
    first = exchange(client, doc, [id_value([8])], ID_VALUE)[1][-1]
    again = exchange(client, doc, [id_value([8])], ID_VALUE)[1][-1]
    assert first["duplicate"] is False and again["duplicate"] is True
    assert count(xserver, "moded") == 2
    # A stream with a configured transform: the exchange's SQL first, then the stream's.
    _, meta = exchange(client, {"sql": sql, "stream": "routed"}, [id_value([1])], ID_VALUE)
    assert meta[-1]["table"] == "routed_rows"
    assert rows(xserver, "SELECT id, big, via FROM routed_rows") == \
        [{"id": 1, "big": 1001, "via": "configured"}]


# ---- clients that leave or go silent ----

def test_client_hangs_up_mid_exchange(xserver):
    table_rows = [id_value([i, i + 1]) for i in range(0, 6, 2)]
    # Stream form, per_request: the connection closes while the client is still sending.
    raw = RawExchange(xserver, {"sql": DOUBLED, "stream": "hung_up"}, table_rows)
    time.sleep(0.5)  # the server has the batches and waits for more
    raw.close()  # the socket goes away mid-call
    assert xserver.logged("stream=hung_up", timeout=15), xserver.stderr()[-2000:]
    line = [l for l in xserver.stderr().splitlines() if "stream=hung_up" in l][-1]
    assert "status=Cancelled" in line, line
    assert count(xserver, "hung_up") is None  # nothing committed
    # Plain form: the client reads a first result, then cancels.
    raw = RawExchange(xserver, {"sql": DOUBLED}, table_rows)
    assert next(raw.responses)  # the exchange is running
    raw.responses.cancel()
    _, error = raw.finish()
    assert error is not None and error.code() == grpc.StatusCode.CANCELLED
    raw.close()
    # The server goes on serving exchanges, ingest and queries.
    client = xserver.client()
    assert transform(client, DOUBLED, [id_value([3])]).column("doubled").to_pylist() == [3.0]
    _, meta = exchange(client, {"sql": DOUBLED, "stream": "hung_up"}, [id_value([1])], ID_VALUE)
    assert meta[-1]["rows"] == 1 and count(xserver, "hung_up") == 1


@pytest.mark.slow
def test_idle_exchanges_are_cancelled_and_count_as_requests(start_server, tmp_path):
    config = tmp_path / "limits.yaml"
    config.write_text("limits: {idle_timeout_s: 1, max_concurrent_requests: 2}\n")
    server = start_server("--config", str(config))
    started = time.time()
    idle = [RawExchange(server, {"sql": DOUBLED}, [id_value([i])]) for i in range(2)]
    try:
        for raw in idle:
            assert next(raw.responses)  # running: its first answer came back
        # Both hold a slot of limits.max_concurrent_requests ...
        with pytest.raises(flight.FlightUnavailableError, match="max_concurrent_requests"):
            get(server.client(), {"sql": "SELECT 1 AS x"})
        # ... until limits.idle_timeout_s cancels them.
        for raw in idle:
            _, error = raw.finish()
            assert error is not None and error.code() == grpc.StatusCode.CANCELLED, error
        assert time.time() - started < 10
    finally:
        for raw in idle:
            raw.close()
    assert server.logged("limits.idle_timeout_s")
    # A cancelled call gives its slot back once its handler has unwound, a moment after
    # the client saw CANCELLED (longer under the sanitizers): wait for a free slot.
    deadline = time.time() + 30
    while True:
        try:
            get(server.client(), {"sql": "SELECT 1 AS x"})
            break
        except flight.FlightUnavailableError:
            assert time.time() < deadline, "the cancelled exchanges kept their slots"
            time.sleep(0.1)
    # The stream form too, and its rows are not committed.
    raw = RawExchange(server, {"sql": DOUBLED, "stream": "idle_landing"}, [id_value([1])])
    try:
        _, error = raw.finish()
        assert error is not None and error.code() == grpc.StatusCode.CANCELLED, error
    finally:
        raw.close()

    def answered():  # 503 while a slot is still held by a call being torn down
        r = requests.post(f"{server.http}/query", params={"format": "json"}, timeout=30,
                          json={"sql": "SELECT count(*) AS n FROM idle_landing"})
        return r.status_code != 503 and r.status_code

    assert wait_for(answered, what="a free slot") == 404  # nothing committed
    # A slow but steady exchange (never 1 s silent) is not idle.
    client = server.client()
    writer, reader = client.do_exchange(command({"sql": DOUBLED}))
    writer.begin(ID_VALUE)

    def send():
        for i in range(5):
            writer.write_batch(id_value([i]))
            time.sleep(0.4)
        writer.done_writing()

    thread = threading.Thread(target=send)
    thread.start()
    result = reader.read_all()
    thread.join(30)
    writer.close()
    assert result.column("id").to_pylist() == [0, 1, 2, 3, 4]


# ---- roles ----

@pytest.fixture(scope="module")
def auth_xserver(tmp_path_factory):
    hashes = {user: hash_password(PASSWORDS[user]) for user in ("reader", "writer", "admin", "narrow")}
    with running(tmp_path_factory.mktemp("exchange_auth"), users_yaml(hashes), "auth") as server:
        admin, options = flight_login(server, "admin")
        people = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": ["a", "b", "c"]})
        put_with(admin, options, people, {"stream": "people", "mode": "create"})
        put_with(admin, options, people, {"stream": "secret", "mode": "create"})
        yield server


def test_roles_and_table_lists(auth_xserver):
    server = auth_xserver
    batches = [id_value([1, 2])]
    anonymous = flight.connect(server.uri)
    with pytest.raises(flight.FlightUnauthenticatedError):
        transform(anonymous, DOUBLED, batches)
    # A reader may transform (it reads), but not land rows in a stream.
    reader, r_opts = flight_login(server, "reader")
    assert transform(reader, DOUBLED, batches, options=r_opts).column("doubled").to_pylist() == [1.0, 2.0]
    with pytest.raises(flight.FlightUnauthorizedError, match="needs role writer"):
        exchange(reader, {"sql": DOUBLED, "stream": "events"}, batches, ID_VALUE, r_opts)
    # narrow (tables: [people]) reads input and people, and nothing else.
    narrow, n_opts = flight_login(server, "narrow")
    assert transform(narrow, DOUBLED, batches, options=n_opts).num_rows == 2
    joined = transform(narrow, "SELECT i.id, p.name FROM input i JOIN people p USING (id) "
                               "ORDER BY i.id", batches, options=n_opts)
    assert joined.to_pylist() == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    for sql in ("SELECT i.id, s.name FROM input i JOIN secret s USING (id)",
                "SELECT *, (SELECT count(*) FROM secret) AS n FROM input",
                "WITH s AS (SELECT * FROM secret) SELECT * FROM s"):
        with pytest.raises(flight.FlightUnauthorizedError, match="may not read 'secret'"):
            transform(narrow, sql, batches, options=n_opts)
    # writer (streams: [events]) lands in events only.
    writer, w_opts = flight_login(server, "writer")
    _, meta = exchange(writer, {"sql": DOUBLED, "stream": "events"}, batches, ID_VALUE, w_opts)
    assert meta[-1]["rows"] == 2 and meta[-1]["table"] == "events"
    with pytest.raises(flight.FlightUnauthorizedError, match="allowed streams: events"):
        exchange(writer, {"sql": DOUBLED, "stream": "people"}, batches, ID_VALUE, w_opts)
    with pytest.raises(flight.FlightUnauthorizedError, match="may not write table"):
        exchange(writer, {"sql": DOUBLED, "stream": "events", "table": "secret"}, batches,
                 ID_VALUE, w_opts)
    admin, a_opts = flight_login(server, "admin")
    got = admin.do_get(flight.Ticket(json.dumps({"sql": "SELECT * FROM events ORDER BY id"}).encode()),
                       options=a_opts).read_all()
    assert got.to_pylist() == [{"id": 1, "value": 0.5, "doubled": 1.0},
                               {"id": 2, "value": 1.0, "doubled": 2.0}]
    people = admin.do_get(flight.Ticket(b'{"sql": "SELECT count(*) AS n FROM people"}'),
                          options=a_opts).read_all()
    assert people.to_pylist() == [{"n": 3}]


# Named once, but DuckDB runs the recursive part again at each step, with `input`: over 3
# rows it answered 4 rows of 40 (from the first step alone), and landed them as committed.
RECURSIVE_OVER_INPUT = ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r, input "
                        "WHERE n < 4) SELECT n AS id, n::DOUBLE AS value FROM r")


def test_a_transform_reads_input_once_and_changes_nothing_for_every_role(auth_xserver):
    """Both forms, for an admin and a writer: a statement that would scan `input` again is
    refused before it runs; a data-changing CTE (an admin's deleted rows through an
    exchange) is refused for every role; nothing lands, nothing is deleted."""
    server = auth_xserver
    batches = [id_value([1, 2]), id_value([3])]
    admin, a_opts = flight_login(server, "admin")

    def admin_rows(sql):
        ticket = flight.Ticket(json.dumps({"sql": sql}).encode())
        return admin.do_get(ticket, options=a_opts).read_all().to_pylist()

    def events():
        try:
            return admin_rows("SELECT * FROM events ORDER BY ALL")
        except pa.ArrowKeyError:  # not made yet (NOT_FOUND)
            return None

    before = events()
    deleting = "WITH d AS (DELETE FROM people RETURNING *) SELECT * FROM input"
    for user in ("admin", "writer"):
        client, options = flight_login(server, user)
        for doc in ({}, {"stream": "events"}, {"stream": "events", "commit": "per_batch"}):
            with pytest.raises(pa.ArrowInvalid, match="'input' is read more than once"):
                exchange(client, {**doc, "sql": RECURSIVE_OVER_INPUT}, batches, ID_VALUE, options)
            with pytest.raises(flight.FlightUnauthorizedError,
                               match="changes nothing, for every user"):
                exchange(client, {**doc, "sql": deleting}, batches, ID_VALUE, options)
    assert events() == before
    assert admin_rows("SELECT count(*) AS n FROM people") == [{"n": 3}]
    # Read once into a materialised CTE, every step of the recursion sees all of it.
    advised = ("WITH RECURSIVE i AS MATERIALIZED (SELECT * FROM input), r(n) AS (SELECT 1 "
               "UNION ALL SELECT n + 1 FROM r, i WHERE n < 4) SELECT count(*) AS n FROM r")
    writer, w_opts = flight_login(server, "writer")
    assert transform(writer, advised, batches, options=w_opts).to_pylist() == [{"n": 40}]
