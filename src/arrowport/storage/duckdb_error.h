#pragma once

#include <string_view>

#include "arrow/status.h"

namespace arrowport::storage {

/// \brief The one translation of DuckDB errors into Status codes: what a client should
/// see (parser/binder/conversion/constraint -> Invalid, catalog -> KeyError, interrupt ->
/// Cancelled, out of memory -> OutOfMemory, transaction conflicts -> IOError "retry").
/// `error_type` is a duckdb_error_type value; -1 when only the message is known.
arrow::Status TranslateDuckDBError(int error_type, std::string_view message);

}  // namespace arrowport::storage
