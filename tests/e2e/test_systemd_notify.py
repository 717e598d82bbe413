"""The server's systemd readiness protocol (issue 39; the Debian package's unit is
Type=notify): with NOTIFY_SOCKET set, `READY=1` arrives on that socket only when both
listeners answer (/readyz 200, Flight's health action), and `STOPPING=1` when SIGTERM
starts the graceful shutdown. Without NOTIFY_SOCKET nothing is sent (every other test)."""
import json
import os
import signal
import socket
import subprocess

import pyarrow.flight as flight
import requests

from conftest import ARROWPORT
from lake_util import free_port


def receive(sock, timeout):
    sock.settimeout(timeout)
    return sock.recv(4096).decode()


def test_ready_after_listeners_and_stopping_on_sigterm(tmp_path):
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    flight_port, http_port = free_port(), free_port()
    env = dict(os.environ, NOTIFY_SOCKET=path)
    proc = subprocess.Popen(
        [ARROWPORT, "serve", "--db", str(tmp_path / "n.duckdb"),
         "--flight-port", str(flight_port), "--http-port", str(http_port)],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        # Generous: a loaded 2-core machine may take long to load the libraries.
        assert receive(sock, 120) == "READY=1"
        # At that instant both listeners serve: no retry, no wait.
        ready = requests.get(f"http://127.0.0.1:{http_port}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        client = flight.connect(f"grpc://127.0.0.1:{flight_port}")
        health = list(client.do_action(flight.Action("health", b"")))
        assert json.loads(health[0].body.to_pybytes())
        proc.send_signal(signal.SIGTERM)
        assert receive(sock, 60) == "STOPPING=1"
        assert proc.wait(timeout=60) == 0
        sock.settimeout(0.2)
        try:
            extra = sock.recv(4096)
        except TimeoutError:
            extra = None
        assert extra is None, f"unexpected notification {extra!r}"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        sock.close()
