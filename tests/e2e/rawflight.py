"""A minimal raw gRPC Flight DoPut, for sending bytes pyarrow would refuse to produce
(corrupt or truncated IPC, a schema change mid-stream). Protobuf is encoded by hand: the
FlightData message has four fields and needs no generated code."""
import grpc
import pyarrow as pa

DO_PUT = "/arrow.flight.protocol.FlightService/DoPut"
DO_EXCHANGE = "/arrow.flight.protocol.FlightService/DoExchange"


def _varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number, payload):
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


def command_descriptor(cmd: bytes):
    return _varint((1 << 3) | 0) + _varint(2) + _field(2, cmd)  # type=CMD, cmd


def flight_data(header=b"", body=b"", descriptor=None):
    out = b""
    if descriptor is not None:
        out += _field(1, descriptor)
    if header:
        out += _field(2, header)
    if body:
        out += _field(1000, body)
    return out


def ipc_messages(batches, schema=None, options=None):
    """(header, body) pairs for a schema message followed by record batch messages
    (`options`: pyarrow IpcWriteOptions, e.g. body compression)."""
    schema = schema or batches[0].schema
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema, options=options) as writer:
        for batch in batches:
            writer.write_batch(batch)
    reader = pa.BufferReader(sink.getvalue())
    out = []
    while True:
        try:
            message = pa.ipc.read_message(reader)
        except (StopIteration, EOFError):
            break
        body = message.body.to_pybytes() if message.body is not None else b""
        out.append((message.metadata.to_pybytes(), body))
    return out


def do_put(port, frames, timeout=30, method=DO_PUT):
    """Sends FlightData frames; returns the list of PutResult payloads (DoExchange:
    FlightData replies) or raises grpc.RpcError."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.stream_stream(method, request_serializer=None, response_deserializer=None)
        return list(call(iter(frames), timeout=timeout))
