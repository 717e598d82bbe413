#pragma once

#include <cstdint>
#include <string>

namespace arrowport::storage {

/// A column as DuckDB sees it.
struct ColumnInfo {
  std::string name;
  std::string type;  ///< DuckDB's spelling, e.g. "DECIMAL(18,3)"
  bool nullable = true;
};

struct TableInfo {
  std::string name;
  std::string kind;  ///< "table" or "view"
  int64_t estimated_rows = -1;
};

}  // namespace arrowport::storage
