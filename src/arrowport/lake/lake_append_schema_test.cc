// What a request's schema makes of a lake table: rows split over several partition
// columns, NOT NULL columns and names matched whatever their case, and the protocol
// features a column type implies.
#include <gtest/gtest.h>

#include "arrow/api.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/lake/lake_append.h"
#include "arrowport/test_support/lake_test_util.h"

namespace arrowport::lake {
namespace lake_append_schema_test {

using testing::Batch;
using testing::OpenTable;
using testing::TempDir;

arrow::Result<int64_t> Append(const std::shared_ptr<LakeTable>& table,
                              const std::shared_ptr<arrow::RecordBatch>& batch,
                              AppendOptions options = {}) {
  return testing::Append(table, {batch}, std::move(options));
}

TEST(LakeAppendSchema, SeveralPartitionColumnsSplitRowsExactly) {
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

TEST(LakeAppendSchema, NotNullColumnsRefuseNullsAndNamesIgnoreCase) {
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

TEST(LakeAppendSchema, TimestampNtzUpgradeKeepsImpliedFeatures) {
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

}  // namespace lake_append_schema_test
}  // namespace arrowport::lake
