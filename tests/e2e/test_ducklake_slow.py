"""The DuckLake sink's kill -9 rounds (bin/test --slow; issue 38, "Done means"): two
Arrowport servers write one PostgreSQL-catalogued table while one of them is killed -9,
once between a large upload's data files and its commit and then at random moments among
many small commits; clients send every unanswered request again with the same request
id. Afterwards DuckDB 1.5.5's own ducklake reader sees every acknowledged request's rows
exactly once and no row of a request never acknowledged (per_request)."""
import random
import signal
import time

import pytest

from ducklake_peers import PostgresServer
from lake_util import start_lake_server
from test_ducklake_faults import (Appender, assert_exactly, ducklake_stream, duck_ids)
from test_lake_slow import Upload, wait_for

pytestmark = pytest.mark.slow


def test_two_writers_with_kill9_rounds_land_every_acknowledged_request_once(start_server,
                                                                            tmp_path):
    postgres = PostgresServer()
    try:
        postgres.start()
        catalog, data = f"postgres:{postgres.conninfo}", tmp_path / "data"
        streams = {"events": ducklake_stream(catalog, data, target_file_mb=1)}
        steady = start_lake_server(start_server, tmp_path, streams, name="steady")
        victim = start_lake_server(start_server, tmp_path, streams, name="victim")
        rng = random.Random(38)
        acked = []
        never_acked = []  # id ranges of killed large uploads, never sent again
        # The steady server's client appends throughout, and re-sends what failed.
        background = Appender(steady, "steady", 10_000_000, None, rows=200)
        background.start()
        for cycle in range(8):
            # Small requests to the victim, whose unanswered ones are re-sent (same ids)
            # to the server after the restart.
            small = Appender(victim, f"v{cycle}", 20_000_000 + cycle * 1_000_000, None,
                             rows=100)
            small.start()
            if cycle % 2 == 0:
                # Between files and commit: a large upload killed once its first data
                # file is on disk (its commit cannot have started: the request goes on).
                files_before = set(data.rglob("*.parquet"))
                first = 100_000_000 + cycle * 10_000_000
                upload = Upload(victim.client(), {"stream": "events"}, batch_rows=20_000,
                                start_id=first).start()
                wait_for(lambda: upload_files(data, files_before, first) or
                         not upload.thread.is_alive(), 180, "a data file of the upload")
                assert upload.thread.is_alive(), f"the upload ended: {upload.error}"
                never_acked.append(range(first, first + 10_000_000))
            else:
                # During commits: at a random moment among the small requests' commits.
                wait_for(lambda: len(small.acked) >= 300, 120, "small commits")
                time.sleep(rng.uniform(0.0, 0.5))
                upload = None
            victim.stop(signal.SIGKILL)
            small.stopping.set()
            small.join(timeout=120)
            if upload is not None:
                upload.stopping.set()
                upload.thread.join(timeout=60)
            # The request in flight at the kill (failed, answer lost): sent again, same id.
            victim = start_lake_server(start_server, tmp_path, streams, name="victim")
            retry = Appender(victim, f"v{cycle}", small.first_id, None, rows=100)
            retry.count = len(small.acked) // 100 + 1
            retry.start()
            acked += retry.finish(stop=False)  # the earlier ones answered as duplicates
        acked += background.finish()
        print(f"steady re-sent {len(background.resent)}")
        ids = duck_ids(catalog, data)
        for dropped in never_acked:
            seen = [i for i in ids if i in dropped]
            assert not seen, f"{len(seen)} rows of a killed, unacknowledged upload are visible"
        assert_exactly(catalog, data, sorted(set(acked)))
    finally:
        postgres.close()


def upload_files(data, before, first):
    return set(data.rglob("*.parquet")) - before
