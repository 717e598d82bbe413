#include "arrowport/storage/relation_sql.h"

#include <algorithm>
#include <array>

#include "arrow/scalar.h"
#include "arrow/table.h"
#include "arrowport/common/identifier.h"
#include "arrowport/storage/connection.h"
#include "arrowport/storage/view_file_system.h"

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

namespace {

// DuckDB's reader for a file or glob, by its extension (Parquet when it has none).
const char* ReaderFor(const std::string& location) {
  auto ends_with = [&](const std::string& suffix) {
    return location.size() >= suffix.size() &&
           location.compare(location.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with(".csv") || ends_with(".csv.gz") || ends_with(".tsv")) return "read_csv";
  if (ends_with(".json") || ends_with(".jsonl") || ends_with(".ndjson")) {
    return "read_json";
  }
  return "read_parquet";
}

arrow::Status CreateFileView(Connection* conn, const std::string& name,
                             const std::vector<std::string>& locations, bool gated) {
  const char* reader = ReaderFor(locations.front());
  for (const auto& location : locations) {
    if (std::string(ReaderFor(location)) != reader) {
      return arrow::Status::Invalid("the files of one view must be of one format: '",
                                    locations.front(), "' is read with ", reader, ", '",
                                    location, "' with ", ReaderFor(location));
    }
  }
  auto path = [gated](const std::string& location) {
    return QuoteLiteral(gated ? ViewPathOf(location) : location);
  };
  // One location keeps DuckDB's plain form; several are a list (one scan, one schema).
  std::string argument = path(locations.front());
  if (locations.size() > 1) {
    argument = "[";
    for (const auto& location : locations) {
      argument += (argument.size() > 1 ? ", " : "") + path(location);
    }
    argument += "]";
  }
  return conn->Execute("CREATE OR REPLACE VIEW " + QuoteIdentifier(name) +
                       " AS SELECT * FROM " + reader + "(" + argument + ")");
}

}  // namespace

arrow::Status CreateFileViews(
    Connection* conn, const std::vector<std::pair<std::string, std::string>>& file_views,
    bool gated) {
  std::vector<std::pair<std::string, std::vector<std::string>>> views;  // in given order
  for (const auto& [name, location] : file_views) {
    auto same = std::find_if(views.begin(), views.end(), [&name = name](const auto& view) {
      return view.first == name;
    });
    if (same == views.end()) {
      views.push_back({name, {location}});
    } else {
      same->second.push_back(location);
    }
  }
  for (const auto& [name, locations] : views) {
    auto st = CreateFileView(conn, name, locations, gated);
    if (st.ok()) continue;
    std::string quoted;
    for (const auto& location : locations) {
      quoted += (quoted.empty() ? "'" : ", '") + location + "'";
    }
    return st.WithMessage("views.", name, " (", quoted, "): ", st.message());
  }
  return arrow::Status::OK();
}

std::string LoadExtensionSql(const std::string& name) { return "LOAD " + QuoteIdentifier(name); }

}  // namespace arrowport::storage
