#pragma once

#include <optional>
#include <string>

namespace arrowport::query {

/// The table a statement reads whole (`SELECT * FROM name`, optionally quoted, with a
/// trailing semicolon), if it is one: such a statement over a table or a lake table can
/// be split into endpoints (Flight SQL GetFlightInfo).
std::optional<std::string> WholeTableOf(const std::string& sql);

}  // namespace arrowport::query
