"""Flight DoPut/DoGet through the real server with a real pyarrow client."""
import datetime
import decimal
import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as flight


def put(client, table, command, chunk=65536, options=None):
    """DoPut of `table` (CMD `command`) in batches of `chunk` rows: the replies, in order."""
    descriptor = flight.FlightDescriptor.for_command(json.dumps(command))
    writer, metadata = client.do_put(descriptor, table.schema, options=options)
    writer.write_table(table, max_chunksize=chunk)
    writer.done_writing()
    replies = []
    while True:
        buf = metadata.read()
        if buf is None:
            break
        replies.append(json.loads(buf.to_pybytes()))
    writer.close()
    return replies


def get(client, ticket):
    return client.do_get(flight.Ticket(json.dumps(ticket).encode())).read_all()


def five_column_table(n):
    ids = pa.array(range(n), type=pa.int64())
    return pa.table({
        "id": ids,
        "value": pc.divide(pc.cast(ids, pa.float64()), 7.0),
        "name": pc.binary_join_element_wise("name_", pc.cast(ids, pa.string()), ""),
        "ts": pc.cast(pc.add(pc.multiply(ids, 1000), 1_700_000_000_000_000), pa.timestamp("us")),
        "flag": pc.equal(pc.bit_wise_and(ids, 1), 0),
    })


