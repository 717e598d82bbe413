#include "arrowport/ingest/full_validation.h"

#include <simdutf.h>

#include <cstdint>
#include <memory>

#include "arrow/array/data.h"
#include "arrow/type.h"
#include "arrowport/ingest/held_values.h"

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
  return CheckHeldValues(*column.data());
}

}  // namespace arrowport::ingest
