"""The lake sink against its peers, in one run: Arrowport (Flight DoPut, per_request, end
to end) landing the benchmark table (the 5 columns of `arrowport bench`) in a Delta table
in a local directory and on S3 (MinIO on loopback), against delta-rs's
`write_deltalake(mode="append")` of the same Arrow table to the same stores, DuckDB's own
`COPY ... TO` Parquet on the local disk, Arrowport into a DuckDB table, and two Arrowport
nodes appending to one lake at once (both send the whole table; the figure is the
aggregate). Two diagnostic rows time the Parquet writer Arrowport links (Arrow C++, through
pyarrow) with Parquet's default dictionary encoding, and without it (what Arrowport picks
for this table: every column but the boolean is unique).

    python tests/bench/lake.py [--rows 1000000] [--repeat 3]

Every figure is the best of --repeat rounds; a round runs every scenario once (interleaved,
so the machine's good and bad spells fall on all of them) and each run writes a fresh
table (a new stream, URL, file or DuckDB table). All files compress with zstd. The CPU
seconds beside each figure are those of the best round: the Arrowport servers' and MinIO's
from /proc/PID/stat, this process's (the Flight client, or delta-rs / DuckDB working in
process) from os.times(). Prints a Markdown table and a note per target; returns the
figures (bench_main). Needs the servers' build (ARROWPORT_SKIP_BUILD=1 is set), MinIO
(/var/cache/arrowport/go/bin/minio or ARROWPORT_MINIO), and pyarrow, deltalake and duckdb
in the Python running it."""
import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import deltalake
import duckdb
import pyarrow
import pyarrow.flight as flight
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from flight_sql_adbc import bench_table  # noqa: E402  (the same 5-column table)

REPO = Path(__file__).resolve().parents[2]
MINIO = os.environ.get("ARROWPORT_MINIO") or "/var/cache/arrowport/go/bin/minio"
KEY, SECRET, REGION, BUCKET = "minioadmin", "minioadmin", "us-east-1", "lake"
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads) so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15)


def own_cpu() -> float:
    t = os.times()
    return t.user + t.system


