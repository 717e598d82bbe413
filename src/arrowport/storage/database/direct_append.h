#pragma once

// Internal to storage: the one place that uses DuckDB's C++ API (its headers are heavy,
// so only direct_append.cc includes them).

#include <duckdb.h>

#include <string>
#include <vector>

#include "arrow/result.h"

namespace arrowport::storage {

/// Rows for one table: `columns[i]` names the table column that chunk column i fills;
/// table columns not named are filled with NULL.
struct DirectTarget {
  std::string catalog;
  std::string schema;
  std::string table;
  std::vector<std::string> columns;
  std::vector<duckdb_data_chunk> chunks;
};

/// \brief Appends to every target in one transaction (autocommit: all or nothing),
/// straight into DuckDB's table storage: no SQL is parsed, planned or executed, which is
/// most of the cost of a small request. NOT NULL, CHECK, unique, primary and foreign key
/// constraints are still checked, and the commit goes through the WAL like any other.
///
/// Returns NotImplemented, with nothing written, when a target needs what only an INSERT
/// does: DEFAULT values for missing columns, generated columns, a named column the table
/// does not have, or a type that differs from the chunk's.
arrow::Status DirectAppend(duckdb_connection connection,
                           const std::vector<DirectTarget>& targets);

}  // namespace arrowport::storage
