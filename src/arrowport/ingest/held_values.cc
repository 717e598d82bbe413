#include "arrowport/ingest/held_values.h"

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>

#include "arrow/array/array_binary.h"
#include "arrow/array/util.h"
#include "arrow/extension/opaque.h"
#include "arrow/type.h"
#include "arrowport/common/binary_value.h"
#include "arrow/util/bit_util.h"
#include "arrow/util/decimal.h"
#include "arrow/util/ubsan.h"
#include "arrowport/storage/core/type_mapping.h"

namespace arrowport::ingest {
namespace {

// The values of `type` DuckDB holds, as a closed range of raw values (none for any
// other type). DuckDB keeps timestamps in microseconds, from 290309-12-22 BC to
// 294247-01-10 04:00:54.775806, and multiplies seconds and milliseconds up unchecked;
// durations become an interval's microseconds.
struct HeldRange {
  int64_t least = 0, most = -1;
  bool infinities = false;  // DuckDB's +-infinity too (DuckDBHoldsTimestamp): microseconds
};
HeldRange DuckDBHolds(const arrow::DataType& type) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kLeastMicros = storage::kLeastTimestampMicros;
  constexpr int64_t kMostMicros = storage::kMostTimestampMicros;
  auto per_unit = [](arrow::TimeUnit::type unit) -> int64_t {
    return unit == arrow::TimeUnit::SECOND ? 1000000 : unit == arrow::TimeUnit::MILLI ? 1000 : 1;
  };
  if (type.id() == arrow::Type::TIMESTAMP) {
    const auto unit = static_cast<const arrow::TimestampType&>(type).unit();
    if (unit == arrow::TimeUnit::NANO) return {};  // divided: always inside
    const int64_t factor = per_unit(unit);
    return {kLeastMicros / factor, kMostMicros / factor, unit == arrow::TimeUnit::MICRO};
  }
  if (type.id() == arrow::Type::DURATION) {
    const auto unit = static_cast<const arrow::DurationType&>(type).unit();
    if (unit == arrow::TimeUnit::NANO) return {};
    // Microseconds too: DuckDB hands an interval to Arrow in nanoseconds, unchecked
    // (2^63-1 us came back as "-1000ns").
    const int64_t factor = per_unit(unit) * 1000;
    return {-(kMax / factor), kMax / factor};
  }
  if (type.id() == arrow::Type::DATE64) {
    // Milliseconds to DuckDB's 32-bit days: past them the day count wrapped
    // ((2^32 + 10) days was stored as 1970-01-11); +-2^31-1 are its infinities.
    constexpr int64_t kMsPerDay = 86400000;
    constexpr int64_t kDays = std::numeric_limits<int32_t>::max() - 1;
    return {-kDays * kMsPerDay, kDays * kMsPerDay + kMsPerDay - 1};
  }
  return {};
}

// Timestamp[s] 10^15 (year 31.7 million) was stored, and its first ::VARCHAR invalidated
// the database.
arrow::Status CheckRange(const arrow::ArrayData& data, const HeldRange& range) {
  const int64_t* values = data.GetValues<int64_t>(1);
  for (int64_t i = 0; i < data.length; ++i) {
    // An IPC body's buffers may sit at any address: loaded without assuming alignment.
    const int64_t value = arrow::util::SafeLoad(values + i);
    if (value >= range.least && value <= range.most) continue;
    if (data.IsNull(i)) continue;
    if (range.infinities && storage::DuckDBHoldsTimestamp(value)) continue;
    return arrow::Status::Invalid(data.type->ToString(), " value ", value,
                                  " is outside the range DuckDB holds (", range.least, " to ",
                                  range.most, ")");
  }
  return arrow::Status::OK();
}

// Within +-(10^precision - 1), both bounds compared: Arrow's FitsInPrecision takes the
// absolute value, and the least integer's is itself (-2^127 as decimal128(38, 0)
// invalidated the database at its first cast to text; as decimal128(4, 0) DuckDB stored
// -3200).
template <typename Decimal, int kBytes>
arrow::Status CheckDecimals(const arrow::ArrayData& data) {
  const auto precision = static_cast<const arrow::DecimalType&>(*data.type).precision();
  const Decimal bound = Decimal::GetScaleMultiplier(precision);
  const Decimal least = -bound;
  const uint8_t* bytes = data.GetValues<uint8_t>(1, 0) + data.offset * kBytes;
  for (int64_t i = 0; i < data.length; ++i) {
    const Decimal value(bytes + i * kBytes);
    if ((value >= bound || value <= least) && !data.IsNull(i)) {
      return arrow::Status::Invalid("value ", i, " has more digits than ",
                                    data.type->ToString(), " holds");
    }
  }
  return arrow::Status::OK();
}

// DuckDB's bitstring: a byte of padding (0-7), then the bits, the padding's all set.
bool WellFormedBit(std::string_view value) {
  if (value.size() < 2) return false;
  const auto padding = static_cast<uint8_t>(value[0]);
  if (padding >= 8) return false;
  const auto pad_mask = static_cast<uint8_t>(0xFF << (8 - padding));  // 0 when padding 0
  return (static_cast<uint8_t>(value[1]) & pad_mask) == pad_mask;
}

// DuckDB's BIGNUM: a 3-byte header (sign bit, then the data's length; every bit inverted
// for a negative number), then the magnitude's bytes, the first not 0, and no -0.
bool WellFormedBignum(std::string_view value) {
  if (value.size() < 4) return false;
  const auto* bytes = reinterpret_cast<const uint8_t*>(value.data());
  const bool negative = (bytes[0] & 0x80) == 0;
  const uint8_t flip = negative ? 0xFF : 0x00;
  const uint32_t length = (static_cast<uint32_t>((bytes[0] ^ flip) & 0x7F) << 16) |
                          (static_cast<uint32_t>(bytes[1] ^ flip) << 8) |
                          static_cast<uint32_t>(bytes[2] ^ flip);
  if (length != value.size() - 3) return false;
  if (value.size() == 4) return !(negative && bytes[3] == 0xFF);
  return (bytes[3] ^ flip) != 0;
}

// DuckDB's TIME WITH TIME ZONE: microseconds (at most 24:00:00) above a 24-bit offset
// code (+-15:59:59 as 0..2 x 57599).
bool WellFormedTimeTz(uint64_t bits) {
  constexpr uint64_t kMostMicros = uint64_t{86400000000};
  constexpr uint64_t kMostOffsetCode = 2 * (16 * 60 * 60 - 1);
  return (bits >> 24) <= kMostMicros && (bits & 0xFFFFFF) <= kMostOffsetCode;
}

arrow::Status CheckBinaries(const arrow::ArrayData& data, const std::string& what,
                            bool (*well_formed)(std::string_view)) {
  std::shared_ptr<arrow::Array> array = arrow::MakeArray(data.Copy());
  for (int64_t i = 0; i < data.length; ++i) {
    if (data.IsNull(i)) continue;
    const auto value = BinaryValueAt(*array, i);
    if (!value) {
      return arrow::Status::Invalid("DuckDB's ", what, " is stored as binary, not ",
                                    data.type->ToString());
    }
    if (!well_formed(*value)) {
      return arrow::Status::Invalid("value ", i, " is not a well-formed DuckDB ", what);
    }
  }
  return arrow::Status::OK();
}

arrow::Status CheckTimeTz(const arrow::ArrayData& data) {
  // DuckDB writes fixed_size_binary[8]; int64 is read the same.
  if (data.type->byte_width() != 8 || (data.type->id() != arrow::Type::INT64 &&
                                       data.type->id() != arrow::Type::FIXED_SIZE_BINARY)) {
    return arrow::Status::Invalid("DuckDB's time_tz is stored in 8 bytes, not as ",
                                  data.type->ToString());
  }
  const int64_t* values = data.GetValues<int64_t>(1);
  for (int64_t i = 0; i < data.length; ++i) {
    const auto bits = static_cast<uint64_t>(arrow::util::SafeLoad(values + i));
    if (!WellFormedTimeTz(bits) && !data.IsNull(i)) {
      return arrow::Status::Invalid("value ", i, " is not a well-formed DuckDB time_tz");
    }
  }
  return arrow::Status::OK();
}

// `storage`: the extension's values typed as its storage type. A malformed BIGNUM crashed
// the server at its first arithmetic; a malformed BIT or TIMETZ invalidated the database
// at its first cast to text.
arrow::Status CheckDuckDBType(const arrow::extension::OpaqueType& opaque,
                              const arrow::ArrayData& storage) {
  if (opaque.vendor_name() != "DuckDB") return arrow::Status::OK();
  const std::string name(opaque.type_name());
  if (name == "time_tz") return CheckTimeTz(storage);
  if (name == "bit") return CheckBinaries(storage, name, &WellFormedBit);
  if (name == "bignum") return CheckBinaries(storage, name, &WellFormedBignum);
  return arrow::Status::OK();
}

}  // namespace

