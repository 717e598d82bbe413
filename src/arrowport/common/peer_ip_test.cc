#include "arrowport/common/peer_ip.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

namespace arrowport {
namespace peer_ip_test {

TEST(PeerIpTest, WritesIpv4Ipv6AndMappedIpv4) {
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  inet_pton(AF_INET, "10.0.0.7", &v4.sin_addr);
  EXPECT_EQ(PeerIp(reinterpret_cast<sockaddr*>(&v4), sizeof(v4)), "10.0.0.7");
  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "2001:db8::1", &v6.sin6_addr);
  EXPECT_EQ(PeerIp(reinterpret_cast<sockaddr*>(&v6), sizeof(v6)), "2001:db8::1");
  inet_pton(AF_INET6, "::ffff:10.0.0.7", &v6.sin6_addr);
  EXPECT_EQ(PeerIp(reinterpret_cast<sockaddr*>(&v6), sizeof(v6)), "10.0.0.7");
  EXPECT_EQ(PeerIp(reinterpret_cast<sockaddr*>(&v6), 4), "");
  EXPECT_EQ(PeerIpOf(-1), "");
}

}  // namespace peer_ip_test
}  // namespace arrowport
