"""A lake store that filled up does not stay full (issue 35 item 8).

Seen before: MinIO on a 96 MB disk filled; once space was added a compaction wrote a file
that filled it again and then failed every 3 s for 11 minutes, the files it had replaced
were never deleted (vacuum ran only after a compaction that succeeded), a 10-row ingest
still failed, and `health` said nothing.

Each test puts the store on a small tmpfs of its own (root mounts it, as in
test_disk_full.py): a directory store, whose free space compaction asks for, and MinIO,
which cannot say (compaction is bounded by target_file_mb and backs off). Upkeep cleans
before it compacts, never takes the free space a rewrite cannot have, backs off after a
failure, and says so in `health`, /healthz, /metrics and the status report; an ingest
after space is freed succeeds; delta-rs reads the rows Arrowport reads."""
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pyarrow.flight as flight
import pytest
import requests

from lake_util import (Lake, Minio, commit_actions, events, http_ingest, http_query,
                       lake_stream, noisy_events, put_path, rows, start_lake_server)
from metrics_util import parse

# A store filled to its last byte and emptied again: a minute of MinIO and tmpfs work.
pytestmark = pytest.mark.slow

MiB = 1 << 20


@pytest.fixture
def tmpfs():
    """Factory: tmpfs(size_mb) -> a tmpfs mounted under /tmp, unmounted (lazily: a server
    or MinIO may still hold it) after the test."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = []

    def make(size_mb):
        directory = tempfile.mkdtemp(prefix="arrowport-lakefull-", dir="/tmp")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs",
                               directory], capture_output=True, text=True)
        if done.returncode != 0:
            os.rmdir(directory)
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(directory)
        return Path(directory)

    yield make
    for directory in mounted:
        subprocess.run(["umount", "-l", directory], check=False)
        shutil.rmtree(directory, ignore_errors=True)


def resize(directory, size_mb):
    """Space added (or taken) under a running store: the tmpfs remounted at a new size."""
    subprocess.run(["mount", "-o", f"remount,size={size_mb}m", str(directory)], check=True)


def free_bytes(directory):
    info = os.statvfs(directory)
    return info.f_bavail * info.f_frsize


def fill(directory, leave_bytes, name="filler"):
    """A file that leaves `leave_bytes` free on the disk; its path."""
    path = Path(directory) / name
    size = free_bytes(directory) - leave_bytes
    assert size > 0, (free_bytes(directory), leave_bytes)
    with open(path, "wb") as f:
        os.posix_fallocate(f.fileno(), 0, size)
    return path


class FreeSpaceWatch:
    """The least free space seen on a disk, sampled every few milliseconds on a thread."""

    def __init__(self, directory):
        self.directory, self.least = directory, free_bytes(directory)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            self.least = min(self.least, free_bytes(self.directory))
            time.sleep(0.002)

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.least


def wait_for(predicate, what, timeout=60, show=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not seen within {timeout} s: {what}"
                         + (f"; last seen: {show()}" if show else ""))


def health(server):
    client = server.client()
    return json.loads(next(client.do_action(flight.Action("health", b""))).body.to_pybytes())


def upkeep_metrics(server, stream="events"):
    """The stream's upkeep series: {name: value}."""
    samples = parse(requests.get(f"{server.http}/metrics", timeout=30).text)
    return {name: value for (name, labels), value in samples.items()
            if name.startswith("arrowport_lake_upkeep_") and dict(labels).get("stream") == stream}


def stream_status(server, stream="events"):
    status = requests.get(f"{server.http}/status", timeout=30).json()
    return next(s for s in status["streams"] if s["stream"] == stream)


def optimize_versions(lake):
    return [v for v in lake.versions()
            if any(c.get("commitInfo", {}).get("operation") == "OPTIMIZE"
                   for c in lake.commit(v))]


def removed_files(lake):
    return {r["path"] for v in lake.versions() for r in commit_actions(lake, v, "remove")}


