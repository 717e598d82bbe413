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

/// A row-id range of a base table: rows with `begin` <= rowid < `end`.
struct RowIdRange {
  int64_t begin = 0;
  int64_t end = 0;
};

/// `SelectFromTable` of the rows of `range` only (DuckDB skips the other row groups).
std::string SelectRowRange(const std::string& table, const std::vector<std::string>& columns,
                           const RowIdRange& range);

/// What splits a base table's read into row-id ranges, and what a range's reader checks
/// is unchanged: the table's identity (a new table of the same name has another), its
/// shape (a hash of its CREATE statement as DuckDB keeps it: ALTER TABLE keeps the
/// identity but rewrites that), the
/// rows below `rowid_end` (a DELETE, an UPDATE that moves rows, or a CHECKPOINT that
/// renumbers rows after deleted ones changes them; appends do not) and its row groups.
struct TableExtent {
  int64_t oid = 0;
  int64_t shape = 0;
  int64_t rows = 0;
  int64_t rowid_end = 0;  ///< one past the largest row id (rows + deleted ones)
  int64_t row_group_rows = 122880;  ///< DuckDB's default row group (ranges align to it)
};

/// \brief The extent of `table` when its read may be split into row-id ranges: a base
/// table of the database (not a view, lake view or temporary table) with no column named
/// `rowid` (which would hide DuckDB's row id), of at least `min_rows` rows by DuckDB's
/// estimate (smaller ones are not counted: nullopt, as for any other table).
arrow::Result<std::optional<TableExtent>> SplittableExtentOf(Connection* conn,
                                                             const std::string& table,
                                                             int64_t min_rows);

/// `table` as a range planned up to `rowid_end` sees it now (`rows`: those below it), in
/// the connection's transaction; nullopt when it is no longer a base table.
arrow::Result<std::optional<TableExtent>> ExtentBelow(Connection* conn,
                                                      const std::string& table,
                                                      int64_t rowid_end);

}  // namespace arrowport::storage
