#include "arrowport/storage/catalog/relation_sql.h"

#include <array>

#include "arrow/scalar.h"
#include "arrow/table.h"
#include "arrowport/common/identifier.h"
#include "arrowport/storage/database/connection.h"

namespace arrowport::storage {

std::string SelectFromTable(const std::string& table, const std::vector<std::string>& columns,
                            std::optional<int64_t> limit) {
  std::string select;
  for (const auto& column : columns) {
    select += (select.empty() ? "" : ", ") + QuoteIdentifier(column);
  }
  std::string out = "SELECT " + (select.empty() ? std::string("*") : select) + " FROM " +
                    QuoteIdentifier(table);
  if (limit) out += " LIMIT " + std::to_string(*limit);
  return out;
}

arrow::Result<int64_t> CountRows(Connection* conn, const std::string& table) {
  ARROW_ASSIGN_OR_RAISE(auto result,
                        conn->QueryTable("SELECT count(*)::BIGINT FROM " + QuoteIdentifier(table)));
  if (result->num_rows() != 1) return arrow::Status::IOError("count returned no row");
  ARROW_ASSIGN_OR_RAISE(auto scalar, result->column(0)->GetScalar(0));
  return std::static_pointer_cast<arrow::Int64Scalar>(scalar)->value;
}

std::string SelectRowRange(const std::string& table, const std::vector<std::string>& columns,
                           const RowIdRange& range) {
  return SelectFromTable(table, columns, std::nullopt) + " WHERE rowid >= " +
         std::to_string(range.begin) + " AND rowid < " + std::to_string(range.end);
}

namespace {

arrow::Result<int64_t> Int64At(const arrow::Table& table, int column) {
  ARROW_ASSIGN_OR_RAISE(auto scalar, table.column(column)->GetScalar(0));
  if (!scalar->is_valid) return arrow::Status::IOError("unexpected NULL");
  return std::static_pointer_cast<arrow::Int64Scalar>(scalar)->value;
}

}  // namespace

namespace {

// The table `name` binds to for a client of this connection (its schema and catalog;
// names match case-insensitively, as DuckDB binds them).
constexpr const char* kTableByName =
    "FROM duckdb_tables() t WHERE t.database_name = current_database() AND "
    "t.schema_name = current_schema() AND NOT t.temporary AND lower(t.table_name) = lower($1)";

}  // namespace

namespace {

// Identity, estimated rows and shape (a hash of the table's CREATE statement as DuckDB
// keeps it, which ALTER TABLE rewrites); with `columns`, also whether a column named rowid
// hides the row id (duckdb_columns() reads every table's columns: planning only).
arrow::Result<std::optional<std::array<int64_t, 4>>> TableFacts(Connection* conn,
                                                                const std::string& table,
                                                                bool columns) {
  ARROW_ASSIGN_OR_RAISE(
      auto found,
      conn->QueryTable(
          std::string("SELECT t.table_oid::BIGINT, t.estimated_size::BIGINT, "
                      "(hash(t.sql) >> 1)::BIGINT, ") +
              (columns ? "(SELECT count(*) FROM duckdb_columns() c WHERE c.table_oid = "
                         "t.table_oid AND lower(c.column_name) = 'rowid')::BIGINT "
                       : "0::BIGINT ") +
              kTableByName,
          {table}));
  if (found->num_rows() != 1) return std::nullopt;
  std::array<int64_t, 4> facts{};
  for (int i = 0; i < 4; ++i) {
    ARROW_ASSIGN_OR_RAISE(facts[i], Int64At(*found, i));
  }
  return facts;
}

}  // namespace

arrow::Result<std::optional<TableExtent>> SplittableExtentOf(Connection* conn,
                                                             const std::string& table,
                                                             int64_t min_rows) {
  // Most tables a client reads whole are small: their estimate, read from the catalog,
  // settles it without the catalog query below (duckdb_columns() reads every table's
  // columns: it cost a 1,000-row prepared query three quarters of its CPU).
  ARROW_ASSIGN_OR_RAISE(auto estimated, conn->EstimatedRows(table));
  if (!estimated || *estimated < min_rows) return std::nullopt;
  ARROW_ASSIGN_OR_RAISE(auto facts, TableFacts(conn, table, /*columns=*/true));
  if (!facts || (*facts)[3] > 0 || (*facts)[1] < min_rows) return std::nullopt;
  // Two statements: a table replaced or changed between them is refused by the readers
  // of the ranges (ExtentBelow), never read across two states.
  ARROW_ASSIGN_OR_RAISE(
      auto result, conn->QueryTable("SELECT count(*)::BIGINT, coalesce(max(rowid) + 1, 0)"
                                    "::BIGINT FROM " + QuoteIdentifier(table)));
  if (result->num_rows() != 1) return arrow::Status::IOError("count returned no row");
  TableExtent extent;
  extent.oid = (*facts)[0];
  extent.shape = (*facts)[2];
  ARROW_ASSIGN_OR_RAISE(extent.rows, Int64At(*result, 0));
  ARROW_ASSIGN_OR_RAISE(extent.rowid_end, Int64At(*result, 1));
  return extent;
}

arrow::Result<std::optional<TableExtent>> ExtentBelow(Connection* conn,
                                                      const std::string& table,
                                                      int64_t rowid_end) {
  // A rowid column added since changes the shape: no need to look for it again.
  ARROW_ASSIGN_OR_RAISE(auto facts, TableFacts(conn, table, /*columns=*/false));
  if (!facts) return std::nullopt;
  ARROW_ASSIGN_OR_RAISE(
      auto result, conn->QueryTable("SELECT count(*)::BIGINT FROM " + QuoteIdentifier(table) +
                                    " WHERE rowid < " + std::to_string(rowid_end)));
  if (result->num_rows() != 1) return arrow::Status::IOError("count returned no row");
  TableExtent extent;
  extent.oid = (*facts)[0];
  extent.shape = (*facts)[2];
  extent.rowid_end = rowid_end;
  ARROW_ASSIGN_OR_RAISE(extent.rows, Int64At(*result, 0));
  return extent;
}

}  // namespace arrowport::storage
