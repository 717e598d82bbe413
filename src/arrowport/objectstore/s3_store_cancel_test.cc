// S3 requests to a store that never answers (a socket that accepts connections into its
// backlog and reads nothing: a stopped MinIO looks the same) end at their call's total
// deadline, when their call is cancelled, and when the server stops; before, each
// attempt waited out s3.timeout_ms of stall and ten times that in all.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "arrow/buffer.h"
#include "arrowport/common/thread_cancellation.h"
#include "arrowport/objectstore/s3_store.h"
#include "arrowport/test_support/loopback_listener.h"

namespace arrowport::objectstore {
namespace s3_store_cancel_test {

using Clock = std::chrono::steady_clock;

// Far above what a cancelled request may take, far below one stalled attempt (30 s).
constexpr auto kPrompt = std::chrono::seconds(10);

/// \brief A listening socket nobody accepts from: connections complete (the kernel's
/// backlog), requests are never read, nothing is ever answered.
class SilentStore {
 public:
  std::string endpoint() const { return listener_.endpoint(); }
  /// Blocks until a client has connected (a connection waits in the backlog).
  void AwaitConnection() const {
    pollfd entry{listener_.fd(), POLLIN, 0};
    while (::poll(&entry, 1, -1) <= 0) {
    }
  }

 private:
  test_support::LoopbackListener listener_;
};

S3Settings SettingsFor(const SilentStore& silent) {
  S3Settings settings;
  settings.endpoint = silent.endpoint();
  settings.access_key_id = "key";
  settings.secret_access_key = "secret";
  settings.timeout_ms = 30000;  // one stalled attempt: 30 s
  return settings;
}

std::shared_ptr<S3Store> StoreOn(const S3Settings& settings) {
  auto store = S3Store::Make("lake", "t", settings);
  EXPECT_TRUE(store.ok()) << store.status();
  return *store;
}

TEST(S3Cancel, ACallEndsAtItsTotalDeadlineWhateverItsRetries) {
  SilentStore silent;
  S3Settings settings = SettingsFor(silent);
  settings.call_timeout_ms = 1000;
  auto store = StoreOn(settings);
  const auto start = Clock::now();
  auto got = store->Get("_delta_log/00000000000000000000.json");
  ASSERT_FALSE(got.ok());
  EXPECT_LT(Clock::now() - start, kPrompt);
  EXPECT_TRUE(got.status().IsIOError()) << got.status();
  EXPECT_NE(got.status().message().find("s3.call_timeout_ms"), std::string::npos)
      << got.status();
  EXPECT_NE(got.status().message().find(silent.endpoint()), std::string::npos)
      << got.status();
}

TEST(S3Cancel, ACancelledCallEndsItsStalledTransferAtOnce) {
  SilentStore silent;
  auto store = StoreOn(SettingsFor(silent));
  auto call = CallCancellation::Make();
  std::thread canceller([&] {
    silent.AwaitConnection();  // the request is on its way
    call->Cancel(arrow::Status::Cancelled("the client went away (scripted)"));
  });
  const auto start = Clock::now();
  arrow::Status put;
  {
    ThreadCancellationScope scope(call);
    put = store->PutIfAbsent("_delta_log/00000000000000000001.json",
                             std::make_shared<arrow::Buffer>("{}"));
  }
  canceller.join();
  EXPECT_LT(Clock::now() - start, kPrompt);
  ASSERT_TRUE(put.IsIOError()) << put;
  EXPECT_NE(put.message().find("abandoned before its answer"), std::string::npos) << put;
  EXPECT_NE(put.message().find("the client went away (scripted)"), std::string::npos) << put;
}

TEST(S3Cancel, TheServerStoppingEndsEveryTransferAndStartsNone) {
  SilentStore silent;
  S3Settings settings = SettingsFor(silent);
  settings.stop = CallCancellation::Make();
  auto store = StoreOn(settings);
  std::thread stopper([&] {
    silent.AwaitConnection();
    settings.stop->Cancel(arrow::Status::Cancelled("shutting down (scripted)"));
  });
  // On a thread of its own with no call: background upkeep, DuckDB reading a lake file.
  const auto start = Clock::now();
  auto listed = store->List("_delta_log/");
  stopper.join();
  EXPECT_LT(Clock::now() - start, kPrompt);
  ASSERT_FALSE(listed.ok());
  EXPECT_NE(listed.status().message().find("shutting down (scripted)"), std::string::npos)
      << listed.status();
  // Cleanup after it (a delete, an aborted upload) is not attempted.
  const auto cleanup = Clock::now();
  EXPECT_FALSE(store->Delete("part-0.parquet").ok());
  EXPECT_LT(Clock::now() - cleanup, std::chrono::seconds(1));
}

}  // namespace s3_store_cancel_test
}  // namespace arrowport::objectstore
