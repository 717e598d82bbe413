#include "arrowport/common/request_limiter.h"

#include <gtest/gtest.h>

#include <optional>

#include "arrowport/common/rate_bucket.h"
#include "arrowport/common/status_detail.h"

namespace arrowport {
namespace request_limiter_test {

using namespace std::chrono_literals;
using Clock = RateBucket::Clock;

TEST(RateBucketTest, SpendsTheBurstThenRefillsAtTheRate) {
  const auto t0 = Clock::time_point{} + 1000s;
  RateBucket bucket(/*rate=*/2, /*burst=*/3, t0);
  EXPECT_EQ(bucket.TryTake(t0), 0);
  EXPECT_EQ(bucket.TryTake(t0), 0);
  EXPECT_EQ(bucket.TryTake(t0), 0);
  EXPECT_EQ(bucket.TryTake(t0), 1);  // empty: half a second to the next token, said as 1 s
  EXPECT_EQ(bucket.TryTake(t0 + 400ms), 1);
  EXPECT_EQ(bucket.TryTake(t0 + 500ms), 0);  // refilled one token
  EXPECT_FALSE(bucket.Full(t0 + 500ms));
  EXPECT_TRUE(bucket.Full(t0 + 2s));
  // Never more than the burst saved up.
  EXPECT_EQ(bucket.TryTake(t0 + 100s), 0);
  EXPECT_EQ(bucket.TryTake(t0 + 100s), 0);
  EXPECT_EQ(bucket.TryTake(t0 + 100s), 0);
  EXPECT_GT(bucket.TryTake(t0 + 100s), 0);
}

TEST(RateBucketTest, SlowRatesWaitWholeSeconds) {
  const auto t0 = Clock::time_point{} + 1000s;
  RateBucket bucket(/*rate=*/0.1, /*burst=*/1, t0);
  EXPECT_EQ(bucket.TryTake(t0), 0);
  EXPECT_EQ(bucket.TryTake(t0), 10);
  EXPECT_EQ(bucket.TryTake(t0 + 5s), 5);
  EXPECT_EQ(bucket.TryTake(t0 + 10s), 0);
}

TEST(RequestLimiterTest, CapsConcurrentCallsPerUserAndReleasesThem) {
  RequestLimiter::Options options;
  options.max_concurrent = 10;
  options.max_concurrent_per_user = 2;
  RequestLimiter limiter(options);
  auto a1 = limiter.TryAcquire("alice");
  auto a2 = limiter.TryAcquire("alice");
  ASSERT_TRUE(a1.ok() && a2.ok());
  auto a3 = limiter.TryAcquire("alice");
  ASSERT_FALSE(a3.ok());
  EXPECT_TRUE(HasErrorKind(a3.status(), ErrorKind::kRateLimited));
  EXPECT_EQ(GetErrorKind(a3.status())->retry_after_s(), 1);
  EXPECT_NE(a3.status().message().find("limits.max_concurrent_per_user"), std::string::npos);
  // Another caller is not affected.
  auto b1 = limiter.TryAcquire("10.0.0.2");
  ASSERT_TRUE(b1.ok());
  EXPECT_EQ(limiter.in_flight("alice"), 2);
  EXPECT_EQ(limiter.in_flight(), 3);
  { auto released = std::move(*a1); }
  EXPECT_EQ(limiter.in_flight("alice"), 1);
  EXPECT_TRUE(limiter.TryAcquire("alice").ok());
  EXPECT_EQ(limiter.in_flight("alice"), 1);  // the temporary permit ended at once
}

TEST(RequestLimiterTest, TotalCapIsServerBusyWhateverTheUser) {
  RequestLimiter::Options options;
  options.max_concurrent = 2;
  options.max_concurrent_per_user = 5;
  RequestLimiter limiter(options);
  auto a = limiter.TryAcquire("a");
  auto b = limiter.TryAcquire("b");
  auto c = limiter.TryAcquire("c");
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(HasErrorKind(c.status(), ErrorKind::kServerBusy));
  EXPECT_FALSE(HasErrorKind(c.status(), ErrorKind::kRateLimited));
}

TEST(RequestLimiterTest, RateLimitsEachUserWithItsOwnBucket) {
  RequestLimiter::Options options;
  options.requests_per_second_per_user = 1;
  options.burst_per_user = 2;
  RequestLimiter limiter(options);
  const auto t0 = Clock::time_point{} + 1000s;
  EXPECT_TRUE(limiter.TryAcquire("alice", t0).ok());
  EXPECT_TRUE(limiter.TryAcquire("alice", t0).ok());
  auto refused = limiter.TryAcquire("alice", t0);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(HasErrorKind(refused.status(), ErrorKind::kRateLimited));
  EXPECT_EQ(GetErrorKind(refused.status())->retry_after_s(), 1);
  EXPECT_NE(refused.status().message().find("limits.requests_per_second_per_user"),
            std::string::npos);
  EXPECT_TRUE(limiter.TryAcquire("bob", t0).ok());
  EXPECT_TRUE(limiter.TryAcquire("alice", t0 + 1s).ok());
  EXPECT_EQ(limiter.in_flight(), 0);  // refused calls hold nothing
}

TEST(RequestLimiterTest, PermitsOutliveTheLimiter) {
  std::optional<RequestLimiter::Permit> permit;
  {
    RequestLimiter limiter(1);
    auto p = limiter.TryAcquire("x");
    ASSERT_TRUE(p.ok());
    permit.emplace(std::move(*p));
  }
  permit.reset();  // releases into state the limiter no longer owns alone
}

}  // namespace request_limiter_test
}  // namespace arrowport
