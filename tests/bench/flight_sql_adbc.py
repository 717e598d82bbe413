"""ADBC (the Python Flight SQL driver, which wraps ADBC's Go driver) against plain Flight,
in one run on one server: fetch and bulk ingest of the benchmark table (the 5 columns of
`arrowport bench`), and the round trip of a prepared query returning 1,000 rows.

    python tests/bench/flight_sql_adbc.py grpc://127.0.0.1:8815 [--rows 10000000]

Throughputs are the best of --repeat rounds (each round runs every path once, so the
paths compared share the machine's good and bad spells); the prepared round trip is the median and p99
of --iterations runs. Prints a Markdown table and returns the figures (bench_main)."""
import argparse
import json
import statistics
import sys
import time

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as flight


def bench_table(rows: int, batch_rows: int = 65536) -> pa.Table:
    """id int64, value float64, name utf8, ts timestamp[us], flag bool."""
    ids = pa.array(range(rows), pa.int64())
    value = pc.multiply(pc.random(rows), 1000.0)
    digits = pc.utf8_lpad(pc.cast(pc.bit_wise_and(ids, 0xFFFFFF), pa.string()), 7, "0")
    name = pc.binary_join_element_wise("name_", digits, "")
    ts = pc.cast(pc.add(pc.multiply(ids, 1000), 1_700_000_000_000_000), pa.timestamp("us"))
    flag = pc.equal(pc.bit_wise_and(ids, 1), 0)
    table = pa.table({"id": ids, "value": value, "name": name, "ts": ts, "flag": flag})
    return pa.Table.from_batches(table.to_batches(max_chunksize=batch_rows))


def best_rates(repeat: int, rows: int, runs: dict) -> dict:
    """Best rate of each run, the runs interleaved round by round: on a noisy machine a
    slow spell then hits every path alike instead of one path's repeats."""
    best = {name: float("inf") for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            start = time.perf_counter()
            got = run()
            best[name] = min(best[name], time.perf_counter() - start)
            assert got == rows, f"{name}: expected {rows} rows, got {got}"
    return {name: rows / seconds for name, seconds in best.items()}


def bench_main(uri: str, rows: int, repeat: int = 3, iterations: int = 200) -> dict:
    table = bench_table(rows)
    client = flight.connect(uri)

    def flight_put(target):
        descriptor = flight.FlightDescriptor.for_command(
            json.dumps({"stream": target, "table": target, "mode": "replace"}))
        writer, _ = client.do_put(descriptor, table.schema)
        writer.write_table(table)
        writer.close()
        return rows

    def flight_get():
        return client.do_get(flight.Ticket(b"SELECT * FROM bench_plain")).read_all().num_rows

    with flight_sql.connect(uri, autocommit=True) as conn:
        def adbc_ingest():
            with conn.cursor() as cur:
                return cur.adbc_ingest("bench_adbc", table, mode="replace")

        def adbc_fetch():
            with conn.cursor() as cur:
                cur.execute("SELECT * FROM bench_plain")
                return cur.fetch_arrow_table().num_rows

        flight_put("bench_plain")  # what both fetches read
        results = best_rates(repeat, rows, {
            "flight_doput": lambda: flight_put("bench_put"),
            "adbc_ingest": adbc_ingest,
            "flight_doget": flight_get,
            "adbc_fetch": adbc_fetch,
        })
        with conn.cursor() as cur:
            cur.adbc_ingest("rt", table.slice(0, 1000), mode="replace")
        times = []
        with conn.cursor() as cur:  # the same SQL again: ADBC re-executes its prepared statement
            for _ in range(iterations):
                start = time.perf_counter()
                cur.execute("SELECT * FROM rt LIMIT 1000")
                assert cur.fetch_arrow_table().num_rows == 1000
                times.append(time.perf_counter() - start)
    times.sort()
    results["prepared_1000_median_ms"] = statistics.median(times) * 1e3
    results["prepared_1000_p99_ms"] = times[min(len(times) - 1, int(len(times) * 0.99))] * 1e3
    results["ingest_ratio"] = results["adbc_ingest"] / results["flight_doput"]
    results["fetch_ratio"] = results["adbc_fetch"] / results["flight_doget"]
    results["rows"] = rows
    return results


def print_table(r: dict) -> None:
    m = 1e6
    print(f"| ADBC vs plain Flight, {r['rows']} rows x 5 columns, best of 3 | rows/s | ratio |")
    print("|---|---|---|")
    print(f"| plain Flight DoGet (pyarrow) | {r['flight_doget'] / m:.2f} M | |")
    print(f"| ADBC fetch (cursor.execute + fetch_arrow_table) | {r['adbc_fetch'] / m:.2f} M "
          f"| {r['fetch_ratio']:.2f} x DoGet |")
    print(f"| plain Flight DoPut (pyarrow) | {r['flight_doput'] / m:.2f} M | |")
    print(f"| ADBC adbc_ingest (replace) | {r['adbc_ingest'] / m:.2f} M "
          f"| {r['ingest_ratio']:.2f} x DoPut |")
    print(f"| ADBC prepared query of 1,000 rows, round trip | median "
          f"{r['prepared_1000_median_ms']:.2f} ms | p99 {r['prepared_1000_p99_ms']:.2f} ms |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("uri")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=200)
    args = parser.parse_args()
    print_table(bench_main(args.uri, args.rows, args.repeat, args.iterations))
    sys.exit(0)
