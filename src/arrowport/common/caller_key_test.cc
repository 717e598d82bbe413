#include "arrowport/common/caller_key.h"

#include <gtest/gtest.h>

namespace arrowport {
namespace caller_key_test {

TEST(CallerKeyTest, AuthenticatedUsersAreCountedByName) {
  Principal alice;
  alice.user = "alice";
  EXPECT_EQ(CallerKey(&alice, "ipv4:10.0.0.1:4000"), "user:alice");
}

TEST(CallerKeyTest, AnonymousCallersAreCountedByAddressWithoutPort) {
  Principal anonymous;
  anonymous.user = "anonymous";
  anonymous.anonymous = true;
  EXPECT_EQ(CallerKey(&anonymous, "ipv4:10.0.0.1:4000"), "ip:10.0.0.1");
  EXPECT_EQ(CallerKey(nullptr, "ipv4:10.0.0.1:4001"), "ip:10.0.0.1");
  EXPECT_EQ(CallerKey(nullptr, "ipv6:[::1]:4000"), "ip:::1");
  EXPECT_EQ(CallerKey(nullptr, "ipv6:[fe80::1%eth0]:4000"), "ip:fe80::1%eth0");
  EXPECT_EQ(CallerKey(nullptr, "192.168.1.2"), "ip:192.168.1.2");
  EXPECT_EQ(CallerKey(nullptr, "::1"), "ip:::1");
  EXPECT_EQ(CallerKey(nullptr, "unix:/tmp/s"), "ip:unix:/tmp/s");
}

}  // namespace caller_key_test
}  // namespace arrowport
