#include "arrowport/http/owned_worker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>

namespace arrowport::http {
namespace owned_worker_test {

TEST(OwnedWorkerTest, AnExceptionInTheWorkIsReportedNotFatal) {
  OwnedWorker worker([] { throw std::runtime_error("boom"); }, [] {});
  worker.Join();
  EXPECT_FALSE(worker.status().ok());
  EXPECT_NE(worker.status().message().find("boom"), std::string::npos);
}

TEST(OwnedWorkerTest, LeavingEarlyUnblocksAndJoins) {
  std::mutex mutex;
  std::condition_variable changed;
  bool released = false;
  std::atomic<bool> finished{false};
  try {
    OwnedWorker worker(
        [&] {
          std::unique_lock<std::mutex> lock(mutex);
          changed.wait(lock, [&] { return released; });
          finished = true;
        },
        [&] {
          std::lock_guard<std::mutex> lock(mutex);
          released = true;
          changed.notify_all();
        });
    throw std::runtime_error("the body read failed");  // the handler leaves early
  } catch (const std::runtime_error&) {
  }
  EXPECT_TRUE(finished);  // joined before the scope was left, no std::terminate
}

}  // namespace owned_worker_test
}  // namespace arrowport::http
