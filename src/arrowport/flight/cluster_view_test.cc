// The cluster's tickets and endpoints (issue 68): new, so these failed before (no class).
#include <gtest/gtest.h>

#include <set>

#include "arrowport/flight/cluster_view.h"

namespace arrowport::flight {
namespace cluster_view_test {

const std::string kSecret = "0123456789abcdef0123456789abcdef0123456789abcdef";

std::vector<ClusterView::Node> ThreeNodes() {
  return {{"a", "grpc://127.0.0.1:1001", "http://127.0.0.1:2001"},
          {"b", "grpc://127.0.0.1:1002", "http://127.0.0.1:2002"},
          {"c", "grpc+tls://c.example:1003", "https://c.example:2003"}};
}

TEST(ClusterView, ATicketSealedByOneNodeOpensOnEveryNode) {
  auto a = ClusterView::Make(ThreeNodes(), "a", kSecret);
  auto c = ClusterView::Make(ThreeNodes(), "c", "\n" + kSecret + "\n");  // blanks ignored
  ASSERT_TRUE(a.ok() && c.ok());
  const std::string ticket = R"({"table":"events","lake":{"version":7,"part":1,"parts":3}})";
  const std::string sealed = (*a)->Seal(ticket);
  EXPECT_EQ(sealed.rfind(ClusterView::kSealedPrefix, 0), 0u);
  auto opened = (*c)->Open(sealed);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  ASSERT_TRUE(opened->has_value());
  EXPECT_EQ(**opened, ticket);
  auto plain = (*c)->Open(ticket);
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->has_value());
}

TEST(ClusterView, RefusesTicketsItsNodesDidNotMake) {
  auto a = ClusterView::Make(ThreeNodes(), "a", kSecret);
  auto other = ClusterView::Make(ThreeNodes(), "a", kSecret + "-another-cluster");
  ASSERT_TRUE(a.ok() && other.ok());
  const std::string ticket = R"({"table":"events","lake":{"version":7,"part":0,"parts":3}})";
  std::string altered = (*a)->Seal(ticket);
  altered.replace(altered.find("\"part\":0"), 8, "\"part\":2");
  for (const std::string& bad : {(*other)->Seal(ticket), altered,
                                 std::string(ClusterView::kSealedPrefix) + "00:x",
                                 std::string(ClusterView::kSealedPrefix)}) {
    auto opened = (*a)->Open(bad);
    EXPECT_FALSE(opened.ok()) << bad;
  }
  EXPECT_NE((*a)->Open(altered).status().message().find("did not make"), std::string::npos);
}

TEST(ClusterView, SpreadsEndpointsOverAnsweringNodesWithASecondLocation) {
  auto b = ClusterView::Make(ThreeNodes(), "b", kSecret);
  ASSERT_TRUE(b.ok());
  const std::vector<std::string> tickets = {"t0", "t1", "t2", "t3", "t4", "t5"};
  auto endpoints = (*b)->Spread(tickets);
  ASSERT_EQ(endpoints.size(), tickets.size());
  std::vector<std::string> firsts;
  for (size_t i = 0; i < endpoints.size(); ++i) {
    ASSERT_EQ(endpoints[i].locations.size(), 2u);
    EXPECT_NE(endpoints[i].locations[0], endpoints[i].locations[1]);
    firsts.push_back(endpoints[i].locations[0].ToString());
    auto opened = (*b)->Open(endpoints[i].ticket.ticket);
    ASSERT_TRUE(opened.ok() && opened->has_value());
    EXPECT_EQ(**opened, tickets[i]);
  }
  // This node first, then the others in turn: every node serves two of the six.
  EXPECT_EQ(firsts[0], "grpc://127.0.0.1:1002");
  EXPECT_EQ(firsts[1], "grpc+tls://c.example:1003");
  EXPECT_EQ(firsts[2], "grpc://127.0.0.1:1001");
  EXPECT_EQ(std::set<std::string>(firsts.begin(), firsts.end()).size(), 3u);

  // c down: its share goes to the others; alone, a second location is still named.
  (*b)->SetServing(2, false);
  for (const auto& endpoint : (*b)->Spread(tickets)) {
    for (const auto& location : endpoint.locations) {
      EXPECT_NE(location.ToString(), "grpc+tls://c.example:1003");
    }
  }
  (*b)->SetServing(0, false);
  (*b)->SetServing(1, false);  // itself: always counts as answering
  for (const auto& endpoint : (*b)->Spread(tickets)) {
    ASSERT_EQ(endpoint.locations.size(), 2u);
    EXPECT_EQ(endpoint.locations[0].ToString(), "grpc://127.0.0.1:1002");
  }
}

TEST(ClusterView, RefusesAShortSecretAndAStranger) {
  auto short_secret = ClusterView::Make(ThreeNodes(), "a", "too short");
  ASSERT_FALSE(short_secret.ok());
  EXPECT_NE(short_secret.status().message().find("openssl rand"), std::string::npos);
  EXPECT_FALSE(ClusterView::Make(ThreeNodes(), "d", kSecret).ok());
}

}  // namespace cluster_view_test
}  // namespace arrowport::flight
