#pragma once

// Internal to storage: statements prepared and bound through DuckDB's C API, and a
// result's Arrow schema (statement_binding.cc).

#include <duckdb.h>

#include <memory>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrow/type_fwd.h"
#include "arrowport/storage/core/duckdb_handle.h"

namespace arrowport::storage {

/// Arrow schema of result columns, in DuckDB's own Arrow mapping under `options`.
arrow::Result<std::shared_ptr<arrow::Schema>> ArrowSchemaOf(
    duckdb_arrow_options options, std::vector<LogicalTypeHandle>& types,
    const std::vector<std::string>& names);

/// Prepares `sql` on `conn` and binds `parameters` (as VARCHAR) to $1, $2, ...
arrow::Status PrepareAndBind(duckdb_connection conn, const std::string& sql,
                             const std::vector<std::string>& parameters,
                             PreparedHandle* out);

/// Binds `parameters` (as VARCHAR) to $1, $2, ... of `prepared`.
arrow::Status BindVarchars(duckdb_prepared_statement prepared,
                           const std::vector<std::string>& parameters);

}  // namespace arrowport::storage
