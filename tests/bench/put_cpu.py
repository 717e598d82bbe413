"""The server's CPU for one bulk Flight DoPut (issue 40's bulk part): the bench's
5-column table (int64, double, utf8, timestamp[us], bool; 65,536-row batches, as
`arrowport bench` sends it), --rows rows, pushed to stream `bulk` with mode replace,
--repeat times; the server's utime + stime (/proc/PID/stat) around each push, best kept.

    python tests/bench/put_cpu.py grpc://127.0.0.1:PORT SERVER_PID [--rows 10000000]
    python tests/bench/put_cpu.py PLAIN_URL PLAIN_PID --plain   # the plain Flight ceiling

--plain: the server is `arrowport_microbench --plain-flight-server`, which discards
uploads (its descriptor is not read). One warm-up push first, unmeasured.

--around runs two commands before and after each measured push, e.g. zeroing and dumping
callgrind's counters: --around 'callgrind_control -z {pid}' 'callgrind_control -d {pid}'."""
import argparse
import os
import subprocess
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as flight

TICKS = os.sysconf("SC_CLK_TCK")
BATCH_ROWS = 65_536


def server_cpu(pid: int) -> tuple:
    """The server's user and system CPU seconds so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS  # utime, stime


def bench_table(rows: int) -> pa.Table:
    """cli/generate.h MakeBenchTable's columns and distributions (its doubles are
    uniform in [0, 1000) from another generator)."""
    ids = pa.array(range(rows), pa.int64())
    names = pc.binary_join_element_wise(
        "name_", pc.utf8_lpad(pc.cast(pc.modulo(ids, 10_000_000), pa.string()), 7, "0"), "")
    t0 = 1_700_000_000_000_000
    ts = pc.cast(pc.add(pc.multiply(ids, 1000), t0), pa.timestamp("us"))
    flag = pc.equal(pc.bit_wise_and(ids, 1), 0)
    value = pc.multiply(pc.random(rows, initializer=7), 1000.0)
    return pa.table({"id": ids, "value": value, "name": names, "ts": ts, "flag": flag})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("pid", type=int)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--plain", action="store_true")
    parser.add_argument("--around", nargs=2)
    args = parser.parse_args()
    table = bench_table(args.rows).combine_chunks()
    batches = table.to_batches(max_chunksize=BATCH_ROWS)
    client = flight.FlightClient(args.url)
    descriptor = flight.FlightDescriptor.for_command(
        b'{}' if args.plain else b'{"stream": "bulk", "mode": "replace"}')

    def push():
        writer, _ = client.do_put(descriptor, table.schema)
        for batch in batches:
            writer.write_batch(batch)
        writer.close()

    push()
    best = None
    for _ in range(args.repeat):
        time.sleep(1)  # the server's background work after the last push settles
        if args.around:
            subprocess.run(args.around[0].format(pid=args.pid), shell=True, check=True,
                           stdout=subprocess.DEVNULL)
        before, start = server_cpu(args.pid), time.perf_counter()
        push()
        after, seconds = server_cpu(args.pid), time.perf_counter() - start
        if args.around:
            subprocess.run(args.around[1].format(pid=args.pid), shell=True, check=True,
                           stdout=subprocess.DEVNULL)
        user, system = after[0] - before[0], after[1] - before[1]
        print(f"  {user + system:.2f} s of server CPU ({user:.2f} user, {system:.2f} system), "
              f"{seconds:.2f} s wall", flush=True)
        if best is None or user + system < best[0]:
            best = (user + system, user, system, seconds)
    print(f"put {args.rows} rows: {best[0]:.2f} s of server CPU ({best[1]:.2f} user, "
          f"{best[2]:.2f} system; best of {args.repeat}), {best[3]:.2f} s wall", flush=True)


if __name__ == "__main__":
    main()
