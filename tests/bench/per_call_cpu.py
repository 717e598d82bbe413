"""The server's CPU per call for small requests: a 1,000-row DoGet by SQL ticket, a
1,000-row DoPut, and a Flight SQL prepared query (GetFlightInfo + DoGet of a statement
prepared once), each read from the server's /proc/PID/stat (utime + stime) around
--calls sequential calls, best of --repeat; a noisy machine slows calls down but barely
moves the CPU they cost.

    python tests/bench/per_call_cpu.py grpc://127.0.0.1:PORT SERVER_PID [--calls 2000]
    python tests/bench/per_call_cpu.py URL PID --only doget --calls 200 --repeat 1 \
        --around 'callgrind_control -z {pid}' 'callgrind_control -d {pid}'

--around runs the two commands before and after the measured calls of each workload
(after its warm-up): e.g. zeroing and dumping callgrind's counters.

--plain: the server is the plain Flight ceiling (`arrowport_microbench
--plain-flight-server`: an in-memory 1,000-row table, uploads discarded), which knows no
Flight SQL: its "prepared" call is GetFlightInfo + DoGet of the endpoint it returns."""
import argparse
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.flight as flight

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
import flightsql_wire as wire  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def server_cpu(pid: int) -> tuple:
    """The server's user and system CPU seconds so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS  # utime, stime


def bench_table(rows: int) -> pa.Table:
    """The benchmark's 5 columns: int64, double, utf8, timestamp[us], bool."""
    ids = list(range(rows))
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "value": pa.array([i * 0.5 for i in ids], pa.float64()),
        "name": pa.array([f"name_{i:07d}" for i in ids], pa.string()),
        "ts": pa.array([1_700_000_000_000_000 + i * 1000 for i in ids], pa.timestamp("us")),
        "flag": pa.array([i % 2 == 0 for i in ids], pa.bool_()),
    })


def workloads(client: flight.FlightClient, table: pa.Table, plain: bool) -> dict:
    sql = "SELECT * FROM t"
    ticket = flight.Ticket(('{"sql": "%s"}' % sql).encode())

    def doget():
        client.do_get(ticket).read_all()

    put_descriptor = flight.FlightDescriptor.for_command(b'{"stream": "p"}')

    def doput():
        writer, _ = client.do_put(put_descriptor, table.schema)
        writer.write_table(table)
        writer.close()

    if plain:
        prepared = flight.FlightDescriptor.for_command(sql.encode())
    else:
        action = flight.Action("CreatePreparedStatement", wire.create_prepared_statement(sql))
        result = next(iter(client.do_action(action)))
        handle = wire.unpack_any_field1(result.body.to_pybytes())
        prepared = flight.FlightDescriptor.for_command(wire.prepared_statement_query(handle))

    def prepared_query():
        info = client.get_flight_info(prepared)
        for endpoint in info.endpoints:
            client.do_get(endpoint.ticket).read_all()

    return {"doget": doget, "doput": doput, "prepared": prepared_query}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("pid", type=int)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--only", action="append")
    parser.add_argument("--around", nargs=2)
    parser.add_argument("--plain", action="store_true")
    args = parser.parse_args()
    client = flight.FlightClient(args.url)
    table = bench_table(1000)
    writer, _ = client.do_put(flight.FlightDescriptor.for_command(b'{"stream": "t"}'),
                              table.schema)
    writer.write_table(table)
    writer.close()
    for name, call in workloads(client, table, args.plain).items():
        if args.only and name not in args.only:
            continue
        for _ in range(args.warmup):
            call()
        best, split = float("inf"), (0, 0)
        for _ in range(args.repeat):
            if args.around:
                subprocess.run(args.around[0].format(pid=args.pid), shell=True, check=True,
                               stdout=subprocess.DEVNULL)
            before = server_cpu(args.pid)
            for _ in range(args.calls):
                call()
            after = server_cpu(args.pid)
            user, system = after[0] - before[0], after[1] - before[1]
            if user + system < best:
                best, split = user + system, (user, system)
            if args.around:
                subprocess.run(args.around[1].format(pid=args.pid), shell=True, check=True,
                               stdout=subprocess.DEVNULL)
        print(f"{name}: {1000 * best / args.calls:.3f} ms of server CPU per call "
              f"({1000 * split[0] / args.calls:.3f} user, {1000 * split[1] / args.calls:.3f} "
              f"system; best of {args.repeat} x {args.calls})", flush=True)


if __name__ == "__main__":
    main()
