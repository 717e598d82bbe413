#include "arrowport/ingest/full_validation.h"

#include <simdutf.h>

#include <cstdint>
#include <limits>
#include <memory>

#include "arrow/array/data.h"
#include "arrow/extension/opaque.h"
#include "arrow/type.h"
#include "arrow/util/decimal.h"
#include "arrow/util/bit_util.h"
#include "arrow/util/ubsan.h"
#include "arrowport/storage/core/type_mapping.h"

namespace arrowport::ingest {
namespace {

// Whether every value of `data` (offsets already validated: non-decreasing, within the
// data buffer) is valid UTF-8: the bytes from the first value's start to the last value's
// end are, and every value starts on a character (not on a continuation byte). A value
// then begins and ends on characters of a valid string, so it is valid itself.
template <typename Offset>
bool ValuesAreUtf8(const arrow::ArrayData& data) {
  if (data.length == 0) return true;
  const Offset* offsets = data.GetValues<Offset>(1);
  const Offset begin = offsets[0];
  const Offset end = offsets[data.length];
  if (begin == end) return true;
  const uint8_t* bytes = data.buffers[2]->data();
  if (!simdutf::validate_utf8(reinterpret_cast<const char*>(bytes + begin),
                              static_cast<size_t>(end - begin))) {
    return false;
  }
  bool on_boundaries = true;
  for (int64_t i = 1; i < data.length; ++i) {
    const Offset at = offsets[i];
    // Written without a branch per value: the loop vectorises.
    on_boundaries &= at >= end || (bytes[at] & 0xC0) != 0x80;
  }
  return on_boundaries;
}

// The column typed as the binary layout it has: Arrow validates everything but UTF-8.
arrow::Status ValidateAsBinary(const arrow::Array& column,
                               std::shared_ptr<arrow::DataType> binary_type) {
  auto data = column.data()->Copy();
  data->type = std::move(binary_type);
  return arrow::MakeArray(data)->ValidateFull();
}

template <typename Offset>
arrow::Status ValidateStrings(const arrow::Array& column,
                              std::shared_ptr<arrow::DataType> binary_type) {
  // Arrow's verdict (and message) on anything the fast path does not accept.
  if (!ValidateAsBinary(column, std::move(binary_type)).ok() ||
      !ValuesAreUtf8<Offset>(*column.data())) {
    return column.ValidateFull();
  }
  return arrow::Status::OK();
}

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

// Found by a hostile run: timestamp[s] 10^15 (year 31.7 million) was stored, and the first
// ::VARCHAR of it raised a DuckDB internal error that invalidated the whole database
// (every client's transaction with it). Every such column, nested ones too, is held to
// what DuckDB holds.
arrow::Status CheckHeldRange(const arrow::ArrayData& data) {
  if (const HeldRange range = DuckDBHolds(*data.type); range.least <= range.most) {
    const int64_t* values = data.GetValues<int64_t>(1);
    const uint8_t* valid = data.buffers[0] ? data.buffers[0]->data() : nullptr;
    for (int64_t i = 0; i < data.length; ++i) {
      // An IPC body's buffers may sit at any address: loaded without assuming alignment.
      const int64_t value = arrow::util::SafeLoad(values + i);
      if (value >= range.least && value <= range.most) continue;
      if (valid != nullptr && !arrow::bit_util::GetBit(valid, data.offset + i)) continue;
      if (range.infinities && storage::DuckDBHoldsTimestamp(value)) continue;
      return arrow::Status::Invalid(data.type->ToString(), " value ", value,
                                    " is outside the range DuckDB holds (", range.least,
                                    " to ", range.most, ")");
    }
  }
  for (const auto& child : data.child_data) ARROW_RETURN_NOT_OK(CheckHeldRange(*child));
  if (data.dictionary) ARROW_RETURN_NOT_OK(CheckHeldRange(*data.dictionary));
  return arrow::Status::OK();
}

// DuckDB's own encodings, which it reads back unchecked: sent through Arrow's opaque
// extension type (vendor "DuckDB"), a malformed BIGNUM crashed the server at its first
// arithmetic and a malformed BIT or TIMETZ invalidated the database at its first cast to
// text (a hostile run). Each value is held to what DuckDB's own code writes.
bool WellFormedBit(std::string_view value) {
  if (value.size() < 2) return false;
  const auto padding = static_cast<uint8_t>(value[0]);
  if (padding >= 8) return false;
  const auto pad_mask = static_cast<uint8_t>(0xFF << (8 - padding));  // 0 when padding 0
  return (static_cast<uint8_t>(value[1]) & pad_mask) == pad_mask;  // padding bits are 1s
}

bool WellFormedBignum(std::string_view value) {
  if (value.size() < 4) return false;
  const auto* bytes = reinterpret_cast<const uint8_t*>(value.data());
  const bool negative = (bytes[0] & 0x80) == 0;  // the header's bits are inverted then
  const uint8_t flip = negative ? 0xFF : 0x00;
  const uint32_t length = (static_cast<uint32_t>((bytes[0] ^ flip) & 0x7F) << 16) |
                          (static_cast<uint32_t>(bytes[1] ^ flip) << 8) |
                          static_cast<uint32_t>(bytes[2] ^ flip);
  if (length != value.size() - 3) return false;
  if (value.size() == 4) return !(negative && bytes[3] == 0xFF);  // no -0
  return (bytes[3] ^ flip) != 0;  // no leading zero byte
}

bool WellFormedTimeTz(uint64_t bits) {
  constexpr uint64_t kMostMicros = uint64_t{86400000000};  // 24:00:00
  constexpr uint64_t kMostOffsetCode = 2 * (16 * 60 * 60 - 1);  // +-15:59:59
  return (bits >> 24) <= kMostMicros && (bits & 0xFFFFFF) <= kMostOffsetCode;
}

template <typename Offset>
arrow::Status CheckBinaryValues(const arrow::ArrayData& data, const std::string& what,
                                bool (*well_formed)(std::string_view)) {
  const Offset* offsets = data.GetValues<Offset>(1);
  const uint8_t* bytes = data.buffers[2] ? data.buffers[2]->data() : nullptr;
  for (int64_t i = 0; i < data.length; ++i) {
    if (data.IsNull(i)) continue;
    const Offset begin = arrow::util::SafeLoad(offsets + i);
    const Offset end = arrow::util::SafeLoad(offsets + i + 1);
    const std::string_view value(reinterpret_cast<const char*>(bytes) + begin,
                                 static_cast<size_t>(end - begin));
    if (!well_formed(value)) {
      return arrow::Status::Invalid("value ", i, " is not a well-formed DuckDB ", what);
    }
  }
  return arrow::Status::OK();
}

arrow::Status CheckDuckDBEncoding(const arrow::ArrayData& data,
                                  const arrow::extension::OpaqueType& opaque) {
  if (opaque.vendor_name() != "DuckDB") return arrow::Status::OK();
  const std::string name(opaque.type_name());
  const auto storage = opaque.storage_type()->id();
  if (name == "time_tz") {
    // DuckDB writes it as fixed_size_binary[8]; int64 is read the same.
    if (opaque.storage_type()->byte_width() != 8 ||
        (storage != arrow::Type::INT64 && storage != arrow::Type::FIXED_SIZE_BINARY)) {
      return arrow::Status::Invalid("DuckDB's time_tz is stored in 8 bytes, not as ",
                                    opaque.storage_type()->ToString());
    }
    const int64_t* values = data.GetValues<int64_t>(1);
    for (int64_t i = 0; i < data.length; ++i) {
      const auto bits = static_cast<uint64_t>(arrow::util::SafeLoad(values + i));
      if (!data.IsNull(i) && !WellFormedTimeTz(bits)) {
        return arrow::Status::Invalid("value ", i, " is not a well-formed DuckDB time_tz");
      }
    }
    return arrow::Status::OK();
  }
  if (name != "bit" && name != "bignum") return arrow::Status::OK();
  auto* check = name == "bit" ? &WellFormedBit : &WellFormedBignum;
  if (storage == arrow::Type::BINARY) return CheckBinaryValues<int32_t>(data, name, check);
  if (storage == arrow::Type::LARGE_BINARY) {
    return CheckBinaryValues<int64_t>(data, name, check);
  }
  return arrow::Status::Invalid("DuckDB's ", name, " is stored as binary, not ",
                                opaque.storage_type()->ToString());
}

// Arrow holds a decimal's values to its precision by their absolute value, and -2^127's
// wraps to itself: as decimal128(38, 0) it invalidated the database at its first cast to
// text, and as decimal128(4, 0) DuckDB stored -3200.
arrow::Status CheckDecimalPrecision(const arrow::ArrayData& data) {
  const auto precision = static_cast<const arrow::Decimal128Type&>(*data.type).precision();
  // Both bounds: Arrow's FitsInPrecision takes the absolute value, and -2^127's is itself.
  const arrow::Decimal128 bound = arrow::Decimal128::GetScaleMultiplier(precision);
  const arrow::Decimal128 least = -bound;
  const uint8_t* bytes = data.GetValues<uint8_t>(1, 0) + data.offset * 16;
  for (int64_t i = 0; i < data.length; ++i) {
    if (data.IsNull(i)) continue;
    const arrow::Decimal128 value(bytes + i * 16);
    if (value >= bound || value <= least) {
      return arrow::Status::Invalid("value ", i, " has more digits than ",
                                    data.type->ToString(), " holds");
    }
  }
  return arrow::Status::OK();
}

// Every column's values DuckDB reads as they are, at any depth.
arrow::Status CheckEncodings(const arrow::ArrayData& data) {
  if (data.type->id() == arrow::Type::DECIMAL128) {
    ARROW_RETURN_NOT_OK(CheckDecimalPrecision(data));
  } else if (data.type->id() == arrow::Type::EXTENSION) {
    const auto& extension = static_cast<const arrow::ExtensionType&>(*data.type);
    if (extension.extension_name() == "arrow.opaque") {
      ARROW_RETURN_NOT_OK(CheckDuckDBEncoding(
          data, static_cast<const arrow::extension::OpaqueType&>(extension)));
    }
  }
  for (const auto& child : data.child_data) ARROW_RETURN_NOT_OK(CheckEncodings(*child));
  if (data.dictionary) ARROW_RETURN_NOT_OK(CheckEncodings(*data.dictionary));
  return arrow::Status::OK();
}

arrow::Status ValidateLayout(const arrow::Array& column) {
  switch (column.type_id()) {
    case arrow::Type::STRING:
      return ValidateStrings<int32_t>(column, arrow::binary());
    case arrow::Type::LARGE_STRING:
      return ValidateStrings<int64_t>(column, arrow::large_binary());
    default:
      return column.ValidateFull();
  }
}

}  // namespace

arrow::Status ValidateColumnFull(const arrow::Array& column) {
  ARROW_RETURN_NOT_OK(ValidateLayout(column));
  ARROW_RETURN_NOT_OK(CheckHeldRange(*column.data()));
  return CheckEncodings(*column.data());
}

}  // namespace arrowport::ingest