class Process:
    """A child process whose output goes to a log file; stopped with SIGTERM."""

    def __init__(self, name, argv, log, env=None):
        self.name, self.log = name, Path(log)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self):
        return self.proc.pid

    def cpu(self) -> float:
        return cpu_of(self.pid)

    def wait_ready(self, ready, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n"
                                   f"{self.log.read_text(errors='replace')[-4000:]}")
            if ready():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} not ready in {timeout}s:\n"
                           f"{self.log.read_text(errors='replace')[-4000:]}")

    def stop(self, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_minio(directory: Path) -> tuple:
    (directory / "data" / BUCKET).mkdir(parents=True)  # a directory in the data dir is a bucket
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MINIO_"))}
    env.update(MINIO_ROOT_USER=KEY, MINIO_ROOT_PASSWORD=SECRET, MINIO_BROWSER="off",
               MINIO_UPDATE="off")
    proc = Process("MinIO", [MINIO, "server", str(directory / "data"), "--quiet",
                             "--address", f"127.0.0.1:{port}",
                             "--console-address", f"127.0.0.1:{free_port()}"],
                   directory / "minio.log", env)
    endpoint = f"http://127.0.0.1:{port}"

    def ready():
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{endpoint}/minio/health/ready", timeout=2) as r:
                return r.status == 200
        return False

    return proc.wait_ready(ready), endpoint


def start_arrowport(directory: Path, name: str, streams: dict, endpoint: str) -> tuple:
    """An Arrowport server with its own DuckDB file; returns (Process, Flight client)."""
    flight_port, http_port = free_port(), free_port()
    s3 = {"endpoint": endpoint, "region": REGION, "url_style": "path",
          "access_key_id": KEY, "secret_access_key": SECRET}
    lines = [f"db_path: {json.dumps(str(directory / f'{name}.duckdb'))}",
             f"flight: {json.dumps({'host': '127.0.0.1', 'port': flight_port})}",
             f"http: {json.dumps({'host': '127.0.0.1', 'port': http_port})}",
             f"s3: {json.dumps(s3)}", "streams:"]
    lines += [f"  {stream}: {json.dumps(route)}" for stream, route in streams.items()]
    config = directory / f"{name}.yaml"
    config.write_text("\n".join(lines) + "\n")
    config.chmod(0o600)  # it holds S3 keys: a config every user may read is refused
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["ARROWPORT_SKIP_BUILD"] = "1"
    log = directory / f"{name}.log"
    proc = Process(f"Arrowport {name}", [str(REPO / "bin/arrowport"), "serve", "--config",
                                          str(config)], log, env)
    proc.wait_ready(lambda: "arrowport ready" in log.read_text(errors="replace"))
    return proc, flight.connect(f"grpc://127.0.0.1:{flight_port}")


def do_put(client, stream: str, table) -> int:
    """Flight DoPut of the table to a stream (PATH descriptor), committed when the reply
    comes back; returns the rows its summary says were committed."""
    writer, metadata = client.do_put(flight.FlightDescriptor.for_path(stream), table.schema)
    writer.write_table(table)
    writer.done_writing()
    replies = []
    while (buf := metadata.read()) is not None:
        replies.append(json.loads(buf.to_pybytes()))
    writer.close()
    summaries = [r for r in replies if "stream" in r and r.get("committed")]
    if not summaries:
        raise RuntimeError(f"DoPut to {stream}: no committed summary in the replies {replies}")
    return summaries[-1]["rows"]


def lake_route(url: str) -> dict:
    # No background compaction: it would rewrite earlier rounds' files during later rounds.
    # Each server polls every lake stream's log each refresh_ms (default 1 s) for its views;
    # this bench configures 5 streams per round on each node, so it polls once a minute:
    # the polling of idle streams would otherwise load MinIO and the nodes in every run.
    return {"sink": "lake", "commit": "per_request",
            "lake": {"url": url, "compression": "zstd", "target_file_mb": 128,
                     "compaction_interval_s": 0, "refresh_ms": 60000}}


def delta_rows(url: str, storage_options=None) -> int:
    table = deltalake.DeltaTable(url, storage_options=storage_options)
    return sum(table.get_add_actions(flatten=True).column("num_records").to_pylist())


def run_rounds(repeat: int, rows: int, scenarios: dict, probes: dict) -> dict:
    """Interleaved rounds; per scenario the best round's wall seconds and the CPU seconds
    each probe (name -> callable returning CPU seconds so far) spent in it."""
    best = {name: None for name in scenarios}
    for round_ in range(repeat):
        for name, (run, expected) in scenarios.items():
            before = {p: probe() for p, probe in probes.items()}
            start = time.perf_counter()
            got = run(round_)
            seconds = time.perf_counter() - start
            cpu = {p: probe() - before[p] for p, probe in probes.items()}
            assert got == expected * rows, f"{name}: expected {expected * rows} rows, got {got}"
            print(f"  round {round_ + 1}/{repeat} {name}: {seconds:.2f} s", file=sys.stderr)
            if best[name] is None or seconds < best[name][0]:
                best[name] = (seconds, cpu)
    return best


def bench_main(rows: int, repeat: int = 3, keep: bool = False) -> dict:
    table = bench_table(rows)
    load_before = os.getloadavg()
    arrow_bytes = table.nbytes
    work = Path(tempfile.mkdtemp(prefix="arrowport-lake-bench-"))
    lake_dir = work / "lake"
    lake_dir.mkdir()
    processes = []
    try:
        minio, endpoint = start_minio(work / "minio")
        processes.append(minio)
        # delta-rs 1.x commits on S3 with `PUT If-None-Match: *` by default (checked through
        # a logging proxy: with or without aws_conditional_put=etag the commit PUTs carry
        # it), so neither AWS_S3_ALLOW_UNSAFE_RENAME nor a locking provider is needed.
        storage = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": KEY,
                   "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": REGION,
                   "AWS_ALLOW_HTTP": "true"}
        streams = {}
        for r in range(repeat):
            streams[f"local_{r}"] = lake_route((lake_dir / f"ap_local_{r}").as_uri())
            streams[f"s3_{r}"] = lake_route(f"s3://{BUCKET}/ap_s3_{r}")
            streams[f"pair_local_{r}"] = lake_route((lake_dir / f"pair_local_{r}").as_uri())
            streams[f"pair_s3_{r}"] = lake_route(f"s3://{BUCKET}/pair_s3_{r}")
            streams[f"duck_{r}"] = {"commit": "per_request"}  # a plain DuckDB table
        node_a, client_a = start_arrowport(work, "node_a", streams, endpoint)
        processes.append(node_a)
        node_b, client_b = start_arrowport(work, "node_b", streams, endpoint)
        processes.append(node_b)

        writer_properties = deltalake.WriterProperties(compression="ZSTD")
        # What src/arrowport/lake/data_file_writer.cc sets: zstd, 131072-row row groups,
        # microsecond timestamps, statistics; it turns dictionary encoding off for the
        # columns whose first rows are unique (here all of them).
        arrow_writer_options = {"compression": "zstd", "row_group_size": 131072,
                                "coerce_timestamps": "us"}
        copy_dir = work / "duckdb_copy"
        copy_dir.mkdir()
        con = duckdb.connect()
        con.register("t", table)

        def both(stream):
            got = [0, 0]
            errors = []

            def put(i, client):
                try:
                    got[i] = do_put(client, stream, table)
                except Exception as e:  # noqa: BLE001  (reported by the caller)
                    errors.append(e)

            threads = [threading.Thread(target=put, args=(i, c))
                       for i, c in enumerate((client_a, client_b))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if errors:
                raise errors[0]
            return sum(got)

        scenarios = {
            "duckdb_copy": (lambda r: con.execute(
                f"COPY t TO '{copy_dir}/copy_{r}.parquet' (FORMAT parquet, COMPRESSION zstd)"
            ).fetchall()[0][0], 1),
            "deltars_local": (lambda r: (deltalake.write_deltalake(
                str(lake_dir / f"drs_local_{r}"), table, mode="append",
                writer_properties=writer_properties), rows)[1], 1),
            "deltars_s3": (lambda r: (deltalake.write_deltalake(
                f"s3://{BUCKET}/drs_s3_{r}", table, mode="append", storage_options=storage,
                writer_properties=writer_properties), rows)[1], 1),
            # Not peers: the Parquet writer Arrowport links (Arrow C++, here pyarrow's build)
            # in process, with Parquet's default dictionary encoding, then without it.
            "arrow_writer": (lambda r: (pq.write_table(
                table, f"{copy_dir}/arrow_{r}.parquet", **arrow_writer_options), rows)[1], 1),
            "arrow_writer_nodict": (lambda r: (pq.write_table(
                table, f"{copy_dir}/arrow_nodict_{r}.parquet", use_dictionary=False,
                **arrow_writer_options), rows)[1], 1),
            "ap_local": (lambda r: do_put(client_a, f"local_{r}", table), 1),
            "ap_s3": (lambda r: do_put(client_a, f"s3_{r}", table), 1),
            "ap_duckdb": (lambda r: do_put(client_a, f"duck_{r}", table), 1),
            "pair_local": (lambda r: both(f"pair_local_{r}"), 2),
            "pair_s3": (lambda r: both(f"pair_s3_{r}"), 2),
        }
        probes = {"node_a": node_a.cpu, "node_b": node_b.cpu, "minio": minio.cpu,
                  "client": own_cpu}
        best = run_rounds(repeat, rows, scenarios, probes)

        # What landed: every lake holds what was sent (read back outside the timing).
        for r in range(repeat):
            for url, opts, n in (((lake_dir / f"ap_local_{r}").as_uri(), None, 1),
                                 (f"s3://{BUCKET}/ap_s3_{r}", storage, 1),
                                 ((lake_dir / f"pair_local_{r}").as_uri(), None, 2),
                                 (f"s3://{BUCKET}/pair_s3_{r}", storage, 2),
                                 (str(lake_dir / f"drs_local_{r}"), None, 1),
                                 (f"s3://{BUCKET}/drs_s3_{r}", storage, 1)):
                assert delta_rows(url, opts) == n * rows, f"{url}: wrong row count"
        pair_versions = len(list((lake_dir / "pair_local_0" / "_delta_log").glob("*.json")))

        # Can this DuckDB write to S3 at all? (httpfs)
        try:
            con.execute("LOAD httpfs")
            httpfs = "loaded"
        except duckdb.Error as e:
            httpfs = f"not available ({str(e).splitlines()[0].rstrip('.')})"
        con.close()

        results = {"rows": rows, "repeat": repeat, "arrow_bytes": arrow_bytes,
                   "load_before": load_before, "load_after": os.getloadavg(),
                   "pyarrow_version": pyarrow.__version__,
                   "file_mb": {name: os.path.getsize(copy_dir / f"{name}_0.parquet") / 1e6
                               for name in ("copy", "arrow", "arrow_nodict")},
                   "lake_mb": {name: sum(f.stat().st_size for f in
                                         (lake_dir / f"{name}_0").glob("*.parquet")) / 1e6
                               for name in ("ap_local", "drs_local")},
                   "pair_local_commits": pair_versions, "duckdb_httpfs": httpfs,
                   "duckdb_version": duckdb.__version__,
                   "deltalake_version": deltalake.__version__}
        for name, (seconds, cpu) in best.items():
            n = scenarios[name][1] * rows
            results[name] = {"seconds": seconds, "rows_per_s": n / seconds,
                             "mb_per_s": n / rows * arrow_bytes / seconds / 1e6, "cpu": cpu}
        logs = {p.name: p.log for p in processes}
        results["server_log_errors"] = {
            name: [line for line in log.read_text(errors="replace").splitlines()
                   if any(w in line.lower() for w in ("error", "warn", "fail"))][:20]
            for name, log in logs.items() if name.startswith("Arrowport")}
        return results
    except BaseException:
        for p in processes:  # what the servers said, before their directory goes
            print(f"--- {p.name} log ({p.log}), last lines:", file=sys.stderr)
            print("\n".join(p.log.read_text(errors="replace").splitlines()[-30:]),
                  file=sys.stderr)
        raise
    finally:
        for p in reversed(processes):
            p.stop()
        if keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


LABELS = {
    "duckdb_copy": "ceiling: DuckDB COPY t TO Parquet (zstd), local disk, in process",
    "deltars_local": "peer: delta-rs write_deltalake append (zstd), local dir, in process",
    "deltars_s3": "peer: delta-rs write_deltalake append (zstd), S3 (MinIO), in process",
    "arrow_writer": "diagnostic: Arrow C++ Parquet writer (pyarrow), dictionary encoding on "
                    "(Parquet's default), local file, in process",
    "arrow_writer_nodict": "diagnostic: the same with dictionary encoding off (Arrowport's "
                           "choice for these unique columns)",
    "ap_local": "Arrowport Flight DoPut -> lake, local dir (end to end)",
    "ap_s3": "Arrowport Flight DoPut -> lake, S3 (MinIO) (end to end)",
    "ap_duckdb": "ours: Arrowport Flight DoPut -> DuckDB table, no lake (end to end)",
    "pair_local": "two Arrowport nodes at once -> one lake, local dir (aggregate)",
    "pair_s3": "two Arrowport nodes at once -> one lake, S3 (MinIO) (aggregate)",
}


def print_table(r: dict) -> None:
    def rate(name):
        return r[name]["rows_per_s"]

    ratios = {
        "ap_local": f"{rate('ap_local') / rate('deltars_local'):.2f} x delta-rs; "
                    f"{rate('ap_local') / rate('duckdb_copy'):.2f} x DuckDB COPY",
        "ap_s3": f"{rate('ap_s3') / rate('deltars_s3'):.2f} x delta-rs",
        "ap_duckdb": f"lake local {rate('ap_local') / rate('ap_duckdb'):.2f} x, "
                     f"lake S3 {rate('ap_s3') / rate('ap_duckdb'):.2f} x this",
        "arrow_writer_nodict": f"{rate('arrow_writer_nodict') / rate('arrow_writer'):.2f} x "
                               f"dictionary on",
        "pair_local": f"{rate('pair_local') / rate('ap_local'):.2f} x one node",
        "pair_s3": f"{rate('pair_s3') / rate('ap_s3'):.2f} x one node",
    }

    def cpu(name):
        c, wall = r[name]["cpu"], r[name]["seconds"]
        parts = [f"{label} {c[key]:.2f}" for key, label in
                 (("node_a", "node A"), ("node_b", "node B"), ("minio", "MinIO"),
                  ("client", "this process")) if c[key] >= 0.05]
        return f"{wall:.2f} s; " + (", ".join(parts) or "each under 0.05") + \
            f" ({sum(c.values()) / wall:.2f} cores)"

    print(f"| lake ingest, 5 columns, best of {r['repeat']} | rows | rows/s | MB/s | ratio "
          f"| best round: wall; CPU s |")
    print("|---|---:|---:|---:|---|---|")
    for name, label in LABELS.items():
        n = r["rows"] * (2 if name.startswith("pair") else 1)
        print(f"| {label} | {n} | {rate(name) / 1e6:.2f} M | {r[name]['mb_per_s']:.0f} "
              f"| {ratios.get(name, '')} | {cpu(name)} |")


def print_notes(r: dict) -> None:
    def rate(name):
        return r[name]["rows_per_s"]

    def cpu_per_m(name, keys=("node_a", "node_b", "minio", "client")):
        n = r["rows"] * (2 if name.startswith("pair") else 1)
        return sum(r[name]["cpu"][k] for k in keys) / n * 1e6

    def cores(name):
        return sum(r[name]["cpu"].values()) / r[name]["seconds"]

    def verdict(value, target):
        return f"{value:.2f}x (target >= {target}x): {'met' if value >= target else 'NOT met'}"

    ours = f"Arrowport's server spent {cpu_per_m('ap_local', ('node_a',)):.2f} CPU s per M rows " \
           f"(local; {cores('ap_local'):.2f} cores busy in all)"
    print()
    print(f"- Arrowport vs delta-rs, local dir: "
          f"{verdict(rate('ap_local') / rate('deltars_local'), 1.5)}. {ours}; delta-rs "
          f"{cpu_per_m('deltars_local'):.2f} CPU s per M rows ({cores('deltars_local'):.2f} "
          f"cores).")
    print(f"- Arrowport vs delta-rs, S3: {verdict(rate('ap_s3') / rate('deltars_s3'), 1.5)}. "
          f"Arrowport server {cpu_per_m('ap_s3', ('node_a',)):.2f} + MinIO "
          f"{cpu_per_m('ap_s3', ('minio',)):.2f} CPU s per M rows; delta-rs "
          f"{cpu_per_m('deltars_s3', ('client',)):.2f} + MinIO "
          f"{cpu_per_m('deltars_s3', ('minio',)):.2f}.")
    print(f"- Arrowport local vs DuckDB COPY: "
          f"{verdict(rate('ap_local') / rate('duckdb_copy'), 0.8)}. DuckDB "
          f"{cpu_per_m('duckdb_copy'):.2f} CPU s per M rows on {cores('duckdb_copy'):.2f} "
          f"cores. DuckDB {r['duckdb_version']} cannot write to S3 here: httpfs "
          f"{r['duckdb_httpfs']}." if r["duckdb_httpfs"] != "loaded" else "cores.")
    fm, lm = r["file_mb"], r["lake_mb"]
    print(f"- Parquet writer (pyarrow {r['pyarrow_version']}, zstd, 131072-row groups): "
          f"{cpu_per_m('arrow_writer'):.2f} CPU s per M rows and {fm['arrow']:.1f} MB with "
          f"dictionary encoding on, {cpu_per_m('arrow_writer_nodict'):.2f} and "
          f"{fm['arrow_nodict']:.1f} MB off; Arrowport's lake file {lm['ap_local']:.1f} MB, "
          f"delta-rs's {lm['drs_local']:.1f} MB, DuckDB's {fm['copy']:.1f} MB.")
    for store in ("local", "s3"):
        c, wall = r[f"pair_{store}"]["cpu"], r[f"pair_{store}"]["seconds"]
        print(f"- two nodes, {store}: "
              f"{verdict(rate(f'pair_{store}') / rate(f'ap_{store}'), 1.6)}. CPU in the best "
              f"round: node A {c['node_a']:.2f} s, node B {c['node_b']:.2f} s, MinIO "
              f"{c['minio']:.2f} s, this process {c['client']:.2f} s over {wall:.2f} s wall: "
              f"{sum(c.values()) / wall:.2f} of the machine's {os.cpu_count()} cores busy; "
              f"that CPU alone needs >= {sum(c.values()) / os.cpu_count():.2f} s on "
              f"{os.cpu_count()} cores, and one node's run (node A "
              f"{r[f'ap_{store}']['cpu']['node_a']:.2f} CPU s in "
              f"{r[f'ap_{store}']['seconds']:.2f} s) uses one core.")
    print(f"- the two nodes' table of the first round has {r['pair_local_commits']} commits "
          f"(local; both started on an empty URL, the loser of version 0 retried).")
    print(f"- lake vs DuckDB table (ours): local {rate('ap_local') / rate('ap_duckdb'):.2f}x, "
          f"S3 {rate('ap_s3') / rate('ap_duckdb'):.2f}x.")
    print(f"- load average before / after: {r['load_before'][0]:.2f} / "
          f"{r['load_after'][0]:.2f}.")
    for name, lines in r["server_log_errors"].items():
        if lines:
            print(f"- {name} log: " + " | ".join(lines[:5]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, lakes)")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()
    results = bench_main(args.rows, args.repeat, args.keep)
    print_table(results)
    print_notes(results)
    if args.json:
        print(json.dumps(results, indent=1, default=str))
    sys.exit(0)
