"""The seed JSON endpoint (POST /stream/{stream}: base64 Arrow IPC inside JSON) side by side
with the seed's own Python implementation (arrowport 0.2.0 from PyPI), same body, same
machine, rounds alternating, best of --repeat. Also HTTP /ingest of the same rows (ours).

    .venv/bin/python tests/bench/seed_peer.py [--rows 1000000] [--repeat 3]

The seed is installed (once) into /var/cache/arrowport/seed-venv from PyPI; Arrowport is
started from this clone (bin/arrowport serve). Prints a Markdown table."""
import argparse
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import requests

sys.path.insert(0, str(Path(__file__).parent))
from flight_sql_adbc import bench_table  # noqa: E402  the 5 columns of arrowport bench

REPO = Path(__file__).resolve().parents[2]
SEED_VENV = Path("/var/cache/arrowport/seed-venv")


def seed_server(workdir: Path, port: int):
    if not (SEED_VENV / "bin" / "arrowport").exists():
        subprocess.run([sys.executable, "-m", "venv", str(SEED_VENV)], check=True)
        # deltalake: imported by the seed at start though not declared by its package.
        subprocess.run([str(SEED_VENV / "bin" / "pip"), "install", "-q", "arrowport==0.2.0",
                        "deltalake"], check=True)
    env = dict(os.environ, ARROWPORT_DB_PATH=str(workdir / "seed.duckdb"))
    proc = subprocess.Popen([str(SEED_VENV / "bin" / "arrowport"), "serve", "--host",
                             "127.0.0.1", "--port", str(port)], cwd=workdir, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            requests.get(url + "/docs", timeout=1)
            return proc, url
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError("the seed server did not start")


def our_server(workdir: Path):
    proc = subprocess.Popen([str(REPO / "bin" / "arrowport"), "serve", "--db",
                             str(workdir / "ours.duckdb"), "--flight-port", "0",
                             "--http-port", "0"], cwd=workdir, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        match = re.search(r"http=(http://\S+)", line)
        if line.startswith("arrowport ready") and match:
            return proc, match.group(1)
    raise RuntimeError("arrowport did not start")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    table = bench_table(args.rows)
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    ipc_bytes = sink.getvalue().to_pybytes()
    body = json.dumps({"config": {"target_table": "bench_seed"},
                       "batch": {"data": base64.b64encode(ipc_bytes).decode()}})
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        seed, seed_url = seed_server(workdir, 18890)
        ours, our_url = our_server(workdir)
        try:
            best = {"seed": 1e9, "ours": 1e9, "ingest": 1e9}
            for _ in range(args.repeat):
                for name, url in (("seed", seed_url), ("ours", our_url)):
                    start = time.perf_counter()
                    r = requests.post(f"{url}/stream/bench", data=body,
                                      headers={"Content-Type": "application/json"}, timeout=600)
                    r.raise_for_status()
                    best[name] = min(best[name], time.perf_counter() - start)
                start = time.perf_counter()
                r = requests.post(f"{our_url}/ingest/bench_ingest", data=ipc_bytes,
                                  headers={"Content-Type": "application/vnd.apache.arrow.stream"},
                                  timeout=600)
                r.raise_for_status()
                best["ingest"] = min(best["ingest"], time.perf_counter() - start)
        finally:
            for proc in (seed, ours):
                proc.terminate()
                proc.wait(timeout=60)
    rate = {k: args.rows / v / 1e6 for k, v in best.items()}
    print(f"| {args.rows:,} rows x 5 columns, best of {args.repeat} | rows/s | ratio |")
    print("|---|---:|---:|")
    print(f"| seed (arrowport 0.2.0, Python): POST /stream | {rate['seed']:.2f} M | |")
    print(f"| Arrowport: POST /stream (same body) | {rate['ours']:.2f} M | "
          f"{rate['ours'] / rate['seed']:.2f} x the seed |")
    print(f"| Arrowport: POST /ingest (the IPC stream itself) | {rate['ingest']:.2f} M | "
          f"/stream at {best['ingest'] / best['ours']:.2f} x its speed |")


if __name__ == "__main__":
    main()
