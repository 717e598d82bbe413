"""A cluster of nodes (issue 68; design section 14), three servers on this machine sharing
one Delta table in a local directory: GetFlightInfo of the lake table asked of any node
spreads the snapshot's file groups over every node that answers, each endpoint naming a
second node; tickets are sealed with the cluster's secret and served by every node (and by
no other server); a node killed mid-read loses nothing (the endpoint is read again at its
next location); a retry of a request that landed on another node is a duplicate; a token
one node signed is good on every node. New, so every test here failed before (no
`cluster:` key)."""
import json
import os
import signal
import threading
import time
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pyarrow.flight as flight
import pytest
import requests

from conftest import RunningServer, run_cli
from lake_util import (free_port, http_query, lake_stream, noisy_events, put_cmd, put_path,
                       write_config)

NODES = ("a", "b", "c")
SECRET = "7f3e0c2a9b8d4e6f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081"


class Cluster:
    """Three nodes' configs (ports chosen up front: each config lists every node) and the
    nodes started from them."""

    def __init__(self, tmp_path, nodes=NODES, extra=None, secret=SECRET, stream=None,
                 streams=None):
        """`stream`: the `events` stream's entry (default: a Delta table in the test's
        directory); `streams`: every stream's, instead."""
        self.tmp_path = Path(tmp_path)
        (self.tmp_path / "lake").mkdir(parents=True, exist_ok=True)
        secret_file = self.tmp_path / "cluster.key"
        secret_file.write_text(secret + "\n")
        secret_file.chmod(0o600)
        self.ports = {name: (free_port(), free_port()) for name in nodes}
        self.url = f"file://{self.tmp_path / 'lake' / 'events'}"
        listed = [{"name": name, "flight": f"grpc://127.0.0.1:{fp}",
                   "http": f"http://127.0.0.1:{hp}"} for name, (fp, hp) in self.ports.items()]
        self.configs = {}
        for name in nodes:
            cluster = {"self": name, "secret_file": str(secret_file), "nodes": listed,
                       "health_interval_ms": 200}
            self.configs[name] = write_config(
                self.tmp_path / f"{name}.yaml",
                streams or {"events": stream or lake_stream(self.url)},
                extra={"cluster": cluster, "lake": {"read_part_mb": 1}, **(extra or {})})
        self.servers = {}

    def start(self, name, env=None):
        fp, hp = self.ports[name]
        self.servers[name] = RunningServer(
            ["--config", str(self.configs[name]), "--db", str(self.tmp_path / f"{name}.duckdb"),
             "--flight-port", str(fp), "--http-port", str(hp)], cwd=self.tmp_path, env=env)
        return self.servers[name]

    def start_all(self):
        for name in self.ports:
            self.start(name)
        return self

    def location(self, name):
        return f"grpc://127.0.0.1:{self.ports[name][0]}"

    def node_of(self, location):
        for name, (fp, _) in self.ports.items():
            if location.uri.decode().endswith(f":{fp}"):
                return name
        raise AssertionError(f"{location} is no node of the cluster")

    def stop_all(self):
        for server in self.servers.values():
            if server.proc.poll() is None:
                server.stop()


@pytest.fixture
def cluster(tmp_path):
    made = Cluster(tmp_path).start_all()
    yield made
    made.stop_all()


def fill(server, batches=6, rows_each=60_000):
    """Commits `batches` requests of barely compressible rows through `server`: one file of
    about 0.75 MiB each, so that lake.read_part_mb 1 makes several parts."""
    client = flight.connect(server.uri)
    for i in range(batches):
        replies = put_path(client, noisy_events(range(i * rows_each, (i + 1) * rows_each)),
                           "events")
        assert replies[-1]["committed"], replies
    return batches * rows_each


def read_endpoint(location, ticket):
    return flight.connect(location).do_get(ticket).read_all()


def sorted_ids(table):
    return sorted(table.column("id").to_pylist())


