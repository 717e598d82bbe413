"""Compression that pays (issue 40): the server's default choice (http.compression: auto),
measured end to end through a real, rate-limited link.

The server runs in a network namespace of its own and the client in another, joined by a
veth pair whose server end has a `tc` token-bucket limit (1 Gbit/s, then 100 Mbit/s): what
crosses it is a network link to the server, not loopback. A client there offering what
Python 3.14's `requests` offers by default (gzip, deflate, zstd) gets zstd, and has the
whole table sooner than a client that asks for identity, decompression included. On the
server's own host (loopback, or the server's own address dialled from its namespace) the
same offer gets no compression: there the link is memory, and compressing costs both ends
CPU (1.59x identity's time measured on loopback before this rule)."""
import ctypes
import json
import os
import shutil
import subprocess
import sys
import time
import uuid

import pyarrow as pa
import pyarrow.ipc  # noqa: F401  (pa.ipc)
import pyarrow.compute as pc
import pyarrow.flight as flight
import pytest
import zstandard

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("tc"),
                       reason="needs root and iproute2 (ip, tc) for the network namespaces"),
]

PYTHON314_DEFAULT = "gzip, deflate, zstd"
ROWS = 1_000_000
CLONE_NEWNET = 0x40000000

# Run in the client's namespace: one GET, the body decoded as the client would, the rows
# counted. Prints {"seconds", "wire_bytes", "encoding", "rows"}.
CLIENT = r"""
import io, json, sys, time
import pyarrow as pa, pyarrow.ipc as ipc, requests, zstandard

class Counted(io.RawIOBase):
    def __init__(self, raw):
        self.raw, self.bytes = raw, 0
    def readable(self):
        return True
    def readinto(self, buffer):
        data = self.raw.read(len(buffer), decode_content=False)
        buffer[:len(data)] = data
        self.bytes += len(data)
        return len(data)

url, offered = sys.argv[1], sys.argv[2]
start = time.perf_counter()
r = requests.get(url, headers={"Accept-Encoding": offered}, stream=True, timeout=120)
r.raise_for_status()
wire = Counted(r.raw)
encoding = r.headers.get("Content-Encoding")
# Decoded as it arrives, as a streaming client reads it.
body = zstandard.ZstdDecompressor().stream_reader(wire) if encoding == "zstd" else io.BufferedReader(wire, 1 << 20)
rows = ipc.open_stream(body).read_all().num_rows
print(json.dumps({"seconds": time.perf_counter() - start, "wire_bytes": wire.bytes,
                  "encoding": encoding, "rows": rows}))
"""


def sh(*args):
    subprocess.run(args, check=True, capture_output=True, text=True)


class Link:
    """Two network namespaces joined by a veth pair: the server's end 10.231.N.1, the
    client's 10.231.N.2; `limit` puts a token-bucket rate on what the server sends."""

    def __init__(self):
        tag = uuid.uuid4().hex[:6]
        self.server_ns, self.client_ns = f"ap-srv-{tag}", f"ap-cli-{tag}"
        self.server_dev, self.client_dev = f"aps{tag}", f"apc{tag}"
        self.server_ip, self.client_ip = "10.231.7.1", "10.231.7.2"
        sh("ip", "netns", "add", self.server_ns)
        sh("ip", "netns", "add", self.client_ns)
        sh("ip", "link", "add", self.server_dev, "netns", self.server_ns, "type", "veth",
           "peer", "name", self.client_dev, "netns", self.client_ns)
        for ns, dev, ip in ((self.server_ns, self.server_dev, self.server_ip),
                            (self.client_ns, self.client_dev, self.client_ip)):
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")

    def limit(self, rate_mbit):
        # A bucket of 1/250 s at the rate (a 250 Hz kernel refills it that often), at
        # least two 64 KiB segments (veth passes GSO segments whole), and 50 ms of queue.
        burst = max(rate_mbit * 1_000_000 // 8 // 250, 128 << 10)
        sh("ip", "netns", "exec", self.server_ns, "tc", "qdisc", "replace", "dev",
           self.server_dev, "root", "tbf", "rate", f"{rate_mbit}mbit", "burst", str(burst),
           "latency", "50ms")

    def enter_server_namespace(self):
        """For preexec_fn: the server process joins the server's namespace."""
        fd = os.open(f"/run/netns/{self.server_ns}", os.O_RDONLY)
        if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
            os._exit(121)
        os.close(fd)

    def get(self, ns, url, offered):
        out = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", CLIENT, url,
                              offered], check=True, capture_output=True, text=True, timeout=180)
        return json.loads(out.stdout)

    def close(self):
        for ns in (self.client_ns, self.server_ns):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.fixture
def link():
    made = Link()
    try:
        yield made
    finally:
        made.close()


