#include "arrowport/flight/grpc_connections.h"

#include <arrow/flight/api.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace arrowport::flight {
namespace grpc_connections_test {

namespace fl = arrow::flight;

// Waits until the count of open connections to `port` is `expected` (gRPC closes and
// registers sockets on its own threads).
bool CountBecomes(int port, int64_t expected) {
  for (int i = 0; i < 100; ++i) {
    auto open = OpenGrpcConnections(port);
    if (open && *open == expected) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

TEST(GrpcConnectionsTest, CountsTheClientsOfThisServerOnly) {
  fl::FlightServerBase server;
  fl::FlightServerBase other;
  ASSERT_TRUE(server.Init(fl::FlightServerOptions(
                              fl::Location::ForGrpcTcp("127.0.0.1", 0).ValueOrDie()))
                  .ok());
  ASSERT_TRUE(other.Init(fl::FlightServerOptions(
                             fl::Location::ForGrpcTcp("127.0.0.1", 0).ValueOrDie()))
                  .ok());
  EXPECT_TRUE(CountBecomes(server.port(), 0));
  {
    auto first = fl::FlightClient::Connect(
                     fl::Location::ForGrpcTcp("127.0.0.1", server.port()).ValueOrDie())
                     .ValueOrDie();
    auto second = fl::FlightClient::Connect(
                      fl::Location::ForGrpcTcp("127.0.0.1", server.port()).ValueOrDie())
                      .ValueOrDie();
    // A call makes each client connect (gRPC connects lazily).
    (void)first->ListActions();
    (void)second->ListActions();
    EXPECT_TRUE(CountBecomes(server.port(), 2));
    EXPECT_TRUE(CountBecomes(other.port(), 0));
  }
  // (Closing a client in this process does not close its connection at once: gRPC keeps
  // subchannels in a process-wide pool. The e2e tests check a client process leaving.)
  ASSERT_TRUE(server.Shutdown().ok());
  ASSERT_TRUE(other.Shutdown().ok());
}

// Canned channelz answers: two servers, the second with connections on port 8815 over
// three pages (gRPC leaves "end" out of all but the last page).
TEST(GrpcConnectionsTest, PagesThroughEveryAnswer) {
  ChannelzSource source;
  source.servers = [](int64_t start) -> std::string {
    if (start == 0) return R"({"server": [{"ref": {"serverId": "1"}}]})";
    if (start == 2) return R"({"server": [{"ref": {"server_id": "7"}}], "end": true})";
    return "{}";
  };
  source.server_sockets = [](int64_t server, int64_t start) -> std::string {
    if (server == 1) return R"({"end": true})";  // no connection
    if (start == 0) return R"({"socketRef": [{"socketId": "10"}, {"socketId": "11"}]})";
    if (start == 12) return R"({"socket_ref": [{"socket_id": "12"}]})";
    if (start == 13) return R"({"socketRef": [{"socketId": "20"}], "end": true})";
    return R"({"end": true})";
  };
  source.socket = [](int64_t socket) {
    return R"({"socket": {"local": {"tcpip_address": {"ip_address": "fwAAAQ==", "port": 8815}}}})";
  };
  EXPECT_EQ(CountGrpcConnections(source, 8815), 4);
  EXPECT_EQ(CountGrpcConnections(source, 9999), 0);
  source.servers = [](int64_t) { return std::string(R"({"server": [{"ref": {"serverId": []}}]})"); };
  EXPECT_FALSE(CountGrpcConnections(source, 8815).has_value());
}

}  // namespace grpc_connections_test
}  // namespace arrowport::flight
