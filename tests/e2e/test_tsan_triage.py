"""fuzz/tsan_triage.py, which decides which ThreadSanitizer reports fail the TSan lane:
reports made inside the uninstrumented libraries are dropped, ours never are."""
import pathlib
import subprocess
import sys

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
    text = ("==================\nWARNING: ThreadSanitizer: lock-order-inversion (pid=1)\n"
            "SUMMARY: ThreadSanitizer: lock-order-inversion\n==================\n")
    assert triage(text)[0] == 1
