"""The database's file deleted or replaced while the server runs (an attack run): the
server went on committing into the file it held open, answered OK, and the next start
began an empty database at the path, every row acknowledged since lost. Now writes are
refused once the path no longer names the file opened, reads go on, and the storage's
state says why."""
import json
import time

import pyarrow as pa
import pyarrow.flight as flight
import pytest
import requests

from test_flight_roundtrip import get, put
from test_http import ARROW, ipc_bytes


def rows(n, start=0):
    return pa.table({"id": pa.array(range(start, start + n), pa.int64())})


def storage_of(server):
    return requests.get(f"{server.http}/healthz", timeout=30).json()["storage"]


def count(client):
    return get(client, {"sql": "SELECT count(*)::BIGINT AS n FROM ev"}).to_pylist()[0]["n"]


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_writes_are_refused_once_the_database_file_is_gone(start_server, tmp_path, how):
    db = tmp_path / "d.duckdb"
    server = start_server(db=db)
    client = server.client()
    put(client, rows(100), {"stream": "ev"})
    # A checkpoint: the rows are in the file itself, not only in its write-ahead log.
    next(client.do_action(flight.Action("checkpoint", b"")))
    db.unlink()
    if how == "replaced":
        db.write_bytes(b"")  # another file at the same path
    # Seen within the server's upkeep tick (250 ms; a write checks at most 20 ms old
    # readings); from then on every write is refused, whatever the protocol, saying why.
    deadline = time.monotonic() + 30
    while storage_of(server)["state"] != "file_gone" and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(flight.FlightError, match="deleted or replaced"):
        put(client, rows(10, start=100), {"stream": "ev"})
    answer = requests.post(f"{server.http}/ingest/ev", data=ipc_bytes(rows(10, start=100)),
                           headers={"Content-Type": ARROW}, timeout=60)
    assert answer.status_code >= 500 and "deleted or replaced" in answer.text, answer.text
    # Reads go on from the file the server holds open: what a client can still export.
    assert count(client) == 100
    storage = storage_of(server)
    assert storage["state"] == "file_gone", storage
    assert storage["writes"] == "refused: the database file is gone", storage
    ready = requests.get(f"{server.http}/readyz", timeout=30)
    assert ready.status_code == 200 and "deleted or replaced" in ready.json()["writes"], ready.text
    assert server.logged("database file gone")
    body = next(client.do_action(flight.Action("health", b""))).body.to_pybytes()
    assert json.loads(body)["storage"]["state"] == "file_gone"
