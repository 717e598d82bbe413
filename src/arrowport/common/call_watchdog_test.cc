#include "arrowport/common/call_watchdog.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "arrowport/common/request_limiter.h"
#include "arrowport/common/status_detail.h"

namespace arrowport {
namespace {

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

TEST(CallWatchdogTest, CancelAllCancelsWatchedAndLaterCalls) {
  CallWatchdog watchdog(10ms);
  auto first = CallCancellation::Make();
  auto watch = watchdog.Add(first, {});
  watchdog.CancelAll(arrow::Status::Cancelled("server shutting down"));
  EXPECT_TRUE(first->cancelled());
  auto later = CallCancellation::Make();
  auto later_watch = watchdog.Add(later, {});
  EXPECT_TRUE(later->cancelled());
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

}  // namespace
}  // namespace arrowport
