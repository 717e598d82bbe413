#pragma once

// Internal to storage: Arrow values bound to DuckDB prepared statement parameters.

#include <duckdb.h>

#include <cstdint>

#include "arrow/array.h"
#include "arrow/result.h"

namespace arrowport::storage {

/// \brief Binds element `row` of `column` to parameter `index` (1-based) of `prepared`,
/// keeping its type where DuckDB has one (integers, floats, booleans, strings, binary,
/// dates, timestamps); other types are bound as their text form, which DuckDB casts.
arrow::Status BindArrowValue(duckdb_prepared_statement prepared, idx_t index,
                             const arrow::Array& column, int64_t row);

}  // namespace arrowport::storage
