"""Server start-up, configuration errors, shutdown and persistence."""
import json
import os
import signal
import socket
import shutil
import subprocess
import tempfile

import duckdb
import pyarrow as pa
import pyarrow.flight as flight
import pytest
import requests

from conftest import ARROWPORT, SANITIZED, RunningServer
from test_flight_roundtrip import get, put
from test_http import ARROW, ipc_bytes


def test_ready_line_and_graceful_shutdown_keeps_data(start_server, tmp_path):
    db = tmp_path / "persist.duckdb"
    server = start_server(db=db)
    assert server.uri.startswith("grpc://127.0.0.1:")
    assert server.http.startswith("http://127.0.0.1:")
    put(server.client(), pa.table({"x": pa.array(range(1000), pa.int64())}), {"stream": "kept"})
    assert server.stop(signal.SIGTERM) == 0
    assert server.logged("shutting down")
    again = start_server(db=db)
    assert get(again.client(), {"sql": "SELECT count(*)::BIGINT AS n FROM kept"}).to_pylist() == [{"n": 1000}]
    assert again.stop(signal.SIGINT) == 0


def test_port_in_use_fails_at_start(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = subprocess.run([ARROWPORT, "serve", "--db", str(tmp_path / "p.duckdb"),
                               "--flight-port", str(port), "--http-port", "0"],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1
        assert "cannot listen for Flight" in proc.stderr and str(port) in proc.stderr
        proc = subprocess.run([ARROWPORT, "serve", "--db", str(tmp_path / "p.duckdb"),
                               "--flight-port", "0", "--http-port", str(port)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1
        assert "cannot listen for HTTP" in proc.stderr and str(port) in proc.stderr


def test_unknown_config_key_fails_at_start(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("flight:\n  prot: 1234\n")
    proc = subprocess.run([ARROWPORT, "serve", "--config", str(config)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    assert f"{config}: key 'flight.prot': unknown key" in proc.stderr


def test_environment_overrides_config(start_server, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("streams:\n  s: {target_table: from_file}\n")
    env = dict(os.environ, ARROWPORT_DB_PATH=str(tmp_path / "env.duckdb"))
    server = RunningServer(["--config", str(config), "--flight-port", "0", "--http-port", "0"],
                           cwd=tmp_path, env=env)
    try:
        put(server.client(), pa.table({"x": [1]}), {"stream": "s"})
    finally:
        assert server.stop() == 0
    assert (tmp_path / "env.duckdb").exists()


def test_log_level_filters_request_lines(start_server, tmp_path):
    env = dict(os.environ, ARROWPORT_LOG_LEVEL="warn")
    quiet = start_server(env=env, db=tmp_path / "quiet.duckdb")
    put(quiet.client(), pa.table({"x": [1]}), {"stream": "s"})
    with pytest.raises(Exception):
        put(quiet.client(), pa.table({"x": ["not a number"]}), {"stream": "s"})
    assert quiet.stop() == 0
    assert " info " not in quiet.stderr()
    assert " warn request failed" in quiet.stderr()
    chatty = start_server(db=tmp_path / "chatty.duckdb")
    put(chatty.client(), pa.table({"x": [1]}), {"stream": "s"})
    assert chatty.stop() == 0
    assert " info request " in chatty.stderr()


def test_invalid_environment_value_fails(tmp_path):
    env = dict(os.environ, ARROWPORT_FLIGHT_PORT="not-a-port")
    proc = subprocess.run([ARROWPORT, "serve", "--db", ":memory:"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert "ARROWPORT_FLIGHT_PORT" in proc.stderr


def test_database_locked_by_another_server(start_server, tmp_path):
    db = tmp_path / "locked.duckdb"
    start_server(db=db)
    proc = subprocess.run([ARROWPORT, "serve", "--db", str(db), "--flight-port", "0",
                           "--http-port", "0"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "cannot open database" in proc.stderr


def serve_with_config(tmp_path, config, env=None, timeout=60, limit_memory=False):
    def cap_address_space():  # a config reader that never stops must not take the machine
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    args = [ARROWPORT, "serve", "--db", str(tmp_path / "c.duckdb"), "--flight-port", "0",
            "--http-port", "0"]
    if config is not None:
        args += ["--config", str(config)]
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env,
                          preexec_fn=cap_address_space if limit_memory else None)


@pytest.mark.parametrize("text, key", [
    ("defaults: 5\n", "defaults"),
    ("defaults: {chunk_size: [1]}\n", "defaults.chunk_size"),
    ("streams: {s: {target_table: [x]}}\n", "streams.s.target_table"),
    ("flight: {port: 4294975111}\n", "flight.port"),
    ("duckdb: {threads: 100000}\n", "duckdb.threads"),
])
def test_malformed_config_fails_at_start_with_file_and_key(tmp_path, text, key):
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    proc = serve_with_config(tmp_path, config)
    assert proc.returncode == 2, proc.stderr
    assert f"{config}: key '{key}': " in proc.stderr


@pytest.mark.release_too  # the address-space cap: release build only
def test_config_that_is_not_a_regular_file_fails_at_start(tmp_path):
    directory = tmp_path / "conf.d"
    directory.mkdir()
    proc = serve_with_config(tmp_path, directory)
    assert proc.returncode == 2, proc.stderr
    assert f"config file '{directory}' is not a regular file" in proc.stderr
    env = dict(os.environ, ARROWPORT_CONFIG="/dev/zero")
    # An ASan build (bin/test --slow) cannot start under an address-space cap (its shadow
    # memory reserves terabytes); the 30 s timeout still bounds a reader that never stops.
    proc = serve_with_config(tmp_path, None, env=env, timeout=30, limit_memory=not SANITIZED)
    assert proc.returncode == 2, proc.stderr
    assert "config file '/dev/zero' is not a regular file" in proc.stderr


def test_out_of_range_environment_port_fails(tmp_path):
    env = dict(os.environ, ARROWPORT_FLIGHT_PORT="4294975111")
    proc = serve_with_config(tmp_path, None, env=env)
    assert proc.returncode == 2, proc.stderr
    assert "ARROWPORT_FLIGHT_PORT" in proc.stderr and "0..65535" in proc.stderr


def test_broken_config_on_hot_reload_is_logged_and_ignored(start_server, tmp_path):
    from test_trust import rows_in, wait_for
    config = tmp_path / "routing.yaml"
    config.write_text("streams:\n  s: {target_table: first}\n")
    server = start_server("--config", str(config))
    client = server.client()
    one = pa.table({"x": pa.array([1], pa.int64())})
    put(client, one, {"stream": "s"})

    def rejected(count, reason):
        return wait_for(lambda: server.stderr().count("config reload rejected") >= count
                        and reason in server.stderr())

    config.write_text("defaults: 5\n")  # used to throw YAML::BadSubscript in the watcher
    assert rejected(1, f"{config}: key 'defaults'"), server.stderr()
    assert server.proc.poll() is None
    put(client, one, {"stream": "s"})
    assert rows_in(client, "first") == 2

    config.unlink()  # replaced by a directory: used to reload as an empty config
    config.mkdir()
    assert rejected(2, "is not a regular file"), server.stderr()
    put(client, one, {"stream": "s"})
    config.rmdir()  # deleted
    assert rejected(3, f"cannot read config file '{config}'"), server.stderr()
    put(client, one, {"stream": "s"})
    assert server.proc.poll() is None
    assert rows_in(client, "first") == 4 and rows_in(client, "s") is None

    config.write_text("streams:\n  s: {target_table: second}\n")  # a fixed file applies again
    assert wait_for(lambda: "config reloaded" in server.stderr())
    put(client, one, {"stream": "s"})
    assert rows_in(client, "second") == 1
    assert server.stop() == 0


def test_configured_views_over_files(start_server, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    import pyarrow.csv as pcsv
    pq.write_table(pa.table({"x": list(range(10))}), tmp_path / "part1.parquet")
    pq.write_table(pa.table({"x": list(range(10, 15))}), tmp_path / "part2.parquet")
    pcsv.write_csv(pa.table({"y": [1, 2, 3]}), tmp_path / "small.csv")
    config = tmp_path / "views.yaml"
    config.write_text(f'views: {{dataset: "{tmp_path}/part*.parquet", small: "{tmp_path}/small.csv"}}\n')
    server = start_server("--config", str(config))
    client = server.client()
    assert get(client, {"sql": "SELECT count(*)::BIGINT AS n, sum(x)::BIGINT AS s FROM dataset"}).to_pylist() == [{"n": 15, "s": 105}]
    assert get(client, {"sql": "SELECT sum(y)::BIGINT AS s FROM small"}).to_pylist() == [{"s": 6}]


@pytest.mark.skipif(os.geteuid() != 0, reason="runs the server as another user (needs root)")
@pytest.mark.release_only("the sanitizers' report directory is not writable by that user")
def test_an_unwritable_database_directory_is_no_conflict_to_retry(start_server):
    """The server may write its database file but not the directory, where DuckDB makes
    the WAL at the first commit. Every write fails the same way until the operator acts:
    a hostile run saw it answered "retryable conflict" (Flight UNAVAILABLE, HTTP 409), so a
    client retried forever. Now it is the server's failure, and reads still work."""
    nobody = 65534
    # Under /tmp, not tmp_path: pytest's temporary directories are 0700, out of nobody's reach.
    directory = tempfile.mkdtemp(prefix="arrowport-unwritable-", dir="/tmp")
    try:
        os.chmod(directory, 0o755)  # root's: nobody may not create the WAL here
        db = os.path.join(directory, "x.duckdb")
        with duckdb.connect(db) as made:
            made.execute("CREATE TABLE ev AS SELECT range AS x FROM range(3)")
        os.chown(db, nobody, nobody)

        def as_nobody():
            os.setgroups([])
            os.setgid(nobody)
            os.setuid(nobody)

        server = start_server("--db", db, cwd=directory, preexec_fn=as_nobody)
        client = server.client()
        one = pa.table({"x": pa.array([7], pa.int64())})
        for attempt in range(2):
            with pytest.raises(flight.FlightServerError) as failed:  # gRPC UNKNOWN
                put(client, one, {"stream": "ev"})
            assert "cannot use its database files" in str(failed.value), failed.value
        answer = requests.post(f"{server.http}/ingest/ev", data=ipc_bytes(one),
                               headers={"Content-Type": ARROW}, timeout=60)
        assert answer.status_code == 500, answer.text
        assert "cannot use its database files" in answer.json()["error"]["message"]
        assert get(client, {"sql": "SELECT count(*)::BIGINT AS n FROM ev"}).to_pylist() == [{"n": 3}]
    finally:
        shutil.rmtree(directory, ignore_errors=True)
