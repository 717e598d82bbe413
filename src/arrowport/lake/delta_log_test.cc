#include "arrowport/lake/delta_log.h"

#include <gtest/gtest.h>

#include "arrow/api.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/lake/delta_schema.h"
#include "arrowport/lake/lake_table.h"
#include "arrowport/test_support/lake_test_util.h"

namespace arrowport::lake {
namespace delta_log_test {

TEST(DeltaLog, CommitRoundTripsThroughItsText) {
  CommitActions commit;
  commit.protocol = Protocol{};
  Metadata metadata;
  metadata.id = "id-1";
  metadata.schema_string = ToDeltaSchemaString(*arrow::schema(
      {arrow::field("a", arrow::int64()), arrow::field("day", arrow::utf8())})).ValueOrDie();
  metadata.partition_columns = {"day"};
  commit.metadata = metadata;
  AddFile add;
  add.path = "day=2024%2501/part-1.parquet";
  add.partition_values = {{"day", "2024%01"}};
  add.size = 10;
  add.stats = R"({"numRecords":5})";
  commit.adds.push_back(add);
  commit.txns.push_back({"arrowport:r1", 3, 7});
  commit.txn_id = "t-1";
  auto parsed = ParseCommit(SerializeCommit(commit, 123), 0).ValueOrDie();
  ASSERT_TRUE(parsed.metadata.has_value());
  EXPECT_EQ(parsed.metadata->partition_columns, std::vector<std::string>{"day"});
  ASSERT_EQ(parsed.adds.size(), 1u);
  EXPECT_EQ(parsed.adds[0].num_records, 5);
  EXPECT_EQ(parsed.adds[0].partition_values.at("day"), "2024%01");
  EXPECT_EQ(KeyOfPath(parsed.adds[0].path), "day=2024%01/part-1.parquet");
  EXPECT_EQ(parsed.txns[0].version, 3);
  EXPECT_EQ(parsed.txn_id, "t-1");
  EXPECT_TRUE(parsed.unknown_actions.empty());
}

TEST(DeltaLog, PathsAreUrisOfKeys) {
  EXPECT_EQ(PathOfKey("day=a b%/x.parquet"), "day=a%20b%25/x.parquet");
  EXPECT_EQ(KeyOfPath(PathOfKey("day=a b%/x.parquet")), "day=a b%/x.parquet");
}

TEST(DeltaLog, MalformedLinesAreErrorsNamingTheVersion) {
  auto parsed = ParseCommit("{\"add\": {}}\n", 7);
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("commit 7"), std::string::npos);
  EXPECT_FALSE(ParseCommit("not json\n", 1).ok());
}

TEST(DeltaLog, UnknownActionsAreReadButRefuseWrites) {
  Snapshot snapshot;
  auto commit = ParseCommit(
      "{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":2}}\n"
      "{\"metaData\":{\"id\":\"x\",\"schemaString\":\"{\\\"type\\\":\\\"struct\\\",\\\"fields\\\":[]}\","
      "\"partitionColumns\":[],\"configuration\":{}}}\n"
      "{\"domainMetadata\":{\"domain\":\"d\",\"configuration\":\"{}\",\"removed\":false}}\n",
      0).ValueOrDie();
  ASSERT_TRUE(snapshot.Apply(commit, 0).ok());
  EXPECT_TRUE(snapshot.CheckReadable().ok());
  auto writable = snapshot.CheckWritable();
  ASSERT_FALSE(writable.ok());
  EXPECT_NE(writable.message().find("domainMetadata"), std::string::npos);
}

TEST(DeltaLog, ProtocolFeaturesDecideReadAndWrite) {
  Snapshot snapshot;
  snapshot.protocol = {3, 7, {"deletionVectors"}, {"deletionVectors"}};
  EXPECT_FALSE(snapshot.CheckReadable().ok());
  snapshot.protocol = {3, 7, {"timestampNtz"}, {"timestampNtz", "appendOnly"}};
  EXPECT_TRUE(snapshot.CheckWritable().ok());
  snapshot.protocol = {1, 7, {}, {"generatedColumns"}};
  EXPECT_TRUE(snapshot.CheckReadable().ok());
  EXPECT_FALSE(snapshot.CheckWritable().ok());
  snapshot.protocol = {2, 5, {}, {}};
  snapshot.metadata.configuration["delta.columnMapping.mode"] = "name";
  EXPECT_FALSE(snapshot.CheckReadable().ok());
}

