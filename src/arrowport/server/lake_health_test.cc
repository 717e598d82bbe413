// The lake tables' upkeep as `health` and /healthz show it (issue 35 item 8).

#include "arrowport/server/lake_health.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace arrowport::server {
namespace lake_health_test {

using json = nlohmann::json;

std::vector<query::LakeService::Figures> Tables() {
  query::LakeService::Figures healthy;
  healthy.stream = "metrics";
  healthy.state = query::LakeService::kStateOk;
  query::LakeService::Figures failing;
  failing.stream = "events";
  failing.state = query::LakeService::kStateOk;
  failing.upkeep.failures = 5;
  failing.upkeep.failures_in_a_row = 3;
  failing.upkeep.retry_in_ms = 7001;
  failing.upkeep.last_error = "s3://bucket/events: XMinioStorageFull";
  failing.upkeep.rewrite_limit_bytes = 1024;
  return {healthy, failing};
}

TEST(LakeHealth, NamesTheFailingTableForThoseWhoMaySeeIt) {
  const json health = json::parse(LakeHealthJson(Tables(), /*with_details=*/true));
  EXPECT_EQ(health["state"], "upkeep_failing");
  EXPECT_EQ(health["failing"], 1);
  EXPECT_NE(health["summary"].get<std::string>().find("events: 3 failures in a row, next "
                                                     "try in 8 s: s3://bucket/events"),
            std::string::npos)
      << health.dump();
  ASSERT_EQ(health["tables"].size(), 2u);
  const json& events = health["tables"][1];
  EXPECT_EQ(events["stream"], "events");
  EXPECT_EQ(events["upkeep"]["failures"], 5);
  EXPECT_EQ(events["upkeep"]["failures_in_a_row"], 3);
  EXPECT_EQ(events["upkeep"]["retry_in_s"], 8);
  EXPECT_EQ(events["upkeep"]["rewrite_limit_bytes"], 1024);
  EXPECT_FALSE(health["tables"][0]["upkeep"].contains("last_error"));
}

TEST(LakeHealth, WithoutDetailsSaysTheStateButNoNameOrError) {
  const std::string text = LakeHealthJson(Tables(), /*with_details=*/false);
  const json health = json::parse(text);
  EXPECT_EQ(health["state"], "upkeep_failing");
  EXPECT_EQ(health["failing"], 1);
  EXPECT_FALSE(health.contains("tables"));
  EXPECT_EQ(text.find("events"), std::string::npos) << text;
  EXPECT_EQ(text.find("s3://"), std::string::npos) << text;
}

TEST(LakeHealth, NothingWithoutLakeTablesAndOkWhenUpkeepSucceeds) {
  EXPECT_EQ(LakeHealthJson({}, true), "");
  auto tables = Tables();
  tables[1].upkeep.failures_in_a_row = 0;
  const json health = json::parse(LakeHealthJson(tables, true));
  EXPECT_EQ(health["state"], "ok");
  EXPECT_EQ(health["summary"], "ok");
  EXPECT_EQ(health["tables"][1]["upkeep"]["failures"], 5);
}

}  // namespace lake_health_test
}  // namespace arrowport::server
