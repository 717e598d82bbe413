// A call waiting behind another thread's log read that is stuck on the store (the
// poller's, another call's) stops waiting when it is cancelled (issue 35, item 6); before,
// it waited on the table's mutex for as long as the store held the other read.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "arrowport/common/thread_cancellation.h"
#include "arrowport/test_support/lake_test_util.h"

namespace arrowport::lake {
namespace lake_table_cancel_test {

using testing::Append;
using testing::Batch;
using testing::TempDir;

// A directory store whose listings hang, once armed, until released (a store that stopped
// answering), and which says when one is hanging.
class HangingStore : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  void Arm() {
    std::lock_guard<std::mutex> lock(mutex_);
    armed_ = true;
  }
  void AwaitHanging() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [this] { return hanging_; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mutex_);
    armed_ = false;
    changed_.notify_all();
  }

  arrow::Result<std::vector<objectstore::ObjectInfo>> List(
      const std::string& prefix, const std::string& start_after) override {
    {
      // As S3 does, a hanging request ends once the call it serves is cancelled.
      const auto call = ThreadCancellation::Current().cancellation;
      std::unique_lock<std::mutex> lock(mutex_);
      if (armed_) {
        hanging_ = true;
        changed_.notify_all();
        while (armed_) {
          changed_.wait_for(lock, std::chrono::milliseconds(20));
          if (call != nullptr && call->cancelled()) {
            hanging_ = false;
            return arrow::Status::IOError("abandoned before its answer (",
                                          call->reason().message(), ")");
          }
        }
        hanging_ = false;
      }
    }
    return inner_->List(prefix, start_after);
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool armed_ = false;
  bool hanging_ = false;
};

// A table of one commit (version 0) on a directory store that can be made to hang.
class LakeCancel : public ::testing::Test {
 protected:
  void SetUp() override {
    config::LakeConfig lake;
    lake.url = dir.url();
    store = std::make_shared<HangingStore>(
        objectstore::OpenObjectStore(lake.url, {}).ValueOrDie());
    table = std::make_shared<LakeTable>(store, lake);
    ASSERT_TRUE(Append(table, {Batch(0, 10)}).ok());
  }

  TempDir dir;
  std::shared_ptr<HangingStore> store;
  std::shared_ptr<LakeTable> table;
};

TEST_F(LakeCancel, ACancelledCallStopsWaitingBehindAStuckLogRead) {
  store->Arm();
  std::thread poller([&] { (void)table->Latest(); });  // no call: waits for the store
  store->AwaitHanging();

  auto call = CallCancellation::Make();
  call->Cancel(arrow::Status::Cancelled("the client went away (scripted)"));
  arrow::Status latest;
  {
    ThreadCancellationScope scope(call);
    latest = table->Latest().status();
  }
  EXPECT_TRUE(latest.IsCancelled()) << latest;
  EXPECT_NE(latest.message().find("the client went away (scripted)"), std::string::npos)
      << latest;
  store->Release();
  poller.join();
  // Without a cancelled call, the wait is for the read, which then serves both.
  EXPECT_EQ(table->Latest().ValueOrDie()->version, 0);
}

// The caller leading a shared log read was cancelled, so the read ended with that call's
// reason: a caller waiting on it whose own call goes on must not take that for the store's
// answer (its commit then failed as "store unavailable", its query read the old view).
TEST_F(LakeCancel, AWaiterDoesNotInheritTheCancellationOfTheCallerLeadingTheRead) {
  store->Arm();
  auto leading_call = CallCancellation::Make();
  arrow::Status led;
  std::thread leader([&] {
    ThreadCancellationScope scope(leading_call);
    led = table->Latest().status();
  });
  store->AwaitHanging();
  arrow::Result<std::shared_ptr<const Snapshot>> waited =
      arrow::Status::UnknownError("not run");
  std::thread waiter([&] { waited = table->Latest(); });  // a call that goes on
  // Time for the waiter to join the leader's read (had it not, it reads itself: the
  // outcome asserted below is the same, only the old code's failure would be missed).
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  leading_call->Cancel(arrow::Status::Cancelled("the leader's client went away (scripted)"));
  leader.join();
  EXPECT_FALSE(led.ok());
  store->Release();
  waiter.join();
  ASSERT_TRUE(waited.ok()) << waited.status();
  EXPECT_EQ((*waited)->version, 0);
}

}  // namespace lake_table_cancel_test
}  // namespace arrowport::lake