def wait_until(predicate, timeout=30, what="the condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def info_once(node_uri, cluster, accept, what):
    """The events table's FlightInfo from the node at `node_uri`, asked again until
    `accept(first locations' node names)` holds (a node's view of the others' health
    settles within a few polls)."""
    client, infos = flight.connect(node_uri), []

    def accepted():
        infos.append(client.get_flight_info(flight.FlightDescriptor.for_path("events")))
        return accept([cluster.node_of(e.locations[0]) for e in infos[-1].endpoints])
    wait_until(accepted, what=what)
    return infos[-1]


def test_a_lake_tables_endpoints_spread_over_every_node_and_read_anywhere(cluster):
    total = fill(cluster.servers["a"])
    # Asked of b, which has not read the table yet: its snapshot, its parts, spread once b
    # has seen every node answer (a slow /readyz during the load may leave one out).
    endpoints = info_once(cluster.servers["b"].uri, cluster,
                          lambda firsts: set(firsts) == set(NODES),
                          "b to spread the endpoints over every node").endpoints
    assert len(endpoints) >= 3, [e.ticket.ticket[:80] for e in endpoints]
    firsts = [cluster.node_of(e.locations[0]) for e in endpoints]
    assert firsts[0] == "b", firsts  # the node asked first
    assert set(firsts) == set(NODES), firsts
    for endpoint in endpoints:
        assert len(endpoint.locations) == 2, endpoint
        assert endpoint.locations[0] != endpoint.locations[1], endpoint
        assert endpoint.ticket.ticket.startswith(b"arrowport-cluster-v1:"), endpoint.ticket
    # Each endpoint read at its first location, and again at its second: the same rows,
    # all of the table once.
    parts = []
    for endpoint in endpoints:
        first = read_endpoint(endpoint.locations[0], endpoint.ticket)
        second = read_endpoint(endpoint.locations[1], endpoint.ticket)
        assert sorted_ids(first) == sorted_ids(second)
        parts.append(first)
    got = sorted_ids(pa.concat_tables(parts))
    assert got == list(range(total))
    whole = http_query(cluster.servers["c"], "SELECT id FROM events ORDER BY id")
    assert whole.column("id").to_pylist() == got


def test_a_node_lost_mid_read_its_endpoints_are_read_at_the_next_location(cluster):
    total = fill(cluster.servers["a"])
    info = info_once(cluster.servers["a"].uri, cluster, lambda firsts: "c" in firsts,
                     "a to hand c a share")
    lost = [e for e in info.endpoints if cluster.node_of(e.locations[0]) == "c"]
    assert lost, [cluster.node_of(e.locations[0]) for e in info.endpoints]
    # A read of c's first endpoint is under way when c is killed (c stopped first, so that
    # the read cannot have ended before the kill, however small the part).
    c = cluster.servers["c"].proc
    c.send_signal(signal.SIGSTOP)
    failed = []

    def read_lost():
        try:
            read_endpoint(lost[0].locations[0], lost[0].ticket)
        except flight.FlightError as e:
            failed.append(e)
    reading = threading.Thread(target=read_lost)
    reading.start()
    time.sleep(0.5)
    c.send_signal(signal.SIGKILL)
    c.wait(timeout=30)
    reading.join(timeout=60)
    assert not reading.is_alive() and len(failed) == 1, failed
    parts = []
    for endpoint in info.endpoints:
        try:
            parts.append(read_endpoint(endpoint.locations[0], endpoint.ticket))
        except flight.FlightError:
            assert cluster.node_of(endpoint.locations[0]) == "c"
            parts.append(read_endpoint(endpoint.locations[1], endpoint.ticket))
    assert sorted_ids(pa.concat_tables(parts)) == list(range(total))
    # Once its /readyz stops answering, no node hands c out.
    client = flight.connect(cluster.servers["b"].uri)

    def c_left():
        again = client.get_flight_info(flight.FlightDescriptor.for_path("events"))
        return all(cluster.node_of(loc) != "c" for e in again.endpoints for loc in e.locations)
    wait_until(c_left, what="c to be left out of the endpoints")
    assert cluster.servers["b"].logged("cluster node does not answer")


def test_only_tickets_a_node_sealed_are_served(cluster, start_server):
    fill(cluster.servers["a"], batches=3)
    info = flight.connect(cluster.servers["a"].uri).get_flight_info(
        flight.FlightDescriptor.for_path("events"))
    sealed = info.endpoints[1].ticket.ticket
    inner = sealed.split(b":", 2)[2]
    part = json.loads(inner)
    assert part["lake"]["part"] == 1
    b = flight.connect(cluster.servers["b"].uri)
    # Another part named under the same seal: refused, as is the part's bare ticket.
    altered = sealed.replace(b'"part":1', b'"part":0')
    with pytest.raises(pa.ArrowInvalid, match="did not make"):
        b.do_get(flight.Ticket(altered)).read_all()
    with pytest.raises(pa.ArrowInvalid, match="a node of the cluster handed out"):
        b.do_get(flight.Ticket(inner)).read_all()
    # Another cluster's node (its own secret) refuses this one's tickets.
    other = Cluster(cluster.tmp_path / "other", nodes=("x",), secret=SECRET[::-1])
    try:
        x = flight.connect(other.start("x").uri)
        with pytest.raises(pa.ArrowInvalid, match="did not make"):
            x.do_get(flight.Ticket(sealed)).read_all()
    finally:
        other.stop_all()
    # A server in no cluster says what the ticket is.
    plain = flight.connect(start_server().uri)
    with pytest.raises(pa.ArrowInvalid, match="serves in no cluster"):
        plain.do_get(flight.Ticket(sealed)).read_all()


def test_flight_sql_select_star_is_fetched_from_several_nodes(cluster):
    total = fill(cluster.servers["a"])

    def do_gets():
        counts = {}
        for name, server in cluster.servers.items():
            text = requests.get(f"{server.http}/metrics", timeout=30).text
            counts[name] = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                               if line.startswith("arrowport_requests_total{")
                               and 'method="do_get"' in line and 'protocol="flight' in line)
        return counts

    before = do_gets()
    # Outside a transaction (in one, the read runs on the transaction's connection).
    with flight_sql.connect(cluster.servers["a"].uri, autocommit=True) as conn, \
            conn.cursor() as cursor:
        cursor.execute("SELECT * FROM events")
        table = cursor.fetch_arrow_table()
    assert sorted_ids(table) == list(range(total))
    after = do_gets()
    served = [name for name in NODES if after[name] > before[name]]
    assert len(served) >= 2, (before, after)


