"""copy_from from a source whose DoGet never begins its stream (issue 64). Arrow's
FlightClient::DoGet waits for the schema in a call nothing can cancel, and the copy
opened it on a detached thread: such a source pinned one of 64 "stream open" slots past
its copy's client, after 64 of them every copy answered "server busy" until a restart,
and the server's stop neither waited for nor cancelled those threads. The open is now
bounded by the copy's timeout_s, ends with its caller and with the server."""
import json
import threading
import time

import pyarrow as pa
import pyarrow.flight as flight
import pytest

GOOD = pa.table({"k": pa.array([1, 2, 3], pa.int64()), "label": ["a", "b", "c"]})
ERRORS = (flight.FlightError, pa.ArrowException)


class SilentSource(flight.FlightServerBase):
    """Ticket "good" streams GOOD; any other never sends a schema: its DoGet waits until
    its call is cancelled (counted) or the source is released."""

    def __init__(self):
        super().__init__("grpc://127.0.0.1:0")
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.waiting = 0  # DoGet calls waiting now
        self.cancelled = 0  # DoGet calls that saw their call cancelled

    def do_get(self, context, ticket):
        if ticket.ticket == b"good":
            return flight.RecordBatchStream(GOOD)
        with self.lock:
            self.waiting += 1
        try:
            while not self.release.wait(0.05):
                if context.is_cancelled():
                    with self.lock:
                        self.cancelled += 1
                    break
        finally:
            with self.lock:
                self.waiting -= 1
        raise flight.FlightServerError("silent: gave up")

    def counts(self):
        with self.lock:
            return self.waiting, self.cancelled


@pytest.fixture
def source():
    server = SilentSource()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()


def copy_from(server, source, ticket, table, timeout=None, **body):
    client = flight.connect(server.uri)
    try:
        request = {"source": f"grpc://127.0.0.1:{source.port}", "ticket": ticket,
                   "target_table": table, **body}
        results = list(client.do_action(
            flight.Action("copy_from", json.dumps(request).encode()),
            options=flight.FlightCallOptions(timeout=timeout)))
        return json.loads(results[0].body.to_pybytes())
    finally:
        client.close()


def wait_for(condition, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.1)


def serving(start_server, tmp_path, limits=""):
    config = tmp_path / "c.yaml"
    config.write_text("transfer: {allowed_peers: ['127.0.0.1:*']}\n" + limits)
    return start_server("--config", str(config))


def test_a_source_that_never_begins_its_stream_fails_the_copy_at_its_bound(
        start_server, tmp_path, source):
    """The wait for the schema ends at the copy's timeout_s, and without one at
    limits.query_timeout_s (the copy's query deadline), with the source's DoGet cancelled."""
    server = serving(start_server, tmp_path, "limits: {query_timeout_s: 2}\n")
    for body, bound in (({"timeout_s": 1}, "within the copy's timeout_s (1 s)"),
                        ({}, "within 2 s (limits.query_timeout_s")):
        started = time.monotonic()
        waiting, cancelled = source.counts()
        with pytest.raises(flight.FlightTimedOutError) as e:
            copy_from(server, source, "silent", "never", timeout=120, **body)
        message = str(e.value)
        assert "the source did not begin its stream (its schema)" in message, message
        assert bound in message, message
        assert time.monotonic() - started < 60
        wait_for(lambda: source.counts() == (waiting, cancelled + 1),
                 "the DoGet cancelled at the source")


def test_more_abandoned_copies_than_there_were_slots_leave_copies_working(
        start_server, tmp_path, source):
    """70 copies whose clients leave (their deadline) while the source says nothing:
    each DoGet at the source ends with them, and a copy after them works."""
    server = serving(start_server, tmp_path)
    failures = []

    def abandoned(i):
        try:
            copy_from(server, source, "silent", f"gone{i}", timeout=3)
            failures.append(f"copy {i} succeeded")
        except flight.FlightTimedOutError:
            pass
        except ERRORS as e:
            failures.append(f"copy {i}: {e}")

    for first in range(0, 70, 10):  # ten at a time: a burst of connections is not the point
        threads = [threading.Thread(target=abandoned, args=(i,))
                   for i in range(first, first + 10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(180)
    assert not failures, failures[:5]
    wait_for(lambda: source.counts() == (0, 70), "every DoGet cancelled at the source")
    summary = copy_from(server, source, "good", "after", timeout=120)
    assert summary["rows"] == 3 and summary["committed"] is True, summary


def test_the_server_stops_within_its_grace_while_copies_wait_for_their_source(
        start_server, tmp_path, source):
    """Copies whose clients wait without a deadline: SIGTERM cancels them after the
    grace period, each DoGet at the source with them, and the server exits 0."""
    server = serving(start_server, tmp_path, "limits: {shutdown_grace_s: 2}\n")
    outcomes = []

    def waiting(i):
        try:
            copy_from(server, source, "silent", f"wait{i}")
            outcomes.append("succeeded")
        except ERRORS as e:
            outcomes.append(str(e))

    threads = [threading.Thread(target=waiting, args=(i,)) for i in range(5)]
    for thread in threads:
        thread.start()
    wait_for(lambda: source.counts()[0] == 5, "5 copies waiting at the source")
    stopped = time.monotonic()
    assert server.stop(timeout=60) == 0, server.stderr()[-3000:]
    assert time.monotonic() - stopped < 30
    wait_for(lambda: source.counts() == (0, 5), "every DoGet cancelled at the source")
    for thread in threads:
        thread.join(60)
    assert len(outcomes) == 5 and "succeeded" not in outcomes, outcomes
