"""Server start-up, configuration errors, shutdown and persistence."""
import json
import os
import signal
import socket
import subprocess

import pyarrow as pa
import pytest

from conftest import ARROWPORT, RunningServer
from test_flight_roundtrip import get, put


def test_ready_line_and_graceful_shutdown_keeps_data(start_server, tmp_path):
    db = tmp_path / "persist.duckdb"
    server = start_server(db=db)
    assert server.uri.startswith("grpc://127.0.0.1:")
    assert server.http.startswith("http://127.0.0.1:")
    put(server.client(), pa.table({"x": pa.array(range(1000), pa.int64())}), {"stream": "kept"})
    assert server.stop(signal.SIGTERM) == 0
    assert "shutting down" in server.stderr()
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
