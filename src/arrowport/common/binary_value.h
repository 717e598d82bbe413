#pragma once

// One value of a binary column, whichever of Arrow's binary layouts it has.
#include <cstdint>
#include <optional>
#include <string_view>

#include "arrow/array.h"

namespace arrowport {

/// The bytes of value `i` of a binary, large binary or binary view array; nullopt for any
/// other type. A null value's bytes are empty: the caller skips nulls.
inline std::optional<std::string_view> BinaryValueAt(const arrow::Array& array, int64_t i) {
  switch (array.type_id()) {
    case arrow::Type::BINARY:
      return static_cast<const arrow::BinaryArray&>(array).GetView(i);
    case arrow::Type::LARGE_BINARY:
      return static_cast<const arrow::LargeBinaryArray&>(array).GetView(i);
    case arrow::Type::BINARY_VIEW:
      return static_cast<const arrow::BinaryViewArray&>(array).GetView(i);
    default:
      return std::nullopt;
  }
}

}  // namespace arrowport