def test_adbc_reads_an_endpoint_at_its_next_location_when_its_node_is_gone(cluster):
    total = fill(cluster.servers["a"])
    with flight_sql.connect(cluster.servers["a"].uri, autocommit=True) as conn, \
            conn.cursor() as cursor:
        # ADBC's partitions are the FlightInfo's endpoints, locations included.
        partitions, _ = cursor.adbc_execute_partitions("SELECT * FROM events")
        assert len(partitions) >= 3
        cluster.servers["c"].proc.send_signal(signal.SIGKILL)
        cluster.servers["c"].proc.wait(timeout=30)
        parts = []
        for partition in partitions:
            cursor.adbc_read_partition(partition)
            parts.append(cursor.fetch_arrow_table())
    assert sorted_ids(pa.concat_tables(parts)) == list(range(total))


@pytest.mark.parametrize("commit", ["per_request", "per_batch"])
def test_a_retry_landing_on_another_node_is_a_duplicate(cluster, commit):
    table = noisy_events(range(1000))
    command = {"stream": "events", "request_id": f"retry-{commit}", "commit": commit}
    first = put_cmd(flight.connect(cluster.servers["a"].uri), table, command, chunk=250)
    assert first[-1]["committed"] and not first[-1].get("duplicate"), first
    again = put_cmd(flight.connect(cluster.servers["b"].uri), table, command, chunk=250)
    assert again[-1]["committed"], again
    if commit == "per_request":
        assert again[-1]["duplicate"], again
    counted = http_query(cluster.servers["c"], "SELECT count(*) AS n FROM events")
    assert counted.column("n").to_pylist() == [1000]


