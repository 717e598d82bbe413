#include "arrowport/server/peer_connections.h"

#include <poll.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "arrowport/server/descriptor_limit.h"
#include "arrowport/test_support/loopback_listener.h"

namespace arrowport::server {
namespace peer_connections_test {

// A connected TCP socket pair on loopback: {client, accepted}.
std::pair<int, int> Connect(int listener) {
  sockaddr_in address{};
  socklen_t length = sizeof(address);
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
  const int client = ::socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&address), length), 0);
  const int accepted = ::accept(listener, nullptr, nullptr);
  return {client, accepted};
}

class PeerConnectionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (SocketCookie(listener_.fd()) == 0) GTEST_SKIP() << "no SO_COOKIE on this kernel";
  }
  void TearDown() override {
    for (int fd : open_) ::close(fd);
  }
  int Accepted() {
    auto [client, accepted] = Connect(listener_.fd());
    open_.push_back(client);
    return accepted;
  }
  test_support::LoopbackListener listener_{64};
  std::vector<int> open_;
};

TEST_F(PeerConnectionsTest, AnAddressHoldsAtMostItsCapUntilItClosesSome) {
  PeerConnections caps(3);
  std::vector<int> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(Accepted());
    EXPECT_TRUE(caps.Admit(held.back(), "10.0.0.7"));
  }
  const int fourth = Accepted();
  EXPECT_FALSE(caps.Admit(fourth, "10.0.0.7"));
  EXPECT_TRUE(caps.Admit(fourth, "10.0.0.8"));  // another address has its own share
  held.push_back(fourth);
  // A closed connection stops counting; its descriptor number, reused by another
  // socket, does not count for the old one.
  ::close(held[0]);
  const int reused = Accepted();
  EXPECT_TRUE(caps.Admit(reused, "10.0.0.7"));
  EXPECT_FALSE(caps.Admit(Accepted(), "10.0.0.7"));
  // A descriptor reused by a file is not a connection.
  ::close(held[1]);
  const int file = ::open("/dev/null", O_RDONLY);
  EXPECT_TRUE(caps.Admit(Accepted(), "10.0.0.7"));
  ::close(file);
  for (int fd : {held[2], held[3], reused}) ::close(fd);
}

TEST_F(PeerConnectionsTest, AddressesWhoseConnectionsClosedAreForgotten) {
  PeerConnections caps(2);
  for (int i = 0; i < 1100; ++i) {
    const int fd = Accepted();
    ASSERT_TRUE(caps.Admit(fd, "10.1." + std::to_string(i)));
    ::close(fd);
    ::close(open_.back());
    open_.pop_back();
  }
  EXPECT_LT(caps.addresses(), 1024u);
  EXPECT_TRUE(caps.Admit(-1, "10.0.0.1"));  // not a socket: let in, uncounted
}

// The accept hook every listener of the process goes through (gRPC's included) closes a
// connection past its address's share while an AddressCap on the listener's port lives.
TEST_F(PeerConnectionsTest, TheAcceptHookClosesConnectionsPastTheShareOfACappedPort) {
  sockaddr_in address{};
  socklen_t length = sizeof(address);
  ::getsockname(listener_.fd(), reinterpret_cast<sockaddr*>(&address), &length);
  auto accept_all = [&] {
    std::vector<int> accepted;
    for (;;) {
      pollfd ready{listener_.fd(), POLLIN, 0};
      if (::poll(&ready, 1, 200) <= 0) break;
      const int fd = ::accept4(listener_.fd(), nullptr, nullptr, SOCK_NONBLOCK);
      if (fd < 0) continue;  // EAGAIN: the ones queued were all refused
      accepted.push_back(fd);
    }
    return accepted;
  };
  auto connect_many = [&](int count) {
    for (int i = 0; i < count; ++i) {
      const int client = ::socket(AF_INET, SOCK_STREAM, 0);
      ASSERT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&address), length), 0);
      open_.push_back(client);
    }
  };
  std::vector<int> kept;
  {
    AddressCap cap(ntohs(address.sin_port), 2);
    connect_many(5);
    kept = accept_all();
    EXPECT_EQ(kept.size(), 2u);
    EXPECT_EQ(cap.refused(), 3);
    ::close(kept.back());  // one closes: the address may open one more
    kept.pop_back();
    connect_many(2);
    const auto more = accept_all();
    EXPECT_EQ(more.size(), 1u);
    kept.insert(kept.end(), more.begin(), more.end());
  }
  connect_many(3);  // the cap is gone
  const auto free = accept_all();
  EXPECT_EQ(free.size(), 3u);
  for (int fd : kept) ::close(fd);
  for (int fd : free) ::close(fd);
}

}  // namespace peer_connections_test
}  // namespace arrowport::server
