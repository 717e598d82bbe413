// Behaviours an outside review asked for, each checked against a real directory store.
#include <gtest/gtest.h>

#include "arrow/api.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/lake/lake_append.h"
#include "arrowport/lake/lake_maintenance.h"
#include "arrowport/test_support/lake_test_util.h"

namespace arrowport::lake {
namespace {

using testing::Batch;
using testing::CountRows;
using testing::OpenTable;
using testing::TempDir;

// A directory store that misbehaves on cue: a put-if-absent of a commit file that lands
// and then answers "already exists" (S3 after a lost answer and a retried PUT), deletes
// that fail (a store that does not answer).
class ScriptedStore : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  arrow::Status PutIfAbsent(const std::string& key,
                            std::shared_ptr<arrow::Buffer> data) override {
    ARROW_RETURN_NOT_OK(inner_->PutIfAbsent(key, std::move(data)));
    if (lose_next_ && key.find(".json") != std::string::npos) {
      lose_next_ = false;
      return objectstore::AlreadyExists(key);
    }
    return arrow::Status::OK();
  }
  arrow::Status Delete(const std::string& key) override {
    ++deletes_;
    if (fail_deletes_) return arrow::Status::IOError("scripted: the store does not answer");
    return inner_->Delete(key);
  }
  bool lose_next_ = false;
  bool fail_deletes_ = false;
  int deletes_ = 0;

 private:
};

// A table (partitioned as `lake` says) on a ScriptedStore in `dir`.
struct ScriptedTable {
  std::shared_ptr<ScriptedStore> store;
  std::shared_ptr<LakeTable> table;
};
ScriptedTable OpenScripted(const TempDir& dir, config::LakeConfig lake = {}) {
  auto store = std::make_shared<ScriptedStore>(
      objectstore::OpenObjectStore(dir.url(), {}).ValueOrDie());
  lake.url = dir.url();
  return {store, std::make_shared<LakeTable>(store, lake)};
}

arrow::Result<int64_t> Append(const std::shared_ptr<LakeTable>& table,
                              const std::shared_ptr<arrow::RecordBatch>& batch,
                              AppendOptions options = {}) {
  return testing::Append(table, {batch}, std::move(options));
}

// A request that ends uncommitted while the store fails stops deleting its files at the
// first failure and leaves the rest to vacuum: each delete waited out its retries at
// s3.timeout_ms, one file after another (a 64-partition request against a hung store
// answered after 14 minutes).
TEST(LakeReview, CleanupStopsAtTheFirstFailingDelete) {
  TempDir dir;
  config::LakeConfig lake;
  lake.partition_by = {"day"};
  auto [store, table] = OpenScripted(dir, lake);
  {
    LakeAppend append(table, {});
    ASSERT_TRUE(append.Start(*Batch(0, 1)->schema()).ok());
    ASSERT_TRUE(append.Write(*Batch(0, 30)).ok());  // three days: three files
    store->fail_deletes_ = true;
  }  // ends without a commit
  EXPECT_EQ(store->deletes_, 1);
  EXPECT_EQ(table->Latest().ValueOrDie()->version, -1);
}

TEST(LakeReview, AnOwnCommitAnsweredAsLostIsStillOurs) {
  TempDir dir;
  auto [store, table] = OpenScripted(dir);
  ASSERT_TRUE(Append(table, Batch(0, 10)).ok());
  store->lose_next_ = true;
  AppendOptions options;
  options.request_id = "r1";
  ASSERT_EQ(Append(table, Batch(10, 10), options).ValueOrDie(), 1);
  // Its files stayed (not deleted as a duplicate's), and were committed once.
  auto snapshot = table->Latest().ValueOrDie();
  EXPECT_EQ(snapshot->version, 1);
  EXPECT_EQ(CountRows(table.get()), 20);
  EXPECT_EQ(snapshot->num_records(), 20);
}

TEST(LakeReview, CompactionWhoseCommitIsAnsweredAsLostKeepsItsFiles) {
  TempDir dir;
  auto [store, table] = OpenScripted(dir);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Append(table, Batch(i * 10, 10)).ok());
  store->lose_next_ = true;
  auto compacted = Compact(table.get()).ValueOrDie();
  EXPECT_EQ(compacted.files_written, 1);
  EXPECT_EQ(CountRows(table.get()), 30);
  EXPECT_EQ(table->Latest().ValueOrDie()->files.size(), 1u);
}

TEST(LakeReview, SeveralPartitionColumnsSplitRowsExactly) {
  TempDir dir;
  config::LakeConfig lake;
  lake.partition_by = {"day", "bucket"};
  auto table = OpenTable(dir, lake);
  auto batch = Batch(0, 60);
  arrow::Int32Builder buckets;
  for (int i = 0; i < 60; ++i) ASSERT_TRUE(buckets.Append(i % 4).ok());
  batch = batch->AddColumn(3, arrow::field("bucket", arrow::int32()),
                           buckets.Finish().ValueOrDie())
              .ValueOrDie();
  ASSERT_TRUE(Append(table, batch).ok());
  auto snapshot = table->Latest().ValueOrDie();
  EXPECT_EQ(snapshot->files.size(), 12u);  // 3 days x 4 buckets
  for (const auto& [path, add] : snapshot->files) {
    EXPECT_EQ(add.num_records, 5) << path;
    EXPECT_NE(path.find("day=" + *add.partition_values.at("day") + "/bucket=" +
                        *add.partition_values.at("bucket") + "/"),
              std::string::npos);
  }
}