def arrowport_rows(server):
    return rows(http_query(server, "SELECT * FROM events ORDER BY id"))


def test_a_nearly_full_directory_is_cleaned_first_and_never_refilled(start_server, tmp_path,
                                                                     tmpfs):
    disk = tmpfs(64)
    lake = Lake.local(disk / "events")
    n = 40_000  # rows per request: a data file of about 1 MB
    options = dict(target_file_mb=64, checkpoint_interval=0)
    # Server a: small files compacted at once, the replaced ones kept (retention an hour).
    a = start_lake_server(start_server, tmp_path, {"events": lake_stream(
        lake.url, compaction_interval_s=1, retention_s=3600, **options)}, name="a")
    for i in range(6):
        put_path(a.client(), noisy_events(range(i * n, (i + 1) * n)), "events")
    wait_for(lambda: optimize_versions(lake), "a compaction by the first server")
    a.stop()
    # Server b, no upkeep: more small files.
    b = start_lake_server(start_server, tmp_path, {"events": lake_stream(
        lake.url, compaction_interval_s=0, retention_s=3600, **options)}, name="b")
    for i in range(6, 14):
        put_path(b.client(), noisy_events(range(i * n, (i + 1) * n)), "events")
    b.stop()
    expected = rows(noisy_events(range(14 * n)))
    replaced = removed_files(lake) & set(lake.data_files())
    assert replaced, "the first server's compaction replaced no file"
    live_bytes = sum((disk / "events" / f).stat().st_size
                     for f in set(lake.data_files()) - replaced)
    # The disk nearly full: half of what rewriting every small file would take is free.
    fill(disk, leave_bytes=live_bytes // 2)
    before = free_bytes(disk)
    last_version = lake.versions()[-1]
    watch = FreeSpaceWatch(disk)
    c = start_lake_server(start_server, tmp_path, {"events": lake_stream(
        lake.url, compaction_interval_s=1, retention_s=1, **options)}, name="c")
    try:
        # Cleanup comes first: the files compaction replaced long ago (past retention)
        # are deleted although a rewrite of all the small files cannot fit.
        wait_for(lambda: not (replaced & set(lake.data_files())),
                 "vacuum of the replaced files on a nearly full store", timeout=60,
                 show=lambda: sorted(replaced & set(lake.data_files())))
        # Then compaction goes on within half the free space, or waits for more: either
        # way a few rounds pass without a failure.
        wait_for(lambda: any(v > last_version for v in optimize_versions(lake))
                 or health(c)["lake"]["tables"][0]["upkeep"].get("compaction_deferred"),
                 "a compaction or a deferral by the third server", timeout=60,
                 show=lambda: health(c).get("lake"))
        # An ingest goes through: upkeep left room for it.
        small = http_ingest(c, "events", events(range(10_000_000, 10_000_010)))
        assert small.status_code == 200, small.text
    finally:
        least = watch.stop()
    # Upkeep never took the disk near full: a rewrite takes at most half the free space.
    print(f"free: {before} at the start, {least} at least, {free_bytes(disk)} at the end")
    assert least >= min(before, free_bytes(disk)) // 4, (least, before)
    assert "lake upkeep failed" not in c.stderr(), c.stderr()[-3000:]
    metrics = upkeep_metrics(c)
    assert metrics["arrowport_lake_upkeep_failures_total"] == 0, metrics
    assert metrics["arrowport_lake_upkeep_failures_in_a_row"] == 0, metrics
    assert health(c)["lake"]["state"] == "ok"
    # Every row once, as Arrowport and delta-rs read them.
    expected = expected + rows(events(range(10_000_000, 10_000_010)))
    expected.sort(key=lambda r: r["id"])
    assert arrowport_rows(c) == expected
    assert rows(lake.read()) == expected
    assert rows(lake.polars()) == expected


def test_minio_on_a_full_disk_backs_off_says_so_and_recovers_when_space_is_added(
        start_server, tmp_path, tmpfs):
    disk = tmpfs(96)
    minio = Minio(disk / "minio").start()
    try:
        lake = minio.lake("events")
        n = 100_000  # rows per request: a data file of about 2.5 MB
        options = dict(target_file_mb=64, checkpoint_interval=0)
        a = start_lake_server(start_server, tmp_path, {"events": lake_stream(
            lake.url, compaction_interval_s=0, **options)}, minio=minio, name="a")
        for i in range(8):
            put_path(a.client(), noisy_events(range(i * n, (i + 1) * n)), "events")
        a.stop()
        expected = rows(noisy_events(range(8 * n)))
        small_bytes = sum(info.size for info in lake._list() if info.path.endswith(".parquet"))
        # Full but for a third of what a rewrite of the small files needs: S3 cannot say
        # how much room it has, so the rewrite is tried, fails, and must not be tried every
        # round after.
        fill(disk, leave_bytes=small_bytes // 3)
        b = start_lake_server(start_server, tmp_path, {"events": lake_stream(
            lake.url, compaction_interval_s=1, retention_s=1, **options)}, minio=minio,
            name="b")
        # Each failed round is logged (a line per round, whatever else the server says).
        failed_rounds = lambda: b.stderr().count("lake upkeep failed")
        wait_for(failed_rounds, "a failed upkeep round", timeout=90,
                 show=lambda: b.stderr()[-2000:])
        # Backoff: with a round every second, about 20 failures in 20 s without it; with it
        # (2, 4, 8, 16 s apart) at most 4.
        start = failed_rounds()
        window = time.monotonic() + 20
        while time.monotonic() < window:
            time.sleep(0.5)  # a measuring window, not a synchronisation
        failures = failed_rounds() - start
        print(f"failed upkeep rounds in 20 s: {failures}")
        assert failures <= 5, f"{failures} failed upkeep rounds in 20 s"
        # Failing upkeep is said: health, /healthz, /metrics, the status report.
        said = health(b)["lake"]
        assert said["state"] == "upkeep_failing", said
        table = said["tables"][0]
        assert table["stream"] == "events" and table["upkeep"]["failures_in_a_row"] >= 1, said
        assert table["upkeep"]["last_error"], said
        # The next rewrite takes less than the one that could not finish.
        assert 0 < table["upkeep"]["rewrite_limit_bytes"] <= small_bytes // 2, said
        healthz = requests.get(f"{b.http}/healthz", timeout=30).json()
        assert healthz["lake"]["state"] == "upkeep_failing", healthz
        metrics = upkeep_metrics(b)
        assert metrics["arrowport_lake_upkeep_failures_in_a_row"] >= 1, metrics
        assert metrics["arrowport_lake_upkeep_retry_seconds"] > 0, metrics
        upkeep = stream_status(b)["lake_upkeep"]
        assert upkeep["failures_in_a_row"] >= 1 and upkeep["last_error"], upkeep
        assert "lake upkeep failed" in b.stderr()
        # Space is added: an ingest succeeds, then compaction (after its backoff) too.
        resize(disk, 512)
        small = http_ingest(b, "events", events(range(10_000_000, 10_000_010)))
        assert small.status_code == 200, small.text
        wait_for(lambda: optimize_versions(lake), "a compaction once space was added",
                 timeout=180, show=lambda: health(b).get("lake"))
        wait_for(lambda: upkeep_metrics(b)["arrowport_lake_upkeep_failures_in_a_row"] == 0,
                 "an upkeep round that succeeds", timeout=120,
                 show=lambda: upkeep_metrics(b))
        assert health(b)["lake"]["state"] == "ok"
        expected = expected + rows(events(range(10_000_000, 10_000_010)))
        expected.sort(key=lambda r: r["id"])
        assert arrowport_rows(b) == expected
        assert rows(lake.read()) == expected
        assert rows(lake.polars()) == expected
    finally:
        minio.stop()
