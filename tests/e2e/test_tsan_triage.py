"""fuzz/tsan_triage.py, which decides which ThreadSanitizer reports fail the TSan lane:
reports made inside the uninstrumented libraries are dropped, ours never are."""
import pathlib
import subprocess
import sys

import pytest

# The triage script alone: no server of its own, nothing for a sanitizer build to check.
pytestmark = pytest.mark.release_only("runs no server")

REPO = pathlib.Path(__file__).resolve().parents[2]
MAIN = "(ld-linux-x86-64.so.2+0x{:x})"


def frame(n, function, module):
    return f"    #{n} {function} {module}\n"


def report(first, second, second_kind="Previous write"):
    text = "==================\nWARNING: ThreadSanitizer: data race (pid=1)\n"
    text += "  Write of size 8 at 0x7218 by thread T23:\n" + "".join(first)
    text += f"\n  {second_kind} of size 4 at 0x7218 by thread T20:\n" + "".join(second)
    return text + "\nSUMMARY: ThreadSanitizer: data race\n==================\n"


def triage(text):
    done = subprocess.run([sys.executable, str(REPO / "fuzz/tsan_triage.py"), str(REPO)],
                          input=text, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout


# gRPC's Flight transport frees a buffer (through our binary's copy of the std template)
# after our reader released its own reference: the library's atomic decrement is invisible.
FREED_BY_FLIGHT = [frame(0, "operator delete(void*, unsigned long) ??:?", MAIN.format(0x12e99c)),
                   frame(1, "std::__new_allocator<std::_Sp_counted_ptr_inplace<arrow::Buffer> >"
                            "::deallocate() new_allocator.h:183", MAIN.format(0x579a7e)),
                   frame(2, "<null> <null>", "(libarrow_flight.so.2500+0x123fb4)"),
                   frame(3, "arrowport::flight::PutReader::ReadNext() call_scope.h:74",
                         MAIN.format(0x2eba75))]
RELEASED_BY_US = [frame(0, "__gnu_cxx::__exchange_and_add(int volatile*, int) atomicity.h:71",
                        MAIN.format(0x57a099)),
                  frame(1, "arrowport::ingest::IngestPipeline::Write() ingest_pipeline.cc:344",
                        MAIN.format(0x3f61fb))]
WRITTEN_BY_US = [frame(0, "arrowport::ingest::PerBatchWriter::Write() per_batch_writer.cc:90",
                       MAIN.format(0x4037c2))]


def test_a_library_freeing_what_we_released_atomically_is_dropped():
    code, out = triage(report(FREED_BY_FLIGHT, RELEASED_BY_US, "Previous atomic write"))
    assert code == 0 and out == ""


# Flight drops the last reference to a listener of ours on a gRPC thread (stop 41's CI):
# the allocator frame is instantiated over our type, but libarrow_flight made the call.
OURS_FREED_BY_FLIGHT = [
    frame(0, "operator delete(void*, unsigned long) ??:?", MAIN.format(0x1333cc)),
    frame(1, "std::__new_allocator<std::_Sp_counted_ptr_inplace<arrowport::flight::"
             "(anonymous namespace)::FlightInfoListener, std::allocator<void>, "
             "(__gnu_cxx::_Lock_policy)2> >::deallocate() new_allocator.h:183",
          MAIN.format(0x3c2b6e)),
    frame(2, "<null> <null>", "(libarrow_flight.so.2500+0x144939)")]
# The same object freed by our own code (a unique_ptr of ours) stays ours.
OURS_FREED_BY_US = OURS_FREED_BY_FLIGHT[:2] + [
    frame(2, "arrowport::flight::PlanAtSource() copy_from.cc:165", MAIN.format(0x3c2f00))]


def test_an_object_of_ours_freed_by_a_library_after_our_atomic_release_is_dropped():
    code, out = triage(report(OURS_FREED_BY_FLIGHT, RELEASED_BY_US, "Previous atomic write"))
    assert code == 0 and out == ""
    code, out = triage(report(OURS_FREED_BY_US, RELEASED_BY_US, "Previous atomic write"))
    assert code == 1 and "PlanAtSource" in out
    code, out = triage(report(OURS_FREED_BY_FLIGHT, WRITTEN_BY_US))
    assert code == 1


def test_a_plain_write_of_ours_is_kept():
    code, out = triage(report(FREED_BY_FLIGHT, WRITTEN_BY_US))
    assert code == 1 and "PerBatchWriter" in out
    # Ours on both sides, atomics or not: kept.
    code, out = triage(report(WRITTEN_BY_US, RELEASED_BY_US, "Previous atomic write"))
    assert code == 1


def test_an_unnamed_frame_of_ours_is_kept():
    unnamed = [frame(0, "<null> <null>", MAIN.format(0x1234))]
    code, _ = triage(report(FREED_BY_FLIGHT, unnamed))
    assert code == 1


def test_other_reports_are_kept():
    for kind in ("lock-order-inversion", "unlock of an unlocked mutex"):
        text = (f"==================\nWARNING: ThreadSanitizer: {kind} (pid=1)\n"
                + "".join(DUCKDB_SCANS) + f"\nSUMMARY: ThreadSanitizer: {kind}\n"
                "==================\n")
        assert triage(text)[0] == 1


LOCKED = frame(0, "__interceptor_pthread_mutex_lock ??:?", MAIN.format(0xabedb))
# Where DuckDB 2.0 locks its shared pipeline exchange's pools (a plan read twice), called
# from our query start and our reader, or on its own worker: the lock sites are DuckDB's.
DUCKDB_STARTS = [LOCKED, frame(1, "<null> <null>", "(libduckdb.so.2.0+0x2afe516)"),
                 frame(2, "arrowport::storage::RunPrepared() result_batch_reader.cc:302",
                       MAIN.format(0x4da4a1))]
DUCKDB_SCANS = [LOCKED, frame(1, "<null> <null>", "(libduckdb.so.2.0+0x2b2c104)")]
ARROW_LOCKS = [LOCKED, frame(1, "<null> <null>", "(libarrow.so.2500+0x1000)")]
OURS_LOCKS = [LOCKED, frame(1, "arrowport::storage::SharedConnection::Lease() "
                               "shared_connection.cc:40", MAIN.format(0x4e0000))]
CREATED_BY_GRPC = [frame(0, "___interceptor_pthread_create ??:?", MAIN.format(0xaa1ce)),
                   frame(1, "<null> <null>", "(libgpr.so.29+0xbddf)")]
# Our checkpointer starts while the database opens too, from a function of its own.
CREATED_BY_CHECKPOINTER = [frame(0, "___interceptor_pthread_create ??:?", MAIN.format(0xaa1ce)),
                           frame(1, "<null> <null>", "(libstdc++.so.6+0xed018)"),
                           frame(2, "arrowport::storage::Database::StartCheckpointer() "
                                    "database.cc:226", MAIN.format(0x480000)),
                           frame(3, "arrowport::storage::Database::Open() database.cc:164",
                                 MAIN.format(0x481000))]
# DuckDB's workers start while the database opens.
CREATED_BY_DUCKDB = [frame(0, "___interceptor_pthread_create ??:?", MAIN.format(0xaa1ce)),
                     frame(1, "<null> <null>", "(libstdc++.so.6+0xed018)"),
                     frame(2, "arrowport::server::Server::Impl::OpenDatabase() "
                              "server_start.cc:65", MAIN.format(0x2ab0bc))]


def lock_cycle(first, second, second_thread="T1", second_created=CREATED_BY_DUCKDB,
               edges=2):
    text = ("==================\nWARNING: ThreadSanitizer: lock-order-inversion (potential "
            "deadlock) (pid=1)\n  Cycle in lock order graph: M0 (0x72) => M1 (0x73) => M0\n\n")
    text += "  Mutex M1 acquired here while holding mutex M0 in thread T24:\n" + "".join(first)
    text += "\n    Hint: use TSAN_OPTIONS=second_deadlock_stack=1\n\n"
    if edges == 2:
        text += (f"  Mutex M0 acquired here while holding mutex M1 in thread {second_thread}:\n"
                 + "".join(second))
    text += "\n  Thread T24 (tid=2, running) created by thread T22 at:\n"
    text += "".join(CREATED_BY_GRPC)
    if second_thread != "T24":
        text += f"\n  Thread {second_thread} (tid=3, running) created by main thread at:\n"
        text += "".join(second_created)
    return text + "\nSUMMARY: ThreadSanitizer: lock-order-inversion\n==================\n"


def double_lock(site, created):
    text = "==================\nWARNING: ThreadSanitizer: double lock of a mutex (pid=1)\n"
    text += "".join(site) + "\n  Location is heap block of size 160 at 0x7228 allocated by "
    text += "thread T24:\n" + "".join([frame(0, "operator new(unsigned long) ??:?",
                                            MAIN.format(0x12f006))] + site[1:])
    text += "\n  Mutex M0 (0x7228000de2c0) created at:\n" + "".join(created)
    return text + "\nSUMMARY: ThreadSanitizer: double lock of a mutex\n==================\n"


def test_duckdbs_own_lock_order_is_dropped():
    # A thread of ours calling into DuckDB and one of DuckDB's workers, or one thread.
    assert triage(lock_cycle(DUCKDB_STARTS, DUCKDB_SCANS)) == (0, "")
    assert triage(lock_cycle(DUCKDB_STARTS, DUCKDB_SCANS, second_thread="T24")) == (0, "")


# DuckDB returning a chunk to its exchange's pool: the frame lies in a std template
# instantiated over DuckDB's types (a shared_ptr deleter of duckdb::DataChunk), DuckDB's
# code; then DuckDB locking its client context. CI's TSan lane kept this report.
DUCKDB_RETURNS_A_CHUNK = [LOCKED, frame(1, "<null> <null>", "(libduckdb.so.2.0+0x2b1673c)"),
                          frame(2, "arrowport::storage::ResultBatchReader::ReadNext() "
                                   "result_batch_reader.cc:135", MAIN.format(0x4f074a))]
DUCKDB_LOCKS_ITS_CONTEXT = [LOCKED, frame(1, "<null> <null>", "(libduckdb.so.2.0+0x2a32279)"),
                            frame(2, "arrowport::storage::ArrowUnitResultSource::Next() "
                                     "result_sources.cc:293", MAIN.format(0x4f6a94))]
# A std template of no library's own types (std::string's, bound to libduckdb's copy)
# does not decide: the frame below it does.
STRING_COPY_IN_DUCKDB = [LOCKED, frame(1, "<null> <null>", "(libduckdb.so.2.0+0x3397940)"),
                         frame(2, "arrowport::storage::SharedConnection::Lease() "
                                  "shared_connection.cc:40", MAIN.format(0x4e0000))]


def test_a_std_template_of_duckdbs_own_types_decides_only_lock_reports():
    # A data race: our reader drops the last reference to a chunk DuckDB made (the
    # deleter runs in libduckdb's copy of the template) while a DuckDB worker reads it.
    # That free is ours to explain: kept.
    freed_by_us = [frame(0, "operator delete(void*) ??:?", MAIN.format(0x12e99c)),
                   frame(1, "<null> <null>", "(libduckdb.so.2.0+0x2b1673c)"),
                   frame(2, "arrowport::storage::ResultBatchReader::ReadNext() "
                            "result_batch_reader.cc:135", MAIN.format(0x4f074a))]
    read_by_duckdb = [frame(0, "<null> <null>", "(libduckdb.so.2.0+0x2b2c104)")]
    code, out = triage(report(freed_by_us, read_by_duckdb, "Previous read"))
    assert code == 1 and "ResultBatchReader" in out


def test_a_std_template_of_duckdbs_own_types_is_duckdbs_code():
    assert triage(lock_cycle(DUCKDB_RETURNS_A_CHUNK, DUCKDB_LOCKS_ITS_CONTEXT,
                             second_thread="T24")) == (0, "")
    code, out = triage(lock_cycle(STRING_COPY_IN_DUCKDB, DUCKDB_LOCKS_ITS_CONTEXT,
                                  second_thread="T24"))
    assert code == 1 and "SharedConnection::Lease" in out


def test_a_lock_cycle_is_kept_unless_all_duckdbs_and_whole():
    code, out = triage(lock_cycle(DUCKDB_STARTS, OURS_LOCKS))
    assert code == 1 and "SharedConnection::Lease" in out
    # Two threads of ours meeting in DuckDB's locks (one connection used by both).
    assert triage(lock_cycle(DUCKDB_STARTS, DUCKDB_SCANS, second_thread="T31",
                             second_created=CREATED_BY_GRPC))[0] == 1
    assert triage(lock_cycle(DUCKDB_STARTS, DUCKDB_SCANS, second_thread="T5",
                             second_created=CREATED_BY_CHECKPOINTER))[0] == 1
    assert triage(lock_cycle(DUCKDB_STARTS, ARROW_LOCKS))[0] == 1  # another library's
    assert triage(lock_cycle(DUCKDB_STARTS, DUCKDB_SCANS, edges=1))[0] == 1  # cut short
    unreadable = [LOCKED, "    #1 a frame line TSan printed oddly\n"] + DUCKDB_SCANS[1:]
    assert triage(lock_cycle(DUCKDB_STARTS, unreadable))[0] == 1


def test_a_double_lock_is_dropped_only_when_duckdb_touched_the_mutex_alone():
    assert triage(double_lock(DUCKDB_STARTS[:2], DUCKDB_STARTS)) == (0, "")
    # A std::mutex is "created" at its first lock: ours there, or at the second, is kept.
    assert triage(double_lock(DUCKDB_STARTS[:2], OURS_LOCKS))[0] == 1
    assert triage(double_lock(OURS_LOCKS, DUCKDB_STARTS))[0] == 1
