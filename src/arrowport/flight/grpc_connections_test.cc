#include "arrowport/flight/grpc_connections.h"

#include <arrow/flight/api.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace arrowport::flight {
namespace {

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

}  // namespace
}  // namespace arrowport::flight
