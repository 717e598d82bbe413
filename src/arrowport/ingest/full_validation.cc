#include "arrowport/ingest/full_validation.h"

#include <simdutf.h>

#include <cstdint>
#include <limits>
#include <memory>

#include "arrow/array/data.h"
#include "arrow/type.h"
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
  return CheckHeldRange(*column.data());
}

}  // namespace arrowport::ingest
