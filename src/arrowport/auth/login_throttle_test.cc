#include "arrowport/auth/login_throttle.h"

#include <gtest/gtest.h>

#include "arrowport/common/status_detail.h"

namespace arrowport::auth {
namespace {

using namespace std::chrono_literals;

TEST(LoginThrottleTest, AnAddressWithTooManyFailuresWaitsForItsWindow) {
  LoginThrottle throttle(3, 60s);
  const auto t0 = LoginThrottle::Clock::now();
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(throttle.Check("ip:10.0.0.1", t0).ok());
    throttle.Failed("ip:10.0.0.1", t0);
  }
  auto refused = throttle.Check("ip:10.0.0.1", t0 + 10s);
  ASSERT_FALSE(refused.ok());
  ASSERT_NE(GetErrorKind(refused), nullptr);
  EXPECT_EQ(GetErrorKind(refused)->kind(), ErrorKind::kRateLimited);
  EXPECT_EQ(GetErrorKind(refused)->retry_after_s(), 50);
  EXPECT_TRUE(throttle.Check("ip:10.0.0.2", t0 + 10s).ok());  // other addresses unaffected
  EXPECT_TRUE(throttle.Check("ip:10.0.0.1", t0 + 61s).ok());  // the window ended
  throttle.Failed("ip:10.0.0.1", t0 + 61s);                  // a new window starts
  EXPECT_TRUE(throttle.Check("ip:10.0.0.1", t0 + 62s).ok());
}

TEST(LoginThrottleTest, ASuccessfulLoginClearsTheAddress) {
  LoginThrottle throttle(2, 60s);
  const auto t0 = LoginThrottle::Clock::now();
  throttle.Failed("ip:10.0.0.1", t0);
  throttle.Succeeded("ip:10.0.0.1");
  throttle.Failed("ip:10.0.0.1", t0);
  EXPECT_TRUE(throttle.Check("ip:10.0.0.1", t0).ok());
}

}  // namespace
}  // namespace arrowport::auth
