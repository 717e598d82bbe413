#include "arrowport/ingest/materialized_size.h"

#include <algorithm>
#include <cstring>

#include "arrow/array/data.h"
#include "arrow/buffer.h"
#include "arrow/type.h"
#include "arrow/util/byte_size.h"

namespace arrowport::ingest {

namespace {

// DuckDB's own size of one string or list entry (its string_t / list_entry_t).
constexpr int64_t kEntryBytes = 16;

int64_t Saturating(double value) {
  return value > 9e18 ? INT64_C(9000000000000000000) : static_cast<int64_t>(value);
}

// Bytes per element of `array`, on average.
double PerElement(const arrow::ArrayData& array) {
  return static_cast<double>(MaterializedBytes(array)) /
         static_cast<double>(std::max<int64_t>(array.length, 1));
}

template <typename T>
T ValueAt(const arrow::ArrayData& array, int buffer, int64_t i) {
  T value;
  std::memcpy(&value, array.buffers[buffer]->data() + (array.offset + i) * sizeof(T),
              sizeof(T));
  return value;
}

int64_t ViewBytes(const arrow::ArrayData& array) {
  double total = static_cast<double>(array.length * kEntryBytes);
  const uint8_t* views = array.buffers[1]->data();
  for (int64_t i = 0; i < array.length; ++i) {
    // Each 16-byte view starts with its value's length (inline values are counted too).
    int32_t size;
    std::memcpy(&size, views + (array.offset + i) * 16, sizeof(size));
    total += std::max<int32_t>(size, 0);
  }
  return Saturating(total);
}

int64_t ListViewBytes(const arrow::ArrayData& array, bool large) {
  double elements = 0;
  for (int64_t i = 0; i < array.length; ++i) {
    // Sizes are not validated yet: a negative one counts as empty.
    elements += std::max(0.0, large ? static_cast<double>(ValueAt<int64_t>(array, 2, i))
                                    : static_cast<double>(ValueAt<int32_t>(array, 2, i)));
  }
  return Saturating(array.length * kEntryBytes + elements * PerElement(*array.child_data[0]));
}

// The length of dictionary value `index` (binary-like values) or the average size.
int64_t DictionaryBytes(const arrow::ArrayData& array) {
  const arrow::ArrayData& values = *array.dictionary;
  const auto index_at = [&](int64_t i) -> int64_t {
    switch (array.type->id() == arrow::Type::DICTIONARY
                ? static_cast<const arrow::DictionaryType&>(*array.type).index_type()->id()
                : arrow::Type::INT32) {
      case arrow::Type::INT8: return ValueAt<int8_t>(array, 1, i);
      case arrow::Type::UINT8: return ValueAt<uint8_t>(array, 1, i);
      case arrow::Type::INT16: return ValueAt<int16_t>(array, 1, i);
      case arrow::Type::UINT16: return ValueAt<uint16_t>(array, 1, i);
      case arrow::Type::INT32: return ValueAt<int32_t>(array, 1, i);
      case arrow::Type::UINT32: return ValueAt<uint32_t>(array, 1, i);
      case arrow::Type::UINT64: return static_cast<int64_t>(ValueAt<uint64_t>(array, 1, i));
      default: return ValueAt<int64_t>(array, 1, i);
    }
  };
  const auto id = values.type->id();
  if (id == arrow::Type::STRING || id == arrow::Type::BINARY) {
    double total = static_cast<double>(array.length * kEntryBytes);
    for (int64_t i = 0; i < array.length; ++i) {
      if (array.IsNull(i)) continue;
      const int64_t k = index_at(i);
      if (k < 0 || k >= values.length) continue;  // refused by the full validation next
      // In 64 bits: the offsets are not validated yet (found by the ipc_ingest fuzzer:
      // INT32_MIN - 1 overflowed).
      total += std::max<int64_t>(0, static_cast<int64_t>(ValueAt<int32_t>(values, 1, k + 1)) -
                                        static_cast<int64_t>(ValueAt<int32_t>(values, 1, k)));
    }
    return Saturating(total);
  }
  return Saturating(array.length * (PerElement(values) + kEntryBytes));
}

}  // namespace

int64_t MaterializedBytes(const arrow::ArrayData& array) {
  switch (array.type->id()) {
    case arrow::Type::STRING_VIEW:
    case arrow::Type::BINARY_VIEW:
      return ViewBytes(array);
    case arrow::Type::LIST_VIEW:
      return ListViewBytes(array, /*large=*/false);
    case arrow::Type::LARGE_LIST_VIEW:
      return ListViewBytes(array, /*large=*/true);
    case arrow::Type::DICTIONARY:
      return DictionaryBytes(array);
    case arrow::Type::RUN_END_ENCODED:
      return Saturating(array.length * (PerElement(*array.child_data[1]) + kEntryBytes));
    case arrow::Type::LIST:
    case arrow::Type::LARGE_LIST:
    case arrow::Type::MAP:
    case arrow::Type::FIXED_SIZE_LIST:
      return array.length * kEntryBytes + MaterializedBytes(*array.child_data[0]);
    case arrow::Type::STRUCT: {
      int64_t total = array.length;
      for (const auto& child : array.child_data) total += MaterializedBytes(*child);
      return total;
    }
    default:
      return arrow::util::TotalBufferSize(array);
  }
}

}  // namespace arrowport::ingest
