"""Binding IPv6 addresses: ::1, the wildcard ::, and [::1] written with brackets.

Each listener's ready-line URI is what clients dial, so every test dials exactly those.
"""
import json
import socket
import subprocess

import pyarrow as pa
import pytest
import requests

from conftest import ARROWPORT, run_cli
from test_flight_roundtrip import get, put


def _has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback (::1)")

TABLE = pa.table({"id": pa.array(range(1000), pa.int64()),
                  "name": pa.array([f"n{i}" for i in range(1000)])})


def _port(uri):
    return int(uri.rsplit(":", 1)[1])


def _round_trip(flight_uri, http_uri, stream):
    """DoPut then DoGet over Flight, and the same table over HTTP, at the given URIs."""
    import pyarrow.flight as flight
    client = flight.connect(flight_uri)
    put(client, TABLE, {"stream": stream})
    back = get(client, {"sql": f"SELECT * FROM {stream} ORDER BY id"})
    assert back.equals(TABLE), back.schema
    listed = requests.get(f"{http_uri}/tables", timeout=30)
    assert listed.status_code == 200, listed.text
    assert stream in json.dumps(listed.json())
    rows = requests.get(f"{http_uri}/tables/{stream}?format=json&limit=3", timeout=30)
    assert rows.status_code == 200, rows.text
    assert [r["id"] for r in rows.json()] == [0, 1, 2]


def test_ipv6_loopback_serves_flight_and_http_at_its_ready_line(start_server, tmp_path):
    # Before: "Cannot parse URI: 'grpc+tcp://::1:0'" and exit 1, nothing listened.
    server = start_server("--host", "::1")
    assert server.uri == f"grpc://[::1]:{server.port}"
    assert server.http.startswith("http://[::1]:")
    _round_trip(server.uri, server.http, "over_v6")
    assert requests.get(f"{server.http}/healthz", timeout=30).status_code == 200
    # The CLI dials the same URIs.
    cli = run_cli("query", "SELECT count(*) AS n FROM over_v6", "--server", server.uri,
                  cwd=tmp_path, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert b"1000" in cli.stdout
    cli = run_cli("query", "SELECT count(*) AS n FROM over_v6", "--server", server.http,
                  cwd=tmp_path, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert b"1000" in cli.stdout
    # Loopback: no warning about clear text or missing authentication.
    assert "non-loopback" not in server.stderr()


def test_bracketed_ipv6_is_the_same_address(start_server, tmp_path):
    # Before: Flight took "[::1]" but the HTTP listener could not bind it ("cannot listen
    # for HTTP on [::1]:0"), and the metrics listener neither.
    config = tmp_path / "brackets.yaml"
    config.write_text("flight: {host: '[::1]'}\nhttp: {host: '[::1]'}\n"
                      "metrics: {host: '[::1]', port: 0}\n")
    server = start_server("--config", str(config))
    assert server.uri == f"grpc://[::1]:{server.port}"
    assert server.http.startswith("http://[::1]:")
    assert server.metrics.startswith("http://[::1]:")
    scraped = requests.get(f"{server.metrics}/metrics", timeout=30)
    assert scraped.status_code == 200 and "arrowport_" in scraped.text
    _round_trip(server.uri, server.http, "bracketed")


@pytest.mark.parametrize("host", ["[::1]:8815", "127.0.0.1:8815", "[localhost]"])
def test_a_port_or_stray_brackets_in_the_host_are_refused_naming_the_fix(tmp_path, host):
    proc = subprocess.run([ARROWPORT, "serve", "--host", host, "--db", ":memory:",
                           "--flight-port", "0", "--http-port", "0"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "key 'flight.host'" in proc.stderr and "flight.port" in proc.stderr, proc.stderr
    assert "Cannot parse URI" not in proc.stderr


def test_ipv6_wildcard_needs_authentication_like_0_0_0_0(tmp_path):
    proc = subprocess.run([ARROWPORT, "serve", "--host", "::", "--db", ":memory:",
                           "--flight-port", "0", "--http-port", "0"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "binding :: (not loopback) without authentication is refused" in proc.stderr


def test_ipv6_wildcard_is_dual_stack_and_its_ready_line_dialable(start_server, tmp_path):
    config = tmp_path / "open.yaml"
    config.write_text("auth: {enabled: false}\n")
    server = start_server("--config", str(config), "--host", "::")
    # As 0.0.0.0 prints 0.0.0.0: the wildcard as bound, which Linux dials as this host.
    assert server.uri == f"grpc://[::]:{server.port}"
    assert server.http.startswith("http://[::]:")
    assert server.logged("SECURITY WARNING")
    assert "non-loopback address [::]: anyone" in server.stderr()
    flight_port, http_port = server.port, _port(server.http)
    _round_trip(server.uri, server.http, "wildcard")
    # Both listeners are IPv6 sockets that also accept IPv4 (IPV6_V6ONLY off): reachable
    # on ::1 and on 127.0.0.1 alike.
    for host in ("[::1]", "127.0.0.1"):
        _round_trip(f"grpc://{host}:{flight_port}", f"http://{host}:{http_port}",
                    "wildcard_" + ("v6" if host.startswith("[") else "v4"))


@pytest.mark.parametrize("flag", ["--flight-port", "--http-port"])
def test_a_taken_ipv6_port_is_named_with_brackets(tmp_path, flag):
    # Before: "cannot listen for Flight on ::1:PORT", which reads as another address.
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as held:
        held.bind(("::1", 0))
        held.listen()
        port = held.getsockname()[1]
        ports = {"--flight-port": "0", "--http-port": "0", flag: str(port)}
        proc = subprocess.run([ARROWPORT, "serve", "--host", "::1", "--db", ":memory:",
                               *[a for kv in ports.items() for a in kv]],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert f"on [::1]:{port}: port {port} is in use" in proc.stderr, proc.stderr
    assert flag in proc.stderr


def test_copy_from_a_peer_at_an_ipv6_address(start_server, tmp_path):
    # Transfer peers were host names or IPv4 addresses only: grpc://[::1]:port was refused
    # as a malformed URL. The address is matched against allowed_peers in its one text.
    import pyarrow.flight as flight
    source = start_server("--host", "::1")
    put(flight.connect(source.uri), TABLE, {"stream": "v6_source"})
    config = tmp_path / "c.yaml"
    config.write_text(f"transfer: {{allowed_peers: ['[0:0:0:0:0:0:0:1]:{source.port}']}}\n")
    target = start_server("--config", str(config), db=tmp_path / "target.duckdb")
    client = flight.connect(target.uri)
    body = {"source": f"grpc://[::1]:{source.port}", "source_table": "v6_source",
            "target_table": "from_v6"}
    result = next(iter(client.do_action(flight.Action("copy_from",
                                                      json.dumps(body).encode()))))
    summary = json.loads(result.body.to_pybytes())
    assert summary["rows"] == 1000 and summary["source"] == f"[::1]:{source.port}", summary
    assert get(client, {"sql": "SELECT * FROM from_v6 ORDER BY id"}).equals(TABLE)