def bench_table(rows):
    """The design's 5 columns: sequential ids and times, a double derived from the id, one
    of 1,024 names, a flag (zstd makes a quarter of its Arrow stream)."""
    ids = pa.array(range(rows), pa.int64())
    return pa.table({
        "id": ids,
        "value": pc.multiply(pc.cast(pc.bit_wise_xor(ids, pa.scalar(0x5DEECE66D)), pa.float64()),
                             pa.scalar(0.001)),
        "name": pc.binary_join_element_wise("sensor-", pc.cast(pc.bit_wise_and(ids, pa.scalar(1023)),
                                                               pa.string()), ""),
        "ts": pc.cast(pc.multiply(ids, pa.scalar(1000)), pa.timestamp("us")),
        "ok": pc.equal(pc.bit_wise_and(ids, pa.scalar(3)), pa.scalar(0)),
    })


def best(link, ns, url, offered, rounds=3):
    runs = [link.get(ns, url, offered) for _ in range(rounds)]
    for run in runs:
        assert run["rows"] == ROWS, run
    return min(runs, key=lambda run: run["seconds"])


# Its figures are times of CPU-bound work against a link's: run alone (a CI run's slow
# lane, four workers on two cores beside other work, took zstd from 0.15 s to 2.2 s).
@pytest.mark.measures
def test_compression_is_chosen_across_a_slow_link_and_wins(start_server, link, tmp_path):
    db = tmp_path / "link.duckdb"
    seeding = start_server(db=db)
    table = bench_table(ROWS)
    writer, _ = seeding.client().do_put(
        flight.FlightDescriptor.for_command(json.dumps({"stream": "wide", "mode": "replace"})),
        table.schema)
    writer.write_table(table, max_chunksize=122_880)
    writer.close()
    seeding.stop()
    env = {**os.environ, "ARROWPORT_HTTP_HOST": "0.0.0.0", "ARROWPORT_AUTH_ENABLED": "false"}
    server = start_server(db=db, env=env, preexec_fn=link.enter_server_namespace)
    port = server.http.rsplit(":", 1)[1]
    remote = f"http://{link.server_ip}:{port}/tables/wide"

    # On the server's own host: no compression, offered or not (loopback, and the
    # server's own address dialled from inside its namespace).
    for url in (f"http://127.0.0.1:{port}/tables/wide", remote):
        here = link.get(link.server_ns, url, PYTHON314_DEFAULT)
        assert here["encoding"] is None and here["rows"] == ROWS, (url, here)

    ceiling = local_zstd_round_trip(table)
    results = {}
    for rate in (1000, 100):
        link.limit(rate)
        chosen = best(link, link.client_ns, remote, PYTHON314_DEFAULT)
        identity = best(link, link.client_ns, remote, "identity")
        results[rate] = (chosen, identity)
        assert chosen["encoding"] == "zstd", (rate, chosen)
        assert identity["encoding"] is None, (rate, identity)
        assert chosen["wire_bytes"] < identity["wire_bytes"] * 0.7, results
    print(json.dumps({"results": results, "local zstd round trip": ceiling}))
    # Identity is bound by the link; zstd by the compressor and the client's decoder,
    # which both stream, on the machine's two cores. At 100 Mbit/s the link is 10x slower
    # than a slow compressor: zstd must win by far. At 1 Gbit/s identity takes 0.30 s at
    # least whatever the machine, zstd 0.15 s of CPU on the VM this was written on: on one
    # three times as slow, or as busy, zstd's own work is as long as the link's (CI runs
    # beside other jobs: 0.60 s against identity's 0.36 s; 0.51 s against 0.34 s with a
    # local round trip of 0.27 s). So at 1 Gbit/s zstd may take at most a quarter more
    # than identity's time plus this machine's own zstd round trip of the same stream,
    # measured in the same test: compressing may fail to pay on a fast link, but never
    # costs more than its own work (docs/http.md has the figures).
    chosen, identity = results[100]
    assert chosen["seconds"] < identity["seconds"] * 0.5, results
    chosen, identity = results[1000]
    assert chosen["seconds"] < (identity["seconds"] + ceiling) * 1.25, (results, ceiling)


def local_zstd_round_trip(table, rounds=3):
    """This machine's time to compress the table's Arrow stream at the server's default
    zstd level (compression.level: 3) and to decompress it, in this process, best of
    `rounds`: what zstd through any link takes at least, but for the two ends overlapping."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=122_880)
    data = sink.getvalue()
    fastest = float("inf")
    for _ in range(rounds):
        began = time.perf_counter()
        packed = zstandard.ZstdCompressor(level=3).compress(data)
        zstandard.ZstdDecompressor().decompress(packed, max_output_size=len(data))
        fastest = min(fastest, time.perf_counter() - began)
    return fastest
