"""The status page tells the truth while work runs (issue 36): during a long per_batch
DoPut on a second connection, the stream is listed with the rows committed so far, a live
rate, the time of its last commit and the request's own commit mode; tables have measured
sizes (not `0 B` before a checkpoint); every recent error has its message. Checked in
GET /status and in a headless Chromium's DOM and screenshot taken while the DoPut runs."""
import json
import re
import threading
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as flight
import requests

from metrics_util import ARTIFACTS, chromium

ROWS_PER_BATCH = 10_000
FIRST_ROWS = 20_000  # the stream's first request (per_request, on another connection)


def five_columns(start, n):
    ids = pa.array(range(start, start + n), pa.int64())
    return pa.table({
        "id": ids,
        "value": pc.divide(pc.cast(ids, pa.float64()), 7.0),
        "name": pc.binary_join_element_wise("name_", pc.cast(ids, pa.string()), ""),
        "ts": pc.cast(pc.add(pc.multiply(ids, 1000), 1_700_000_000_000_000),
                      pa.timestamp("us")),
        "flag": pc.equal(pc.bit_wise_and(ids, 1), 0),
    })


class Producer(threading.Thread):
    """One per_batch DoPut that sends batches of ROWS_PER_BATCH rows, each after the
    previous one was acknowledged as committed, until told to stop. `acked`: the rows the
    server acknowledged so far."""

    def __init__(self, server, stream):
        super().__init__(daemon=True)
        self.server, self.stream = server, stream
        self.acked = 0
        self.started = threading.Event()  # set once a few batches are acknowledged
        self.stop = threading.Event()
        self.error = None

    def run(self):
        try:
            client = self.server.client()
            command = {"stream": self.stream, "commit": "per_batch"}
            writer, metadata = client.do_put(
                flight.FlightDescriptor.for_command(json.dumps(command)),
                five_columns(0, 1).schema)
            sent = 0
            while not self.stop.is_set():
                batch = five_columns(FIRST_ROWS + sent, ROWS_PER_BATCH)
                writer.write_table(batch)
                sent += ROWS_PER_BATCH
                reply = json.loads(metadata.read().to_pybytes())
                assert reply["committed"] and reply["rows"] == ROWS_PER_BATCH, reply
                self.acked += reply["rows"]
                if self.acked >= 3 * ROWS_PER_BATCH:
                    self.started.set()
                time.sleep(0.2)  # pacing: about 50k rows/s, as the producer
            writer.done_writing()
            while metadata.read() is not None:
                pass
            writer.close()
            client.close()
        except Exception as error:  # reported by the test
            self.error = error
        finally:
            self.started.set()


def stream_of(status, name):
    found = [s for s in status["streams"] if s["stream"] == name]
    return found[0] if found else None


def table_of(status, name):
    found = [t for t in status["tables"] if t["name"] == name]
    return found[0] if found else None


def cell(row, cls):
    match = re.search(r'<td class="%s">([^<]*)</td>' % cls, row)
    assert match, (cls, row)
    return match.group(1)


def number(text):
    return int(text.replace(",", ""))


def test_a_long_per_batch_ingest_is_live_on_the_page(server):
    # The stream's first request: per_request, on one connection.
    client = server.client()
    writer, _ = client.do_put(flight.FlightDescriptor.for_path("sensors"),
                              five_columns(0, 1).schema)
    writer.write_table(five_columns(0, FIRST_ROWS))
    writer.close()
    client.close()
    before = stream_of(requests.get(f"{server.http}/status").json(), "sensors")
    assert before["rows"] == FIRST_ROWS and before["last_commit"] == "per_request", before
    # An HTTP 400 had no message in the recent errors.
    refused = requests.post(f"{server.http}/ingest/broken", data=b"not an arrow stream",
                            headers={"Content-Type": "application/vnd.apache.arrow.stream"})
    assert refused.status_code == 400, refused.text

    producer = Producer(server, "sensors")
    producer.start()
    try:
        assert producer.started.wait(120) and producer.error is None, producer.error
        # Until the sizer has measured the table (a thread of the server's own), and a new
        # second has begun since the first request's last write.
        deadline = time.time() + 120
        while True:
            acked_before = producer.acked
            status = requests.get(f"{server.http}/status").json()
            acked_after = producer.acked
            live, table = stream_of(status, "sensors"), table_of(status, "sensors")
            if (live["last_write"] > before["last_write"] and table["bytes"] > 0) \
                    or time.time() > deadline:
                break
            time.sleep(0.2)
        # Rows counted as their batches commit (a batch may commit just before its
        # acknowledgement is read), the request running with its own commit mode.
        assert FIRST_ROWS + acked_before <= live["rows"] <= \
            FIRST_ROWS + acked_after + ROWS_PER_BATCH, (live, acked_before, acked_after)
        assert live["rows"] % ROWS_PER_BATCH == 0
        assert live["last_commit"] == "per_batch" and live["active_requests"] == 1, live
        assert live["last_write"] > before["last_write"], (live, before)
        assert sum(live["rows_per_second"][-10:]) > 0, live
        assert table["bytes"] > 0, table  # showed 0 B before its first checkpoint

        # The page as a browser draws it, while the producer goes on.
        acked_before = producer.acked
        dumped = chromium("--virtual-time-budget=3000", "--dump-dom", server.http + "/")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "status-page-live-ingest.png"
        shot.unlink(missing_ok=True)
        taken = chromium("--window-size=1400,900", "--virtual-time-budget=3000",
                         f"--screenshot={shot}", server.http + "/")
        acked_after = producer.acked
        assert producer.is_alive() and producer.error is None, producer.error
    finally:
        producer.stop.set()
        producer.join(120)
    assert producer.error is None, producer.error
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    dom = dumped.stdout.decode()
    row = re.search(r'<tr data-stream="sensors">(.*?)</tr>', dom, re.S)
    assert row, dom[:3000]
    row = row.group(1)
    assert cell(row, "commit") == "per_batch"
    assert FIRST_ROWS + acked_before <= number(cell(row, "num rows")) <= \
        FIRST_ROWS + acked_after + ROWS_PER_BATCH, (row, acked_before, acked_after)
    assert number(cell(row, "num rate")) > 0, row
    assert cell(row, "num requests") == "1 + 1 running", row
    assert cell(row, "last-write") >= live["last_write"], row
    table_row = re.search(r'<tr data-table="sensors">(.*?)</tr>', dom, re.S).group(1)
    size = cell(table_row, "num size")
    assert size not in ("0 B", "-") and re.fullmatch(r"[\d.]+ (B|KiB|MiB|GiB)", size), size
    # Every error row has its message.
    messages = re.findall(r'<td class="bad">(\d+)</td>.*?<td class="msg">([^<]*)</td>', dom,
                          re.S)
    assert ("400", "") not in messages and any(code == "400" for code, _ in messages), messages

    # Once the request ended: every acknowledged row counted once, the request too.
    done = requests.get(f"{server.http}/status").json()
    final = stream_of(done, "sensors")
    assert final["rows"] == FIRST_ROWS + producer.acked, (final, producer.acked)
    assert final["requests"] == 2 and final["active_requests"] == 0, final
    assert final["last_commit"] == "per_batch"
    errors = [e for e in done["recent_errors"] if e["code"] == "400"]
    assert errors and all(e["message"] for e in errors), done["recent_errors"]
