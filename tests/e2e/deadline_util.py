"""Uploads that end just before their call's deadline, for the tests that a write the
client is told failed (DEADLINE_EXCEEDED) is never kept: ingest DoPut and a prepared
statement's parameter rows drive the same sweep."""
import time

import pyarrow.flight as flight

# How long before a 1 s deadline each upload ends; the first (400 ms) is the control,
# which must be answered and kept.
BEFORE_DEADLINE_MS = [400, 0.5, 1, 2, 3, 4, 5, 6, 8, 10]


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


def sweep_to_the_deadline(client, descriptor, table, kept, clear):
    """Uploads `table` once per BEFORE_DEADLINE_MS, asking `kept()` (rows kept) after
    each and calling `clear()` when some were. Returns the control's (told, kept) and the
    uploads told failed whose rows were kept, as (ms before the deadline, told)."""
    control, told_failed_but_kept = None, []
    for before_deadline_ms in BEFORE_DEADLINE_MS:
        told = upload_ending_before_deadline(client, descriptor, table, before_deadline_ms)
        rows = kept()
        if before_deadline_ms == BEFORE_DEADLINE_MS[0]:
            control = (told, rows)
        elif told != "ok" and rows:
            told_failed_but_kept.append((before_deadline_ms, told))
        if rows:
            clear()
    return control, told_failed_but_kept
