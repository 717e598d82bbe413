#include "arrowport/ingest/held_values.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "arrow/api.h"
#include "arrow/extension/opaque.h"
#include "arrow/extension_type.h"

namespace arrowport::ingest {
namespace held_values_test {

// `storage` typed as DuckDB's opaque `name` (what DuckDB's lossless export writes).
std::shared_ptr<arrow::ArrayData> DuckDBType(const std::string& name,
                                             const std::shared_ptr<arrow::Array>& storage) {
  auto data = storage->data()->Copy();
  data->type = arrow::extension::opaque(storage->type(), name, "DuckDB");
  return data;
}

std::shared_ptr<arrow::Array> Binaries(const std::shared_ptr<arrow::DataType>& type,
                                       const std::vector<std::optional<std::string>>& values) {
  std::unique_ptr<arrow::ArrayBuilder> builder;
  EXPECT_TRUE(arrow::MakeBuilder(arrow::default_memory_pool(), type, &builder).ok());
  for (const auto& value : values) {
    if (!value) {
      EXPECT_TRUE(builder->AppendNull().ok());
    } else if (type->id() == arrow::Type::LARGE_BINARY) {
      EXPECT_TRUE(static_cast<arrow::LargeBinaryBuilder&>(*builder).Append(*value).ok());
    } else if (type->id() == arrow::Type::BINARY_VIEW) {
      EXPECT_TRUE(static_cast<arrow::BinaryViewBuilder&>(*builder).Append(*value).ok());
    } else {
      EXPECT_TRUE(static_cast<arrow::BinaryBuilder&>(*builder).Append(*value).ok());
    }
  }
  return builder->Finish().ValueOrDie();
}

// A decimal of `type` whose one value is `raw`'s bytes, unchecked: what a client can send.
std::shared_ptr<arrow::ArrayData> RawDecimal(const std::shared_ptr<arrow::DataType>& type,
                                             const std::string& raw) {
  return arrow::ArrayData::Make(type, 1, {nullptr, arrow::Buffer::FromString(raw)}, 0);
}

std::string LeastOf(int bytes) {
  std::string raw(static_cast<size_t>(bytes), '\0');
  raw.back() = static_cast<char>(0x80);  // little-endian: the sign bit alone
  return raw;
}

TEST(CheckHeldValues, BitAndBignumAreHeldToDuckDBsEncodingInEveryBinaryLayout) {
  const std::string bit_101("\x05\xfd", 2);        // 5 padding bits set, then 101
  const std::string bit_unset_pad("\x05\x05", 2);  // the same bits, padding not set
  const std::string bignum_one("\x80\x00\x01\x01", 4);
  for (const auto& type : {arrow::binary(), arrow::large_binary(), arrow::binary_view()}) {
    EXPECT_TRUE(CheckHeldValues(*DuckDBType("bit", Binaries(type, {bit_101}))).ok());
    EXPECT_FALSE(CheckHeldValues(*DuckDBType("bit", Binaries(type, {bit_unset_pad}))).ok());
    EXPECT_FALSE(CheckHeldValues(*DuckDBType("bit", Binaries(type, {""}))).ok());
    EXPECT_TRUE(CheckHeldValues(*DuckDBType("bignum", Binaries(type, {bignum_one}))).ok());
    EXPECT_FALSE(CheckHeldValues(*DuckDBType("bignum", Binaries(type, {"\x00"}))).ok());
  }
  // A null's bytes are not read; a slice checks its own values only.
  auto with_null = Binaries(arrow::binary(), {bit_101, std::nullopt, std::string("\xff", 1)});
  EXPECT_FALSE(CheckHeldValues(*DuckDBType("bit", with_null)).ok());
  EXPECT_TRUE(CheckHeldValues(*DuckDBType("bit", with_null->Slice(0, 2))).ok());
  auto nulled = Binaries(arrow::binary(), {std::nullopt});
  EXPECT_TRUE(CheckHeldValues(*DuckDBType("bignum", nulled)).ok());
}

TEST(CheckHeldValues, TimeTzIsHeldToItsRangeStoredEitherWay) {
  const int64_t noon_utc = (int64_t{43200000000} << 24) | 57599;
  const int64_t bad_offset = (int64_t{43200000000} << 24) | (2 * 57599 + 1);
  for (const int64_t bits : {noon_utc, bad_offset, int64_t{-1}}) {
    const bool good = bits == noon_utc;
    arrow::Int64Builder ints;
    ASSERT_TRUE(ints.Append(bits).ok());
    EXPECT_EQ(CheckHeldValues(*DuckDBType("time_tz", ints.Finish().ValueOrDie())).ok(), good);
    arrow::FixedSizeBinaryBuilder fixed(arrow::fixed_size_binary(8));
    ASSERT_TRUE(fixed.Append(reinterpret_cast<const uint8_t*>(&bits)).ok());
    EXPECT_EQ(CheckHeldValues(*DuckDBType("time_tz", fixed.Finish().ValueOrDie())).ok(), good);
  }
}

TEST(CheckHeldValues, TheLeastIntegerIsOutsideEveryDecimalPrecision) {
  // Arrow's own precision check takes an absolute value, which wraps for these.
  EXPECT_FALSE(CheckHeldValues(*RawDecimal(arrow::decimal32(9, 0), LeastOf(4))).ok());
  EXPECT_FALSE(CheckHeldValues(*RawDecimal(arrow::decimal64(18, 0), LeastOf(8))).ok());
  EXPECT_FALSE(CheckHeldValues(*RawDecimal(arrow::decimal128(38, 0), LeastOf(16))).ok());
  std::string minus_nines(16, '\0');  // -(10^4 - 1) = -9999 fits decimal128(4, 0)
  const int64_t value = -9999;
  std::memcpy(minus_nines.data(), &value, 8);
  std::memset(minus_nines.data() + 8, 0xff, 8);
  EXPECT_TRUE(CheckHeldValues(*RawDecimal(arrow::decimal128(4, 0), minus_nines)).ok());
}

TEST(CheckHeldValues, AnyExtensionIsCheckedAsItsStorageAtAnyDepth) {
  // Another vendor's opaque type over a decimal and a timestamp: DuckDB reads the storage.
  auto decimal = RawDecimal(arrow::decimal128(38, 0), LeastOf(16));
  decimal->type = arrow::extension::opaque(arrow::decimal128(38, 0), "money", "Acme");
  EXPECT_FALSE(CheckHeldValues(*decimal).ok());
  arrow::TimestampBuilder seconds(arrow::timestamp(arrow::TimeUnit::SECOND),
                                  arrow::default_memory_pool());
  ASSERT_TRUE(seconds.Append(int64_t{1000000000000000}).ok());
  auto far = seconds.Finish().ValueOrDie()->data()->Copy();
  far->type = arrow::extension::opaque(far->type, "instant", "Acme");
  EXPECT_FALSE(CheckHeldValues(*far).ok());
  // A list of DuckDB bits.
  auto bits = DuckDBType("bit", Binaries(arrow::binary(), {std::string("\x09\x01", 2)}));
  auto offsets = arrow::Buffer::FromVector(std::vector<int32_t>{0, 1});
  auto list = arrow::ArrayData::Make(arrow::list(bits->type), 1, {nullptr, offsets}, {bits}, 0);
  EXPECT_FALSE(CheckHeldValues(*list).ok());
}

}  // namespace held_values_test
}  // namespace arrowport::ingest
