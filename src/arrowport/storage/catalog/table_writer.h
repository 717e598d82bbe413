#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrowport/storage/core/column_info.h"
#include "arrowport/storage/core/table_name.h"

namespace arrowport::storage {

class Connection;

// The statements the server writes itself to shape and fill a table.
// Names are quoted here, whatever they hold; callers never build SQL text. Each holds its
// table (Connection::Hold: reshaped by the first three, written by InsertFrom) for the
// transaction it runs in; writers hold it before BEGIN already, so that they wait for a
// change of the table's shape instead of failing on it.

/// \brief Creates `table` with `columns`, each with the storage type for its scan type
/// (see StorageTypeFor). Fails with Invalid, before any DDL, if a column has the null
/// type (no values to infer a type from).
arrow::Status CreateTable(Connection* conn, const TableName& table,
                          const std::vector<ColumnInfo>& columns);

/// Adds `column` (with the storage type for its scan type) to `table`.
arrow::Status AddColumn(Connection* conn, const TableName& table, const ColumnInfo& column);

arrow::Status DropTable(Connection* conn, const TableName& table);

/// What an INSERT scans: a request's whole stream, run by Connection::ExecuteBulkUpdate
/// (the calling thread naps while DuckDB has no task for it), or one batch, a short
/// statement run by DuckDB's own loop (ExecuteUpdate, without the prepared statement
/// that ExecuteBulkUpdate makes, which DuckDB 2.0 may bind again as it runs).
enum class InsertLength { kStream, kOneBatch };

/// \brief One INSERT that scans `relation` (from Connection::RegisterArrowStream) and
/// writes its columns `source_columns` into `target_columns` of `table`, pairwise.
/// Returns the rows inserted.
arrow::Result<int64_t> InsertFrom(Connection* conn, const TableName& table,
                                  const std::string& relation,
                                  const std::vector<std::string>& target_columns,
                                  const std::vector<std::string>& source_columns,
                                  InsertLength length = InsertLength::kStream);

}  // namespace arrowport::storage
