#include "arrowport/storage/core/table_gates.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "arrowport/common/call_cancellation.h"
#include "arrowport/common/status_detail.h"

namespace arrowport::storage {
namespace table_gates_test {

using Clock = TableGates::Clock;
using namespace std::chrono_literals;

// Distinct owners (connections, in the server).
int owners[3];
const void* const A = &owners[0];
const void* const B = &owners[1];
const void* const C = &owners[2];

Clock::time_point Soon() { return Clock::now() + 30s; }

// True when `future` is still waiting after a moment (a waiter that should wait).
template <typename T>
bool StillWaiting(std::future<T>& future) {
  return future.wait_for(200ms) == std::future_status::timeout;
}

class TableGatesTest : public ::testing::Test {
 protected:
  std::future<arrow::Result<TablePass>> EnterLater(const std::string& table, TableUse use,
                                                   const void* owner) {
    return std::async(std::launch::async, [this, table, use, owner] {
      return gates_->Enter(table, use, owner, Soon(), nullptr);
    });
  }
  std::shared_ptr<TableGates> gates_ = std::make_shared<TableGates>();
};

TEST_F(TableGatesTest, WritersShareATableAndOtherTablesAreApart) {
  auto a = gates_->Enter("t", TableUse::kWrite, A, Soon(), nullptr);
  auto b = gates_->Enter("T", TableUse::kWrite, B, Soon(), nullptr);  // names ignore case
  auto other = gates_->Enter("u", TableUse::kReshape, C, Soon(), nullptr);
  ASSERT_TRUE(a.ok() && b.ok() && other.ok());
  EXPECT_EQ(gates_->HolderCount("t"), 2u);
  a->Release();
  b->Release();
  other->Release();
  EXPECT_EQ(gates_->HolderCount("t"), 0u);
}

TEST_F(TableGatesTest, AReshapeWaitsForWritersAndNewWritersWaitBehindIt) {
  auto writer = gates_->Enter("t", TableUse::kWrite, A, Soon(), nullptr);
  ASSERT_TRUE(writer.ok());
  auto reshape = EnterLater("t", TableUse::kReshape, B);
  ASSERT_TRUE(StillWaiting(reshape));
  // A new writer is held up by the waiting reshape (else appends would starve it)...
  auto late_writer = EnterLater("t", TableUse::kWrite, C);
  ASSERT_TRUE(StillWaiting(late_writer));
  // ... while the writer already in enters again at once (its own transaction's next
  // statement).
  auto again = gates_->Enter("t", TableUse::kWrite, A, Soon(), nullptr);
  ASSERT_TRUE(again.ok());
  again->Release();
  EXPECT_TRUE(StillWaiting(reshape));
  writer->Release();
  auto reshaping = reshape.get();
  ASSERT_TRUE(reshaping.ok()) << reshaping.status().ToString();
  EXPECT_TRUE(StillWaiting(late_writer));
  reshaping->Release();
  auto written = late_writer.get();
  ASSERT_TRUE(written.ok()) << written.status().ToString();
}

TEST_F(TableGatesTest, ALoneWriterUpgradesAndTwoUpgradersDoNotWaitForEachOther) {
  auto a = gates_->Enter("t", TableUse::kWrite, A, Soon(), nullptr);
  ASSERT_TRUE(a.ok());
  auto alone = gates_->Enter("t", TableUse::kReshape, A, Soon(), nullptr);
  ASSERT_TRUE(alone.ok());  // nobody else holds t
  alone->Release();
  auto b = gates_->Enter("t", TableUse::kWrite, B, Soon(), nullptr);
  ASSERT_TRUE(b.ok());
  auto a_upgrade = EnterLater("t", TableUse::kReshape, A);
  ASSERT_TRUE(StillWaiting(a_upgrade));  // waits for B to leave
  // B asking the same would wait for A forever: refused at once, retryable.
  auto b_upgrade = gates_->Enter("t", TableUse::kReshape, B, Soon(), nullptr);
  ASSERT_FALSE(b_upgrade.ok());
  EXPECT_TRUE(HasErrorKind(b_upgrade.status(), ErrorKind::kRetryableConflict));
  b->Release();
  auto upgraded = a_upgrade.get();
  ASSERT_TRUE(upgraded.ok()) << upgraded.status().ToString();
}

TEST_F(TableGatesTest, AWaitEndsAtItsDeadlineOrCancellationAndFreesTheWritersBehindIt) {
  auto writer = gates_->Enter("t", TableUse::kWrite, A, Soon(), nullptr);
  ASSERT_TRUE(writer.ok());
  auto late_writer = EnterLater("t", TableUse::kWrite, C);
  auto refused = gates_->Enter("t", TableUse::kReshape, B, Clock::now() + 300ms, nullptr);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(HasErrorKind(refused.status(), ErrorKind::kRetryableConflict));
  EXPECT_NE(refused.status().message().find("table 't'"), std::string::npos);
  // The writer held up behind the reshape goes on once it gave up.
  auto written = late_writer.get();
  ASSERT_TRUE(written.ok()) << written.status().ToString();

  auto cancellation = CallCancellation::Make();
  std::thread canceller([&] {
    std::this_thread::sleep_for(200ms);
    cancellation->Cancel(arrow::Status::Cancelled("client gone"));
  });
  auto cancelled = gates_->Enter("t", TableUse::kReshape, B, Soon(), cancellation);
  canceller.join();
  ASSERT_FALSE(cancelled.ok());
  EXPECT_EQ(cancelled.status().message(), "client gone");
  writer->Release();
  written->Release();
  EXPECT_EQ(gates_->HolderCount("t"), 0u);
}

// Issue 64: a change of shape waited 60 s for an abandoned transaction and then said only
// "the transactions writing it"; and nothing told the sessions' sweeper that a writer
// waited for it.
TEST_F(TableGatesTest, AWaitForAHeldTableNamesItsHolderAndTheHolderKnowsItHoldsOthersUp) {
  auto holder = std::make_shared<const TableHolder>(
      TableHolder{"a Flight SQL transaction of user 'ana'", Clock::now() - 42s});
  auto writer = gates_->Enter("t", TableUse::kWrite, A, Soon(), nullptr, holder);
  ASSERT_TRUE(writer.ok());
  EXPECT_FALSE(gates_->HoldsUpOthers(A));
  auto waiting = std::async(std::launch::async, [this] {
    return gates_->Enter("t", TableUse::kReshape, B, Clock::now() + 1s, nullptr);
  });
  bool held_up = false;
  for (int i = 0; i < 100 && !held_up; ++i) {
    held_up = gates_->HoldsUpOthers(A);
    if (!held_up) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(held_up);
  EXPECT_FALSE(gates_->HoldsUpOthers(C));  // holds nothing
  auto refused = waiting.get();
  ASSERT_FALSE(refused.ok());
  const std::string message = refused.status().message();
  EXPECT_NE(message.find("held by a Flight SQL transaction of user 'ana', open 4"),
            std::string::npos)
      << message;
  EXPECT_FALSE(gates_->HoldsUpOthers(A));
}

TEST_F(TableGatesTest, APassMovesAndReleasesOnce) {
  auto entered = gates_->Enter("t", TableUse::kReshape, A, Soon(), nullptr);
  ASSERT_TRUE(entered.ok());
  TablePass moved = std::move(*entered);
  EXPECT_FALSE(*entered);
  EXPECT_TRUE(moved);
  moved = TablePass();  // released by the assignment
  EXPECT_EQ(gates_->HolderCount("t"), 0u);
  auto next = gates_->Enter("t", TableUse::kReshape, B, Clock::now(), nullptr);
  EXPECT_TRUE(next.ok());
}

}  // namespace table_gates_test
}  // namespace arrowport::storage
