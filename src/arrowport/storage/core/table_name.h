#pragma once

#include <string>

#include "arrow/result.h"

namespace arrowport::storage {

/// \brief A table the server writes itself: a schema of the database's own catalog, or
/// (temporary) DuckDB's temp catalog, which only the connection that made it sees.
/// Built from a bare name it is a table of schema main, as every ingest protocol names
/// one; Flight SQL ingest may name another schema or ask for a temporary table.
struct TableName {
  TableName() = default;
  // Implicit: a bare name is a table of schema main.
  TableName(std::string name) : table(std::move(name)) {}  // NOLINT
  TableName(const char* name) : table(name) {}             // NOLINT
  TableName(std::string schema_name, std::string name, bool is_temporary = false)
      : schema(std::move(schema_name)), table(std::move(name)), temporary(is_temporary) {}

  /// \brief A table a client names (Flight SQL ingest): names are checked identifiers,
  /// schema main is spelt `main` whatever its case, and schemas that hold the server's
  /// own state (the request log, the ingest scratch catalog) or DuckDB's catalogs
  /// (temp, system, information_schema, pg_catalog) are refused.
  static arrow::Result<TableName> FromClient(const std::string& schema,
                                             const std::string& table, bool temporary);

  std::string schema = "main";
  std::string table;
  bool temporary = false;

  /// "t", "s.t" or "temp.t": for logs, errors, access lists, cache and lock keys (names
  /// are identifiers without dots, so these never collide).
  std::string ToString() const;
  /// The catalog that holds it: DuckDB's "temp", or `database_catalog`.
  std::string CatalogIn(const std::string& database_catalog) const;
  /// Fully qualified and quoted SQL name, given the database's own catalog.
  std::string Sql(const std::string& database_catalog) const;

  bool operator==(const TableName& other) const {
    return schema == other.schema && table == other.table && temporary == other.temporary;
  }
};

}  // namespace arrowport::storage
