"""limits.max_batch_bytes over Flight DoPut counts decoded bytes before Arrow decodes.

Arrow IPC body compression (ZSTD / LZ4_FRAME) prefixes each compressed buffer with its
uncompressed length, and Arrow's IPC reader inside Flight allocates and decompresses that
much before Arrowport sees the batch. A tiny DoPut can therefore make the server allocate
gigabytes. Expected: such a batch is refused with INVALID_ARGUMENT naming
limits.max_batch_bytes, the server's peak RSS stays far below the declared size, nothing is
committed, the server keeps serving; legitimate compressed streams still ingest.

The hostile batch is a real zstd-compressed IPC record batch from pyarrow whose compressed
data buffer is replaced, byte for byte in place, by a hand-made zstd frame of RLE blocks that
genuinely decompresses to DECLARED bytes of zeros (so the header needs no patching and the
before-fix server really allocates and fills that memory).

Before the fix (release build of c1b33a9, 2026-11-22): Arrow decompressed the 3 GiB batch,
then the validating reader refused it ("record batch 0 holds 3221... bytes, more than 268435456
(limits.max_batch_bytes)", not naming the declared size), with the server's VmHWM at
3151 MiB; after four 1 GiB bombs 1105 MiB; the three bomb tests failed on the RSS assertion and
the configured-limit test on the message. The legitimate zstd/lz4 streams and the oversized
uncompressed message (refused after decoding) passed.

After (same machine): refused with INVALID_ARGUMENT "record batch declares 3221... bytes
decoded, more than limits.max_batch_bytes (268435456)", VmHWM 79 MiB before and 80 MiB after
the request.
"""
import json
import os
import struct
import time

import grpc
import pyarrow as pa
import pyarrow.flight as flight
import pytest

import rawflight
from test_bad_input import assert_healthy, count, descriptor
from test_flight_roundtrip import get, put
from test_trust import peak_rss_bytes

DECLARED = 3 << 30  # bytes the hostile batch decodes to
RSS_CEILING = 500 << 20
MAX_BATCH_BYTES = 256 << 20  # the default limits.max_batch_bytes


def peak_rss(server):
    return peak_rss_bytes(server.proc.pid)


