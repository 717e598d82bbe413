#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace arrowport::lake {

/// Compact JSON text; bytes that are not UTF-8 (a foreign file's string statistics, a
/// name from another writer) become U+FFFD instead of throwing.
inline std::string JsonText(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace arrowport::lake
