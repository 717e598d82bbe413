#include "arrowport/common/call_cancellation.h"

#include <gtest/gtest.h>

#include "arrowport/common/status_detail.h"

namespace arrowport {
namespace call_cancellation_test {

TEST(CallCancellation, ACancelledCallReportsItsReasonButKeepsAnUnknownOutcome) {
  auto call = CallCancellation::Make();
  const auto store = arrow::Status::IOError("S3 request abandoned");
  const auto unknown = WithErrorKind(
      arrow::Status::IOError("the commit may or may not have landed; outcome unknown, retry "
                             "with the same request id"),
      ErrorKind::kOutcomeUnknown);
  // Not cancelled: the failure as it is.
  EXPECT_EQ(call->Explain(store).message(), store.message());
  EXPECT_TRUE(call->Explain(arrow::Status::OK()).ok());

  call->Cancel(TimedOut("the client's deadline passed"));
  const auto plain = call->Explain(store);
  EXPECT_TRUE(HasErrorKind(plain, ErrorKind::kTimedOut)) << plain;
  // An unknown outcome stays one (the client must retry with its request id), told why.
  const auto kept = call->Explain(unknown);
  EXPECT_TRUE(HasErrorKind(kept, ErrorKind::kOutcomeUnknown)) << kept;
  EXPECT_EQ(kept.message().rfind("the client's deadline passed: ", 0), 0u) << kept;
  EXPECT_NE(kept.message().find("retry with the same request id"), std::string::npos) << kept;
  EXPECT_TRUE(call->Explain(arrow::Status::OK()).ok());
}

// The handler's own account of the reason (its stream, the rows a per_batch write
// keeps) was replaced by the bare reason: a per_batch copy_from said nothing of what stays.
// Cut() runs a cancelled call's last resorts now, once, rather than kStuckAfter later.
TEST(CallCancellation, CutRunsTheLastResortsOfACancelledCallAtOnce) {
  auto call = CallCancellation::Make();
  int cut = 0;
  auto stuck = CallCancellation::OnStuck(call, [&] { ++cut; });
  call->Cut();
  EXPECT_EQ(cut, 0);  // not cancelled: nothing to cut
  call->Cancel(arrow::Status::Cancelled("rolled back"));
  EXPECT_EQ(cut, 0);
  call->Cut();
  call->Cut();
  call->RepeatInterrupts();
  EXPECT_EQ(cut, 1);
}

TEST(CallCancellation, AFailureThatTellsTheReasonIsKeptInTheReasonsCode) {
  auto call = CallCancellation::Make();
  call->Cancel(TimedOut("the write ran past limits.query_timeout_s"));
  const auto told = arrow::Status::Cancelled(
      "stream 's' -> table t: the write ran past limits.query_timeout_s; 10 rows in 2 "
      "batches were committed before it and stay (per_batch)");
  const auto explained = call->Explain(told);
  EXPECT_TRUE(HasErrorKind(explained, ErrorKind::kTimedOut)) << explained;
  EXPECT_EQ(explained.message(), told.message());
  // A failure about something else (DuckDB's "interrupted") is the reason alone.
  const auto other = call->Explain(arrow::Status::IOError("INTERRUPT Error: Interrupted!"));
  EXPECT_EQ(other.message(), "the write ran past limits.query_timeout_s");
}

// A checkpoint that met a full disk invalidated the database; the reopen cancelled every
// call, the checkpoint's own too, which then told its client only "retry in a few
// seconds" (a loaded run of test_disk_full.py): the full disk it met stays, as it is, each
// time it is explained, whatever its words. A call that ended for another reason is told
// the reason.
TEST(CallCancellation, AFullDiskTheCallMetItselfOutlivesTheReopensCancellation) {
  const auto reopening = ServerBusy(
      "DuckDB invalidated the database, which the server is reopening: retry in a few "
      "seconds");
  const auto met = DiskFull(
      "disk full: the database's disk has no space left (FATAL Error: Failed to create "
      "checkpoint because of error: Could not write file \"d.duckdb\": No space left on "
      "device)");
  auto call = CallCancellation::Make();
  call->Cancel(reopening);
  const auto kept = call->Explain(met);
  EXPECT_TRUE(HasErrorKind(kept, ErrorKind::kDiskFull)) << kept;
  EXPECT_EQ(kept.message(), met.message());
  EXPECT_EQ(call->Explain(kept).message(), met.message());
  // Its words may say that the failure invalidated the database (DuckDB's own wording
  // for a checkpoint that failed): still the call's own full disk. A call that met the
  // database already invalidated is not a full disk at all (TranslateDuckDBError: busy).
  const auto said = DiskFull(
      "disk full: (IO Error: Checkpoint failed for database d. The database has been "
      "invalidated. Original error: No space left on device)");
  const auto kept_said = call->Explain(said);
  EXPECT_TRUE(HasErrorKind(kept_said, ErrorKind::kDiskFull)) << kept_said;
  EXPECT_EQ(kept_said.message(), said.message());
  auto timed_out = CallCancellation::Make();
  timed_out->Cancel(TimedOut("query timed out (limits.query_timeout_s)"));
  EXPECT_TRUE(HasErrorKind(timed_out->Explain(met), ErrorKind::kTimedOut));
}

}  // namespace call_cancellation_test
}  // namespace arrowport