def zstd_rle_frame(size, decoded):
    """A zstd frame of exactly `size` bytes that decompresses to about `decoded` zero bytes
    (RLE blocks of 128 KiB, then raw blocks of zeros filling `size`); returns (frame,
    the exact decoded size)."""
    block = 128 << 10
    rle_blocks = decoded // block
    header = struct.pack("<IBB", 0xFD2FB528, 0xC0, 0x38)  # FCS 8 bytes, window 128 KiB
    avail = size - len(header) - 8 - 4 * rle_blocks  # for the raw blocks, headers included
    raw_blocks = max(1, -(-avail // (block + 3)))
    raw = avail - 3 * raw_blocks
    assert raw >= 0, "buffer too small for the frame; use more rows"
    decoded = rle_blocks * block + raw
    out = bytearray(header + struct.pack("<Q", decoded))
    for _ in range(rle_blocks):
        out += (block << 3 | 1 << 1).to_bytes(3, "little") + b"\x00"  # RLE block of zeros
    for i in range(raw_blocks):
        n = min(block, raw)
        raw -= n
        out += (n << 3 | (i == raw_blocks - 1)).to_bytes(3, "little") + bytes(n)
    assert len(out) == size and raw == 0
    return bytes(out), decoded


def compressed_messages(batch, codec):
    return rawflight.ipc_messages([batch], options=pa.ipc.IpcWriteOptions(compression=codec))


def bomb_frames(stream, declared=DECLARED):
    """Schema + one zstd record batch (int64 column, incompressible values so the data
    buffer is big enough) whose data buffer decompresses to `declared` bytes."""
    rows = 32768
    values = pa.array([(i * 2654435761) % (1 << 63) for i in range(rows)], pa.int64())
    (schema_header, _), (header, body) = compressed_messages(pa.record_batch({"x": values}), "zstd")
    # The data buffer starts at body offset 0 (the validity buffer is empty); find its
    # exact length in the header: Buffer{offset: 0, length: L}, L within the body's padding.
    length = next(n for n in range(len(body) - 7, len(body) + 1)
                  if struct.pack("<qq", 0, n) in header)
    frame, decoded = zstd_rle_frame(length - 8, declared)
    body = struct.pack("<q", decoded) + frame + body[length:]
    return [rawflight.flight_data(schema_header, b"", descriptor(stream)),
            rawflight.flight_data(header, body)], decoded


@pytest.fixture
def seeded(server):
    client = server.client()
    put(client, pa.table({"x": pa.array(range(10), pa.int64())}), {"stream": "t"})
    return server, client


def test_compressed_bomb_is_refused_before_decoding(seeded):
    server, client = seeded
    frames, decoded = bomb_frames("t")
    assert sum(len(f) for f in frames) < 512 << 10  # a small request...
    assert decoded > 2 << 30  # ...declaring gigabytes
    before = peak_rss(server)
    with pytest.raises(grpc.RpcError) as err:
        rawflight.do_put(server.port, frames, timeout=120)
    after = peak_rss(server)
    print(f"VmHWM before {before >> 20} MiB, after {after >> 20} MiB, declared {decoded >> 20} MiB")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert "limits.max_batch_bytes" in err.value.details()
    assert str(decoded) in err.value.details()
    assert after < RSS_CEILING, f"peak RSS {after >> 20} MiB for a {decoded >> 20} MiB batch"
    assert count(client, "t") == 10
    assert_healthy(client)
    put(client, pa.table({"x": pa.array([11], pa.int64())}), {"stream": "t"})
    assert count(client, "t") == 11


def test_bomb_after_good_batches_commits_nothing(seeded):
    server, client = seeded
    frames, _ = bomb_frames("t")
    good = rawflight.ipc_messages([pa.record_batch({"x": pa.array(range(100), pa.int64())})])
    # the schema (with the descriptor), two good batches, then the bomb
    frames = frames[:1] + [rawflight.flight_data(h, b) for h, b in good[1:]] * 2 + frames[1:]
    with pytest.raises(grpc.RpcError) as err:
        rawflight.do_put(server.port, frames, timeout=120)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert "limits.max_batch_bytes" in err.value.details()
    assert count(client, "t") == 10
    assert peak_rss(server) < RSS_CEILING
    assert_healthy(client)


def test_bomb_is_refused_again_and_again(seeded):
    # The refusal leaves nothing behind that would make the next call on the same
    # server thread fail or pass wrongly.
    server, client = seeded
    for _ in range(4):
        frames, _ = bomb_frames("t", declared=1 << 30)
        with pytest.raises(grpc.RpcError) as err:
            rawflight.do_put(server.port, frames, timeout=120)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        put(client, pa.table({"x": pa.array([1], pa.int64())}), {"stream": "t"})
    assert count(client, "t") == 14
    assert peak_rss(server) < RSS_CEILING


def with_max_batch_bytes(value):
    return {**os.environ, "ARROWPORT_LIMITS_MAX_BATCH_BYTES": str(value)}


def test_declared_size_just_over_a_configured_limit(start_server):
    server = start_server(env=with_max_batch_bytes(8 << 20))
    frames, decoded = bomb_frames("small", declared=9 << 20)
    with pytest.raises(grpc.RpcError) as err:
        rawflight.do_put(server.port, frames, timeout=60)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = err.value.details()
    assert f"record batch declares {decoded} bytes decoded" in details
    assert "limits.max_batch_bytes (8388608)" in details
    assert "small" not in {f.descriptor.path[0].decode() for f in server.client().list_flights()}


def over_receive_limit_frames(stream):
    small = pa.record_batch({"x": pa.array(range(1000), pa.int64())})
    big = pa.record_batch({"x": pa.array(range(4 << 20), pa.int64())})  # 32 MiB uncompressed
    messages = rawflight.ipc_messages([small, small, big])
    frames = [rawflight.flight_data(messages[0][0], b"", descriptor(stream))]
    return frames + [rawflight.flight_data(h, b) for h, b in messages[1:]]


def test_message_over_grpc_receive_limit_is_refused(start_server):
    # gRPC itself refuses a message over limits.max_batch_bytes plus 16 MiB of header room
    # before anything decodes it: RESOURCE_EXHAUSTED "Received message larger than max".
    server = start_server(env=with_max_batch_bytes(1 << 20))
    with pytest.raises(grpc.RpcError) as err:
        rawflight.do_put(server.port, over_receive_limit_frames("huge"), timeout=60)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err.value.details()
    assert "larger than max" in err.value.details()
    assert peak_rss(server) < RSS_CEILING
    assert_healthy(server.client())


@pytest.mark.xfail(strict=False, reason=(
    "known race: gRPC reports a message it refused to the handler as the end of the stream "
    "and marks the call cancelled a few microseconds later; the reader watches for that for "
    "50 us only, so the good batches before the refused message are sometimes committed "
    "(about 1 run in 12 here)"))
def test_stream_cut_by_grpc_commits_nothing(start_server):
    server = start_server(env=with_max_batch_bytes(1 << 20))
    with pytest.raises(grpc.RpcError):
        rawflight.do_put(server.port, over_receive_limit_frames("huge"), timeout=60)
    client = server.client()
    assert "huge" not in {f.descriptor.path[0].decode() for f in client.list_flights()}
    deadline = time.time() + 10
    while "stream=huge" not in server.stderr() and time.time() < deadline:
        time.sleep(0.05)  # the handler logs after the client already has gRPC's answer
    failure = [line for line in server.stderr_lines if "stream=huge" in line]
    assert failure and "request failed" in failure[0], server.stderr()


@pytest.mark.parametrize("codec", ["zstd", "lz4"])
def test_legitimate_compressed_stream_ingests(server, codec):
    client = server.client()
    n = 1 << 20
    table = pa.table({"id": pa.array(range(n), pa.int64()),
                      "v": pa.array([i % 1000 for i in range(n)], pa.int32())})
    options = flight.FlightCallOptions(write_options=pa.ipc.IpcWriteOptions(compression=codec))
    descriptor_ = flight.FlightDescriptor.for_command(json.dumps({"stream": f"c_{codec}"}))
    writer, metadata = client.do_put(descriptor_, table.schema, options=options)
    writer.write_table(table, max_chunksize=256 << 10)
    writer.done_writing()
    while metadata.read() is not None:
        pass
    writer.close()
    assert count(client, f"c_{codec}") == n
    assert get(client, {"sql": f"SELECT sum(v)::BIGINT AS s FROM c_{codec}"}).column("s")[0].as_py() \
        == sum(i % 1000 for i in range(n))
