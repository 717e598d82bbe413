#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/): a handful of small,
valid inputs per target, from which libFuzzer mutates. Deterministic; rerun after changing
it and commit the result:  .venv/bin/python fuzz/make_corpus.py
"""
import base64
import hashlib
import json
import shutil
import struct
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

OUT = Path(__file__).resolve().parent / "corpus"


def write(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    folder = OUT / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def tables():
    """Small batches covering the types whose validation or size estimate is special."""
    yield "ints_strings", pa.table({"id": pa.array([1, 2, None], pa.int64()),
                                     "name": pa.array(["a", None, "ccc"])})
    yield "dictionary", pa.table({"tag": pa.array(["x", "y", "x", "x"]).dictionary_encode()})
    yield "nested", pa.table({
        "l": pa.array([[1, 2], [], None], pa.list_(pa.int32())),
        "s": pa.array([{"a": 1, "b": "u"}, None, {"a": 3, "b": None}],
                      pa.struct([("a", pa.int16()), ("b", pa.string())]))})
    yield "views", pa.table({"v": pa.array(["short", "a string longer than twelve", None],
                                           pa.string_view())})
    yield "run_end", pa.table({"r": pa.RunEndEncodedArray.from_arrays([2, 5], ["p", "q"])})
    yield "temporal", pa.table({"ts": pa.array([0, 1_700_000_000_000_000], pa.timestamp("us")),
                                 "d": pa.array([1.5, None], pa.float64()),
                                 "b": pa.array([True, False])})


def stream_bytes(table, compression=None, max_chunksize=None):
    sink = pa.BufferOutputStream()
    options = ipc.IpcWriteOptions(compression=compression)
    with ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table, max_chunksize=max_chunksize)
    return sink.getvalue().to_pybytes()


def messages(data):
    """(metadata flatbuffer, body) of each message of an IPC stream."""
    reader = ipc.MessageReader.open_stream(pa.BufferReader(data))
    out = []
    while True:
        try:
            message = reader.read_next_message()
        except StopIteration:
            return out
        if message is None:
            return out
        body = message.body.to_pybytes() if message.body is not None else b""
        out.append((message.metadata.to_pybytes(), body))


def limits_input(metadata, body, misalign=0):
    """ipc_message_limits_fuzzer's input: 3-byte length, misalignment, metadata, body."""
    return struct.pack("<I", len(metadata))[:3] + bytes([misalign]) + metadata + body


def ipc_corpora():
    for name, table in tables():
        plain = stream_bytes(table)
        write("ipc_ingest_fuzzer", name, plain)
        seed = {"config": {"target_table": "events"},
                "batch": {"data": base64.b64encode(plain).decode()}}
        write("seed_json_fuzzer", name, json.dumps(seed))
        for i, (metadata, body) in enumerate(messages(plain)):
            write("ipc_message_limits_fuzzer", f"{name}_{i}", limits_input(metadata, body))
    table = dict(tables())["ints_strings"]
    for codec in ("zstd", "lz4"):
        data = stream_bytes(table, compression=codec)
        write("ipc_ingest_fuzzer", f"compressed_{codec}", data)
        for i, (metadata, body) in enumerate(messages(data)):
            write("ipc_message_limits_fuzzer", f"compressed_{codec}_{i}",
                  limits_input(metadata, body, misalign=i % 8))
    write("ipc_ingest_fuzzer", "two_batches", stream_bytes(table, max_chunksize=2))
    write("ipc_ingest_fuzzer", "schema_only", stream_bytes(table.slice(0, 0)))
    # The seed's split form: the schema message apart, batch messages in data.
    data = stream_bytes(table)
    schema = table.schema.serialize().to_pybytes()
    seed = {"batch": {"arrow_schema": base64.b64encode(schema).decode(),
                      "data": base64.b64encode(data[len(schema):]).decode()}}
    write("seed_json_fuzzer", "schema_apart", json.dumps(seed))


def text_corpora():
    configs = {
        "canonical": """db_path: ":memory:"
flight: {host: 127.0.0.1, port: 9000}
http: {port: 9001}
duckdb: {threads: 2, memory_limit: "1GB", init_sql: ["SELECT 1"]}
views: {dataset: "data/*.parquet"}
limits: {max_batch_bytes: 1048576}
streams:
  sensors: {target_table: sensor_readings, chunk_size: 1000, schema_policy: add_columns, commit: per_batch}
""",
        "seed_aliases": """api: {host: 127.0.0.2, port: 8000}
duckdb: {path: seed.duckdb}
defaults: {chunk_size: 5000}
duckdb_extensions: [json]
streams: {s: {}}
""",
        "anchors": "base: &b {chunk_size: 10}\nstreams:\n  a: *b\n  b: {<<: *b, target_table: t}\n",
    }
    for name, text in configs.items():
        write("config_yaml_fuzzer", name, text)
    tickets = {
        "sql": '{"sql": "SELECT 1"}',
        "table": '{"table": "events"}',
        "params": '{"query": "SELECT $1, $2, $3", "params": ["a", 2, true]}',
        "plain": "SELECT * FROM events WHERE id > 3",
    }
    for name, text in tickets.items():
        write("ticket_json_fuzzer", name, text)
    descriptors = {
        "cmd_json": b"\x00" + json.dumps({"stream": "s", "table": "t", "mode": "append",
                                         "commit": "per_batch", "request_id": "r-1"}).encode(),
        "cmd_seed": b"\x00" + b'{"stream_name": "events", "mode": "replace"}',
        "cmd_name": b"\x00events",
        "path_one": b"\x01events",
        "path_two": b"\x01events\x00events_table",
    }
    for name, data in descriptors.items():
        write("ingest_descriptor_fuzzer", name, data)


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number, payload):
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def any_message(type_name, value=b""):
    url = b"type.googleapis.com/arrow.flight.protocol.sql." + type_name.encode()
    return field(1, url) + field(2, value)


def flight_sql_corpus():
    commands = {
        "statement_query": any_message("CommandStatementQuery", field(1, b"SELECT 1")),
        "get_tables": any_message("CommandGetTables", field(3, b"%")),
        "get_catalogs": any_message("CommandGetCatalogs"),
        "ticket": any_message("TicketStatementQuery", field(1, b"handle")),
        "unknown": any_message("CommandNotThere"),
        "json": b'{"sql": "SELECT 1"}',
    }
    for name, data in commands.items():
        write("flight_sql_command_fuzzer", name, data)


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    ipc_corpora()
    text_corpora()
    flight_sql_corpus()
    for folder in sorted(OUT.iterdir()):
        digest = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(folder.iterdir())))
        print(f"{folder.name}: {len(list(folder.iterdir()))} inputs ({digest.hexdigest()[:12]})")


if __name__ == "__main__":
    main()
