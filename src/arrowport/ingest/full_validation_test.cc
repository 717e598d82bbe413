#include "arrowport/ingest/full_validation.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "arrow/api.h"
#include "arrow/util/bit_util.h"

namespace arrowport::ingest {
namespace full_validation_test {

// A string column of `type` (utf8 or large_utf8) from raw offsets and bytes, unchecked:
// what a client can send.
std::shared_ptr<arrow::Array> Strings(const std::shared_ptr<arrow::DataType>& type,
                                      const std::vector<int64_t>& offsets,
                                      const std::string& bytes,
                                      std::shared_ptr<arrow::Buffer> validity = nullptr,
                                      int64_t null_count = 0) {
  std::shared_ptr<arrow::Buffer> offset_buffer;
  if (type->id() == arrow::Type::LARGE_STRING) {
    offset_buffer = arrow::Buffer::FromVector(offsets);
  } else {
    offset_buffer =
        arrow::Buffer::FromVector(std::vector<int32_t>(offsets.begin(), offsets.end()));
  }
  auto data = arrow::ArrayData::Make(
      type, static_cast<int64_t>(offsets.size()) - 1,
      {std::move(validity), offset_buffer, arrow::Buffer::FromString(bytes)}, null_count);
  return arrow::MakeArray(data);
}

// Both verdicts, Arrow's and ours, for a column: they must agree.
void ExpectSameVerdict(const arrow::Array& column, bool valid) {
  EXPECT_EQ(column.ValidateFull().ok(), valid) << column.ToString();
  auto ours = ValidateColumnFull(column);
  EXPECT_EQ(ours.ok(), valid) << ours.ToString();
  if (!valid) EXPECT_EQ(ours.message(), column.ValidateFull().message());
}

using StringType = std::shared_ptr<arrow::DataType>;
class FullValidation : public ::testing::TestWithParam<StringType> {};

TEST_P(FullValidation, AcceptsValidText) {
  // ASCII, 2-, 3- and 4-byte characters, an empty value.
  const std::string text = "ab\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";
  ExpectSameVerdict(*Strings(GetParam(), {0, 2, 4, 4, 7, 11}, text), true);
  ExpectSameVerdict(*Strings(GetParam(), {0}, ""), true);
  ExpectSameVerdict(*Strings(GetParam(), {0, 0, 0}, ""), true);
}

TEST_P(FullValidation, RefusesBadBytesInAValue) {
  ExpectSameVerdict(*Strings(GetParam(), {0, 2, 4}, "ab\xFF" "c"), false);
  ExpectSameVerdict(*Strings(GetParam(), {0, 3}, "a\xC3("), false);  // truncated pair
  ExpectSameVerdict(*Strings(GetParam(), {0, 2}, "\xC0\x80"), false);  // overlong NUL
  ExpectSameVerdict(*Strings(GetParam(), {0, 3}, "\xED\xA0\x80"), false);  // surrogate
}

TEST_P(FullValidation, RefusesACharacterSplitBetweenValues) {
  // The bytes together are valid UTF-8 ("é" = C3 A9), each value alone is not.
  ExpectSameVerdict(*Strings(GetParam(), {0, 2, 3}, "a\xC3\xA9"), false);
  ExpectSameVerdict(*Strings(GetParam(), {0, 1, 3}, "\xE2\x82\xAC"), false);
}

TEST_P(FullValidation, BadOffsetsAreArrowsError) {
  ExpectSameVerdict(*Strings(GetParam(), {0, 5}, "abc"), false);     // past the data
  ExpectSameVerdict(*Strings(GetParam(), {0, 2, 1}, "abc"), false);  // decreasing
  ExpectSameVerdict(*Strings(GetParam(), {-1, 2}, "abc"), false);    // negative
}

TEST_P(FullValidation, BytesUnderANullAreNotChecked) {
  // Value 1 is null and holds invalid bytes: valid Arrow (Arrow reads only values).
  auto validity = arrow::Buffer::FromString(std::string(1, '\x05'));  // 1, 0, 1
  ExpectSameVerdict(*Strings(GetParam(), {0, 1, 2, 3}, "a\xFF" "c", validity, 1), true);
  // ...but a null does not excuse a bad value next to it.
  ExpectSameVerdict(*Strings(GetParam(), {0, 1, 2, 3}, "\xFF\xFF" "c", validity, 1),
                    false);
}

TEST_P(FullValidation, SlicesCheckOnlyTheirValues) {
  auto column = Strings(GetParam(), {0, 1, 2, 3, 4}, "\xFF" "bc\xFF");
  ExpectSameVerdict(*column, false);
  ExpectSameVerdict(*column->Slice(1, 2), true);
  ExpectSameVerdict(*column->Slice(1, 3), false);
  ExpectSameVerdict(*column->Slice(2, 0), true);
}

INSTANTIATE_TEST_SUITE_P(StringTypes, FullValidation,
                         ::testing::Values(arrow::utf8(), arrow::large_utf8()),
                         [](const auto& info) { return info.param->name(); });

TEST(FullValidationOtherTypes, AreArrowsOwnVerdict) {
  // A list of strings keeps Arrow's whole check, nested UTF-8 included.
  auto values = Strings(arrow::utf8(), {0, 1, 2}, "a\xFF");
  auto offsets = arrow::Buffer::FromVector(std::vector<int32_t>{0, 2});
  auto list = arrow::MakeArray(arrow::ArrayData::Make(
      arrow::list(arrow::utf8()), 1, {nullptr, offsets}, {values->data()}, 0));
  ExpectSameVerdict(*list, false);
  auto ints = arrow::MakeArray(arrow::ArrayData::Make(
      arrow::int64(), 4, {nullptr, arrow::Buffer::FromString("tooshort")}, 0));
  ExpectSameVerdict(*ints, false);
}

// Found by a hostile run: timestamp[s] 10^15 was stored, and its first ::VARCHAR
// invalidated the database. Seconds and milliseconds past DuckDB's microseconds are
// refused, at any depth; the edge itself, nulls over bad values and nanoseconds pass.
TEST(MicrosRange, SecondsAndMillisecondsPastDuckDBsRangeAreRefused) {
  auto column = [](std::shared_ptr<arrow::DataType> type, std::vector<int64_t> values,
                   std::vector<bool> valid = {}) {
    auto data = arrow::ArrayData::Make(type, static_cast<int64_t>(values.size()),
                                       {nullptr, arrow::Buffer::FromVector(values)}, 0);
    if (!valid.empty()) {
      auto bitmap = arrow::AllocateEmptyBitmap(static_cast<int64_t>(valid.size())).ValueOrDie();
      for (size_t i = 0; i < valid.size(); ++i) {
        if (valid[i]) arrow::bit_util::SetBit(bitmap->mutable_data(), static_cast<int64_t>(i));
      }
      data->buffers[0] = std::move(bitmap);
      data->null_count = arrow::kUnknownNullCount;
    }
    return arrow::MakeArray(data);
  };
  const auto seconds = arrow::timestamp(arrow::TimeUnit::SECOND);
  const int64_t kEdge = 9223372036854;       // 294247-01-10 04:00:54
  const int64_t kLeastEdge = -9223372022400;  // 290309-12-22 BC
  EXPECT_TRUE(ValidateColumnFull(*column(seconds, {0, kEdge, kLeastEdge})).ok());
  EXPECT_FALSE(ValidateColumnFull(*column(seconds, {kLeastEdge - 1})).ok());
  const auto micros = arrow::timestamp(arrow::TimeUnit::MICRO);
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  EXPECT_TRUE(ValidateColumnFull(*column(micros, {kMax, -kMax, kMax - 1})).ok());
  EXPECT_FALSE(ValidateColumnFull(*column(micros, {-9223372022400000001})).ok());
  auto refused = ValidateColumnFull(*column(seconds, {0, 1000000000000000}));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("outside the range DuckDB holds"), std::string::npos)
      << refused;
  EXPECT_FALSE(ValidateColumnFull(
      *column(arrow::timestamp(arrow::TimeUnit::MILLI, "UTC"), {9223372036854776})).ok());
  EXPECT_FALSE(ValidateColumnFull(
      *column(arrow::duration(arrow::TimeUnit::SECOND), {1000000000000000})).ok());
  EXPECT_TRUE(ValidateColumnFull(*column(seconds, {1000000000000000, 1}, {false, true})).ok());
  // Durations in microseconds DuckDB exports as nanoseconds; date64 past 32-bit days.
  EXPECT_FALSE(ValidateColumnFull(
      *column(arrow::duration(arrow::TimeUnit::MICRO), {kMax})).ok());
  EXPECT_TRUE(ValidateColumnFull(
      *column(arrow::duration(arrow::TimeUnit::MICRO), {kMax / 1000})).ok());
  EXPECT_FALSE(ValidateColumnFull(*column(arrow::date64(), {(int64_t{1} << 32) * 86400000})).ok());
  EXPECT_TRUE(ValidateColumnFull(*column(arrow::date64(), {0, -86400000})).ok());
  EXPECT_TRUE(ValidateColumnFull(*column(arrow::timestamp(arrow::TimeUnit::NANO),
                                         {std::numeric_limits<int64_t>::max()})).ok());
  // Inside a list.
  auto values = column(seconds, {1, 1000000000000000});
  arrow::Int32Builder offsets;
  ASSERT_TRUE(offsets.AppendValues({0, 2}).ok());
  auto list = arrow::ListArray::FromArrays(**offsets.Finish(), *values).ValueOrDie();
  EXPECT_FALSE(ValidateColumnFull(*list).ok());
}

}  // namespace full_validation_test
}  // namespace arrowport::ingest