TEST(LakeReview, NotNullColumnsRefuseNullsAndNamesIgnoreCase) {
  TempDir dir;
  auto table = OpenTable(dir);
  auto schema = arrow::schema({arrow::field("id", arrow::int64(), /*nullable=*/false),
                               arrow::field("Temp", arrow::float64())});
  arrow::Int64Builder ids;
  arrow::DoubleBuilder temps;
  ASSERT_TRUE(ids.AppendValues(std::vector<int64_t>{1, 2}).ok());
  ASSERT_TRUE(temps.AppendValues(std::vector<double>{1, 2}).ok());
  auto good = arrow::RecordBatch::Make(schema, 2,
                                       {ids.Finish().ValueOrDie(), temps.Finish().ValueOrDie()});
  ASSERT_TRUE(Append(table, good).ok());
  // `temp` is the table's `Temp`; `ID` its `id`: no new column, even under add_columns.
  AppendOptions add;
  add.policy = config::SchemaPolicy::kAddColumns;
  auto lower = arrow::schema({arrow::field("ID", arrow::int64()),
                              arrow::field("temp", arrow::float64())});
  arrow::Int64Builder some_ids;
  arrow::DoubleBuilder some_temps;
  ASSERT_TRUE(some_ids.AppendNull().ok());
  ASSERT_TRUE(some_temps.Append(3).ok());
  auto with_null = arrow::RecordBatch::Make(
      lower, 1, {some_ids.Finish().ValueOrDie(), some_temps.Finish().ValueOrDie()});
  auto refused = Append(table, with_null, add);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(HasErrorKind(refused.status(), ErrorKind::kSchemaMismatch));
  EXPECT_NE(refused.status().message().find("NOT NULL"), std::string::npos);
  arrow::Int64Builder three;
  ASSERT_TRUE(three.Append(3).ok());
  auto fine = arrow::RecordBatch::Make(lower, 1, {three.Finish().ValueOrDie(),
                                                  with_null->column(1)});
  ASSERT_TRUE(Append(table, fine, add).ok());
  EXPECT_EQ(table->Latest().ValueOrDie()->schema->num_fields(), 2);
}

TEST(LakeReview, TimestampNtzUpgradeKeepsImpliedFeatures) {
  TempDir dir;
  auto table = OpenTable(dir);
  ASSERT_TRUE(Append(table, Batch(0, 3)).ok());
  AppendOptions add;
  add.policy = config::SchemaPolicy::kAddColumns;
  auto batch = Batch(3, 2);
  arrow::TimestampBuilder times(arrow::timestamp(arrow::TimeUnit::MICRO),
                                arrow::default_memory_pool());
  ASSERT_TRUE(times.AppendValues(std::vector<int64_t>{1, 2}).ok());
  batch = batch->AddColumn(3, arrow::field("seen", arrow::timestamp(arrow::TimeUnit::MICRO)),
                           times.Finish().ValueOrDie())
              .ValueOrDie();
  ASSERT_TRUE(Append(table, batch, add).ok());
  const auto& protocol = table->Latest().ValueOrDie()->protocol;
  EXPECT_EQ(protocol.min_reader_version, 3);
  EXPECT_EQ(protocol.min_writer_version, 7);
  auto has = [](const std::vector<std::string>& list, const char* f) {
    return std::find(list.begin(), list.end(), f) != list.end();
  };
  EXPECT_TRUE(has(protocol.writer_features, "appendOnly"));
  EXPECT_TRUE(has(protocol.writer_features, "invariants"));
  EXPECT_TRUE(has(protocol.writer_features, "timestampNtz"));
  EXPECT_TRUE(has(protocol.reader_features, "timestampNtz"));
}

TEST(LakeReview, UpkeepLeavesATableItMayNotWriteAlone) {
  TempDir dir;
  config::LakeConfig lake;
  lake.retention_s = 0;
  lake.checkpoint_interval = 1;
  auto table = OpenTable(dir, lake);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Append(table, Batch(i * 10, 10)).ok());
  ASSERT_TRUE(table->store()
                  ->PutIfAbsent("_delta_log/00000000000000000003.json",
                                arrow::Buffer::FromString(
                                    "{\"cdc\":{\"path\":\"_change_data/x.parquet\","
                                    "\"partitionValues\":{},\"size\":1,\"dataChange\":false}}\n"))
                  .ok());
  UpkeepResult result;
  ASSERT_TRUE(Upkeep(table.get(), &result).ok());
  EXPECT_EQ(result.files_compacted, 0);
  EXPECT_FALSE(result.checkpointed);
  EXPECT_EQ(result.files_vacuumed, 0);
  EXPECT_EQ(table->Latest().ValueOrDie()->files.size(), 3u);
}

}  // namespace
}  // namespace arrowport::lake
