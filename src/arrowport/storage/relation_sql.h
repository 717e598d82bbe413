#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "arrow/result.h"

namespace arrowport::storage {

class Connection;

// The read-side statements the server writes itself. Names are quoted here, whatever
// they hold; callers never build SQL text.

/// `SELECT <columns or *> FROM <table> [LIMIT n]` for a whole-table read.
std::string SelectFromTable(const std::string& table, const std::vector<std::string>& columns,
                            std::optional<int64_t> limit);

/// Exact row count of `table`.
arrow::Result<int64_t> CountRows(Connection* conn, const std::string& table);

/// \brief Creates (or replaces) view `name` over the file or glob `location`, read with
/// DuckDB's reader for its extension (.parquet, .csv/.csv.gz/.tsv, .json/.jsonl/.ndjson).
arrow::Status CreateFileView(Connection* conn, const std::string& name,
                             const std::string& location);

/// The statement that loads DuckDB extension `name` (quoted).
std::string LoadExtensionSql(const std::string& name);

}  // namespace arrowport::storage
