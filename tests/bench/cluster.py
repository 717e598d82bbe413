"""A cluster's figures (issue 68), in one run on this machine: three Arrowport nodes sharing a
Delta table in a local directory (tests/e2e/test_cluster_reads.py's Cluster), and the shipped
HAProxy config in front (tests/e2e/test_cluster_balancer.py's Balancer).

    python tests/bench/cluster.py [--rows 2000000] [--repeat 3] [--only reads,commits]

- a lake table read: every endpoint from one node, from two (each endpoint at its first
  location on either, else the first), then from the nodes GetFlightInfo names
  (the same parallel client: one thread per endpoint, at most 8): rows/s and the servers'
  CPU seconds per million rows, summed over the nodes; beside it two ceilings read by the
  same client from Arrow's own Flight server (pyarrow's, in a process of its own): the
  same rows held in memory as as many endpoints, and the snapshot's Parquet files, one
  endpoint each, read by Arrow's Parquet reader at each call;
- ingest into a lake table through 1, 2 and 3 nodes at once (one producer per node, the
  same rows in all, requests of 250,000 rows): rows/s and the servers' CPU seconds per
  million rows (flat is the goal); and through 3 nodes one after another, which tells
  the cluster's own cost from that of three servers sharing two cores;
- commits per second of one table with 6 producers of 100-row requests, spread over 1, 2
  and 3 nodes (the store's put-if-absent arbitrates; lost races are retried by the nodes),
  for the Delta table, for a Delta table in a MinIO server (S3's conditional writes
  arbitrate) and for a DuckLake table whose catalog is a PostgreSQL server (the catalog's
  transactions arbitrate);
- 1,000-row queries at 1, 16 and 64 concurrent clients, on one node and through the
  balancer to three: calls/s and the servers' CPU per call;
- a small query's median and p99 on one node, idle and while a bulk ingest runs.

Each figure is the best of --repeat rounds (throughputs, CPU) or the one run (latency).
Servers' CPU is utime + stime of their processes (/proc/PID/stat). Two cores run three
nodes here: wall-clock scaling is not this machine's to show; the CPU per row is."""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.flight as flight
from deltalake import DeltaTable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "e2e"))
from flight_sql_adbc import bench_table  # noqa: E402  (the bench's 5-column table)
from lake_util import Minio, lake_stream, put_cmd  # noqa: E402
from test_cluster_balancer import Balancer  # noqa: E402
from test_cluster_reads import Cluster  # noqa: E402
from lake import cpu_of  # noqa: E402

NAMES = ("a", "b", "c")


def servers_cpu(cluster):
    return sum(cpu_of(server.proc.pid) for server in cluster.servers.values())


def measured(cluster, work):
    """(wall seconds, servers' CPU seconds) of `work()`."""
    cpu, start = servers_cpu(cluster), time.perf_counter()
    work()
    return time.perf_counter() - start, servers_cpu(cluster) - cpu


def read_all(endpoints, location_of, threads=8):
    def one(endpoint):
        return flight.connect(location_of(endpoint)).do_get(endpoint.ticket).read_all().num_rows
    with ThreadPoolExecutor(max_workers=min(threads, len(endpoints))) as pool:
        return sum(pool.map(one, endpoints))


# Arrow's own Flight server (pyarrow's), with none of Arrowport's code: endpoint i is the
# i-th of PARTS slices of the bench's table held in memory, or with "--files", the i-th of
# the lake snapshot's Parquet files read by Arrow's Parquet reader at each call.
CEILING_SERVER = r"""
import sys
import pyarrow.flight as flight
import pyarrow.parquet as pq
if sys.argv[1] == "--files":
    files = sys.argv[2:]
    def stream(i):
        return flight.RecordBatchStream(pq.read_table(files[i]))
else:
    sys.path.insert(0, sys.argv[3])
    from flight_sql_adbc import bench_table
    rows, parts = int(sys.argv[1]), int(sys.argv[2])
    table = bench_table(rows).combine_chunks()
    share = -(-rows // parts)
    slices = [table.slice(i * share, share) for i in range(parts)]
    def stream(i):
        return flight.RecordBatchStream(slices[i])

class Ceiling(flight.FlightServerBase):
    def do_get(self, context, ticket):
        return stream(int(ticket.ticket))

server = Ceiling("grpc://127.0.0.1:0")
print(server.port, flush=True)
server.serve()
"""


