#pragma once

#include <string>
#include <string_view>

#include "arrow/result.h"

namespace arrowport {

/// \brief True when `text` (after leading whitespace) starts like a JSON object.
bool LooksLikeJsonObject(std::string_view text);

/// \brief `text` with every byte that is not part of valid UTF-8 replaced by U+FFFD.
std::string SanitizeUtf8(std::string_view text);

}  // namespace arrowport
