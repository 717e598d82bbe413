"""One address for a cluster (issue 68): Debian's HAProxy, with the config the project ships
(packaging/haproxy/arrowport.cfg, its node addresses replaced by this machine's), in front of
three nodes sharing a Delta table. Flight (gRPC over HTTP/2) and HTTP go through it; a node
shut down (SIGTERM) is taken out while a producer keeps writing through the balancer with
request ids and retries, and every acknowledged request is stored exactly once. New, so
every test here failed before (no balancer config, no cluster)."""
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow.flight as flight
import pytest
import requests

from lake_util import free_port, http_ingest, http_query, noisy_events, put_cmd
from metrics_util import scrape, total
from test_cluster_reads import Cluster, wait_until

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "packaging" / "haproxy" / "arrowport.cfg"
TOOL = str(REPO / "toolchain" / "tool")


class Address:
    """What lake_util's HTTP helpers take: something with an `http` URL."""

    def __init__(self, http):
        self.http = http


class Balancer:
    """HAProxy running the shipped config, bound to loopback ports, over `cluster`'s nodes."""

    def __init__(self, cluster):
        self.flight_port, self.http_port = free_port(), free_port()
        text = SHIPPED.read_text()
        text = text.replace("bind :8815", f"bind 127.0.0.1:{self.flight_port}")
        text = text.replace("bind :8888", f"bind 127.0.0.1:{self.http_port}")
        # Each node's health from its own HTTP port (on one machine they differ).
        text = text.replace("http-check connect port 8888", "http-check connect")
        for name, (fp, hp) in cluster.ports.items():
            text = re.sub(rf"server {name} 10\.0\.0\.\d+:8815\n",
                          f"server {name} 127.0.0.1:{fp} port {hp}\n", text)
            text = re.sub(rf"server {name} 10\.0\.0\.\d+:8888\n",
                          f"server {name} 127.0.0.1:{hp}\n", text)
        assert "10.0.0." not in text, text
        self.config = cluster.tmp_path / "haproxy.cfg"
        self.config.write_text(text)
        checked = subprocess.run([TOOL, "haproxy", "-c", "-f", str(self.config)],
                                 capture_output=True, text=True, timeout=60)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        self.log = open(cluster.tmp_path / "haproxy.log", "w")
        self.proc = subprocess.Popen([TOOL, "haproxy", "-db", "-f", str(self.config)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.flight = f"grpc://127.0.0.1:{self.flight_port}"
        self.http = f"http://127.0.0.1:{self.http_port}"
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if requests.get(f"{self.http}/readyz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError("HAProxy did not serve /readyz:\n" + self.logged())

    def logged(self):
        self.log.flush()
        return (self.config.parent / "haproxy.log").read_text()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        self.log.close()


@pytest.fixture
def balanced(tmp_path):
    cluster = Cluster(tmp_path).start_all()
    balancer = Balancer(cluster)
    yield cluster, balancer
    balancer.stop()
    cluster.stop_all()


def test_flight_and_http_reach_the_cluster_through_one_address(balanced):
    cluster, balancer = balanced
    client = flight.connect(balancer.flight)
    replies = put_cmd(client, noisy_events(range(0, 500)), {"stream": "events"})
    assert replies[-1]["committed"], replies
    r = http_ingest(Address(balancer.http), "events", noisy_events(range(500, 1000)))
    assert r.status_code == 200, r.text
    counted = http_query(Address(balancer.http), "SELECT count(*) AS n FROM events")
    assert counted.column("n").to_pylist() == [1000]
    # Asked through the balancer, the table's endpoints name the nodes themselves.
    info = client.get_flight_info(flight.FlightDescriptor.for_path("events"))
    for endpoint in info.endpoints:
        assert {cluster.node_of(location) for location in endpoint.locations} <= set("abc")
    assert sum(flight.connect(e.locations[0]).do_get(e.ticket).read_all().num_rows
               for e in info.endpoints) == 1000


def test_a_node_shut_down_under_load_loses_and_doubles_nothing(balanced):
    cluster, balancer = balanced
    acknowledged, errors, died = [], [], []
    stop = threading.Event()

    def produce():
        try:
            produce_until_stopped()
        except BaseException as e:  # the test fails with it
            died.append(e)

    def produce_until_stopped():
        client = flight.connect(balancer.flight)
        request = 0
        while not stop.is_set():
            ids = range(request * 100, request * 100 + 100)
            command = {"stream": "events", "request_id": f"r{request}"}
            for attempt in range(30):
                try:
                    replies = put_cmd(client, noisy_events(ids), command)
                    assert replies[-1]["committed"], replies
                    acknowledged.append(request)
                    break
                except flight.FlightError as e:
                    # Unavailable (the node went), or its outcome unknown: the same id again.
                    errors.append(str(e)[:200])
                    time.sleep(0.2)
                    client = flight.connect(balancer.flight)
            else:
                raise AssertionError(f"request {request} never acknowledged: {errors[-3:]}")
            request += 1

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        time.sleep(3)
        b = cluster.servers["b"]
        assert b.stop(signal.SIGTERM) == 0
        time.sleep(3)
        cluster.start("b")  # it comes back on its ports; the balancer takes it in again
        time.sleep(3)
    finally:
        stop.set()
        producer.join(timeout=120)
    assert not producer.is_alive()
    assert not died, f"{died}\n--- haproxy:\n{balancer.logged()[-6000:]}"
    assert len(acknowledged) >= 10, (acknowledged, errors)
    stored = http_query(cluster.servers["a"], "SELECT id FROM events ORDER BY id")
    ids = stored.column("id").to_pylist()
    assert len(ids) == len(set(ids)), "a request was stored twice"
    expected = sorted(i for r in acknowledged for i in range(r * 100, r * 100 + 100))
    assert ids == expected


def open_transactions(cluster):
    return sum(total(scrape(f"{server.http}/metrics"), "arrowport_flight_sql_open",
                     kind="transactions") for server in cluster.servers.values())


def test_flight_sql_sessions_keep_to_their_node_through_the_balancer(balanced):
    """A Flight SQL client's prepared statements, transaction and temporary table live on
    one node: the balancer keeps each client connection on one node (TCP), so clients
    spread over the nodes and every stateful flow works (HTTP/2 requests balanced one by
    one sent a client's EndTransaction to a node that did not hold it)."""
    cluster, balancer = balanced
    before = {name: total(scrape(f"{server.http}/metrics"), "arrowport_requests_total",
                          protocol="flight_sql")
              for name, server in cluster.servers.items()}
    for i in range(9):
        with flight_sql.connect(balancer.flight) as conn:  # autocommit off, as ADBC's default
            with conn.cursor() as cursor:
                cursor.execute(f"CREATE TEMPORARY TABLE scratch{i} (id BIGINT)")
                cursor.execute(f"INSERT INTO scratch{i} SELECT range FROM range(100)")
                cursor.execute(f"SELECT count(*) FROM scratch{i} WHERE id < ?", parameters=(i,))
                assert cursor.fetchone() == (i,)
            conn.commit()
            with conn.cursor() as cursor:
                cursor.execute(f"CREATE TABLE kept{i} AS SELECT {i} AS n")
            conn.commit()
            with conn.cursor() as cursor:
                cursor.execute(f"INSERT INTO kept{i} VALUES (100)")
            # Closed without commit: its node rolls it back at once.
    served = [name for name, server in cluster.servers.items()
              if total(scrape(f"{server.http}/metrics"), "arrowport_requests_total",
                       protocol="flight_sql") > before[name]]
    assert len(served) >= 2, served
    wait_until(lambda: open_transactions(cluster) == 0, 30, "the closed transactions to end")
