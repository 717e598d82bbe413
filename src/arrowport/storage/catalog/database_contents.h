#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "arrow/result.h"

namespace arrowport::storage {

/// One table of a database file: its row count and a checksum of its contents.
struct TableContents {
  std::string schema;
  std::string name;
  int64_t rows = 0;
  /// The sum, as a decimal integer, of DuckDB's hash() of every row (all columns): the
  /// same for the same rows in any order, from the same DuckDB version.
  std::string checksum;
};

/// What a database file holds, as a backup's manifest names it.
struct DatabaseContents {
  std::string duckdb_version;
  std::vector<TableContents> tables;  ///< every table of every schema, sorted by name
  /// The request log's keys (arrowport.requests): "<id>[ batch <n>] to <table>", sorted.
  std::vector<std::string> request_ids;
};

/// \brief Opens the database file at `path` read-only, on a DuckDB instance of its own
/// (never the server's: a backup's copy, or a file a restore wrote), and reads its
/// tables, their counts and checksums, and its request log, in one snapshot.
arrow::Result<DatabaseContents> ReadDatabaseContents(const std::string& path);

}  // namespace arrowport::storage
