"""Descriptors (hardening issue): gRPC connections were not capped (1,500 idle sockets held
1,500 descriptors; ~20,000 would exhaust the process) and refused HTTP connections lingered
up to 4,096 with nothing checking RLIMIT_NOFILE. Under a low `ulimit -n`, a flood of
connections on both ports must leave the server serving, with DuckDB still able to open
its files, and new connections must work again once the flood is gone."""
import json
import os
import resource
import socket

import pyarrow as pa
import pyarrow.flight as flight
import pytest
import requests

from test_flight_roundtrip import put

NOFILE = 256


def low_nofile():
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


def flood(port, count):
    sockets = []
    for _ in range(count):
        try:
            sockets.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        except OSError:
            break
    return sockets


@pytest.mark.slow
def test_connection_floods_under_a_low_nofile_leave_the_server_serving(start_server):
    # A small memory limit: the sort below spills to files DuckDB must be able to open.
    # The flood comes from one address: without the per-address cap (which has tests of
    # its own) it reaches the descriptor ceiling.
    env = dict(os.environ, ARROWPORT_DUCKDB_MEMORY_LIMIT="64MB",
               ARROWPORT_LIMITS_MAX_CONNECTIONS_PER_ADDRESS="0")
    server = start_server(preexec_fn=low_nofile, env=env)
    client = server.client()  # connected before the flood
    put(client, pa.table({"x": pa.array(range(1000), pa.int64())}), {"stream": "before"})
    http_port = int(server.http.rsplit(":", 1)[1])
    held = flood(server.port, 400) + flood(http_port, 400)
    try:
        # The flood cannot take the descriptors DuckDB needs: the existing connection
        # still ingests (a new table: files, WAL) and queries, and checkpoints.
        put(client, pa.table({"x": pa.array(range(5000), pa.int64())}), {"stream": "during"})
        ticket = flight.Ticket(json.dumps({"sql": "SELECT count(*) AS n FROM during"}).encode())
        assert client.do_get(ticket).read_all().column(0)[0].as_py() == 5000
        list(client.do_action(flight.Action("checkpoint", b"")))
        spill = "SELECT count(*) AS n FROM (SELECT range, random() AS r FROM range(6000000) ORDER BY r)"
        ticket = flight.Ticket(json.dumps({"sql": spill}).encode())
        assert client.do_get(ticket).read_all().column(0)[0].as_py() == 6000000
        assert server.proc.poll() is None
    finally:
        for s in held:
            s.close()
    # Once the flood is gone, new connections on both ports work again.
    fresh = flight.connect(server.uri)
    assert len(list(fresh.list_flights())) >= 2
    assert requests.get(f"{server.http}/tables", timeout=30).status_code == 200
    assert server.proc.poll() is None
    assert server.logged(f"descriptors nofile={NOFILE}")
