#include "arrowport/ingest/write_budget.h"

#include <gtest/gtest.h>

#include <thread>

#include "arrow/api.h"
#include "arrowport/common/status_detail.h"

namespace arrowport::ingest {
namespace write_budget_test {

using namespace std::chrono_literals;

std::shared_ptr<arrow::RecordBatch> Rows(int64_t n) {
  arrow::Int64Builder builder;
  for (int64_t i = 0; i < n; ++i) EXPECT_TRUE(builder.Append(i).ok());
  return arrow::RecordBatch::Make(arrow::schema({arrow::field("x", arrow::int64())}), n,
                                  {builder.Finish().ValueOrDie()});
}

std::shared_ptr<arrow::RecordBatchReader> Batches(int64_t count, int64_t rows) {
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches(count, Rows(rows));
  return arrow::RecordBatchReader::Make(batches, Rows(0)->schema()).ValueOrDie();
}

// Reads `reader` to its end or its first error.
arrow::Status ReadAll(arrow::RecordBatchReader* reader, int64_t* rows) {
  *rows = 0;
  for (;;) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(reader->ReadNext(&batch));
    if (!batch) return arrow::Status::OK();
    *rows += batch->num_rows();
  }
}

TEST(WriteBudgetTest, ProducedRowsUpToFactorTimesSentPlusFloor) {
  WriteLimits limits;
  limits.max_write_factor = 10;
  limits.floor_rows = 100;
  auto budget = WriteBudget::Make(limits, {});
  int64_t rows = 0;
  auto sent = budget->CountSent(Batches(3, 1), /*deadline=*/false);
  ASSERT_TRUE(ReadAll(sent.get(), &rows).ok());
  ASSERT_EQ(rows, 3);
  // 3 rows sent: 10 x 3 + 100 = 130 rows may be made.
  auto ok = budget->CapProduced(Batches(13, 10));
  ASSERT_TRUE(ReadAll(ok.get(), &rows).ok());
  EXPECT_EQ(rows, 130);
  auto over = budget->CapProduced(Batches(1, 1));
  auto st = ReadAll(over.get(), &rows);
  ASSERT_TRUE(HasErrorKind(st, ErrorKind::kWriteLimit)) << st.ToString();
  EXPECT_NE(st.message().find("131 rows from 3 rows"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("limits.max_write_floor_rows (100)"), std::string::npos);
}

TEST(WriteBudgetTest, BytesAreCappedToo) {
  WriteLimits limits;
  limits.max_write_factor = 1;
  limits.floor_bytes = 1000;
  auto budget = WriteBudget::Make(limits, {});
  int64_t rows = 0;
  auto produced = budget->CapProduced(Batches(100, 100));  // 800 bytes each
  auto st = ReadAll(produced.get(), &rows);
  ASSERT_TRUE(HasErrorKind(st, ErrorKind::kWriteLimit)) << st.ToString();
  EXPECT_EQ(rows, 100);  // the first batch fits, the second is past 1,000 bytes
  EXPECT_NE(st.message().find("limits.max_write_floor_bytes"), std::string::npos);
}

TEST(WriteBudgetTest, FirstSentBatchArmsTheDeadlineAndFinishDisarmsIt) {
  CallWatchdog watchdog(10ms);
  auto call = CallCancellation::Make();
  CallContext context;
  context.cancellation = call;
  WriteLimits limits;
  limits.watchdog = &watchdog;
  limits.query_timeout_s = 1;
  auto budget = WriteBudget::Make(limits, context);
  auto sent = budget->CountSent(Batches(1, 1), /*deadline=*/true);
  std::this_thread::sleep_for(1500ms);  // before the first batch: not counted
  EXPECT_FALSE(call->cancelled());
  EXPECT_EQ(watchdog.size(), 0u);
  std::shared_ptr<arrow::RecordBatch> batch;
  ASSERT_TRUE(sent->ReadNext(&batch).ok());
  EXPECT_EQ(watchdog.size(), 1u);
  for (int i = 0; i < 500 && !call->cancelled(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(call->cancelled());
  EXPECT_TRUE(HasErrorKind(call->reason(), ErrorKind::kTimedOut));
  EXPECT_NE(call->reason().message().find("first batch"), std::string::npos);
  budget->Finish();
  EXPECT_EQ(watchdog.size(), 0u);
}

TEST(WriteBudgetTest, FinishedBudgetArmsNothing) {
  CallWatchdog watchdog(10ms);
  CallContext context;
  context.cancellation = CallCancellation::Make();
  WriteLimits limits;
  limits.watchdog = &watchdog;
  limits.query_timeout_s = 1;
  auto budget = WriteBudget::Make(limits, context);
  auto sent = budget->CountSent(Batches(1, 1), /*deadline=*/true);
  budget->Finish();
  std::shared_ptr<arrow::RecordBatch> batch;
  ASSERT_TRUE(sent->ReadNext(&batch).ok());
  EXPECT_EQ(watchdog.size(), 0u);
}

TEST(CallWatchdogStallTest, AWriteWaitingPastItsTimeoutCancelsTheCall) {
  CallWatchdog watchdog(10ms);
  auto call = CallCancellation::Make();
  auto stall = std::make_shared<WriteStall>();
  CallWatchdog::Checks checks;
  checks.stall = stall;
  checks.stall_timeout = 200ms;
  auto watch = watchdog.Add(call, std::move(checks));
  {
    // Writes that each finish in time never cut the call.
    for (int i = 0; i < 10; ++i) {
      WriteStall::Scope waiting(stall.get());
      std::this_thread::sleep_for(50ms);
    }
  }
  EXPECT_FALSE(call->cancelled());
  WriteStall::Scope waiting(stall.get());
  for (int i = 0; i < 300 && !call->cancelled(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(call->cancelled());
  EXPECT_TRUE(HasErrorKind(call->reason(), ErrorKind::kTimedOut));
  EXPECT_NE(call->reason().message().find("limits.write_stall_timeout_s"), std::string::npos);
}

}  // namespace write_budget_test
}  // namespace arrowport::ingest
