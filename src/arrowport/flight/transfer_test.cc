#include "arrowport/flight/transfer.h"

#include <gtest/gtest.h>

#include "arrowport/common/status_detail.h"
#include "arrowport/flight/transfer_peer.h"

namespace arrowport::flight {
namespace transfer_test {

TEST(TransferPolicyTest, OnlyListedPeersAndTheRefusalNamesTheKey) {
  TransferPolicy policy({});
  auto refused = policy.CheckPeer("10.0.0.5:8815");
  EXPECT_TRUE(HasErrorKind(refused, ErrorKind::kPermissionDenied));
  EXPECT_NE(refused.message().find("transfer.allowed_peers"), std::string::npos);
  EXPECT_NE(refused.message().find("empty"), std::string::npos);
  config::Config::Transfer settings;
  settings.allowed_peers = {"10.0.0.*:8815", "db?.example.com:443"};
  policy.Update(settings);
  EXPECT_TRUE(policy.CheckPeer("10.0.0.5:8815").ok());
  EXPECT_TRUE(policy.CheckPeer("DB1.example.com:443").ok());
  EXPECT_FALSE(policy.CheckPeer("10.0.0.5:8816").ok());
  EXPECT_FALSE(policy.CheckPeer("10.0.1.5:8815").ok());
  EXPECT_FALSE(policy.CheckPeer("db12.example.com:443").ok());
  // A wildcard stands for one label: no name under the allowed addresses slips through.
  EXPECT_FALSE(policy.CheckPeer("10.0.0.1.attacker.example:8815").ok());
  EXPECT_FALSE(policy.CheckPeer("db1.example.com.evil.net:443").ok());
  settings.allowed_peers = {"*.peers.internal:*"};
  policy.Update(settings);
  EXPECT_TRUE(policy.CheckPeer("a.peers.internal:1").ok());
  EXPECT_FALSE(policy.CheckPeer("a.b.peers.internal:1").ok());
}

TEST(TransferPolicyTest, ConfiguredCredentialsByHostPort) {
  config::Config::Transfer settings;
  settings.peers["a:1"] = {"u", "p", "", ""};
  TransferPolicy policy(settings);
  EXPECT_EQ(policy.CredentialsFor("a:1").user, "u");
  EXPECT_EQ(policy.CredentialsFor("a:2").user, "");
}

TEST(PeerAddressTest, GrpcUrlsOnly) {
  auto plain = ParsePeerAddress("grpc://127.0.0.1:8815");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->host_port, "127.0.0.1:8815");
  EXPECT_FALSE(plain->tls);
  auto tls = ParsePeerAddress("grpc+tls://example.com:443");
  ASSERT_TRUE(tls.ok());
  EXPECT_TRUE(tls->tls);
  EXPECT_EQ(tls->host_port, "example.com:443");
  for (const char* bad : {"http://x:1", "grpc+unix:///tmp/s", "grpc://host", "not a url",
                          "file:///etc/passwd", "grpc://user:secret@host:1",
                          "grpc://127.0.0.1%3F.peers.internal:1", "grpc://127.0.0.%31:1",
                          "grpc://host.:1", "grpc://host:1/path", "grpc://host:0",
                          "grpc://host:65536", "grpc://[::1]:1"}) {
    auto address = ParsePeerAddress(bad);
    EXPECT_FALSE(address.ok()) << bad;
    EXPECT_EQ(address.status().message().find("secret"), std::string::npos);
  }
}

TEST(PeerAddressTest, CredentialsAreStringsAndOneKind) {
  EXPECT_FALSE(CredentialsFromJson(nlohmann::json{{"user", 1}}).ok());
  EXPECT_FALSE(CredentialsFromJson(nlohmann::json{{"user", "u"}, {"token", "t"}}).ok());
  auto ok = CredentialsFromJson(nlohmann::json{{"user", "u"}, {"password", "p"}});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->password, "p");
}

}  // namespace transfer_test
}  // namespace arrowport::flight
