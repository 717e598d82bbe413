#include "arrowport/query/time_text.h"

#include <gtest/gtest.h>

#include <limits>

#include "arrow/array.h"
#include "arrow/builder.h"
#include "arrow/type.h"

namespace arrowport::query {
namespace time_text_test {

TEST(TimeText, InfinityIsDuckDBsWord) {
  const auto date = arrow::date32();
  const auto micros = arrow::timestamp(arrow::TimeUnit::MICRO);
  const auto zoned = arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
  constexpr int64_t kMax64 = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMax32 = std::numeric_limits<int32_t>::max();
  EXPECT_EQ(OwnTimeText(*date, kMax32), "infinity");
  EXPECT_EQ(OwnTimeText(*date, -kMax32), "-infinity");
  EXPECT_EQ(OwnTimeText(*micros, kMax64), "infinity");
  EXPECT_EQ(OwnTimeText(*micros, -kMax64), "-infinity");
  EXPECT_EQ(OwnTimeText(*zoned, kMax64), "infinity");
  for (auto value : {kMax64, -kMax64}) EXPECT_TRUE(NeedsOwnTimeText(*zoned, value));
}

TEST(TimeText, YearsOfAnySizeInArrowsForm) {
  const auto date = arrow::date32();
  EXPECT_EQ(OwnTimeText(*date, 106751981), "294246-12-31");  // DuckDB's last timestamp day
  EXPECT_EQ(OwnTimeText(*date, 2932897), "10000-01-01");
  EXPECT_EQ(OwnTimeText(*date, -719163), "0000-12-31");  // 1 BC
  EXPECT_EQ(OwnTimeText(*date, -735160), "-0043-03-15");  // the Ides of March, 44 BC
  EXPECT_EQ(OwnTimeText(*date, 0), "1970-01-01");
  const auto seconds = arrow::timestamp(arrow::TimeUnit::SECOND);
  // The server runs DuckDB in UTC (TimeZone=UTC, not settable by clients): a time zone's
  // values are UTC times, written with Z as Arrow writes UTC's.
  const auto millis = arrow::timestamp(arrow::TimeUnit::MILLI, "UTC");
  const auto nanos = arrow::timestamp(arrow::TimeUnit::NANO);
  // 10000-01-01 12:00:00.5 and one unit before 0001-01-01.
  EXPECT_EQ(OwnTimeText(*seconds, 253402344000), "10000-01-01 12:00:00");
  EXPECT_EQ(OwnTimeText(*millis, 253402344000500), "10000-01-01 12:00:00.500Z");
  EXPECT_EQ(OwnTimeText(*nanos, -1), "1969-12-31 23:59:59.999999999");
  EXPECT_EQ(OwnTimeText(*seconds, -62135596801), "0000-12-31 23:59:59");
  // The least int64 (any Arrow client may send it): no overflow on the way.
  const auto micros = arrow::timestamp(arrow::TimeUnit::MICRO);
  EXPECT_EQ(OwnTimeText(*micros, std::numeric_limits<int64_t>::min()),
            "-290308-12-21 19:59:05.224192");
  EXPECT_EQ(OwnTimeText(*seconds, std::numeric_limits<int64_t>::min()),
            "-292277022657-01-27 08:29:52");
}

TEST(TimeText, TimesOfDayPastMidnight) {
  const auto micros = arrow::time64(arrow::TimeUnit::MICRO);
  const auto seconds = arrow::time32(arrow::TimeUnit::SECOND);
  const auto nanos = arrow::time64(arrow::TimeUnit::NANO);
  EXPECT_FALSE(NeedsOwnTimeText(*micros, 86399999999));
  EXPECT_TRUE(NeedsOwnTimeText(*micros, 86400000000));  // DuckDB's TIME '24:00:00'
  EXPECT_EQ(OwnTimeText(*micros, 86400000000), "24:00:00.000000");
  EXPECT_EQ(OwnTimeText(*seconds, 90061), "25:01:01");
  EXPECT_EQ(OwnTimeText(*nanos, -1), "-00:00:00.000000001");
  EXPECT_EQ(OwnTimeText(*micros, std::numeric_limits<int64_t>::max()),
            "2562047788:00:54.775807");  // never "infinity": a time has none
}

TEST(TimeText, OnlyWhatArrowCannotWrite) {
  const auto date = arrow::date32();
  const auto micros = arrow::timestamp(arrow::TimeUnit::MICRO);
  EXPECT_FALSE(NeedsOwnTimeText(*date, 0));
  EXPECT_FALSE(NeedsOwnTimeText(*date, -719162));  // 0001-01-01
  EXPECT_FALSE(NeedsOwnTimeText(*date, 2932896));  // 9999-12-31
  EXPECT_TRUE(NeedsOwnTimeText(*date, -719163));
  EXPECT_TRUE(NeedsOwnTimeText(*date, 2932897));
  EXPECT_FALSE(NeedsOwnTimeText(*micros, 253402300799999999));  // 9999-12-31 23:59:59.999999
  EXPECT_TRUE(NeedsOwnTimeText(*micros, 253402300800000000));
  EXPECT_FALSE(NeedsOwnTimeText(*arrow::int64(), std::numeric_limits<int64_t>::max()));
  // Nanoseconds cannot leave 1677..2262: their infinities are ours (and the least int64,
  // no DuckDB value, written right either way).
  const auto nanos = arrow::timestamp(arrow::TimeUnit::NANO);
  EXPECT_FALSE(NeedsOwnTimeText(*nanos, std::numeric_limits<int64_t>::max() - 1));
  EXPECT_EQ(OwnTimeText(*nanos, std::numeric_limits<int64_t>::min()),
            "1677-09-21 00:12:43.145224192");
  EXPECT_TRUE(NeedsOwnTimeText(*nanos, std::numeric_limits<int64_t>::max()));
  EXPECT_TRUE(NeedsOwnTimeText(*nanos, -std::numeric_limits<int64_t>::max()));
}

TEST(TimeText, ColumnsKeepArrowsTextBesideOurs) {
  arrow::Date32Builder builder;
  ASSERT_TRUE(builder.Append(0).ok());
  ASSERT_TRUE(builder.AppendNull().ok());
  ASSERT_TRUE(builder.Append(std::numeric_limits<int32_t>::max()).ok());
  std::shared_ptr<arrow::Array> dates;
  ASSERT_TRUE(builder.Finish(&dates).ok());
  auto text = TimesAsTextWhereNeeded(dates).ValueOrDie();
  ASSERT_EQ(text->type_id(), arrow::Type::STRING);
  const auto& strings = static_cast<const arrow::StringArray&>(*text);
  EXPECT_EQ(strings.GetString(0), "1970-01-01");
  EXPECT_TRUE(strings.IsNull(1));
  EXPECT_EQ(strings.GetString(2), "infinity");
  // Nothing Arrow cannot write: the column itself.
  auto plain = dates->Slice(0, 2);
  EXPECT_EQ(TimesAsTextWhereNeeded(plain).ValueOrDie(), plain);
}

}  // namespace time_text_test
}  // namespace arrowport::query
