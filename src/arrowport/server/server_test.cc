// The server's wiring, in process: a Server started from a config on free loopback ports
// (real DuckDB, real listeners), looked at through what it wired (no network client).
#include "arrowport/server/server.h"

#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include "arrowport/server/server_impl.h"
#include "arrowport/test_support/loopback_listener.h"

namespace arrowport::server {

// What Server assembled behind its public interface (a friend of Server).
class ServerTestPeer {
 public:
  static config::StreamConfig Route(const Server& server, const std::string& stream) {
    return server.impl_->router->Route(stream);
  }
  static arrow::Status Reload(const Server& server) { return server.impl_->ReloadConfig(); }
  static arrow::Result<std::string> StatusJson(const Server& server,
                                               const Principal* caller) {
    return server.impl_->StatusJson(caller);
  }
};

namespace server_test {

namespace fs = std::filesystem;
using nlohmann::json;

using arrowport::test_support::LoopbackListener;

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Server::Start blocks SIGINT, SIGTERM and SIGHUP on this thread (its signal thread
    // takes them): given back at the end, so later tests and what they fork get them.
    ::pthread_sigmask(SIG_SETMASK, nullptr, &signals_);
    dir_ = fs::path(::testing::TempDir()) /
           ("arrowport_server_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    overrides_.db_path = (dir_ / "server.duckdb").string();
    overrides_.flight_port = 0;
    overrides_.http_port = 0;
  }
  void TearDown() override {
    fs::remove_all(dir_);
    ::pthread_sigmask(SIG_SETMASK, &signals_, nullptr);
  }

  // The config file (the streams' routing), written afresh.
  std::string WriteConfig(const std::string& yaml) {
    const auto path = (dir_ / "arrowport.yaml").string();
    std::ofstream(path, std::ios::trunc) << yaml;
    return path;
  }

  // A server as `arrowport serve` makes one: the file (may be ""), then the overrides.
  arrow::Result<std::unique_ptr<Server>> Start(const std::string& config_path) {
    ServerSetup setup;
    setup.config_path = config_path;
    setup.overrides = overrides_;
    ARROW_ASSIGN_OR_RAISE(setup.config, config::Load(config_path, {}, overrides_));
    return Server::Start(std::move(setup));
  }

  fs::path dir_;
  config::Overrides overrides_;
  sigset_t signals_;
};

TEST_F(ServerTest, StartsOnFreePortsAndItsReadyLineNamesThem) {
  auto server = Start("");
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const int port = (*server)->flight_port();
  EXPECT_GT(port, 0);
  EXPECT_EQ((*server)->flight_uri(), "grpc://127.0.0.1:" + std::to_string(port));
  const std::string http = (*server)->http_uri();
  ASSERT_EQ(http.rfind("http://127.0.0.1:", 0), 0u) << http;
  EXPECT_NE(http, "http://127.0.0.1:0");
  EXPECT_EQ((*server)->ReadyLine(),
            "arrowport ready flight=" + (*server)->flight_uri() + " http=" + http);
  EXPECT_TRUE((*server)->Shutdown().ok());
  EXPECT_TRUE((*server)->Shutdown().ok());  // idempotent
}

TEST_F(ServerTest, AFlightPortInUseFailsBeforeTheDatabaseOpensNamingTheFlag) {
  LoopbackListener held;
  overrides_.flight_port = held.port();
  auto server = Start("");
  ASSERT_FALSE(server.ok());
  const std::string message = server.status().message();
  EXPECT_NE(message.find("port " + std::to_string(held.port()) + " is in use"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("--flight-port"), std::string::npos) << message;
  EXPECT_NE(message.find("ARROWPORT_FLIGHT_PORT"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(*overrides_.db_path)) << "the database opened first";
}

TEST_F(ServerTest, AnHttpPortInUseNamesItsOwnFlag) {
  LoopbackListener held;
  overrides_.http_port = held.port();
  auto server = Start("");
  ASSERT_FALSE(server.ok());
  const std::string message = server.status().message();
  EXPECT_NE(message.find("cannot listen for HTTP"), std::string::npos) << message;
  EXPECT_NE(message.find("--http-port"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(*overrides_.db_path));
}

TEST_F(ServerTest, RoutesTheConfiguredStreams) {
  auto server = Start(WriteConfig(
      "streams:\n  sensors: {target_table: sensor_readings, commit: per_batch}\n"));
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const auto sensors = ServerTestPeer::Route(**server, "sensors");
  EXPECT_EQ(sensors.target_table, "sensor_readings");
  EXPECT_EQ(sensors.commit, config::CommitMode::kPerBatch);
  // A stream nobody configured lands in a table of its own name.
  const auto other = ServerTestPeer::Route(**server, "other");
  EXPECT_EQ(other.target_table, "other");
  EXPECT_EQ(other.commit, config::CommitMode::kPerRequest);
}

TEST_F(ServerTest, AReloadAppliesTheNewRoutingAndABadFileKeepsIt) {
  const auto path = WriteConfig("streams:\n  s: {target_table: first}\n");
  auto server = Start(path);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  ASSERT_EQ(ServerTestPeer::Route(**server, "s").target_table, "first");

  WriteConfig("streams:\n  s: {target_table: second}\n");
  ASSERT_TRUE(ServerTestPeer::Reload(**server).ok());
  EXPECT_EQ(ServerTestPeer::Route(**server, "s").target_table, "second");

  // (The config watcher may reload the same file meanwhile: the outcome is the same.)
  WriteConfig("streams:\n  s: {target_table: third, commit: sometimes}\n");
  const auto rejected = ServerTestPeer::Reload(**server);
  ASSERT_FALSE(rejected.ok());
  EXPECT_NE(rejected.message().find("commit"), std::string::npos) << rejected.message();
  EXPECT_EQ(ServerTestPeer::Route(**server, "s").target_table, "second");
}

TEST_F(ServerTest, AServerStartedWithoutAFileHasNothingToReload) {
  auto server = Start("");
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const auto st = ServerTestPeer::Reload(**server);
  EXPECT_TRUE(st.IsInvalid()) << st.ToString();
  EXPECT_NE(st.message().find("--config"), std::string::npos) << st.message();
}

TEST_F(ServerTest, TheStatusReportNamesItsListenersStreamsAndDatabase) {
  auto server = Start(WriteConfig("streams:\n  sensors: {target_table: sensor_readings}\n"));
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto text = ServerTestPeer::StatusJson(**server, /*caller=*/nullptr);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  const json status = json::parse(*text);
  EXPECT_EQ(status["listeners"]["flight"], (*server)->flight_uri());
  EXPECT_EQ(status["listeners"]["http"], (*server)->http_uri());
  // /metrics on the HTTP port (no metrics listener of its own).
  EXPECT_EQ(status["listeners"]["metrics"], (*server)->http_uri() + "/metrics");
  EXPECT_EQ(status["database"]["path"], *overrides_.db_path);
  EXPECT_EQ(status["auth"], false);
  bool listed = false;
  for (const auto& stream : status["streams"]) {
    if (stream["stream"] == "sensors") {
      listed = true;
      EXPECT_EQ(stream["target_table"], "sensor_readings");
    }
  }
  EXPECT_TRUE(listed) << status["streams"].dump();
}

}  // namespace server_test
}  // namespace arrowport::server
