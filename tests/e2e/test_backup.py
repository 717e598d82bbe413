"""Online backup and restore (issue 66, docs/operations.md#backup-and-restore): a backup taken
while producers push with request ids holds every request acknowledged before it began, no
request in part, and exactly what its manifest says; restore refuses a damaged, partial or
misplaced backup; a failed backup leaves nothing a restore takes and the server serves on.
New feature: every test here failed before it (no `backup` action, route or command)."""
import json
import os
import signal
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.fs as pafs
import pytest
import requests

from conftest import RunningServer, run_cli
from lake_util import Lake, events, lake_stream, start_lake_server
from test_auth import PASSWORDS, auth_server, basic, flight_login, hashes  # noqa: F401
from test_flight_roundtrip import get, put
from test_http import ARROW, ipc_bytes

ROWS = 50  # per request: request i writes x = i*ROWS .. i*ROWS+ROWS-1


def rows_of(i):
    return pa.table({"x": pa.array(range(i * ROWS, (i + 1) * ROWS), pa.int64())})


class Producer(threading.Thread):
    """Pushes requests with ids (Flight, or HTTP with Idempotency-Key) until stopped; notes
    when each was acknowledged."""

    def __init__(self, server, protocol, first):
        super().__init__(daemon=True)
        self.server, self.protocol, self.next = server, protocol, first
        self.acked = {}  # request id -> monotonic time of its acknowledgement
        self.stopping = threading.Event()
        self.error = None

    def run(self):
        client = self.server.client()
        try:
            while not self.stopping.is_set():
                i, rid = self.next, f"{self.protocol}-{self.next}"
                if self.protocol == "flight":
                    put(client, rows_of(i), {"stream": "events", "request_id": rid})
                else:
                    r = requests.post(f"{self.server.http}/ingest/events",
                                      data=ipc_bytes(rows_of(i)), timeout=60,
                                      headers={"Content-Type": ARROW, "Idempotency-Key": rid})
                    r.raise_for_status()
                self.acked[rid] = time.monotonic()
                self.next += 1
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e


