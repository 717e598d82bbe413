#include "arrowport/lake/data_file_writer.h"

#include <gtest/gtest.h>
#include <parquet/arrow/reader.h>
#include <parquet/metadata.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "arrow/api.h"
#include "arrow/compute/api_aggregate.h"
#include "arrow/compute/cast.h"
#include "arrowport/test_support/data_file_test_util.h"

namespace arrowport::lake {
namespace data_file_writer_test {

using nlohmann::json;
using testing::TempDir;
using testing::WriteFile;

constexpr int64_t kBatchRows = 100000;  // three batches span three 131,072-row groups

std::shared_ptr<arrow::Schema> StatsSchema() {
  return arrow::schema({arrow::field("i8", arrow::int8()),
                        arrow::field("i16", arrow::int16()),
                        arrow::field("i32", arrow::int32()),
                        arrow::field("i64", arrow::int64()),
                        arrow::field("f32", arrow::float32()),
                        arrow::field("f64", arrow::float64()),
                        arrow::field("s", arrow::utf8()),
                        arrow::field("d", arrow::date32()),
                        arrow::field("ts", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC")),
                        arrow::field("tsn", arrow::timestamp(arrow::TimeUnit::MICRO)),
                        arrow::field("nulls", arrow::int64()),
                        arrow::field("flag", arrow::boolean()),
                        arrow::field("long_max", arrow::utf8()),
                        arrow::field("huge", arrow::utf8())});
}

// Pseudo-random values with nulls and NaNs; batch `b` holds the extremes of some columns
// (the minimum in the last batch, the maximum in the first) so that the file's statistics
// must combine row groups.
std::shared_ptr<arrow::RecordBatch> StatsBatch(int b, std::mt19937_64* rng) {
  arrow::Int8Builder i8;
  arrow::Int16Builder i16;
  arrow::Int32Builder i32;
  arrow::Int64Builder i64, nulls;
  arrow::FloatBuilder f32;
  arrow::DoubleBuilder f64;
  arrow::StringBuilder s, long_max, huge;
  arrow::Date32Builder d;
  arrow::TimestampBuilder ts(arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"),
                             arrow::default_memory_pool());
  arrow::TimestampBuilder tsn(arrow::timestamp(arrow::TimeUnit::MICRO),
                              arrow::default_memory_pool());
  arrow::BooleanBuilder flag;
  std::uniform_int_distribution<int64_t> any(-1000000, 1000000);
  for (int64_t i = 0; i < kBatchRows; ++i) {
    const int64_t v = any(*rng);
    const bool first = b == 0 && i == 5, last = b == 2 && i == kBatchRows - 3;
    const bool null = v % 7 == 0 && !first && !last;
    auto pick = [&](int64_t lo, int64_t hi) { return first ? hi : last ? lo : v; };
    const int8_t small = static_cast<int8_t>(first ? 127 : last ? -128 : v % 100);
    (void)(null ? i8.AppendNull() : i8.Append(small));
    (void)(null ? i16.AppendNull() : i16.Append(static_cast<int16_t>(pick(-32768, 32767))));
    (void)i32.Append(static_cast<int32_t>(pick(-2000000, 2000000)));
    (void)i64.Append(pick(std::numeric_limits<int64_t>::min() + 1,
                          std::numeric_limits<int64_t>::max()));
    (void)(i % 1000 == 1 ? f32.Append(std::nanf("")) : f32.Append(static_cast<float>(v) / 8));
    const double real = static_cast<double>(pick(-5000000, 5000000)) / 3;
    (void)(null ? f64.AppendNull() : f64.Append(real));
    (void)s.Append("k" + std::to_string(pick(-9999999, 9999999)));
    (void)d.Append(static_cast<int32_t>(19000 + v % 1000));
    (void)ts.Append(1700000000000000 + pick(-5000000000123, 5000000000456) * 7);
    (void)tsn.Append(-86400000000 + v * 3);
    (void)nulls.AppendNull();
    (void)flag.Append(v % 2 == 0);
    // A maximum longer than Delta's statistics carry: the column gets none.
    (void)long_max.Append(first ? std::string(80, 'z') : "m" + std::to_string(v % 100));
    // One value larger than Parquet's statistics carry (4 KiB), not an extreme.
    (void)huge.Append(b == 1 && i == 7 ? "m" + std::string(5000, '0')
                                       : "m" + std::to_string(v % 100));
  }
  std::vector<std::shared_ptr<arrow::Array>> columns;
  for (arrow::ArrayBuilder* builder :
       std::initializer_list<arrow::ArrayBuilder*>{&i8, &i16, &i32, &i64, &f32, &f64, &s, &d,
                                                   &ts, &tsn, &nulls, &flag, &long_max,
                                                   &huge}) {
    columns.push_back(builder->Finish().ValueOrDie());
  }
  return arrow::RecordBatch::Make(StatsSchema(), kBatchRows, columns);
}

TEST(DataFileWriter, StatisticsBoundEveryColumnAcrossRowGroups) {
  TempDir dir;
  std::mt19937_64 rng(42);
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  for (int b = 0; b < 3; ++b) batches.push_back(StatsBatch(b, &rng));
  auto written = WriteFile(dir, batches);
  ASSERT_GE(written.metadata->num_row_groups(), 3);
  const json& stats = written.stats;
  EXPECT_EQ(stats["numRecords"], 3 * kBatchRows);
  auto table = arrow::Table::FromRecordBatches(batches).ValueOrDie();
  auto expect_min_max = [&](const std::string& name) {
    SCOPED_TRACE(name);
    auto pair = arrow::compute::MinMax(table->GetColumnByName(name)).ValueOrDie();
    const auto& values = pair.scalar_as<arrow::StructScalar>().value;
    ASSERT_TRUE(stats["minValues"].contains(name)) << stats.dump();
    auto as_json = [](const arrow::Scalar& scalar) -> json {
      switch (scalar.type->id()) {
        case arrow::Type::INT8: return static_cast<const arrow::Int8Scalar&>(scalar).value;
        case arrow::Type::INT16: return static_cast<const arrow::Int16Scalar&>(scalar).value;
        case arrow::Type::INT32: return static_cast<const arrow::Int32Scalar&>(scalar).value;
        case arrow::Type::INT64: return static_cast<const arrow::Int64Scalar&>(scalar).value;
        case arrow::Type::FLOAT: return static_cast<const arrow::FloatScalar&>(scalar).value;
        case arrow::Type::DOUBLE: return static_cast<const arrow::DoubleScalar&>(scalar).value;
        case arrow::Type::STRING:
          return std::string(static_cast<const arrow::StringScalar&>(scalar).view());
        default: return nullptr;
      }
    };
    EXPECT_EQ(stats["minValues"][name], as_json(*values[0]));
    EXPECT_EQ(stats["maxValues"][name], as_json(*values[1]));
  };
  for (const char* name : {"i8", "i16", "i32", "i64", "f64", "s"}) expect_min_max(name);
  // A float column holding NaN states no bounds: readers take NaN as above every number,
  // and bounds without it would let them skip the file (footers state none either).
  EXPECT_FALSE(stats["minValues"].contains("f32")) << stats.dump();
  EXPECT_FALSE(stats["maxValues"].contains("f32")) << stats.dump();
  EXPECT_EQ(stats["minValues"]["i64"], std::numeric_limits<int64_t>::min() + 1);
  EXPECT_EQ(stats["maxValues"]["i64"], std::numeric_limits<int64_t>::max());
  EXPECT_EQ(stats["minValues"]["i16"], -32768);
  // Dates and timestamps in Delta's text (timestamps to the millisecond, widened).
  auto date_min_max = arrow::compute::MinMax(table->GetColumnByName("d")).ValueOrDie();
  const auto& dates = date_min_max.scalar_as<arrow::StructScalar>().value;
  EXPECT_EQ(stats["minValues"]["d"],
            FormatDate(static_cast<const arrow::Date32Scalar&>(*dates[0]).value));
  EXPECT_EQ(stats["maxValues"]["d"],
            FormatDate(static_cast<const arrow::Date32Scalar&>(*dates[1]).value));
  for (const char* name : {"ts", "tsn"}) {
    SCOPED_TRACE(name);
    auto pair = arrow::compute::MinMax(table->GetColumnByName(name)).ValueOrDie();
    const auto& values = pair.scalar_as<arrow::StructScalar>().value;
    const bool utc = std::string(name) == "ts";
    EXPECT_EQ(stats["minValues"][name],
              FormatTimestamp(static_cast<const arrow::TimestampScalar&>(*values[0]).value,
                              TimestampText::kStatsMin, utc));
    EXPECT_EQ(stats["maxValues"][name],
              FormatTimestamp(static_cast<const arrow::TimestampScalar&>(*values[1]).value,
                              TimestampText::kStatsMax, utc));
  }
  EXPECT_EQ(stats["minValues"]["ts"].get<std::string>().back(), 'Z');
  EXPECT_NE(stats["minValues"]["tsn"].get<std::string>().back(), 'Z');
  // A value too long for Parquet's statistics: the bounds, if stated, still hold it.
  if (stats["minValues"].contains("huge")) expect_min_max("huge");
  // No bounds where none can be stated: all null, booleans, a maximum too long for
  // Delta's statistics.
  for (const char* name : {"nulls", "flag", "long_max"}) {
    EXPECT_FALSE(stats["minValues"].contains(name)) << name << ": " << stats.dump();
    EXPECT_FALSE(stats["maxValues"].contains(name)) << name << ": " << stats.dump();
  }
  EXPECT_EQ(stats["nullCount"]["nulls"], 3 * kBatchRows);
  EXPECT_EQ(stats["nullCount"]["i64"], 0);
  EXPECT_EQ(stats["nullCount"]["i8"], table->GetColumnByName("i8")->null_count());
  EXPECT_EQ(stats["nullCount"]["flag"], 0);
}

TEST(DataFileWriter, AColumnOfAllNullsAndNaNsHasNoBounds) {
  TempDir dir;
  arrow::DoubleBuilder values;
  for (int i = 0; i < 1000; ++i) {
    (void)(i % 2 ? values.AppendNull() : values.Append(std::nan("")));
  }
  auto schema = arrow::schema({arrow::field("x", arrow::float64())});
  auto batch = arrow::RecordBatch::Make(schema, 1000, {values.Finish().ValueOrDie()});
  auto written = WriteFile(dir, {batch});
  EXPECT_FALSE(written.stats["minValues"].contains("x")) << written.stats.dump();
  EXPECT_EQ(written.stats["nullCount"]["x"], 500);
}

// Dates and times outside years 1 to 9999 get no bounds (delta-rs panicked reading
// "5881580-07-11"); in-range columns keep theirs.
TEST(DataFileWriter, BoundsOutsideYearsOneTo9999AreLeftOut) {
  TempDir dir;
  arrow::Date32Builder far_days, days;
  arrow::TimestampBuilder far_times(arrow::timestamp(arrow::TimeUnit::MICRO),
                                    arrow::default_memory_pool());
  (void)far_days.AppendValues({std::numeric_limits<int32_t>::min(), 0,
                               std::numeric_limits<int32_t>::max()});
  (void)days.AppendValues({-719162, 0, 2932896});  // 0001-01-01, 1970-01-01, 9999-12-31
  (void)far_times.AppendValues({0, 1, int64_t{253402300800} * 1000000});  // 10000-01-01
  auto schema = arrow::schema({arrow::field("far_days", arrow::date32()),
                               arrow::field("days", arrow::date32()),
                               arrow::field("far_times", far_times.type())});
  auto batch = arrow::RecordBatch::Make(
      schema, 3,
      {far_days.Finish().ValueOrDie(), days.Finish().ValueOrDie(),
       far_times.Finish().ValueOrDie()});
  auto written = WriteFile(dir, {batch});
  EXPECT_FALSE(written.stats["minValues"].contains("far_days")) << written.stats.dump();
  EXPECT_FALSE(written.stats["maxValues"].contains("far_times")) << written.stats.dump();
  EXPECT_EQ(written.stats["minValues"]["days"], "0001-01-01");
  EXPECT_EQ(written.stats["maxValues"]["days"], "9999-12-31");
  EXPECT_EQ(written.stats["nullCount"]["far_days"], 0);
}

}  // namespace data_file_writer_test
}  // namespace arrowport::lake
