#include "arrowport/ingest/ingest_request.h"

#include <gtest/gtest.h>

namespace arrowport::ingest {
namespace ingest_request_test {

IngestRequest Parse(const std::string& cmd) {
  auto request = ParseDescriptor(/*is_path=*/false, {}, cmd);
  EXPECT_TRUE(request.ok()) << cmd << ": " << request.status().ToString();
  return request.ok() ? *request : IngestRequest{};
}

arrow::Status Refused(const std::string& cmd) {
  auto request = ParseDescriptor(/*is_path=*/false, {}, cmd);
  EXPECT_FALSE(request.ok()) << cmd << " was accepted";
  return request.status();
}

TEST(ParseDescriptorTest, PathNamesTheStreamAndOptionallyTheTable) {
  auto one = ParseDescriptor(true, {"sensors"}, "").ValueOrDie();
  EXPECT_EQ(one.stream, "sensors");
  EXPECT_EQ(one.table, "");
  EXPECT_EQ(one.mode, WriteMode::kAppend);
  EXPECT_FALSE(one.commit.has_value());
  EXPECT_EQ(one.request_id, "");
  auto two = ParseDescriptor(true, {"sensors", "readings_2024"}, "").ValueOrDie();
  EXPECT_EQ(two.stream, "sensors");
  EXPECT_EQ(two.table, "readings_2024");
  // The cmd is ignored for a PATH descriptor.
  EXPECT_EQ(ParseDescriptor(true, {"s"}, R"({"stream": "other"})").ValueOrDie().stream,
            "s");
}

TEST(ParseDescriptorTest, PathOfTheWrongLengthOrWithBadNamesIsRefused) {
  EXPECT_TRUE(ParseDescriptor(true, {}, "").status().IsInvalid());
  EXPECT_TRUE(ParseDescriptor(true, {"a", "b", "c"}, "").status().IsInvalid());
  EXPECT_TRUE(ParseDescriptor(true, {""}, "").status().IsInvalid());
  EXPECT_TRUE(ParseDescriptor(true, {"x; DROP TABLE y"}, "").status().IsInvalid());
  EXPECT_TRUE(ParseDescriptor(true, {"ok", "bad\"table"}, "").status().IsInvalid());
  EXPECT_TRUE(ParseDescriptor(true, {"1starts_with_digit"}, "").status().IsInvalid());
}

TEST(ParseDescriptorTest, CommandJsonCarriesEveryOption) {
  auto request = Parse(R"({"stream": "s", "table": "t", "mode": "replace",
                           "commit": "per_batch", "request_id": "req-42"})");
  EXPECT_EQ(request.stream, "s");
  EXPECT_EQ(request.table, "t");
  EXPECT_EQ(request.mode, WriteMode::kReplace);
  ASSERT_TRUE(request.commit.has_value());
  EXPECT_EQ(*request.commit, config::CommitMode::kPerBatch);
  EXPECT_EQ(request.request_id, "req-42");
  EXPECT_EQ(Parse(R"({"stream": "s", "mode": "create"})").mode, WriteMode::kCreate);
  EXPECT_EQ(*Parse(R"({"stream": "s", "commit": "per_request"})").commit,
            config::CommitMode::kPerRequest);
  // Leading whitespace still reads as JSON; null means "not given".
  auto nulls = Parse(" \n\t{\"stream\": \"s\", \"table\": null, \"mode\": null}");
  EXPECT_EQ(nulls.stream, "s");
  EXPECT_EQ(nulls.table, "");
  EXPECT_EQ(nulls.mode, WriteMode::kAppend);
}

TEST(ParseDescriptorTest, CommandFallsBackToStreamNameThenTable) {
  EXPECT_EQ(Parse(R"({"stream_name": "legacy"})").stream, "legacy");
  EXPECT_EQ(Parse(R"({"stream": "new", "stream_name": "legacy"})").stream, "new");
  auto table_only = Parse(R"({"table": "t"})");
  EXPECT_EQ(table_only.stream, "t");
  EXPECT_EQ(table_only.table, "t");
}

TEST(ParseDescriptorTest, PlainCommandIsAStreamName) {
  EXPECT_EQ(Parse("sensors").stream, "sensors");
  EXPECT_TRUE(Refused("not a name").IsInvalid());
  EXPECT_TRUE(Refused("").IsInvalid());
}

TEST(ParseDescriptorTest, BadCommandsAreRefusedWithTheReason) {
  EXPECT_NE(Refused("{not json").message().find("not valid JSON"), std::string::npos);
  auto unknown = Refused(R"({"stream": "s", "shcema": "x"})");
  EXPECT_NE(unknown.message().find("unknown field 'shcema'"), std::string::npos);
  EXPECT_NE(Refused(R"({"stream": 7})").message().find("'stream' must be a string"),
            std::string::npos);
  EXPECT_NE(Refused(R"({"stream": "s", "mode": "upsert"})").message().find("upsert"),
            std::string::npos);
  EXPECT_NE(Refused(R"({"stream": "s", "commit": "never"})").message().find("never"),
            std::string::npos);
  EXPECT_NE(Refused(R"({"mode": "append"})").message().find("names no stream"),
            std::string::npos);
  EXPECT_TRUE(Refused(R"({"stream": "s", "table": "a.b"})").IsInvalid());
  EXPECT_TRUE(Refused(R"({"stream": "s", "request_id": "has space"})").IsInvalid());
  EXPECT_TRUE(Refused(R"({"stream": "s", "request_id": 5})").IsInvalid());
}

TEST(ValidateRequestIdTest, PrintableAsciiWithoutSpacesUpTo200Characters) {
  EXPECT_TRUE(ValidateRequestId("a").ok());
  EXPECT_TRUE(ValidateRequestId("batch-2024-01-01T00:00:00Z#7~!").ok());
  EXPECT_TRUE(ValidateRequestId(std::string(200, 'x')).ok());
  EXPECT_TRUE(ValidateRequestId("").IsInvalid());
  EXPECT_TRUE(ValidateRequestId(std::string(201, 'x')).IsInvalid());
  // No spaces: keeps per_batch keys "<id> batch <n>" unambiguous.
  EXPECT_TRUE(ValidateRequestId("a b").IsInvalid());
  EXPECT_TRUE(ValidateRequestId("tab\there").IsInvalid());
  EXPECT_TRUE(ValidateRequestId("del\x7f").IsInvalid());
  EXPECT_TRUE(ValidateRequestId("caf\xc3\xa9").IsInvalid());
  EXPECT_TRUE(ValidateRequestId(std::string("nul\0", 4)).IsInvalid());
}

TEST(WriteModeTest, ParsesAndPrintsEachMode) {
  for (auto mode : {WriteMode::kAppend, WriteMode::kCreate, WriteMode::kReplace}) {
    EXPECT_EQ(ParseWriteMode(ToString(mode)).ValueOrDie(), mode);
  }
  EXPECT_TRUE(ParseWriteMode("Append").status().IsInvalid());
}

}  // namespace ingest_request_test
}  // namespace arrowport::ingest
