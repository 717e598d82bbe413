// How DataFileWriter encodes columns: dictionaries for repetitive values, delta encoding
// for integers whose neighbours differ little, plain for the rest.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "arrow/api.h"
#include "arrowport/test_support/data_file_test_util.h"

namespace arrowport::lake {
namespace data_file_writer_encodings_test {

using testing::DictionaryEncoded;
using testing::ExpectColumnsEqual;
using testing::HasEncoding;
using testing::ReadBack;
using testing::TempDir;
using testing::WriteFile;

TEST(DataFileWriter, OnlyRepetitiveColumnsAreDictionaryEncoded) {
  TempDir dir;
  arrow::Int64Builder ids, small_ints;
  arrow::DoubleBuilder measurements;
  arrow::StringBuilder names, days;
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> real(0, 1000);
  std::uniform_int_distribution<int> thousand(0, 999);
  const int64_t rows = 200000;
  for (int64_t i = 0; i < rows; ++i) {
    (void)ids.Append(i);
    (void)small_ints.Append(thousand(rng));
    (void)measurements.Append(real(rng));
    (void)names.Append("name_" + std::to_string(i));
    (void)days.Append("2024-01-" + std::to_string(10 + i % 20));
  }
  auto schema = arrow::schema({arrow::field("id", arrow::int64()),
                               arrow::field("small", arrow::int64()),
                               arrow::field("measurement", arrow::float64()),
                               arrow::field("name", arrow::utf8()),
                               arrow::field("day", arrow::utf8())});
  auto batch = arrow::RecordBatch::Make(
      schema, rows,
      {ids.Finish().ValueOrDie(), small_ints.Finish().ValueOrDie(),
       measurements.Finish().ValueOrDie(), names.Finish().ValueOrDie(),
       days.Finish().ValueOrDie()});
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  for (int64_t offset = 0; offset < rows; offset += 65536) {
    batches.push_back(batch->Slice(offset, 65536));
  }
  auto written = WriteFile(dir, batches);
  ASSERT_GE(written.metadata->num_row_groups(), 2);
  for (int g = 0; g < written.metadata->num_row_groups(); ++g) {
    auto group = written.metadata->RowGroup(g);
    EXPECT_FALSE(DictionaryEncoded(*group->ColumnChunk(0))) << "id, row group " << g;
    EXPECT_TRUE(DictionaryEncoded(*group->ColumnChunk(1))) << "small, row group " << g;
    EXPECT_FALSE(DictionaryEncoded(*group->ColumnChunk(2))) << "measurement, row group " << g;
    EXPECT_FALSE(DictionaryEncoded(*group->ColumnChunk(3))) << "name, row group " << g;
    EXPECT_TRUE(DictionaryEncoded(*group->ColumnChunk(4))) << "day, row group " << g;
  }
  // The rows read back whole.
  auto back = ReadBack(dir);
  ASSERT_NE(back, nullptr);
  auto expected = arrow::Table::FromRecordBatches({batch}).ValueOrDie();
  EXPECT_TRUE(back->Equals(*expected)) << back->ToString().substr(0, 400);
}

// Unique integers whose neighbours differ little (ids, sequence numbers with nulls, days,
// event times) are delta encoded; unique integers that jump about stay plain, and so does
// a name with a dot (Parquet's dotted paths could name a struct's field too).
TEST(DataFileWriter, IntegersWithNarrowDeltasAreDeltaEncoded) {
  TempDir dir;
  arrow::Int64Builder ids, scattered;
  arrow::Int32Builder sequence;
  arrow::Date32Builder days;
  arrow::TimestampBuilder event_times(arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"),
                                      arrow::default_memory_pool());
  arrow::TimestampBuilder seconds(arrow::timestamp(arrow::TimeUnit::SECOND),
                                  arrow::default_memory_pool());
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<int64_t> jitter(0, 5000);
  const int64_t rows = 200000;
  int64_t t = 1'700'000'000'000'000;
  for (int64_t i = 0; i < rows; ++i) {
    (void)ids.Append(1000 + 3 * i);
    (void)scattered.Append(static_cast<int64_t>(rng()));
    if (i % 10 == 3) {
      (void)sequence.AppendNull();
    } else {
      (void)sequence.Append(static_cast<int32_t>(i));
    }
    (void)days.Append(static_cast<int32_t>(i - 100000));
    t += jitter(rng);
    (void)event_times.Append(t);
    (void)seconds.Append(1'700'000'000 + i * 2);
  }
  auto schema = arrow::schema({arrow::field("id", arrow::int64()),
                               arrow::field("scattered", arrow::int64()),
                               arrow::field("seq.no", arrow::int32()),
                               arrow::field("day", arrow::date32()),
                               arrow::field("event_time", event_times.type()),
                               arrow::field("at", seconds.type())});
  auto batch = arrow::RecordBatch::Make(
      schema, rows,
      {ids.Finish().ValueOrDie(), scattered.Finish().ValueOrDie(),
       sequence.Finish().ValueOrDie(), days.Finish().ValueOrDie(),
       event_times.Finish().ValueOrDie(), seconds.Finish().ValueOrDie()});
  auto written = WriteFile(dir, {batch->Slice(0, 70000), batch->Slice(70000)});
  ASSERT_GE(written.metadata->num_row_groups(), 2);
  const auto kDelta = parquet::Encoding::DELTA_BINARY_PACKED;
  for (int g = 0; g < written.metadata->num_row_groups(); ++g) {
    auto group = written.metadata->RowGroup(g);
    EXPECT_TRUE(HasEncoding(*group->ColumnChunk(0), kDelta)) << "id, row group " << g;
    EXPECT_FALSE(HasEncoding(*group->ColumnChunk(1), kDelta)) << "scattered, group " << g;
    EXPECT_FALSE(DictionaryEncoded(*group->ColumnChunk(1))) << "scattered, group " << g;
    EXPECT_FALSE(HasEncoding(*group->ColumnChunk(2), kDelta)) << "seq.no, row group " << g;
    EXPECT_FALSE(DictionaryEncoded(*group->ColumnChunk(2))) << "seq.no, row group " << g;
    EXPECT_TRUE(HasEncoding(*group->ColumnChunk(3), kDelta)) << "day, row group " << g;
    EXPECT_TRUE(HasEncoding(*group->ColumnChunk(4), kDelta)) << "event_time, group " << g;
    EXPECT_TRUE(HasEncoding(*group->ColumnChunk(5), kDelta)) << "at, row group " << g;
  }
  // Bounds still come from the footer, and the rows read back whole (seconds as the
  // microseconds Parquet stores).
  EXPECT_EQ(written.stats["minValues"]["id"], 1000);
  EXPECT_EQ(written.stats["maxValues"]["id"], 1000 + 3 * (rows - 1));
  auto back = ReadBack(dir);
  ASSERT_NE(back, nullptr);
  ExpectColumnsEqual(*back, *batch);
}

// lake.delta_encodings: false keeps to dictionary and plain encodings (readers older than
// Spark 3.3), whatever the columns hold.
TEST(DataFileWriter, DeltaEncodingsCanBeTurnedOff) {
  TempDir dir;
  arrow::Int64Builder ids;
  arrow::StringBuilder names;
  for (int64_t i = 0; i < 20000; ++i) {
    (void)ids.Append(i);
    (void)names.Append("name_" + std::to_string(1000000 + i));
  }
  auto batch = arrow::RecordBatch::Make(
      arrow::schema({arrow::field("id", arrow::int64()), arrow::field("name", arrow::utf8())}),
      20000, {ids.Finish().ValueOrDie(), names.Finish().ValueOrDie()});
  config::LakeConfig lake;
  lake.delta_encodings = false;
  auto written = WriteFile(dir, {batch}, lake);
  auto group = written.metadata->RowGroup(0);
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(HasEncoding(*group->ColumnChunk(i), parquet::Encoding::PLAIN)) << i;
    EXPECT_FALSE(HasEncoding(*group->ColumnChunk(i), parquet::Encoding::DELTA_BINARY_PACKED));
  }
}

// A sorted int64 column named "a.b" beside a struct a with a string field b: both are
// the Parquet path a.b. Delta encoding the first would have reached the string leaf too,
// which DELTA_BINARY_PACKED cannot encode: the file failed to write.
TEST(DataFileWriter, ADottedNameBesideAStructOfThatPathWrites) {
  TempDir dir;
  arrow::Int64Builder sorted;
  arrow::StringBuilder inner;
  for (int64_t i = 0; i < 20000; ++i) {
    (void)sorted.Append(i);
    (void)inner.Append("v" + std::to_string(i));
  }
  auto inner_array = inner.Finish().ValueOrDie();
  auto a = arrow::StructArray::Make({inner_array}, {arrow::field("b", arrow::utf8())})
               .ValueOrDie();
  auto schema = arrow::schema({arrow::field("a.b", arrow::int64()),
                               arrow::field("a", a->type())});
  auto batch = arrow::RecordBatch::Make(schema, 20000, {sorted.Finish().ValueOrDie(), a});
  auto written = WriteFile(dir, {batch});
  EXPECT_EQ(written.stats["numRecords"], 20000);
  auto back = ReadBack(dir);
  ASSERT_NE(back, nullptr);
  EXPECT_TRUE(back->Equals(*arrow::Table::FromRecordBatches({batch}).ValueOrDie()));
}

}  // namespace data_file_writer_encodings_test
}  // namespace arrowport::lake