TEST(DeltaSchema, RoundTripsStoredTypes) {
  auto schema = arrow::schema({
      arrow::field("i8", arrow::int8()), arrow::field("i64", arrow::int64(), false),
      arrow::field("f", arrow::float32()), arrow::field("s", arrow::utf8()),
      arrow::field("b", arrow::binary()), arrow::field("d", arrow::date32()),
      arrow::field("ts", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC")),
      arrow::field("ntz", arrow::timestamp(arrow::TimeUnit::MICRO)),
      arrow::field("dec", arrow::decimal128(10, 2)),
      arrow::field("l", arrow::list(arrow::field("element", arrow::int32()))),
      arrow::field("st", arrow::struct_({arrow::field("x", arrow::utf8())})),
  });
  auto text = ToDeltaSchemaString(*schema).ValueOrDie();
  auto back = FromDeltaSchemaString(text).ValueOrDie();
  ASSERT_EQ(back->num_fields(), schema->num_fields());
  for (int i = 0; i < schema->num_fields(); ++i) {
    EXPECT_TRUE(back->field(i)->type()->Equals(*schema->field(i)->type()))
        << back->field(i)->ToString() << " vs " << schema->field(i)->ToString();
    EXPECT_EQ(back->field(i)->nullable(), schema->field(i)->nullable());
  }
  EXPECT_TRUE(HasTimestampNtz(*schema));
}

TEST(DeltaSchema, StoredTypesWidenOrRefuse) {
  EXPECT_TRUE(DeltaStoredType(arrow::uint8(), "c").ValueOrDie()->Equals(*arrow::int16()));
  EXPECT_TRUE(DeltaStoredType(arrow::uint32(), "c").ValueOrDie()->Equals(*arrow::int64()));
  EXPECT_TRUE(DeltaStoredType(arrow::large_utf8(), "c").ValueOrDie()->Equals(*arrow::utf8()));
  EXPECT_TRUE(DeltaStoredType(arrow::dictionary(arrow::int32(), arrow::utf8()), "c")
                  .ValueOrDie()->Equals(*arrow::utf8()));
  EXPECT_TRUE(DeltaStoredType(arrow::timestamp(arrow::TimeUnit::NANO, "Europe/Paris"), "c")
                  .ValueOrDie()->Equals(*arrow::timestamp(arrow::TimeUnit::MICRO, "UTC")));
  auto refused = DeltaStoredType(arrow::uint64(), "big");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("'big'"), std::string::npos);
  EXPECT_FALSE(DeltaStoredType(arrow::time64(arrow::TimeUnit::MICRO), "t").ok());
  EXPECT_FALSE(DeltaStoredType(arrow::duration(arrow::TimeUnit::SECOND), "t").ok());
}

TEST(DeltaLog, CheckpointHoldsTheSnapshot) {
  testing::TempDir dir;
  auto table = testing::OpenTable(dir);
  Snapshot snapshot;
  snapshot.protocol = Protocol{};
  snapshot.metadata.id = "m";
  snapshot.metadata.schema_string =
      ToDeltaSchemaString(*arrow::schema({arrow::field("a", arrow::int64()),
                                          arrow::field("day", arrow::utf8())}))
          .ValueOrDie();
  snapshot.metadata.partition_columns = {"day"};
  CommitActions first;
  first.protocol = snapshot.protocol;
  first.metadata = snapshot.metadata;
  for (int i = 0; i < 3; ++i) {
    AddFile add;
    add.path = "day=d" + std::to_string(i) + "/f" + std::to_string(i) + ".parquet";
    add.partition_values = {{"day", "d" + std::to_string(i)}};
    add.size = 100 + i;
    add.stats = R"({"numRecords":4})";
    first.adds.push_back(add);
    // A reader checks that the files a log adds are there, of the size it gives.
    ASSERT_TRUE(table->store()
                    ->Put(KeyOfPath(add.path),
                          arrow::Buffer::FromString(std::string(static_cast<size_t>(add.size),
                                                                'x')))
                    .ok());
  }
  first.txns.push_back({"arrowport:req", 2, 1});
  ASSERT_TRUE(table->delta_log()->TryCommit(0, first).ok());
  CommitActions second;
  second.removes.push_back({"day=d0/f0.parquet", 5, true, {{"day", "d0"}}, 100});
  ASSERT_TRUE(table->delta_log()->TryCommit(1, second).ok());
  auto latest = table->Latest().ValueOrDie();
  ASSERT_EQ(latest->version, 1);
  ASSERT_TRUE(table->delta_log()->WriteCheckpoint(*latest).ok());

  // A fresh reader starts from the checkpoint and sees the same state.
  auto fresh = testing::OpenTable(dir);
  auto read = fresh->Latest().ValueOrDie();
  EXPECT_EQ(read->version, 1);
  EXPECT_EQ(read->files.size(), 2u);
  EXPECT_EQ(read->tombstones.size(), 1u);
  EXPECT_EQ(read->app_versions.at("arrowport:req"), 2);
  EXPECT_EQ(read->metadata.partition_columns, std::vector<std::string>{"day"});
  EXPECT_EQ(read->files.at("day=d1/f1.parquet").partition_values.at("day"), "d1");
  EXPECT_EQ(read->num_records(), 8);
  EXPECT_EQ(read->commits_since_checkpoint, 0);
}

