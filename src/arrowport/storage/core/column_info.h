#pragma once

#include <cstdint>
#include <string>

namespace arrowport::storage {

/// \brief A column type as DuckDB's logical type describes it, so that type rules work on
/// typed facts rather than on parsed type names. Read it through type_mapping.h; only
/// storage/ gives `id` its meaning (a duckdb_type value).
struct ColumnType {
  int id = 0;           ///< duckdb_type of the logical type
  uint8_t width = 0;    ///< DECIMAL only: total digits
  uint8_t scale = 0;    ///< DECIMAL only: digits after the point
  bool aliased = false; ///< a named variant of `id` (JSON, user types): no widening rules
  std::string identity; ///< full identity (id, alias, parameters, nested types): equal
                        ///< exactly when the types are the same type
  std::string sql;      ///< DuckDB's spelling, e.g. "DECIMAL(18,3)": for DDL and messages
};

/// A column as DuckDB sees it.
struct ColumnInfo {
  std::string name;
  ColumnType type;
  bool nullable = true;
};

struct TableInfo {
  std::string name;
  std::string kind;  ///< "table" or "view"
  int64_t estimated_rows = -1;
};

}  // namespace arrowport::storage
