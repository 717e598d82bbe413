"""Bad input over Flight: clear errors, the server stays up, failed writes leave nothing."""
import json
import time

import grpc
import pyarrow as pa
import pyarrow.flight as flight
import pytest

import rawflight
from test_flight_roundtrip import get, put


def count(client, table):
    return get(client, {"sql": f"SELECT count(*)::BIGINT AS n FROM {table}"}).column("n")[0].as_py()


def assert_healthy(client):
    body = next(client.do_action(flight.Action("health", b""))).body.to_pybytes()
    assert json.loads(body)["status"] == "ok"


def descriptor(stream):
    return rawflight.command_descriptor(json.dumps({"stream": stream}).encode())


def batches(start, n, rows=1000):
    return [pa.record_batch({"x": pa.array(range(start + i * rows, start + (i + 1) * rows), pa.int64())})
            for i in range(n)]


@pytest.fixture
def seeded(server):
    client = server.client()
    put(client, pa.table({"x": pa.array(range(10), pa.int64())}), {"stream": "t"})
    return server, client


@pytest.mark.parametrize("method", [rawflight.DO_PUT, rawflight.DO_EXCHANGE])
@pytest.mark.parametrize("first", ["not a flatbuffer", "no descriptor", "not protobuf"])
def test_a_malformed_first_message_is_invalid_argument_logged_and_counted(seeded, method,
                                                                          first):
    """Arrow reads a DoPut's or DoExchange's first message before any handler: one it
    could not read failed as UNKNOWN, with no log line and no count in the metrics (an
    attack run). Now INVALID_ARGUMENT saying what the message must be, logged and counted
    as any failed call."""
    from metrics_util import scrape, total
    server, client = seeded
    frames = {"not a flatbuffer": [rawflight.flight_data(b"this is not a flatbuffer", b"",
                                                         descriptor("t"))],
              "no descriptor": [rawflight.flight_data(b"this is not a flatbuffer")],
              "not protobuf": [b"\xff\xff\xff\xff\xff"]}[first]
    errors = total(scrape(f"{server.http}/metrics"), "arrowport_errors_total",
                   protocol="flight", code="INVALID_ARGUMENT")
    with pytest.raises(grpc.RpcError) as err:
        rawflight.do_put(server.port, frames, method=method)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value
    details = err.value.details()
    assert "first message could not be read" in details, details
    # Arrow's clients (pyarrow) rebuild the status from Arrow's own trailers: the same.
    trailers = dict(err.value.trailing_metadata())
    assert trailers.get("x-arrow-status") == "4", trailers  # arrow::StatusCode::Invalid
    assert trailers.get("x-arrow-status-message-bin") == details.encode(), trailers
    name = "do_put" if method == rawflight.DO_PUT else "do_exchange"
    assert total(scrape(f"{server.http}/metrics"), "arrowport_errors_total",
                 protocol="flight", code="INVALID_ARGUMENT") == errors + 1
    deadline = time.monotonic() + 30  # the server's log is read by a thread: a bit behind
    while not [line for line in server.stderr().splitlines()
               if "request failed" in line and f"method={name}" in line and
               "first message could not be read" in line]:
        assert time.monotonic() < deadline, server.stderr()[-3000:]
        time.sleep(0.1)
    assert count(client, "t") == 10
    assert_healthy(client)


