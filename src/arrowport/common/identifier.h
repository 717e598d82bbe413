#pragma once

#include <string>
#include <string_view>

#include "arrow/status.h"

namespace arrowport {

/// \brief Checks that `name` is a plain SQL identifier usable as a table or stream name:
/// a letter or underscore followed by letters, digits or underscores, at most 128 bytes.
///
/// `what` names the thing in the error ("stream", "table"). Names that pass are still
/// always quoted with QuoteIdentifier() before they reach SQL.
arrow::Status ValidateName(std::string_view what, std::string_view name);

/// \brief Double-quotes an identifier for DuckDB SQL, doubling embedded quotes.
/// Safe for any string (column names come from client schemas and may contain anything).
std::string QuoteIdentifier(std::string_view name);

/// \brief Single-quotes a SQL string literal, doubling embedded quotes.
std::string QuoteLiteral(std::string_view value);

}  // namespace arrowport