arrow::Status CheckHeldValues(const arrow::ArrayData& data) {
  switch (data.type->id()) {
    case arrow::Type::DECIMAL32:
      ARROW_RETURN_NOT_OK((CheckDecimals<arrow::Decimal32, 4>(data)));
      break;
    case arrow::Type::DECIMAL64:
      ARROW_RETURN_NOT_OK((CheckDecimals<arrow::Decimal64, 8>(data)));
      break;
    case arrow::Type::DECIMAL128:
      ARROW_RETURN_NOT_OK((CheckDecimals<arrow::Decimal128, 16>(data)));
      break;
    case arrow::Type::EXTENSION: {
      // DuckDB reads an extension it does not know as its storage type: checked as that.
      const auto& extension = static_cast<const arrow::ExtensionType&>(*data.type);
      auto storage = data.Copy();
      storage->type = extension.storage_type();
      if (extension.extension_name() == "arrow.opaque") {
        ARROW_RETURN_NOT_OK(CheckDuckDBType(
            static_cast<const arrow::extension::OpaqueType&>(extension), *storage));
      }
      return CheckHeldValues(*storage);
    }
    default:
      if (const HeldRange range = DuckDBHolds(*data.type); range.least <= range.most) {
        ARROW_RETURN_NOT_OK(CheckRange(data, range));
      }
      break;
  }
  for (const auto& child : data.child_data) ARROW_RETURN_NOT_OK(CheckHeldValues(*child));
  if (data.dictionary) ARROW_RETURN_NOT_OK(CheckHeldValues(*data.dictionary));
  return arrow::Status::OK();
}

}  // namespace arrowport::ingest