def bench_ceiling(rows, parts, repeat, arguments):
    """rows/s and the server's CPU per million rows of the same parallel client reading
    `rows` as `parts` endpoints from CEILING_SERVER started with `arguments`."""
    proc = subprocess.Popen([sys.executable, "-c", CEILING_SERVER, *arguments],
                            stdout=subprocess.PIPE, text=True)
    try:
        location = f"grpc://127.0.0.1:{int(proc.stdout.readline())}"
        endpoints = [flight.FlightEndpoint(str(i).encode(), [location]) for i in range(parts)]
        best = None
        for _ in range(repeat):
            got, cpu = [], cpu_of(proc.pid)
            start = time.perf_counter()
            got.append(read_all(endpoints, lambda e: location))
            wall, cpu = time.perf_counter() - start, cpu_of(proc.pid) - cpu
            assert got == [rows], (got, rows)
            best = min(best or (wall, cpu), (wall, cpu))
        return {"rows_per_s": rows / best[0], "cpu_s_per_m_rows": best[1] * 1e6 / rows}
    finally:
        proc.kill()
        proc.wait()


def bench_reads(cluster, rows, repeat):
    info = flight.connect(cluster.servers["a"].uri).get_flight_info(
        flight.FlightDescriptor.for_path("events"))
    endpoints = info.endpoints
    nodes = {cluster.node_of(e.locations[0]) for e in endpoints}
    one = cluster.servers["a"].uri
    out = {"endpoints": len(endpoints), "nodes": len(nodes)}
    two = {cluster.location(name) for name in NAMES[:2]}

    def on_two(endpoint):  # its first location among nodes a and b, else a
        return next((l.uri.decode() for l in endpoint.locations if l.uri.decode() in two), one)
    for label, location_of in (("one node", lambda e: one), ("two nodes", on_two),
                               ("spread", lambda e: e.locations[0])):
        best = None
        for _ in range(repeat):
            got = []
            wall, cpu = measured(cluster, lambda: got.append(read_all(endpoints, location_of)))
            assert got == [rows], (got, rows)
            best = min(best or (wall, cpu), (wall, cpu))
        out[label] = {"rows_per_s": rows / best[0], "cpu_s_per_m_rows": best[1] * 1e6 / rows}
    out["ceiling: Arrow's Flight server, in memory"] = bench_ceiling(
        rows, len(endpoints), repeat, [str(rows), str(len(endpoints)), str(HERE)])
    files = [uri.removeprefix("file://") for uri in DeltaTable(cluster.url).file_uris()]
    out["ceiling: Arrow's Flight server, the snapshot's Parquet files"] = bench_ceiling(
        rows, len(files), repeat, ["--files", *files])
    return out


