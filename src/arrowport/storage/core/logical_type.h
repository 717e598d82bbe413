#pragma once

// Internal to storage: typed facts read from DuckDB logical types.

#include <duckdb.h>

#include <string>

#include "arrowport/storage/core/column_info.h"

namespace arrowport::storage {

/// \brief A type's full identity: id, alias, and whatever parameterises it (decimal
/// width and scale, nested types, struct and union member names, enum dictionary).
/// Two logical types are the same type exactly when their identities are equal.
std::string TypeIdentity(duckdb_logical_type type);

/// The typed description of `type`; `sql` is DuckDB's own spelling of it (from DESCRIBE).
ColumnType ColumnTypeOf(duckdb_logical_type type, std::string sql);

}  // namespace arrowport::storage
