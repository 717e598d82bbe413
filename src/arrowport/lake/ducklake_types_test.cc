#include "arrowport/lake/ducklake_types.h"

#include <cmath>

#include <gtest/gtest.h>

#include "arrow/api.h"
#include "arrow/util/decimal.h"

namespace arrowport::lake {
namespace ducklake_types_test {

std::shared_ptr<arrow::Scalar> Timestamp(int64_t micros, const std::string& zone) {
  return std::make_shared<arrow::TimestampScalar>(
      micros, arrow::timestamp(arrow::TimeUnit::MICRO, zone));
}

TEST(DuckLakeTypes, ValuesReadAsDuckDBWritesThem) {
  EXPECT_EQ(DuckLakeValueText(arrow::BooleanScalar(true)), "1");
  EXPECT_EQ(DuckLakeValueText(arrow::Int64Scalar(-5)), "-5");
  EXPECT_EQ(DuckLakeValueText(arrow::Date32Scalar(19782)), "2024-02-29");
  EXPECT_EQ(DuckLakeValueText(*Timestamp(1704164645123456, "")), "2024-01-02 03:04:05.123456");
  EXPECT_EQ(DuckLakeValueText(*Timestamp(1704164645000000, "UTC")), "2024-01-02 03:04:05+00");
  EXPECT_EQ(DuckLakeValueText(arrow::DoubleScalar(INFINITY)), "inf");
  EXPECT_FALSE(DuckLakeValueText(arrow::DoubleScalar(NAN)).has_value());
  EXPECT_EQ(DuckLakeValueText(arrow::BinaryScalar(std::string("\x00\xff", 2))), "00FF");
  arrow::Decimal128Scalar tenth(arrow::Decimal128(10), arrow::decimal128(10, 2));
  EXPECT_EQ(DuckLakeValueText(tenth), "0.10");
  // A string with a NUL byte has no bound DuckDB can hold (it writes none either).
  EXPECT_FALSE(DuckLakeValueText(arrow::StringScalar(std::string("a\0b", 3))).has_value());
}

TEST(DuckLakeTypes, LongBoundsAreCutAndStillBound) {
  const std::string value = std::string(300, 'a') + "z";
  auto min = DuckLakeBoundText(arrow::StringScalar(value), false);
  auto max = DuckLakeBoundText(arrow::StringScalar(value), true);
  ASSERT_TRUE(min && max);
  EXPECT_EQ(min->size(), 256u);
  EXPECT_LE(*min, value);
  EXPECT_GT(*max, value);
  EXPECT_EQ(*max, std::string(255, 'a') + "b");
  // Multi-byte characters are never cut in half; all 0x7F..: the bound is unknown.
  const std::string wide(300, '\x7f');
  EXPECT_FALSE(DuckLakeBoundText(arrow::StringScalar(wide), true).has_value());
  std::string umlauts;
  for (int i = 0; i < 200; ++i) umlauts += "\xc3\xbc";
  auto cut = DuckLakeBoundText(arrow::StringScalar(umlauts), false);
  ASSERT_TRUE(cut);
  EXPECT_EQ(cut->size() % 2, 0u);
}

TEST(DuckLakeTypes, TextOfOtherWritersParsesAndCompares) {
  auto parse = [](const std::string& text, std::shared_ptr<arrow::DataType> type) {
    auto parsed = ParseDuckLakeValue(text, type);
    EXPECT_TRUE(parsed.ok()) << text << ": " << parsed.status().ToString();
    return parsed.ValueOr(nullptr);
  };
  auto a = parse("2024-01-02 01:04:05.5+00", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"));
  auto b = parse("2024-01-02 03:04:05+00", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"));
  ASSERT_TRUE(a && b);
  EXPECT_EQ(CompareScalars(*a, *b).ValueOrDie(), -1);
  // Numbers compare as numbers, not as text ("9" > "10" as text).
  auto nine = parse("9", arrow::int64()), ten = parse("10", arrow::int64());
  EXPECT_EQ(CompareScalars(*nine, *ten).ValueOrDie(), -1);
  EXPECT_EQ(CompareScalars(*parse("1e+300", arrow::float64()), *parse("inf", arrow::float64()))
                .ValueOrDie(), -1);
  EXPECT_EQ(CompareScalars(*parse("0", arrow::boolean()), *parse("1", arrow::boolean()))
                .ValueOrDie(), -1);
  EXPECT_EQ(CompareScalars(*parse("00FF", arrow::binary()), *parse("01", arrow::binary()))
                .ValueOrDie(), -1);
  EXPECT_FALSE(ParseDuckLakeValue("0044-03-15 (BC)", arrow::date32()).ok());
}

TEST(DuckLakeTypes, TypeNamesBothWays) {
  EXPECT_EQ(DuckLakeTypeName(*arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"), "t").ValueOrDie(),
            "timestamptz");
  EXPECT_EQ(DuckLakeTypeName(*arrow::decimal128(18, 3), "d").ValueOrDie(), "decimal(18,3)");
  EXPECT_FALSE(DuckLakeTypeName(*arrow::list(arrow::int32()), "l").ok());
  EXPECT_TRUE(ArrowTypeOfDuckLake("DECIMAL(10, 2)").ValueOrDie()->Equals(arrow::decimal128(10, 2)));
  EXPECT_TRUE(ArrowTypeOfDuckLake("timestamp_ns").ValueOrDie()->Equals(
      arrow::timestamp(arrow::TimeUnit::NANO)));
  EXPECT_FALSE(ArrowTypeOfDuckLake("struct").ok());
}

}  // namespace ducklake_types_test
}  // namespace arrowport::lake
