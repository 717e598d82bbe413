#include "arrowport/common/call_watchdog.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "arrowport/common/request_limiter.h"
#include "arrowport/common/status_detail.h"

namespace arrowport {
namespace call_watchdog_test {

using namespace std::chrono_literals;

template <typename Predicate>
bool Eventually(Predicate predicate) {
  for (int i = 0; i < 100; ++i) {
    if (predicate()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return predicate();
}

TEST(CallCancellationTest, CancelRunsSubscribedInterruptsOnce) {
  auto call = CallCancellation::Make();
  std::atomic<int> interrupts{0};
  auto subscription = CallCancellation::OnCancel(call, [&] { ++interrupts; });
  EXPECT_FALSE(call->cancelled());
  call->Cancel(arrow::Status::Cancelled("first"));
  call->Cancel(arrow::Status::Cancelled("second"));
  EXPECT_TRUE(call->cancelled());
  EXPECT_EQ(call->reason().message(), "first");
  EXPECT_EQ(interrupts.load(), 1);
  subscription.Reset();
  call->RepeatInterrupts();
  EXPECT_EQ(interrupts.load(), 1);
}

TEST(CallCancellationTest, SubscribingAfterCancelInterruptsAtOnce) {
  auto call = CallCancellation::Make();
  call->Cancel(arrow::Status::Cancelled("gone"));
  int interrupts = 0;
  auto subscription = CallCancellation::OnCancel(call, [&] { ++interrupts; });
  EXPECT_EQ(interrupts, 1);
}

TEST(CallWatchdogTest, CancelsWhenTheClientIsGone) {
  CallWatchdog watchdog(10ms);
  auto call = CallCancellation::Make();
  std::atomic<bool> gone{false};
  auto watch = watchdog.Add(call, [&] { return gone.load(); });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(call->cancelled());
  gone = true;
  EXPECT_TRUE(Eventually([&] { return call->cancelled(); }));
  EXPECT_NE(call->reason().message().find("went away"), std::string::npos);
}

TEST(CallWatchdogTest, CancelsAtTheDeadlineAndRepeatsInterrupts) {
  CallWatchdog watchdog(10ms);
  auto call = CallCancellation::Make();
  std::atomic<int> interrupts{0};
  auto subscription = CallCancellation::OnCancel(call, [&] { ++interrupts; });
  auto watch = watchdog.Add(call, {}, CallWatchdog::Clock::now() + 30ms);
  EXPECT_TRUE(Eventually([&] { return interrupts.load() >= 3; }));
  EXPECT_TRUE(call->reason().IsCancelled());
  watch.Reset();
  EXPECT_EQ(watchdog.size(), 0u);
}

// Shutdown cancels the watched calls and every later one; an invalidated database's
// calls end (its reopen waits for them) while later calls run.
TEST(CallWatchdogTest, CancelAllReachesLaterCallsCancelWatchedDoesNot) {
  for (const bool all : {true, false}) {
    CallWatchdog watchdog(10ms);
    auto running = CallCancellation::Make();
    auto watch = watchdog.Add(running, nullptr);
    const auto reason = arrow::Status::Cancelled("stopping");
    if (all) watchdog.CancelAll(reason); else watchdog.CancelWatched(reason);
    EXPECT_TRUE(running->cancelled());
    auto later = CallCancellation::Make();
    auto later_watch = watchdog.Add(later, nullptr);
    EXPECT_EQ(later->cancelled(), all);
  }
}

TEST(CallWatchdogTest, PredicateNeverRunsAfterItsWatchIsGone) {
  // The predicate points into the call (Flight's ServerCallContext): once the Watch is
  // destroyed the call may be freed, so a poll must not outlive it. Before the fix the
  // watchdog polled a copy of the predicate outside its lock, and a Flight call that
  // ended mid-poll crashed the server (SIGSEGV calling a freed context).
  CallWatchdog watchdog(1ms);
  std::atomic<int> polls_after_reset{0};
  for (int round = 0; round < 20; ++round) {
    auto alive = std::make_shared<std::atomic<bool>>(true);
    std::atomic<bool> polling{false};
    auto watch = watchdog.Add(CallCancellation::Make(), [&, alive] {
      polling = true;
      std::this_thread::sleep_for(5ms);  // a slow poll, caught in the middle
      if (!*alive) ++polls_after_reset;
      return false;
    });
    ASSERT_TRUE(Eventually([&] { return polling.load(); }));
    watch.Reset();
    *alive = false;  // the call is freed here
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(polls_after_reset.load(), 0);
}

TEST(RequestLimiterTest, RefusesBeyondTheLimitWithATypedStatus) {
  RequestLimiter limiter(2);
  auto a = limiter.TryAcquire();
  auto b = limiter.TryAcquire();
  ASSERT_TRUE(a.ok() && b.ok());
  auto c = limiter.TryAcquire();
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(HasErrorKind(c.status(), ErrorKind::kServerBusy));
  { auto released = std::move(*a); }
  EXPECT_TRUE(limiter.TryAcquire().ok());
  EXPECT_EQ(limiter.in_flight(), 1);
}

TEST(StatusDetailTest, KindsAreTypedNotText) {
  auto st = RetryableConflict("anything at all");
  EXPECT_TRUE(HasErrorKind(st, ErrorKind::kRetryableConflict));
  EXPECT_FALSE(HasErrorKind(st, ErrorKind::kSchemaMismatch));
  EXPECT_FALSE(HasErrorKind(arrow::Status::IOError("retryable conflict: x"),
                            ErrorKind::kRetryableConflict));
}

}  // namespace call_watchdog_test
}  // namespace arrowport
