#include "arrowport/storage/catalog/database_contents.h"

#include <duckdb.h>

#include <algorithm>

#include "arrowport/common/identifier.h"
#include "arrowport/storage/core/duckdb_error.h"
#include "arrowport/storage/core/duckdb_handle.h"

namespace arrowport::storage {

namespace {

using Rows = std::vector<std::vector<std::string>>;

// A small result as text (NULL as "").
arrow::Result<Rows> QueryRows(duckdb_connection conn, const std::string& sql) {
  ResultHandle result;
  if (duckdb_query(conn, sql.c_str(), result.out()) == DuckDBError) {
    return ResultError(result.ptr());
  }
  const idx_t columns = duckdb_column_count(result.ptr());
  const idx_t rows = duckdb_row_count(result.ptr());
  Rows out(rows, std::vector<std::string>(columns));
  for (idx_t r = 0; r < rows; ++r) {
    for (idx_t c = 0; c < columns; ++c) {
      char* text = duckdb_value_varchar(result.ptr(), c, r);
      if (text != nullptr) {
        out[r][c] = text;
        duckdb_free(text);
      }
    }
  }
  return out;
}

arrow::Status Open(const std::string& path, DatabaseHandle* db, ConnectionHandle* conn) {
  ConfigHandle config;
  if (duckdb_create_config(config.out()) == DuckDBError) {
    return arrow::Status::OutOfMemory("cannot make a DuckDB configuration");
  }
  (void)duckdb_set_config(config.get(), "access_mode", "READ_ONLY");
  (void)duckdb_set_config(config.get(), "autoload_known_extensions", "false");
  char* error = nullptr;
  if (duckdb_open_ext(path.c_str(), db->out(), config.get(), &error) == DuckDBError) {
    std::string message = error ? error : "unknown error";
    if (error) duckdb_free(error);
    return arrow::Status::IOError("cannot open the database file '", path,
                                  "': ", message);
  }
  if (duckdb_connect(db->get(), conn->out()) == DuckDBError) {
    return arrow::Status::IOError("cannot connect to the database file '", path, "'");
  }
  return arrow::Status::OK();
}

arrow::Result<TableContents> ReadTable(duckdb_connection conn, const std::string& catalog,
                                       const std::string& schema, const std::string& name) {
  ARROW_ASSIGN_OR_RAISE(
      auto columns,
      QueryRows(conn, "SELECT column_name FROM duckdb_columns() WHERE database_name = "
                      "current_database() AND schema_name = " + QuoteLiteral(schema) +
                      " AND table_name = " + QuoteLiteral(name) + " ORDER BY column_index"));
  std::string hashed;
  for (const auto& column : columns) {
    hashed += (hashed.empty() ? "" : ", ") + QuoteIdentifier(column[0]);
  }
  // Qualified by the catalog: a file named arrowport.duckdb is a catalog "arrowport" too.
  const std::string table = QuoteIdentifier(catalog) + "." + QuoteIdentifier(schema) + "." +
                            QuoteIdentifier(name);
  ARROW_ASSIGN_OR_RAISE(
      auto figures,
      QueryRows(conn, "SELECT count(*), coalesce(sum(hash(" + hashed +
                          ")::HUGEINT), 0) FROM " + table));
  TableContents contents{schema, name, 0, figures.at(0).at(1)};
  contents.rows = std::stoll(figures.at(0).at(0));
  return contents;
}

}  // namespace

arrow::Result<DatabaseContents> ReadDatabaseContents(const std::string& path) {
  DatabaseHandle db;
  ConnectionHandle conn;
  ARROW_RETURN_NOT_OK(Open(path, &db, &conn));
  DatabaseContents contents;
  contents.duckdb_version = duckdb_library_version();
  // Read-only: one snapshot for every figure, the file changing under none of them.
  ARROW_RETURN_NOT_OK(QueryRows(conn.get(), "BEGIN TRANSACTION READ ONLY").status());
  ARROW_ASSIGN_OR_RAISE(
      auto tables,
      QueryRows(conn.get(), "SELECT schema_name, table_name FROM duckdb_tables() WHERE "
                            "database_name = current_database() AND NOT internal AND NOT "
                            "temporary ORDER BY schema_name, table_name"));
  ARROW_ASSIGN_OR_RAISE(auto catalog, QueryRows(conn.get(), "SELECT current_database()"));
  const std::string& name = catalog.at(0).at(0);
  bool has_log = false;
  for (const auto& row : tables) {
    ARROW_ASSIGN_OR_RAISE(auto table, ReadTable(conn.get(), name, row[0], row[1]));
    contents.tables.push_back(std::move(table));
    has_log = has_log || (row[0] == "arrowport" && row[1] == "requests");
  }
  if (has_log) {
    ARROW_ASSIGN_OR_RAISE(
        auto ids, QueryRows(conn.get(), "SELECT request_id FROM " + QuoteIdentifier(name) +
                                        ".arrowport.requests ORDER BY request_id"));
    for (auto& id : ids) contents.request_ids.push_back(std::move(id[0]));
  }
  return contents;
}

}  // namespace arrowport::storage
