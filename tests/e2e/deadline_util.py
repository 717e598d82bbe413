"""Writes that end at their call's deadline, and what the server can promise about them.

No server can promise that a write it kept is never reported to its client as failed: a
reply sent in time can always arrive after the client's deadline (a loaded machine, a slow
network), and gRPC's deadline runs from the client's clock, which the server only learns
when the call's first bytes arrive. The server narrows the window (it commits only while
the reply has room to arrive) and then promises what it can keep whatever the timing:

- every "OK" is true: a write answered OK was kept;
- its log says of every write whether it was kept: answered (`request ... status=ok`),
  kept although the call failed (`request committed too late: ...`), or rolled back
  (`request failed`); a write is kept exactly when its line says one of the first two;
- an ingest with a request id can be sent again after any error and lands exactly once.

The tests of this family assert those, for deadlines swept across the end of the write.
"""
import re
import time

import pyarrow.flight as flight

# How long before a 1 s deadline each upload ends; the first (400 ms) is the control,
# which must be answered and kept.
BEFORE_DEADLINE_MS = [400, 0.5, 1, 2, 3, 4, 5, 6, 8, 10]

_OUTCOME = re.compile(r" (?:info|warn) (request failed|request committed too late[^=]*|request)"
                      r" protocol=\S+ method=(\S+) ")


def upload_ending_before_deadline(client, descriptor, table, before_deadline_ms,
                                  timeout=1.0):
    """DoPut of `table` whose upload ends `before_deadline_ms` before the call's deadline,
    then every reply read: "ok", or the class of the error the client was told."""
    start = time.monotonic()
    try:
        writer, replies = client.do_put(descriptor, table.schema,
                                        options=flight.FlightCallOptions(timeout=timeout))
        writer.write_table(table)
        time.sleep(max(0.0, start + timeout - before_deadline_ms / 1000 - time.monotonic()))
        writer.done_writing()
        while replies.read() is not None:
            pass
        writer.close()
        return "ok"
    except flight.FlightError as e:
        return type(e).__name__


class CallLog:
    """The server's log lines of calls a test makes one after another on `client`.
    mark() makes a call of its own (the `health` action) and waits for its line, so that
    everything logged before it is behind the returned offset (stderr is read by a thread,
    a little late); outcome() then finds the first line of a method after that offset."""

    def __init__(self, server, client):
        self.server, self.client, self.marks = server, client, 0

    def _wait(self, found, what, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = self.server.stderr()
            value = found(text[:text.rfind("\n") + 1])  # whole lines only
            if value is not None:
                return value
            time.sleep(0.05)
        raise AssertionError(f"the server never logged {what}:\n{self.server.stderr()[-3000:]}")

    def mark(self):
        list(self.client.do_action(flight.Action("health", b"")))
        self.marks += 1

        def after_mark(text):
            ends = [m.end() for m in re.finditer(r"action=health [^\n]*\n", text)]
            return ends[self.marks - 1] if len(ends) >= self.marks else None
        return self._wait(after_mark, f"health call {self.marks}")

    def outcome(self, offset, method, contains=""):
        """"ok", "late" (committed too late: kept although the call failed) or "failed"
        (nothing kept), as logged for the first `method` call after `offset` whose line
        holds `contains`."""
        def first(text):
            for line in text[offset:].splitlines():
                match = _OUTCOME.search(line)
                if match and match.group(2) == method and contains in line:
                    kind = match.group(1)
                    return ("failed" if kind == "request failed" else
                            "late" if kind.startswith("request committed too late") else "ok")
            return None
        return self._wait(first, f"a {method} call")


def logged_kept(logged):
    return logged in ("ok", "late")
