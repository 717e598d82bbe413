#pragma once

// The rows the catalog queries return (catalog_queries.h): plain data, which the query
// pipeline hands to the protocols as they are (query/catalog_reads.h).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace arrowport::storage {

/// What the catalog queries (CatalogQueries) may filter on. Patterns use SQL LIKE syntax
/// (`%`, `_`).
struct CatalogFilter {
  std::optional<std::string> catalog;         ///< exact; "" = relations without catalog
  std::optional<std::string> schema_pattern;  ///< LIKE pattern
  std::optional<std::string> table_pattern;   ///< LIKE pattern
  std::vector<std::string> table_types;       ///< empty = all ("TABLE", "VIEW", ...)
};

struct SchemaRow {
  std::string catalog;
  std::string schema;
};

struct RelationRow {
  std::string catalog;
  std::string schema;
  std::string name;
  std::string type;  ///< "TABLE", "VIEW" or "LOCAL TEMPORARY"
};

struct KeyColumnRow {
  std::string catalog;
  std::string schema;
  std::string table;
  std::string column;
  int32_t sequence = 1;  ///< 1-based position in the key
  std::string key_name;
};

struct ColumnRow {
  std::string catalog;
  std::string schema;
  std::string table;
  std::string name;
  std::string type;  ///< DuckDB's name, e.g. "DECIMAL(10,2)"
  bool nullable = true;
  std::optional<int32_t> precision;  ///< numeric types
  std::optional<int32_t> scale;
};

}  // namespace arrowport::storage
