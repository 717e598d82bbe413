#pragma once

#include <string>
#include <string_view>

#include "arrow/result.h"

namespace arrowport {

/// \brief True when `text` (after leading whitespace) starts like a JSON object.
bool LooksLikeJsonObject(std::string_view text);

/// \brief Escapes a string for inclusion in a JSON document (without the quotes).
std::string JsonEscape(std::string_view text);

}  // namespace arrowport
