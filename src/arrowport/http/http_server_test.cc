// Unit tests of the pieces under HttpServer: the worker pool and the connection registry.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "arrowport/http/connection_registry.h"
#include "arrowport/http/worker_pool.h"

namespace arrowport::http {
namespace http_server_test {

using namespace std::chrono_literals;

TEST(WorkerPoolTest, EveryQueuedJobGetsAThreadWhileOthersBlock) {
  WorkerPool pool(16, 1s);
  std::mutex mutex;
  std::condition_variable changed;
  int started = 0;
  bool release = false;
  for (int i = 0; i < 16; ++i) {
    ASSERT_TRUE(pool.Submit([&] {
      std::unique_lock<std::mutex> lock(mutex);
      ++started;
      changed.notify_all();
      changed.wait(lock, [&] { return release; });
    }));
  }
  {
    std::unique_lock<std::mutex> lock(mutex);
    // All 16 run at once: none waits behind a blocked one.
    EXPECT_TRUE(changed.wait_for(lock, 5s, [&] { return started == 16; })) << started;
    release = true;
    changed.notify_all();
  }
  pool.Shutdown();
  EXPECT_FALSE(pool.Submit([] {}));
}

TEST(ConnectionRegistryTest, AdmitsUpToTheCapAndStopShutsDownIdleSockets) {
  ConnectionRegistry registry(2);
  int a[2], b[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
  const uint64_t idle = registry.Admit(a[0]);
  const uint64_t busy = registry.Admit(b[0]);
  EXPECT_NE(idle, 0u);
  EXPECT_NE(busy, 0u);
  EXPECT_EQ(registry.Admit(-1), 0u);  // over the cap
  EXPECT_TRUE(registry.SetPhase(busy, ConnectionRegistry::Phase::kActive));
  registry.BeginStop();
  char c;
  EXPECT_EQ(::recv(a[0], &c, 1, MSG_DONTWAIT), 0);  // idle: shut down at once
  EXPECT_LT(::recv(b[0], &c, 1, MSG_DONTWAIT), 0);  // busy: still open
  EXPECT_FALSE(registry.SetPhase(busy, ConnectionRegistry::Phase::kIdle));
  EXPECT_FALSE(registry.WaitUntilEmpty(std::chrono::system_clock::now() + 50ms));
  registry.ShutdownAll();
  EXPECT_EQ(::recv(b[0], &c, 1, MSG_DONTWAIT), 0);
  registry.Remove(idle);
  registry.Remove(busy);
  EXPECT_TRUE(registry.WaitUntilEmpty(std::chrono::system_clock::now()));
  for (int fd : {a[0], a[1], b[0], b[1]}) ::close(fd);
}

TEST(ConnectionRegistryTest, OneAddressHoldsAtMostItsShareAndGetsItBackOnClose) {
  ConnectionRegistry registry(10, 3);
  using Refusal = ConnectionRegistry::Refusal;
  std::vector<uint64_t> held;
  Refusal refusal = Refusal::kBusy;
  for (int i = 0; i < 3; ++i) {
    held.push_back(registry.Admit(-1, "10.0.0.7", &refusal));
    EXPECT_NE(held.back(), 0u);
    EXPECT_EQ(refusal, Refusal::kNone);
  }
  EXPECT_EQ(registry.Admit(-1, "10.0.0.7", &refusal), 0u);
  EXPECT_EQ(refusal, Refusal::kAddress);
  EXPECT_EQ(registry.refused_per_address(), 1u);
  // Other addresses, and connections of no known address, still get in.
  const uint64_t other = registry.Admit(-1, "10.0.0.8", &refusal);
  EXPECT_NE(other, 0u);
  EXPECT_NE(registry.Admit(-1, "", &refusal), 0u);
  registry.Remove(held.front());
  EXPECT_NE(registry.Admit(-1, "10.0.0.7", &refusal), 0u);
  // The total cap still answers busy.
  ConnectionRegistry small(2, 5);
  EXPECT_NE(small.Admit(-1, "a"), 0u);
  EXPECT_NE(small.Admit(-1, "b"), 0u);
  EXPECT_EQ(small.Admit(-1, "c", &refusal), 0u);
  EXPECT_EQ(refusal, Refusal::kBusy);
}

}  // namespace http_server_test
}  // namespace arrowport::http
