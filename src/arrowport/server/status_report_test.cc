// The status report's assembly (StatusReport over a real database and routing): what each
// kind of caller sees.
#include "arrowport/server/status_report.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>
#include <string>

#include "arrowport/ingest/stream_router.h"
#include "arrowport/storage/database/connection.h"
#include "arrowport/storage/database/database.h"

namespace arrowport::server {
namespace status_report_test {

using nlohmann::json;

class StatusReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::DatabaseOptions options;
    options.path = ":memory:";
    database_ = storage::Database::Open(options).ValueOrDie();
    auto conn = database_->Connect().ValueOrDie();
    ASSERT_TRUE(
        conn->Execute("CREATE TABLE readings AS SELECT range AS x FROM range(10)").ok());
    ASSERT_TRUE(conn->Execute("CREATE TABLE payroll (salary BIGINT)").ok());
    config::Config config;
    config.streams["sensors"].target_table = "readings";
    config.streams["salaries"].target_table = "payroll";
    config.streams["orders"].target_table = "orders";
    config.streams["orders"].sink = config::Sink::kLake;
    config.streams["orders"].lake.url = "file:///tmp/orders";
    router_ = std::make_unique<ingest::StreamRouter>(config);

    StatusSources sources;
    sources.database = database_.get();
    sources.database_stats = [] { return storage::DatabaseStats{}; };
    sources.router = router_.get();
    sources.version = "9.9.9";
    sources.auth_enabled = true;
    sources.listeners = [] {
      return std::vector<std::pair<std::string, std::string>>{
          {"flight", "grpc://127.0.0.1:8815"}, {"http", "http://127.0.0.1:8888"},
          {"metrics", ""}};
    };
    sources.lake_states = [] {
      LakeStreamStatus orders;
      orders.state = "refused";
      orders.error = "the Delta table at file:///tmp/orders is refused";
      orders.upkeep.failures = 2;
      orders.upkeep.last_error = "s3 said no";
      return std::map<std::string, LakeStreamStatus>{{"orders", orders}};
    };
    report_ = std::make_unique<StatusReport>(std::move(sources));
  }

  json Report(const Principal* caller) {
    auto text = report_->Json(caller);
    EXPECT_TRUE(text.ok()) << text.status().ToString();
    return text.ok() ? json::parse(*text) : json();
  }

  static std::set<std::string> Names(const json& list, const char* key) {
    std::set<std::string> names;
    for (const auto& entry : list) names.insert(entry[key].get<std::string>());
    return names;
  }

  std::unique_ptr<storage::Database> database_;
  std::unique_ptr<ingest::StreamRouter> router_;
  std::unique_ptr<StatusReport> report_;
};

TEST_F(StatusReportTest, AnAdminSeesTheWholeServer) {
  Principal admin;
  admin.user = "root";
  admin.role = Role::kAdmin;
  const json report = Report(&admin);
  EXPECT_EQ(report["version"], "9.9.9");
  EXPECT_EQ(report["auth"], true);
  EXPECT_EQ(report["listeners"]["flight"], "grpc://127.0.0.1:8815");
  EXPECT_TRUE(report["listeners"]["metrics"].is_null());  // "" = none
  EXPECT_EQ(report["database"]["path"], ":memory:");
  EXPECT_TRUE(report["process"].is_object());
  EXPECT_EQ(Names(report["streams"], "stream"),
            (std::set<std::string>{"orders", "salaries", "sensors"}));
  EXPECT_EQ(Names(report["tables"], "name"), (std::set<std::string>{"payroll", "readings"}));
  EXPECT_TRUE(report["recent_errors"].is_array());
  for (const auto& stream : report["streams"]) {
    if (stream["stream"] != "orders") continue;
    EXPECT_EQ(stream["lake_state"], "refused");
    EXPECT_EQ(stream["lake_error"], "the Delta table at file:///tmp/orders is refused");
    EXPECT_EQ(stream["lake_upkeep"]["failures"], 2);
    EXPECT_EQ(stream["lake_upkeep"]["last_error"], "s3 said no");
  }
  // No caller (authentication off): the same view as an admin's.
  EXPECT_EQ(Report(nullptr)["database"]["path"], ":memory:");
}

TEST_F(StatusReportTest, AReaderOfEverythingSeesNoPathsNoErrorsAndNoOnesCalls) {
  Principal reader;
  reader.user = "ann";
  reader.role = Role::kReader;
  const json report = Report(&reader);
  EXPECT_EQ(report["listeners"]["http"], "http://127.0.0.1:8888");
  EXPECT_TRUE(report["database"].is_object());
  EXPECT_FALSE(report["database"].contains("path"));
  EXPECT_TRUE(report["recent_errors"].is_null());
  EXPECT_EQ(Names(report["tables"], "name"), (std::set<std::string>{"payroll", "readings"}));
  for (const auto& stream : report["streams"]) {
    EXPECT_FALSE(stream.contains("lake_error")) << stream.dump();
    if (stream["stream"] == "orders") {
      EXPECT_EQ(stream["lake_state"], "refused");
      EXPECT_FALSE(stream["lake_upkeep"].contains("last_error"));
    }
  }
}

TEST_F(StatusReportTest, AUserLimitedToATableSeesOnlyItAndNoServerFigures) {
  Principal limited;
  limited.user = "bob";
  limited.role = Role::kWriter;
  limited.tables = {"readings"};
  const json report = Report(&limited);
  EXPECT_TRUE(report["listeners"].is_null());
  EXPECT_TRUE(report["database"].is_null());
  EXPECT_TRUE(report["process"].is_null());
  EXPECT_EQ(Names(report["tables"], "name"), std::set<std::string>{"readings"});
  // Its table's stream, not the others'.
  EXPECT_EQ(Names(report["streams"], "stream"), std::set<std::string>{"sensors"});
  // The storage's state without its paths or DuckDB's messages.
  std::set<std::string> storage_keys;
  for (const auto& [key, value] : report["storage"].items()) storage_keys.insert(key);
  EXPECT_EQ(storage_keys, (std::set<std::string>{"state", "writes"}));

  Principal writer_of_a_stream;
  writer_of_a_stream.user = "carol";
  writer_of_a_stream.role = Role::kWriter;
  writer_of_a_stream.streams = {"salaries"};
  const json theirs = Report(&writer_of_a_stream);
  EXPECT_EQ(Names(theirs["streams"], "stream"), std::set<std::string>{"salaries"});
}

}  // namespace status_report_test
}  // namespace arrowport::server