def test_truncated_record_batch_commits_nothing(seeded):
    server, client = seeded
    messages = rawflight.ipc_messages(batches(100, 3))
    (schema_header, _), *records = messages
    frames = [rawflight.flight_data(schema_header, b"", descriptor("t"))]
    frames += [rawflight.flight_data(h, b) for h, b in records[:2]]
    header, body = records[2]
    frames.append(rawflight.flight_data(header, body[: len(body) // 2]))  # body cut short
    with pytest.raises(grpc.RpcError) as err:
        rawflight.do_put(server.port, frames)
    assert err.value.details()
    assert count(client, "t") == 10  # per_request: the two good batches are not visible
    assert_healthy(client)


def test_a_message_arrow_cannot_decode_is_invalid_argument(seeded):
    """A schema or record batch header that passes the size checks but that Arrow's
    decoder refuses ("Invalid flatbuffers message", "Array length did not match record
    batch length") was answered UNKNOWN, as if the server had failed, where the HTTP
    upload says 400 (a hostile run found it). Each 32-bit word of each header is
    overwritten in turn (into a stream of its own: some words are harmless): every
    refusal is INVALID_ARGUMENT (or UNIMPLEMENTED for a type Arrow does not decode, such
    as a 2-billion-bit integer), and the server goes on."""
    server, client = seeded
    table = pa.record_batch({"x": pa.array(range(100), pa.int64()),
                             "s": pa.array([str(i) for i in range(100)])})
    (schema_header, _), (header, body), _ = rawflight.ipc_messages([table, table])
    said = {}
    for which, original in (("schema", schema_header), ("batch", header)):
        for at in range(0, len(original) - 3, 4):
            changed = original[:at] + b"\xff\xff\xff\x7f" + original[at + 4:]
            schema_message = changed if which == "schema" else schema_header
            batch_message = changed if which == "batch" else header
            try:
                rawflight.do_put(server.port, [
                    rawflight.flight_data(schema_message, b"", descriptor("words")),
                    rawflight.flight_data(batch_message, body)])
            except grpc.RpcError as err:
                said.setdefault(err.code(), []).append((which, at, err.details()))
    assert grpc.StatusCode.INVALID_ARGUMENT in said and set(said) <= {
        grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNIMPLEMENTED}, {
        code: answers[:3] for code, answers in said.items()}
    details = " ".join(d for _, _, d in said[grpc.StatusCode.INVALID_ARGUMENT])
    # Arrow's own words, not only the size checks before decoding.
    assert "Invalid flatbuffers message" in details and "did not match" in details, details
    assert count(client, "t") == 10
    assert_healthy(client)


SCHEMA_CHANGE_CALLS = {
    "do_put": (rawflight.DO_PUT, {"stream": "t"}),
    "do_put_per_batch": (rawflight.DO_PUT, {"stream": "t", "commit": "per_batch"}),
    "do_exchange": (rawflight.DO_EXCHANGE, {"sql": "SELECT * FROM input"}),
    "do_exchange_each_batch": (rawflight.DO_EXCHANGE,
                               {"sql": "SELECT * FROM input", "each_batch": True}),
    "do_exchange_into_stream": (rawflight.DO_EXCHANGE,
                                {"sql": "SELECT * FROM input", "stream": "t"}),
}


@pytest.mark.parametrize("call", sorted(SCHEMA_CHANGE_CALLS))
def test_schema_change_mid_stream_is_invalid_argument_and_commits_nothing(seeded, call):
    """A client that sends a second schema message after two batches gets
    INVALID_ARGUMENT saying what it did (it was UNKNOWN with Arrow's "Header-type of
    flatbuffer-encoded Message is not RecordBatch"), and nothing of a per_request upload
    is committed."""
    server, client = seeded
    method, command = SCHEMA_CHANGE_CALLS[call]
    first = rawflight.ipc_messages(batches(100, 2))
    other = rawflight.ipc_messages([pa.record_batch({"y": pa.array(["a"], pa.string())})])
    frames = [rawflight.flight_data(first[0][0], b"", rawflight.command_descriptor(
        json.dumps(command).encode()))]
    frames += [rawflight.flight_data(h, b) for h, b in first[1:]]
    frames += [rawflight.flight_data(h, b) for h, b in other]  # a second schema message
    with pytest.raises(grpc.RpcError) as err:
        rawflight.do_put(server.port, frames, method=method)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert "changed its schema after 2 record batch(es)" in err.value.details()
    if call == "do_put_per_batch":
        # Keeps what it committed before the change (0, 1 or 2 whole batches, as the
        # pipeline read ahead), never part of one.
        assert (count(client, "t") - 10) in (0, 1000, 2000)
    else:
        assert count(client, "t") == 10
    assert_healthy(client)


def test_unknown_table_in_ticket(seeded):
    _, client = seeded
    with pytest.raises(pa.ArrowKeyError) as err:
        get(client, {"table": "no_such_table"})
    assert "no_such_table" in str(err.value) and "does not exist" in str(err.value)
    with pytest.raises(pa.ArrowException):
        client.get_flight_info(flight.FlightDescriptor.for_path("no_such_table"))
    assert_healthy(client)


def test_an_error_quoting_a_huge_name_keeps_its_code(seeded):
    """DuckDB's error quotes the 40,000-character name: sent whole, the client refused the
    headers and saw RESOURCE_EXHAUSTED "metadata size exceeds hard limit"."""
    server, client = seeded
    name = "long_" + "q" * 40000 + "_end"
    with pytest.raises(pa.ArrowKeyError) as err:
        get(client, {"sql": f'SELECT * FROM "{name}"'})
    message = str(err.value)
    assert "long_qqq" in message and "the whole message is in the server's log" in message
    assert message.count("q") < 2 * 1024  # pyarrow shows it twice: status and gRPC context
    assert server.logged(name)  # the log keeps it whole
    assert_healthy(client)


def test_unknown_table_maps_to_not_found(seeded):
    server, _ = seeded
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        call = channel.unary_stream("/arrow.flight.protocol.FlightService/DoGet",
                                    request_serializer=None, response_deserializer=None)
        ticket = json.dumps({"table": "no_such_table"}).encode()
        with pytest.raises(grpc.RpcError) as err:
            list(call(rawflight._field(1, ticket), timeout=10))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_invalid_sql(seeded):
    _, client = seeded
    with pytest.raises(pa.ArrowInvalid) as err:
        get(client, {"sql": "SELEC nonsense"})
    assert "syntax error" in str(err.value)
    assert_healthy(client)


@pytest.mark.parametrize("name", ["x; DROP TABLE y", "t\"--", "../etc/passwd", ""])
def test_invalid_identifiers(seeded, name):
    _, client = seeded
    with pytest.raises(pa.ArrowInvalid):
        put(client, pa.table({"x": [1]}), {"stream": name} if name else {"stream": "ok", "table": "a b"})
    with pytest.raises(pa.ArrowInvalid):
        get(client, {"table": name or "a b"})
    assert count(client, "t") == 10
    assert_healthy(client)


def test_type_conflict_and_create_mode(seeded):
    _, client = seeded
    with pytest.raises(pa.ArrowInvalid) as err:
        put(client, pa.table({"x": ["not a number"]}), {"stream": "t"})
    assert "VARCHAR but table t.x is BIGINT" in str(err.value)
    with pytest.raises(pa.ArrowException) as err:
        put(client, pa.table({"x": pa.array([1], pa.int64())}), {"stream": "t", "mode": "create"})
    assert "already exists" in str(err.value)
    with pytest.raises(pa.ArrowInvalid):
        put(client, pa.table({"x": [1]}), {"stream": "t", "mode": "merge"})
    assert count(client, "t") == 10


def test_unsupported_type_is_clear(seeded):
    _, client = seeded
    with pytest.raises(pa.ArrowInvalid) as err:
        put(client, pa.table({"n": pa.array([None, None], pa.null())}), {"stream": "nulls"})
    assert "'n'" in str(err.value) and "null" in str(err.value)
    dense = pa.UnionArray.from_dense(pa.array([0, 1], pa.int8()), pa.array([0, 0], pa.int32()),
                                     [pa.array([1]), pa.array(["a"])])
    with pytest.raises(pa.ArrowInvalid) as err:
        put(client, pa.table({"u": dense}), {"stream": "unions"})
    assert "sparse" in str(err.value)
    tables = {f.descriptor.path[0].decode() for f in client.list_flights()}
    assert "nulls" not in tables and "unions" not in tables


def test_a_request_that_does_not_parse_is_invalid_argument_not_internal(seeded):
    """gRPC answers a request message it cannot parse itself, before any handler:
    INTERNAL with no message, a client's error shown as a server fault (an attack run).
    Now INVALID_ARGUMENT naming the method, logged and counted as such."""
    from metrics_util import scrape, total
    server, client = seeded
    before = total(scrape(f"{server.http}/metrics"), "arrowport_errors_total",
                   protocol="flight", code="INVALID_ARGUMENT")
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        call = channel.unary_unary("/arrow.flight.protocol.FlightService/GetFlightInfo",
                                   request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as err:
            call(b"\xff\xff\xff\xff", timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value
    assert "GetFlightInfo: the request message could not be parsed" in err.value.details()
    assert total(scrape(f"{server.http}/metrics"), "arrowport_errors_total",
                 protocol="flight", code="INVALID_ARGUMENT") == before + 1
    assert_healthy(client)


def test_a_put_whose_deadline_passes_before_its_first_message_is_not_a_malformed_one(
        seeded):
    """A DoPut whose deadline passes before its client sent anything ends before Arrow
    reads a first message: counted as DEADLINE_EXCEEDED (what the client saw), not as the
    client's malformed message."""
    from metrics_util import scrape, total
    server, client = seeded

    def counts():
        samples = scrape(f"{server.http}/metrics")
        return (total(samples, "arrowport_errors_total", protocol="flight",
                      code="INVALID_ARGUMENT"),
                total(samples, "arrowport_errors_total", protocol="flight",
                      code="DEADLINE_EXCEEDED"))

    invalid, cancelled = counts()
    never = __import__("threading").Event()

    def nothing():
        never.wait(30)  # sends no message until the call is cancelled
        return
        yield

    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        call = channel.stream_stream(rawflight.DO_PUT, request_serializer=None,
                                     response_deserializer=None)(nothing(), timeout=3)
        with pytest.raises(grpc.RpcError) as err:
            list(call)
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, err.value
    never.set()
    # gRPC may drop a call whose deadline passed before a server thread took it (an ASan
    # run under load): then nothing is sent, logged or counted. Either way the call is
    # never counted as a malformed message.
    deadline = time.monotonic() + 15
    while counts()[1] == cancelled and time.monotonic() < deadline:
        time.sleep(0.2)
    assert counts()[0] == invalid, counts()
    assert_healthy(client)