// Found by a hostile run (issue 35): forged paths were applied, and their table written to.
TEST(DeltaLog, PathsLeavingTheTableOrIntoItsLogAreRefused) {
  for (const char* path : {"../x.parquet", "%2e%2e/x.parquet", "a//b.parquet", "a/./b.parquet",
                           "day=a%00b/x.parquet", "_delta_log/00000000000000000000.json",
                           "x.parquet/"}) {
    for (const bool remove : {false, true}) {
      Snapshot snapshot;
      CommitActions commit;
      if (remove) {
        commit.removes.push_back({path, 1, true, {}, -1});
      } else {
        AddFile add;
        add.path = path;
        commit.adds.push_back(add);
      }
      auto applied = snapshot.Apply(commit, 3);
      ASSERT_FALSE(applied.ok()) << path;
      EXPECT_TRUE(applied.IsInvalid()) << applied.ToString();
      EXPECT_NE(applied.message().find("commit 3"), std::string::npos) << applied.ToString();
      EXPECT_EQ(snapshot.version, -1);  // left as it was
      EXPECT_TRUE(snapshot.files.empty());
    }
  }
  // Hostile-looking names that stay inside are files like any other.
  Snapshot snapshot;
  CommitActions commit;
  for (const char* path : {"day=a%2500b/x.parquet", "day=..%2Fy/x.parquet", "..a/x.parquet"}) {
    AddFile add;
    add.path = path;
    commit.adds.push_back(add);
  }
  ASSERT_TRUE(snapshot.Apply(commit, 0).ok());
  EXPECT_EQ(snapshot.files.size(), 3u);
}

// A log whose adds name files the store does not have is refused for reads and writes
// (the reason kept), until the log moves on.
TEST(DeltaLog, AddsOfMissingFilesRefuseTheTable) {
  testing::TempDir dir;
  auto table = testing::OpenTable(dir);
  CommitActions commit;
  commit.protocol = Protocol{};
  commit.metadata = Metadata{"m", R"({"type":"struct","fields":[]})", {}, {}, 0};
  ASSERT_TRUE(table->delta_log()->TryCommit(0, commit).ok());
  ASSERT_TRUE(table->Latest().ok());
  CommitActions forged;
  AddFile add;
  add.path = "gone.parquet";
  forged.adds.push_back(add);
  ASSERT_TRUE(table->delta_log()->TryCommit(1, forged).ok());
  for (int read = 0; read < 2; ++read) {
    auto latest = table->Latest();
    ASSERT_FALSE(latest.ok());
    EXPECT_TRUE(HasErrorKind(latest.status(), ErrorKind::kTableRefused))
        << latest.status().ToString();
    EXPECT_NE(latest.status().message().find("'gone.parquet', which is not in the store"),
              std::string::npos)
        << latest.status().ToString();
  }
  EXPECT_FALSE(table->refusal().ok());
  EXPECT_EQ(table->Cached()->version, 0);  // the last good snapshot, never served as latest
  // The file arrives and the log moves on: the table is read again.
  ASSERT_TRUE(table->store()->Put("gone.parquet", arrow::Buffer::FromString("x")).ok());
  ASSERT_TRUE(table->delta_log()->TryCommit(2, CommitActions{}).ok());
  auto latest = table->Latest();
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  EXPECT_EQ((*latest)->version, 2);
  EXPECT_TRUE(table->refusal().ok());
}

TEST(DeltaLog, AGapInTheLogIsAnError) {
  testing::TempDir dir;
  auto table = testing::OpenTable(dir);
  CommitActions commit;
  commit.protocol = Protocol{};
  commit.metadata = Metadata{"m", R"({"type":"struct","fields":[]})", {}, {}, 0};
  ASSERT_TRUE(table->delta_log()->TryCommit(0, commit).ok());
  ASSERT_TRUE(table->delta_log()->TryCommit(2, CommitActions{}).ok());
  auto latest = table->Latest();
  ASSERT_FALSE(latest.ok());
  EXPECT_NE(latest.status().message().find("misses version 1"), std::string::npos);
}

}  // namespace delta_log_test
}  // namespace arrowport::lake
