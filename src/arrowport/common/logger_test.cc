#include "arrowport/common/logger.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

namespace arrowport {
namespace logger_test {

std::string Capture(Logger* logger, Logger::Level level, std::string_view message,
                    const Logger::Fields& fields = {}) {
  testing::internal::CaptureStderr();
  logger->Log(level, message, fields);
  return testing::internal::GetCapturedStderr();
}

const std::regex kTimestamp(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");

TEST(LoggerTest, ParsesLevelNames) {
  EXPECT_EQ(Logger::ParseLevel("debug"), Logger::Level::kDebug);
  EXPECT_EQ(Logger::ParseLevel("info"), Logger::Level::kInfo);
  EXPECT_EQ(Logger::ParseLevel("warn"), Logger::Level::kWarn);
  EXPECT_EQ(Logger::ParseLevel("error"), Logger::Level::kError);
  EXPECT_EQ(Logger::ParseLevel("warning"), std::nullopt);
  EXPECT_EQ(Logger::ParseLevel("INFO"), std::nullopt);
}

TEST(LoggerTest, DropsLinesBelowTheMinimumLevel) {
  Logger logger(Logger::Format::kText, Logger::Level::kWarn);
  EXPECT_EQ(Capture(&logger, Logger::Level::kInfo, "quiet"), "");
  EXPECT_EQ(Capture(&logger, Logger::Level::kDebug, "quiet"), "");
  EXPECT_NE(Capture(&logger, Logger::Level::kWarn, "loud"), "");
  EXPECT_NE(Capture(&logger, Logger::Level::kError, "loud"), "");
}

TEST(LoggerTest, JsonLineHasTsLevelMsgThenTheFieldsInOrder) {
  Logger logger(Logger::Format::kJson, Logger::Level::kDebug);
  const std::string line = Capture(&logger, Logger::Level::kWarn, "request failed",
                                   {{"path", "/ingest/s"}, {"status", "400"}, {"a", ""}});
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1);
  std::smatch ts;
  ASSERT_TRUE(std::regex_search(line, ts, kTimestamp)) << line;
  EXPECT_EQ(line, "{\"ts\":\"" + ts.str() +
                      "\",\"level\":\"warn\",\"msg\":\"request failed\","
                      "\"path\":\"/ingest/s\",\"status\":\"400\",\"a\":\"\"}\n");
  auto doc = nlohmann::ordered_json::parse(line);
  std::vector<std::string> keys;
  for (const auto& item : doc.items()) keys.push_back(item.key());
  EXPECT_EQ(keys,
            (std::vector<std::string>{"ts", "level", "msg", "path", "status", "a"}));
  EXPECT_EQ(doc["status"], "400");  // field values are strings
}

TEST(LoggerTest, JsonLineStaysValidWhateverTheBytes) {
  Logger logger(Logger::Format::kJson, Logger::Level::kDebug);
  const std::string line =
      Capture(&logger, Logger::Level::kError, "bad \"name\"\n\xff",
              {{"k\"ey\t", "v\\al\x01ue \xc3("}, {"emoji", "\xf0\x9f\x98\x80"}});
  EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1) << "one event, one line";
  auto doc = nlohmann::json::parse(line);  // throws (fails the test) if not valid JSON
  EXPECT_EQ(doc["level"], "error");
  EXPECT_EQ(doc["msg"], "bad \"name\"\n\xef\xbf\xbd");
  EXPECT_EQ(doc["k\"ey\t"], "v\\al\x01ue \xef\xbf\xbd(");
  EXPECT_EQ(doc["emoji"], "\xf0\x9f\x98\x80");
}

TEST(LoggerTest, JsonLineHasOneKeyPerName) {
  // A repeated field name keeps its first place and takes the last value (what a JSON
  // parser made of the duplicate keys written before).
  Logger logger(Logger::Format::kJson);
  auto doc = nlohmann::ordered_json::parse(
      Capture(&logger, Logger::Level::kInfo, "m", {{"n", "1"}, {"x", "y"}, {"n", "2"}}));
  EXPECT_EQ(doc.size(), 5u);
  EXPECT_EQ(doc["n"], "2");
  EXPECT_EQ(std::next(doc.items().begin(), 3).key(), "n");
}

TEST(LoggerTest, TextLineQuotesOnlyValuesThatNeedIt) {
  Logger logger;  // text, info
  const std::string line =
      Capture(&logger, Logger::Level::kInfo, "listening",
              {{"flight", "grpc://0.0.0.0:8815"}, {"note", "two words"}, {"empty", ""},
               {"eq", "a=b"}, {"quote", "say \"hi\""}, {"nl", "x\ny"}});
  std::smatch ts;
  ASSERT_TRUE(std::regex_search(line, ts, kTimestamp)) << line;
  EXPECT_EQ(line, ts.str() +
                      " info listening flight=grpc://0.0.0.0:8815 note=\"two words\" "
                      "empty=\"\" eq=\"a=b\" quote=\"say \\\"hi\\\"\" nl=\"x\\ny\"\n");
}

TEST(LoggerTest, TextLineReplacesInvalidUtf8) {
  Logger logger;
  const std::string line =
      Capture(&logger, Logger::Level::kInfo, "got \xfe",
              {{"raw", "a\xc3"}, {"q", "b \xff"}});
  EXPECT_NE(line.find("got \xef\xbf\xbd raw=a\xef\xbf\xbd q=\"b \xef\xbf\xbd\"\n"),
            std::string::npos)
      << line;
}

}  // namespace logger_test
}  // namespace arrowport