def bench_ingest(directory, table, repeat, request_rows=250_000):
    """Each way of ingesting on a cluster of its own (a fresh table): a Delta table's
    commits cost more as it grows (its checkpoints list every file), which would otherwise
    be charged to whichever way ran last."""
    out = {}
    for count, at_once in ((1, True), (2, True), (3, True), (3, False)):
        label = str(count) if at_once else f"{count}, one after another"
        cluster = Cluster(Path(directory) / f"ingest {label}").start_all()
        try:
            best = None
            for _ in range(repeat):

                def producer(name, part):
                    client = flight.connect(cluster.servers[name].uri)
                    for offset in range(0, part.num_rows, request_rows):
                        replies = put_cmd(client, part.slice(offset, request_rows),
                                          {"stream": "events"})
                        assert replies[-1]["committed"], replies

                share = -(-table.num_rows // count)
                parts = [table.slice(i * share, share) for i in range(count)]

                def run():
                    with ThreadPoolExecutor(max_workers=count if at_once else 1) as pool:
                        list(pool.map(producer, NAMES[:count], parts))
                wall, cpu = measured(cluster, run)
                best = min(best or (wall, cpu), (wall, cpu))
        finally:
            cluster.stop_all()
        out[label] = {"rows_per_s": table.num_rows / best[0],
                      "cpu_s_per_m_rows": best[1] * 1e6 / table.num_rows}
    return out


def bench_commits(cluster, seconds=8, producers=6):
    out = {}
    small = bench_table(100)
    for count in (1, 2, 3):
        commits, stop = [0] * producers, time.time() + seconds

        def producer(index):
            client = flight.connect(cluster.servers[NAMES[index % count]].uri)
            while time.time() < stop:
                replies = put_cmd(client, small, {"stream": "events"})
                assert replies[-1]["committed"], replies
                commits[index] += 1
        with ThreadPoolExecutor(max_workers=producers) as pool:
            list(pool.map(producer, range(producers)))
        out[count] = {"commits_per_s": sum(commits) / seconds}
    return out


def bench_calls(cluster, balancer, seconds=5):
    ticket = flight.Ticket(b"SELECT * FROM range(1000) t(id)")
    out = {}
    for label, uri in (("one node", cluster.servers["a"].uri), ("balancer, 3 nodes",
                                                                 balancer.flight)):
        for clients in (1, 16, 64):
            calls, stop = [0] * clients, time.time() + seconds

            def client(index):
                connection = flight.connect(uri)
                while time.time() < stop:
                    assert connection.do_get(ticket).read_all().num_rows == 1000
                    calls[index] += 1

            def run():
                with ThreadPoolExecutor(max_workers=clients) as pool:
                    list(pool.map(client, range(clients)))
            wall, cpu = measured(cluster, run)
            out[f"{label}, {clients} clients"] = {"calls_per_s": sum(calls) / wall,
                                                  "cpu_ms_per_call": cpu * 1e3 / sum(calls)}
    return out


def latency(uri, count=300):
    client = flight.connect(uri)
    ticket = flight.Ticket(b"SELECT 42 AS answer")
    times = []
    for _ in range(count):
        start = time.perf_counter()
        client.do_get(ticket).read_all()
        times.append(time.perf_counter() - start)
    times.sort()
    return {"median_ms": statistics.median(times) * 1e3,
            "p99_ms": times[int(len(times) * 0.99) - 1] * 1e3}


def bench_latency_under_ingest(cluster, table):
    uri = cluster.servers["a"].uri
    idle = latency(uri)
    done = threading.Event()

    def ingest():
        client = flight.connect(uri)
        while not done.is_set():
            put_cmd(client, table, {"stream": "ingest", "table": "busy"})
    worker = threading.Thread(target=ingest)
    worker.start()
    try:
        time.sleep(1)
        busy = latency(uri)
    finally:
        done.set()
        worker.join()
    return {"idle": idle, "during a bulk ingest": busy}


def bench_ducklake_commits(directory):
    """bench_commits on a DuckLake table whose catalog is a PostgreSQL server of its own."""
    from ducklake_peers import PostgresServer
    postgres = PostgresServer().start()
    try:
        data = Path(directory) / "ducklake"
        data.mkdir()
        stream = {"sink": "ducklake", "ducklake": {"catalog": "postgres:" + postgres.conninfo,
                                                   "data_path": str(data)}}
        cluster = Cluster(Path(directory) / "ducklake nodes", stream=stream).start_all()
        try:
            return bench_commits(cluster)
        finally:
            cluster.stop_all()
    finally:
        postgres.close()


def bench_s3_commits(directory):
    """bench_commits on a Delta table in a MinIO server of its own (S3's conditional
    writes arbitrate)."""
    store_dir = Path(directory) / "minio"
    store_dir.mkdir()
    store = Minio(store_dir)
    store.start()
    try:
        cluster = Cluster(Path(directory) / "s3 nodes", stream=lake_stream("s3://lake/events"),
                          extra={"s3": store.s3_config()}).start_all()
        try:
            return bench_commits(cluster)
        finally:
            cluster.stop_all()
    finally:
        store.stop()


BENCHES = ("reads", "ingest", "commits", "s3 commits", "ducklake commits", "calls",
           "latency")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default=",".join(BENCHES),
                        help="comma-separated, of: " + ", ".join(BENCHES))
    args = parser.parse_args()
    asked = {name.strip() for name in args.only.split(",")}
    unknown = asked - set(BENCHES)
    if unknown:
        parser.error(f"--only: no bench named {sorted(unknown)}; there are {BENCHES}")
    # In BENCHES' order, whatever the order asked: the reads expect the rows the table was
    # filled with, and "commits" adds to them.
    only = [name for name in BENCHES if name in asked]
    table = bench_table(args.rows)
    results = {}
    with tempfile.TemporaryDirectory(prefix="arrowport-cluster-bench-") as directory:
        cluster = Cluster(Path(directory)).start_all()
        balancer = None
        try:
            balancer = Balancer(cluster)
            client = flight.connect(cluster.servers["a"].uri)
            step = -(-args.rows // 12)  # twelve files: parts for every node
            for offset in range(0, args.rows, step):
                assert put_cmd(client, table.slice(offset, step), {"stream": "events"})[-1][
                    "committed"]
            benches = {
                "reads": lambda: bench_reads(cluster, args.rows, args.repeat),
                "ingest": lambda: bench_ingest(directory, table, args.repeat),
                "commits": lambda: bench_commits(cluster),
                "s3 commits": lambda: bench_s3_commits(directory),
                "ducklake commits": lambda: bench_ducklake_commits(directory),
                "calls": lambda: bench_calls(cluster, balancer),
                "latency": lambda: bench_latency_under_ingest(cluster, table.slice(0, 500_000)),
            }
            for name in only:
                results[name] = benches[name]()
                print(f"{name}: {json.dumps(results[name])}", file=sys.stderr, flush=True)
        finally:
            if balancer is not None:
                balancer.stop()
            cluster.stop_all()
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