def test_one_million_rows_round_trip_identical(server):
    client = server.client()
    table = five_column_table(1_000_000)
    replies = put(client, table, {"stream": "million"})
    summary = replies[-1]
    assert summary["rows"] == 1_000_000
    assert summary["table"] == "million"
    assert summary["created"] is True
    assert summary["batches"] == 16  # streamed batch by batch, as sent

    back = get(client, {"table": "million"})
    assert back.schema.equals(table.schema), back.schema
    assert back.equals(table)
    # Plain SQL tickets work too, and aggregate in DuckDB.
    total = get(client, {"sql": "SELECT sum(id)::BIGINT AS s, count(*)::BIGINT AS n FROM million"})
    assert total.to_pylist() == [{"s": 999_999 * 1_000_000 // 2, "n": 1_000_000}]
    plain = client.do_get(flight.Ticket(b"SELECT count(*)::BIGINT AS n FROM million")).read_all()
    assert plain.column("n").to_pylist() == [1_000_000]


def rich_table():
    utc = datetime.timezone.utc
    struct_type = pa.struct([("a", pa.int32()), ("b", pa.string())])
    return pa.table({
        "i8": pa.array([1, -2, None], pa.int8()),
        "u16": pa.array([1, 65535, None], pa.uint16()),
        "u64": pa.array([0, 2**64 - 1, None], pa.uint64()),
        "f32": pa.array([1.5, -0.25, None], pa.float32()),
        "dec": pa.array([decimal.Decimal("1.234"), decimal.Decimal("-99999.999"), None],
                        pa.decimal128(18, 3)),
        "dec38": pa.array([decimal.Decimal("12345678901234567890123456789012345.678"), None,
                           decimal.Decimal("0.001")], pa.decimal128(38, 3)),
        "ts_tz": pa.array([datetime.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=utc), None,
                           datetime.datetime(1970, 1, 1, tzinfo=utc)], pa.timestamp("us", tz="UTC")),
        "ts_ns": pa.array([1_700_000_000_123_456_789, None, 0], pa.timestamp("ns")),
        "ts_ms": pa.array([1_700_000_000_123, None, 0], pa.timestamp("ms")),
        "d": pa.array([datetime.date(2024, 2, 29), None, datetime.date(1900, 1, 1)], pa.date32()),
        "t": pa.array([datetime.time(12, 34, 56, 789012), None, datetime.time(0, 0)], pa.time64("us")),
        "bin": pa.array([b"\x00\x01", None, b""], pa.binary()),
        "lbin": pa.array([b"xyz", b"", None], pa.large_binary()),
        "lstr": pa.array(["large", None, "ünïcode"], pa.large_string()),
        "vstr": pa.array(["a view string longer than twelve bytes", "short", None], pa.string_view()),
        "lst": pa.array([[1, 2, None], [], None], pa.list_(pa.int32())),
        "llst": pa.array([["x"], None, []], pa.large_list(pa.string())),
        "st": pa.array([{"a": 1, "b": "one"}, None, {"a": None, "b": "three"}], struct_type),
        "mp": pa.array([[("k1", 1), ("k2", 2)], None, []], pa.map_(pa.string(), pa.int64())),
        "dict": pa.array(["red", "green", None], pa.string()).dictionary_encode(),
        "nested": pa.array([[{"a": 1, "b": "x"}], None, []], pa.list_(struct_type)),
    })


def normalized(schema_field_type):
    """Arrow types DuckDB stores in a canonical form come back in that form."""
    t = schema_field_type
    if pa.types.is_large_string(t) or pa.types.is_string_view(t) or pa.types.is_dictionary(t):
        return pa.string()
    if pa.types.is_large_binary(t):
        return pa.binary()
    if pa.types.is_large_list(t):
        return pa.list_(normalized(t.value_type))
    return t


def test_rich_types_round_trip(server):
    client = server.client()
    table = rich_table()
    put(client, table, {"stream": "rich"})
    info = client.get_flight_info(flight.FlightDescriptor.for_path("rich"))
    assert info.total_records == 3
    back = get(client, {"table": "rich"})
    assert back.num_rows == 3
    for name in table.column_names:
        expected = table.column(name)
        want_type = normalized(expected.type)
        got = back.column(name)
        assert got.type == want_type, f"{name}: {got.type} != {want_type}"
        assert got.equals(expected.cast(want_type)), f"{name}: {got} != {expected}"


def test_flight_info_schema_and_listing(server):
    client = server.client()
    put(client, pa.table({"x": pa.array([1, 2, 3], pa.int64())}), {"stream": "small"})
    info = client.get_flight_info(flight.FlightDescriptor.for_command(
        json.dumps({"sql": "SELECT x * 2 AS y FROM small"})))
    assert info.schema == pa.schema([("y", pa.int64())])
    assert len(info.endpoints) == 1
    rows = client.do_get(info.endpoints[0].ticket).read_all()
    assert rows.column("y").to_pylist() == [2, 4, 6]
    schema = client.get_schema(flight.FlightDescriptor.for_path("small")).schema
    assert schema == pa.schema([("x", pa.int64())])
    listed = {f.descriptor.path[0].decode(): f.total_records for f in client.list_flights()}
    assert listed == {"small": 3}


def test_modes_routing_and_per_batch_acks(start_server, tmp_path):
    config = tmp_path / "arrowport.yaml"
    config.write_text("streams:\n  sensors: {target_table: sensor_readings, commit: per_batch}\n")
    server = start_server("--config", str(config))
    client = server.client()
    table = pa.table({"v": pa.array(range(300), pa.int64())})
    replies = put(client, table, {"stream_name": "sensors"}, chunk=100)  # the seed's form
    assert replies[:3] == [{"batch": i, "rows": 100, "committed": True} for i in range(3)]
    assert replies[-1]["table"] == "sensor_readings"
    put(client, table, {"stream": "sensors", "mode": "replace"})
    assert get(client, {"sql": "SELECT count(*)::BIGINT AS n FROM sensor_readings"}).to_pylist() == [{"n": 300}]
    streams = json.loads(next(client.do_action(flight.Action("list_streams", b""))).body.to_pybytes())
    sensors = [s for s in streams["streams"] if s["stream"] == "sensors"][0]
    assert sensors["target_table"] == "sensor_readings"
    assert sensors["rows"] == 600
    health = json.loads(next(client.do_action(flight.Action("health", b""))).body.to_pybytes())
    assert health["status"] == "ok"
    assert json.loads(next(client.do_action(flight.Action("checkpoint", b""))).body.to_pybytes()) == {"status": "ok"}


def test_one_million_rows_with_nested_decimal_and_tz_types(server):
    client = server.client()
    n = 1_000_000
    base = five_column_table(n)
    ids = base.column("id").combine_chunks()
    offsets = pa.array(range(0, 2 * n + 1, 2), pa.int32())
    table = base.append_column(
        "amount", pc.cast(pc.divide(pc.cast(ids, pa.float64()), 8), pa.decimal128(18, 3))
    ).append_column(
        "at", pc.cast(base.column("ts"), pa.timestamp("us", tz="UTC"))
    ).append_column(
        "pair", pa.ListArray.from_arrays(offsets, pc.cast(pa.array(range(2 * n)), pa.int32()))
    ).append_column(
        "info", pa.StructArray.from_arrays([ids, base.column("name").combine_chunks()], ["k", "label"])
    ).append_column(
        "tags", pa.MapArray.from_arrays(pa.array(range(n + 1), pa.int32()),
                                        pc.cast(pc.bit_wise_and(ids, 7), pa.string()), ids)
    )
    summary = put(client, table, {"stream": "million_rich"})[-1]
    assert summary["rows"] == n
    back = get(client, {"table": "million_rich"})
    assert back.schema.equals(table.schema), back.schema
    assert back.equals(table)