def test_a_ticket_is_refused_by_a_node_whose_config_names_another_table(tmp_path):
    """Two nodes sharing the key whose configs route `events` to different tables (a
    typo, a rolling config change). Before, node b read its own table's version for a's
    ticket: another table's rows, no error (an attack run)."""
    made = Cluster(tmp_path, nodes=("a", "b"))
    other = f"file://{tmp_path / 'lake' / 'other'}"
    made.configs["b"].write_text(made.configs["b"].read_text().replace(made.url, other))
    made.start_all()
    try:
        a, b = flight.connect(made.location("a")), flight.connect(made.location("b"))
        for i in range(3):
            put_cmd(a, noisy_events(range(i * 10, i * 10 + 10)), {"stream": "events"})
            put_cmd(b, noisy_events(range(1000 + i * 10, 1010 + i * 10)), {"stream": "events"})
        info = a.get_flight_info(flight.FlightDescriptor.for_path("events"))
        for endpoint in info.endpoints:
            assert sorted_ids(a.do_get(endpoint.ticket).read_all()) == list(range(30))
            with pytest.raises(pa.ArrowInvalid, match="another table"):
                b.do_get(endpoint.ticket).read_all()
    finally:
        made.stop_all()


def hash_password(password):
    proc = run_cli("hash-password", input=(password + "\n").encode(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.decode().strip()


def test_a_token_one_node_signed_is_good_on_every_node(tmp_path):
    auth = {"token_secret": "s" * 48,
            "users": [{"name": "ana", "password_hash": hash_password("ana-pw"), "role": "admin"}]}
    made = Cluster(tmp_path, nodes=("a", "b"), extra={"auth": auth})
    try:
        made.start_all()
        token = flight.connect(made.servers["a"].uri).authenticate_basic_token("ana", "ana-pw")
        options = flight.FlightCallOptions(headers=[token])
        answer = flight.connect(made.servers["b"].uri).do_get(
            flight.Ticket(b"SELECT 42 AS answer"), options).read_all()
        assert answer.column("answer").to_pylist() == [42]
    finally:
        made.stop_all()


def test_a_cluster_config_that_cannot_work_is_refused_at_start(tmp_path):
    made = Cluster(tmp_path, nodes=("a", "b"))
    made.configs["a"].write_text(made.configs["a"].read_text().replace('"self": "a"',
                                                                       '"self": "z"'))
    with pytest.raises(RuntimeError, match="'z' is not one of cluster.nodes' names"):
        made.start("a")
    made = Cluster(tmp_path / "open", nodes=("a", "b"))
    (made.tmp_path / "cluster.key").chmod(0o644)
    with pytest.raises(RuntimeError, match=r"cluster.secret_file .* may be read or written by "
                                           r"other users .*chmod 600"):
        made.start("a")
    os.chmod(made.tmp_path / "cluster.key", 0o600)
    (made.tmp_path / "cluster.key").write_text("short\n")
    with pytest.raises(RuntimeError, match="openssl rand -hex 32"):
        made.start("a")


def test_a_ducklake_table_with_a_postgres_catalog_spreads_too(tmp_path, postgres):
    """The same over DuckLake: the catalog (PostgreSQL) arbitrates the nodes' commits."""
    catalog = "postgres:" + postgres.create_database("clustered")
    (tmp_path / "data").mkdir()
    stream = {"sink": "ducklake", "ducklake": {"catalog": catalog,
                                               "data_path": str(tmp_path / "data")}}
    made = Cluster(tmp_path, stream=stream).start_all()
    try:
        total = fill(made.servers["a"])
        info = info_once(made.servers["c"].uri, made,
                         lambda firsts: set(firsts) == set(NODES),
                         "c to spread the endpoints over every node")
        assert len(info.endpoints) >= 3
        parts = []
        for endpoint in info.endpoints:
            first = read_endpoint(endpoint.locations[0], endpoint.ticket)
            assert sorted_ids(first) == sorted_ids(read_endpoint(endpoint.locations[1],
                                                                 endpoint.ticket))
            parts.append(first)
        assert sorted_ids(pa.concat_tables(parts)) == list(range(total))
        # A retry at another node: a duplicate, stored once.
        command = {"stream": "events", "request_id": "dl-retry"}
        extra = noisy_events(range(total, total + 500))
        assert not put_cmd(flight.connect(made.servers["b"].uri), extra, command)[-1]["duplicate"]
        assert put_cmd(flight.connect(made.servers["c"].uri), extra, command)[-1]["duplicate"]
        counted = http_query(made.servers["a"], "SELECT count(*) AS n FROM events")
        assert counted.column("n").to_pylist() == [total + 500]
    finally:
        made.stop_all()
