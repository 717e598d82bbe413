#include "arrowport/flight/exchange.h"

#include <gtest/gtest.h>

namespace arrowport::flight {
namespace exchange_test {

namespace fl = arrow::flight;

arrow::Result<ExchangeCommand> Parse(const std::string& cmd) {
  return ParseExchangeCommand(fl::FlightDescriptor::Command(cmd));
}

TEST(ExchangeCommandTest, SqlAloneStreamsTheResultBack) {
  auto command = Parse(R"({"sql": "SELECT *, v * 2 AS w FROM input"})");
  ASSERT_TRUE(command.ok());
  EXPECT_EQ(command->sql, "SELECT *, v * 2 AS w FROM input");
  EXPECT_FALSE(command->ingest.has_value());
}

TEST(ExchangeCommandTest, WithAStreamTheRowsLandThroughTheIngestPipeline) {
  auto command = Parse(
      R"({"sql": "SELECT * FROM input", "stream": "s", "mode": "replace", "commit": "per_batch"})");
  ASSERT_TRUE(command.ok()) << command.status().ToString();
  ASSERT_TRUE(command->ingest.has_value());
  EXPECT_EQ(command->ingest->stream, "s");
  EXPECT_EQ(command->ingest->transform, "SELECT * FROM input");
  EXPECT_EQ(command->ingest->mode, ingest::WriteMode::kReplace);
  EXPECT_EQ(command->ingest->commit, config::CommitMode::kPerBatch);
}

TEST(ExchangeCommandTest, EachBatchAnswersBatchesOnly) {
  auto each = Parse(R"({"sql": "SELECT * FROM input", "each_batch": true})");
  ASSERT_TRUE(each.ok());
  EXPECT_TRUE(each->each_batch);
  EXPECT_FALSE(Parse(R"({"sql": "SELECT 1", "each_batch": "yes"})").ok());
  EXPECT_FALSE(Parse(R"({"sql": "SELECT 1", "each_batch": true, "stream": "s"})").ok());
  auto table = Parse(R"({"sql": "SELECT 1", "table": "t"})");
  EXPECT_NE(table.status().message().find("needs \"stream\""), std::string::npos);
}

TEST(ExchangeCommandTest, EverythingElseIsRefusedWithTheReason) {
  for (const char* bad : {"", "SELECT 1", "[]", R"({"sql": 1})", R"({"stream": "s"})",
                          R"({"sql": "  ;"})", R"({"sql": "SELECT 1", "bogus": 1})",
                          R"({"sql": "SELECT 1", "stream": "s; DROP"})",
                          R"({"sql": "SELECT 1", "stream": "s", "transform": "x"})",
                          R"({"sql": "SELECT 1", "stream": "s", "mode": "upsert"})"}) {
    auto command = Parse(bad);
    EXPECT_FALSE(command.ok()) << bad;
    EXPECT_TRUE(command.status().IsInvalid()) << bad << ": " << command.status().ToString();
  }
  auto path = ParseExchangeCommand(fl::FlightDescriptor::Path({"t"}));
  EXPECT_NE(path.status().message().find("CMD descriptor"), std::string::npos);
}

}  // namespace exchange_test
}  // namespace arrowport::flight