def backup(server, to):
    done = run_cli("backup", "--server", server.uri, "--to", str(to), timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


def manifest_of(to, backup_id):
    return json.loads((Path(to) / backup_id / "manifest.json").read_text())


def restore(*args):
    return run_cli("restore", *map(str, args), timeout=300)


def test_backup_while_producers_push_restores_every_acknowledged_request(start_server, tmp_path):
    server = start_server()
    producers = [Producer(server, "flight", 0), Producer(server, "http", 1_000_000)]
    for p in producers:
        p.start()
    while sum(len(p.acked) for p in producers) < 20:
        time.sleep(0.05)
    began = time.monotonic()
    summary = backup(server, tmp_path / "backups")
    time.sleep(0.3)  # requests go on after the backup: they must not matter
    for p in producers:
        p.stopping.set()
        p.join(60)
        assert p.error is None, p.error
    manifest = manifest_of(tmp_path / "backups", summary["id"])
    logged = {key.split(" to ")[0] for key in manifest["request_ids"]}
    acked_before = {rid for p in producers for rid, at in p.acked.items() if at < began}
    assert acked_before <= logged, acked_before - logged
    assert len(logged) < sum(len(p.acked) for p in producers)  # the copy is of one instant

    db = tmp_path / "restored" / "node2.duckdb"
    db.parent.mkdir()
    done = restore("--from", tmp_path / "backups", "--db", db)
    assert done.returncode == 0, done.stderr.decode()
    assert "checksums verified" in done.stdout.decode()
    restored = RunningServer(["--db", str(db), "--flight-port", "0", "--http-port", "0"],
                             cwd=tmp_path)
    try:
        client = restored.client()
        groups = get(client, {"sql": f"SELECT x // {ROWS} AS i, count(*) AS n FROM events "
                                     "GROUP BY 1"}).to_pylist()
        # No request in part; exactly the logged ones.
        assert all(g["n"] == ROWS for g in groups), groups
        written = {f"flight-{g['i']}" if g["i"] < 1_000_000 else f"http-{g['i']}"
                   for g in groups}
        assert written == logged
        tables = {t["schema"] + "." + t["name"]: t["rows"] for t in manifest["tables"]}
        assert tables["main.events"] == len(logged) * ROWS
        # The restored server answers a retry of a backed-up request as a duplicate.
        rid = sorted(r for r in logged if r.startswith("flight-"))[0]
        again = put(client, rows_of(int(rid.split("-")[1])), {"stream": "events",
                                                              "request_id": rid})[-1]
        assert again["duplicate"] is True
    finally:
        restored.stop()


def test_restore_refuses_damaged_partial_and_existing(server, tmp_path):
    put(server.client(), rows_of(1), {"stream": "events", "request_id": "one"})
    to = tmp_path / "b"
    summary = backup(server, to)
    folder = to / summary["id"]
    # Every table and the server's secrets are in it: the folder is the server's alone
    # (it was 0755 with the files 0644: the attack on issue 66).
    assert folder.stat().st_mode & 0o777 == 0o700, oct(folder.stat().st_mode)
    target = tmp_path / "r.duckdb"
    target.write_bytes(b"not to be overwritten")
    done = restore("--from", folder, "--db", target)
    assert done.returncode == 1 and b"exists" in done.stderr and b"--force" in done.stderr
    assert target.read_bytes() == b"not to be overwritten"

    # A byte changed in the database file: refused by its SHA-256, nothing written.
    data = bytearray((folder / "database.duckdb").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "database.duckdb").write_bytes(bytes(data))
    done = restore("--from", folder, "--db", tmp_path / "new.duckdb")
    assert done.returncode == 1, done.stdout
    assert b"damaged" in done.stderr and b"SHA-256" in done.stderr, done.stderr
    assert not (tmp_path / "new.duckdb").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

    # Without its manifest (cut short) a backup is partial.
    (folder / "manifest.json").unlink()
    done = restore("--from", folder, "--db", tmp_path / "new.duckdb")
    assert done.returncode == 1 and b"partial" in done.stderr, done.stderr

    # A good backup over the existing file with --force.
    summary = backup(server, to)
    done = restore("--from", to / summary["id"], "--db", target, "--force")
    assert done.returncode == 0, done.stderr
    assert target.read_bytes()[:20] != b"not to be overwritten"


def test_failed_backup_is_reported_leaves_nothing_and_server_serves_on(server, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where the destination's directory would be")
    done = run_cli("backup", "--server", server.uri, "--to", str(blocker / "backups"))
    assert done.returncode == 1
    assert str(blocker) in done.stderr.decode(), done.stderr
    health = requests.get(f"{server.http}/healthz", timeout=30).json()
    assert health["backup"]["last_ok"] is False and health["backup"]["failures"] == 1
    metrics = requests.get(f"{server.http}/metrics", timeout=30).text
    assert "arrowport_backup_failures_total 1" in metrics
    assert "arrowport_backup_last_success_timestamp_seconds 0" in metrics
    # No staging copy left beside the database.
    assert not [p for p in tmp_path.iterdir() if ".backup-" in p.name]
    # Serving goes on.
    put(server.client(), rows_of(2), {"stream": "events", "request_id": "after"})
    summary = backup(server, tmp_path / "ok")
    assert summary["status"] == "ok"
    metrics = requests.get(f"{server.http}/metrics", timeout=30).text
    assert "arrowport_backup_last_success_timestamp_seconds 0\n" not in metrics
    status = requests.get(f"{server.http}/status", timeout=30).json()
    assert status["backup"]["last_ok"] is True


def test_scheduled_backups_keep_the_newest(start_server, tmp_path):
    config = tmp_path / "c.yaml"
    to = tmp_path / "scheduled"
    config.write_text(json.dumps({"backup": {"every": "1s", "to": str(to), "keep": 2}}))
    server = start_server("--config", str(config))
    put(server.client(), rows_of(3), {"stream": "events", "request_id": "s"})
    deadline = time.time() + 120
    while time.time() < deadline:
        health = requests.get(f"{server.http}/healthz", timeout=30).json()
        if health.get("backup", {}).get("runs", 0) >= 4:
            break
        time.sleep(0.5)
    assert health["backup"]["runs"] >= 4 and health["backup"]["last_ok"], health
    complete = sorted(p.name for p in to.iterdir() if (p / "manifest.json").exists())
    assert len(complete) == 2, complete


@pytest.mark.slow
def test_backup_to_minio_and_restore(start_server, minio, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({"s3": minio.s3_config()}))
    server = start_server("--config", str(config))
    put(server.client(), rows_of(4), {"stream": "events", "request_id": "m"})
    # A backup cut short (no manifest), as a server killed mid-backup leaves it on S3:
    # removed by the next backup there.
    fs = minio.filesystem()
    partial = f"{minio.bucket}/backups/20200101T000000.000Z/database.duckdb"
    with fs.open_output_stream(partial) as out:
        out.write(b"cut short")
    summary = backup(server, f"s3://{minio.bucket}/backups")
    assert summary["tables"]
    assert fs.get_file_info(partial).type == pafs.FileType.NotFound
    db = tmp_path / "from-s3.duckdb"
    done = restore("--from", f"s3://{minio.bucket}/backups", "--db", db, "--config", config)
    assert done.returncode == 0, done.stderr
    assert "1 request ids" in done.stdout.decode()


def test_backup_is_for_admins_only(auth_server, tmp_path):
    """A reader or writer may not copy the whole database out (Flight action, HTTP route,
    CLI); an admin may."""
    to = tmp_path / "refused"
    body = json.dumps({"to": str(to)}).encode()
    for user in ("reader", "writer"):
        client, options = flight_login(auth_server, user)
        with pytest.raises(flight.FlightUnauthorizedError, match="needs role admin"):
            list(client.do_action(flight.Action("backup", body), options=options))
        r = requests.post(f"{auth_server.http}/admin/backup", params={"to": str(to)},
                          headers={"Authorization": basic(user)}, timeout=60)
        assert r.status_code == 403 and "needs role admin" in r.text, r.text
        env = {**os.environ, "ARROWPORT_USER": user, "ARROWPORT_PASSWORD": PASSWORDS[user]}
        done = run_cli("backup", "--server", auth_server.uri, "--to", str(to), env=env)
        assert done.returncode != 0 and b"needs role admin" in done.stderr, done.stderr
    r = requests.post(f"{auth_server.http}/admin/backup", params={"to": str(to)}, timeout=60)
    assert r.status_code == 401, r.text
    assert not to.exists()
    client, options = flight_login(auth_server, "admin")
    summary = [json.loads(r.body.to_pybytes())
               for r in client.do_action(flight.Action("backup", body), options=options)]
    assert summary[0]["status"] == "ok", summary
    r = requests.post(f"{auth_server.http}/admin/backup", params={"to": str(to)},
                      headers={"Authorization": basic("admin")}, timeout=120)
    assert r.status_code == 200 and r.json()["status"] == "ok", r.text
    assert len([p for p in to.iterdir() if (p / "manifest.json").exists()]) == 2
    # A NUL in the destination cut its path short (a folder "cut" was made) and answered
    # 500: a client's mistake is a 400, and nothing is made (the attack on issue 66).
    r = requests.post(f"{auth_server.http}/admin/backup", params={"to": f"{tmp_path}/cut\0x"},
                      headers={"Authorization": basic("admin")}, timeout=60)
    assert r.status_code == 400 and "control character" in r.text, r.text
    assert not (tmp_path / "cut").exists()
    (tmp_path / "a-file").write_text("not a directory")
    for to in (tmp_path / "a-file", "/dev/null"):
        r = requests.post(f"{auth_server.http}/admin/backup", params={"to": str(to)},
                          headers={"Authorization": basic("admin")}, timeout=60)
        assert r.status_code == 400 and "not a directory" in r.text, r.text


def staging_files(directory):
    return sorted(p.name for p in Path(directory).iterdir() if ".backup-" in p.name)


def test_kill_mid_backup_then_restart(start_server, tmp_path):
    """kill -9 while a backup is being written: the restarted server serves, removes the
    stale staging copy beside the database, no restore takes the partial backup, and the
    next backup to that destination removes it."""
    db, to = tmp_path / "big.duckdb", tmp_path / "backups"
    server = start_server(db=db)
    # Random doubles barely compress: ~300 MB of database file, so that writing its copy
    # to the destination takes long enough to be caught in the act.
    r = requests.post(f"{server.http}/query", timeout=600, json={
        "sql": "CREATE TABLE big AS SELECT i, random() AS a, random() AS b "
               "FROM range(18000000) t(i)"})
    assert r.status_code == 200, r.text
    backing_up = subprocess_backup(server, to)
    try:
        # Killed once the destination's copy is being written (its file exists in the
        # backup's folder, which is made first), the staging copy beside the database
        # still there.
        deadline = time.time() + 600
        while time.time() < deadline and not (to.exists() and any(to.glob("*/*"))):
            assert backing_up.poll() is None, backing_up.communicate()
            time.sleep(0.002)
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(60)
    finally:
        backing_up.wait(120)
    assert backing_up.returncode != 0
    assert not [p for p in to.rglob("manifest.json")], list(to.rglob("*"))
    stale = [p for p in to.iterdir()]
    assert len(stale) == 1, stale
    assert staging_files(tmp_path), "killed before the staging copy was made"
    done = restore("--from", to, "--db", tmp_path / "r.duckdb")
    assert done.returncode == 1 and b"no complete backup" in done.stderr, done.stderr

    again = start_server(db=db)
    assert again.logged("removed a stale backup staging file"), again.stderr()
    assert staging_files(tmp_path) == []
    n = get(again.client(), {"sql": "SELECT count(*) AS n FROM big"}).column("n")[0].as_py()
    assert n == 18000000
    summary = backup(again, to)
    assert sorted(p.name for p in to.iterdir()) == [summary["id"]], list(to.rglob("*"))
    assert again.logged("removed a partial backup"), again.stderr()
    done = restore("--from", to, "--db", tmp_path / "r.duckdb")
    assert done.returncode == 0, done.stderr


def subprocess_backup(server, to):
    import subprocess
    from conftest import ARROWPORT
    return subprocess.Popen([ARROWPORT, "backup", "--server", server.uri, "--to", str(to)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_manifest_names_lake_snapshots_and_restore_ignores_them(start_server, tmp_path):
    lake = Lake.local(tmp_path / "lake" / "lk")
    server = start_lake_server(start_server, tmp_path, {"lk": lake_stream(lake.url)})
    client = server.client()
    for i in range(3):
        put(client, events(range(i * 10, i * 10 + 10)), {"stream": "lk", "request_id": f"l{i}"})
    put(client, rows_of(5), {"stream": "events", "request_id": "d"})
    version = max(lake.versions())
    summary = backup(server, tmp_path / "b")
    manifest = manifest_of(tmp_path / "b", summary["id"])
    assert manifest["lake_tables"] == [
        {"stream": "lk", "table": "lk", "url": lake.url, "version": version}], manifest
    # Not copied: the database's tables only.
    assert [t["name"] for t in manifest["tables"] if t["schema"] == "main"] == ["events"], \
        manifest["tables"]
    db = tmp_path / "restored.duckdb"
    done = restore("--from", tmp_path / "b", "--db", db)
    assert done.returncode == 0, done.stderr
    restored = RunningServer(["--db", str(db), "--flight-port", "0", "--http-port", "0"],
                             cwd=tmp_path)
    try:
        n = get(restored.client(), {"sql": "SELECT count(*) AS n FROM events"})
        assert n.column("n")[0].as_py() == ROWS
    finally:
        restored.stop()


def test_scheduled_and_called_backups_are_logged(start_server, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({"backup": {"every": "1s", "to": str(tmp_path / "s")}}))
    server = start_server("--config", str(config))
    put(server.client(), rows_of(6), {"stream": "events", "request_id": "s"})
    assert server.logged("backup written"), server.stderr()
    backup(server, tmp_path / "called")
    lines = [line for line in server.stderr().splitlines() if "backup " in line]
    for by in ("schedule", "call"):
        started = [line for line in lines if "backup started" in line and f"by={by}" in line]
        written = [line for line in lines if "backup written" in line and f"by={by}" in line]
        assert started and written, (by, lines)
        assert "seconds=" in written[0] and "bytes=" in written[0], written[0]


def test_stale_staging_beside_a_relative_database_path_is_removed(start_server, tmp_path):
    stale = tmp_path / ".rel.duckdb.backup-20200101T000000.000Z.tmp"
    stale.write_bytes(b"a copy cut short")
    other = tmp_path / ".other.duckdb.backup-20200101T000000.000Z.tmp"  # not this database's
    other.write_bytes(b"another database's")
    server = start_server("--db", "rel.duckdb")  # relative to its working directory, tmp_path
    assert server.logged("removed a stale backup staging file"), server.stderr()
    assert not stale.exists() and other.exists()


def test_sigterm_while_a_backup_waits_for_its_checkpoint_stops_the_server(start_server,
                                                                          tmp_path):
    """A Flight SQL transaction left open holds the backup's checkpoint back (DuckDB
    refuses it while a write transaction is open); SIGTERM comes: the grace period ends,
    the backup is cancelled and the server stops. Before, the cancellation's relay asked
    the call for its reason while the call held its own lock: the server never stopped
    (the attack on issue 66)."""
    import subprocess
    import adbc_driver_flightsql.dbapi as flightsql
    from conftest import ARROWPORT
    server = start_server(env={**os.environ, "ARROWPORT_LIMITS_SHUTDOWN_GRACE_S": "1"})
    holder = flightsql.connect(f"grpc://127.0.0.1:{server.port}", autocommit=False)
    holder.cursor().execute("CREATE TABLE held AS SELECT 1 AS a")
    backup = subprocess.Popen([ARROWPORT, "backup", "--server",
                               f"grpc://127.0.0.1:{server.port}", "--to",
                               str(tmp_path / "backups")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.logged("backup started", timeout=60), server.stderr()
        time.sleep(0.5)  # in its checkpoint's retries
        began = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        try:
            code = server.proc.wait(timeout=60)
        except Exception:  # noqa: BLE001 - the hang this test is about
            server.proc.kill()
            pytest.fail(f"the server did not stop within 60 s of SIGTERM:\n{server.stderr()}")
        assert code == 0, server.stderr()
        assert time.monotonic() - began < 30, server.stderr()
        out, err = backup.communicate(timeout=60)
        assert backup.returncode != 0, out
        assert "backup failed" in server.stderr() and "stopped" in server.stderr()
        assert not list((tmp_path / "backups").glob("*/manifest.json"))
    finally:
        if backup.poll() is None:
            backup.kill()
        try:
            holder.close()
        except Exception:  # noqa: BLE001 - the server is gone
            pass


def test_forced_restore_replaces_only_an_idle_regular_file_and_checks_request_ids(
        start_server, tmp_path):
    """--force replaced whatever the path named: a device node, and the database of a
    running server (whose WAL, holding acknowledged rows, it deleted); and a manifest
    whose request ids were changed restored "verified" (the attack on issue 66). Behind
    the second: the backup's copy, made in the server's process, closed a descriptor of
    the database file, which dropped DuckDB's lock on it: a second server could then have
    opened the database too."""
    db = tmp_path / "live.duckdb"
    server = start_server(db=db)
    put(server.client(), rows_of(1), {"stream": "events", "request_id": "kept"})
    to = tmp_path / "b"
    folder = to / backup(server, to)["id"]
    put(server.client(), rows_of(2), {"stream": "events", "request_id": "in-the-wal"})

    done = restore("--from", folder, "--db", db, "--force")
    assert done.returncode == 1 and b"in use" in done.stderr, done.stderr
    # DuckDB's lock held after the backup: a second server is refused the database.
    second = run_cli("serve", "--db", str(db), "--flight-port", "0", "--http-port", "0",
                     timeout=120)
    assert second.returncode != 0 and b"lock" in second.stderr, second.stderr
    assert (tmp_path / "live.duckdb.wal").exists()
    n = get(server.client(), {"sql": "SELECT count(*) AS n FROM events"}).column("n")[0]
    assert n.as_py() == 2 * ROWS

    (tmp_path / "a-directory").mkdir()
    done = restore("--from", folder, "--db", tmp_path / "a-directory", "--force")
    assert done.returncode == 1 and b"not a regular file" in done.stderr, done.stderr

    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["request_ids"] = manifest["request_ids"] + ["never-sent"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    done = restore("--from", folder, "--db", tmp_path / "r.duckdb")
    assert done.returncode == 1 and b"request ids" in done.stderr, done.stderr
    assert not (tmp_path / "r.duckdb").exists()


def test_a_backup_leaves_storage_min_free_mb_beside_the_database(start_server):
    """The copy is written beside the database: a disk with room for the database's next
    checkpoint but not for its copy plus storage.min_free_mb refuses the backup at once,
    as a commit would be. Before, the copy filled that disk to within bytes of full, where
    the server's own commits stop (the attack on issue 66)."""
    from test_disk_full import MiB, fill, free_bytes, rows, small_disk  # noqa: F401
    import contextlib
    with contextlib.contextmanager(small_disk.__wrapped__)() as disk:
        server = start_server(db=disk / "db.duckdb",
                              env={**os.environ, "ARROWPORT_STORAGE_MIN_FREE_MB": "8"})
        put(server.client(), rows(150_000), {"stream": "events", "request_id": "one"})
        next(server.client().do_action(flight.Action("checkpoint", b"")))
        size_mib = (disk / "db.duckdb").stat().st_size // MiB
        assert size_mib >= 6, size_mib
        fill(disk, size_mib + 4)  # room for a checkpoint (8 MiB), not for the copy too
        done = run_cli("backup", "--server", server.uri, "--to", str(disk / "b"),
                       timeout=300)
        assert done.returncode == 1 and b"storage.min_free_mb" in done.stderr, done.stderr
        assert not [p for p in disk.iterdir() if ".backup-" in p.name]
        assert get(server.client(), {"sql": "SELECT count(*) AS n FROM events"}).column(
            "n")[0].as_py() == 150_000
