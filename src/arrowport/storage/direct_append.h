#pragma once

// Internal to storage: the one place that uses DuckDB's C++ API (its headers are heavy,
// so only direct_append.cc includes them).

#include <duckdb.h>

#include <string>
#include <vector>

#include "arrow/result.h"

namespace arrowport::storage {

/// \brief Appends data chunks to `catalog.main.table` in one autocommit transaction,
/// straight into DuckDB's table storage: no SQL is parsed, planned or executed, which
/// is most of the cost of a small request. NOT NULL, unique and primary-key constraints
/// are still checked, and the commit goes through the WAL like any other.
///
/// `columns[i]` names the table column that chunk column i fills; table columns not
/// named are filled with NULL. Returns NotImplemented (with nothing written) when the
/// table needs what only an INSERT does: DEFAULT values for missing columns, generated
/// columns, or a type that differs from the chunk's.
arrow::Result<int64_t> DirectAppend(duckdb_connection connection, const std::string& catalog,
                                    const std::string& table,
                                    const std::vector<std::string>& columns,
                                    const std::vector<duckdb_data_chunk>& chunks);

}  // namespace arrowport::storage
