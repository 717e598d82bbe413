#include "arrowport/flight/put_activity.h"

#include <gtest/gtest.h>

namespace arrowport::flight {
namespace put_activity_test {

using namespace std::chrono_literals;

TEST(PutActivityTest, OnlyTimeSpentWaitingForTheClientIsIdle) {
  PutActivity activity(/*context=*/nullptr);
  const auto t0 = PutActivity::Clock::now();
  EXPECT_EQ(activity.IdleFor(t0 + 10s), PutActivity::Clock::duration::zero());
  activity.BeginWait(t0);
  EXPECT_EQ(activity.IdleFor(t0 + 3s), std::chrono::duration_cast<PutActivity::Clock::duration>(3s));
  activity.EndWait();  // a message arrived: the handler is busy with it, not idle
  EXPECT_EQ(activity.IdleFor(t0 + 100s), PutActivity::Clock::duration::zero());
}

TEST(PutActivityTest, AFinishingCallIsNeverCancelled) {
  PutActivity activity(/*context=*/nullptr);
  EXPECT_FALSE(activity.Cancel());  // no context (detached): nothing to cancel
  EXPECT_FALSE(activity.cancelled());
  activity.Detach();
  EXPECT_FALSE(activity.Cancel());
}

}  // namespace put_activity_test
}  // namespace arrowport::flight
