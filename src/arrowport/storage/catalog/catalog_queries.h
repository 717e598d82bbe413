#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrow/type_fwd.h"

namespace arrowport::storage {

class Connection;

/// What the catalog queries below may filter on. Patterns use SQL LIKE syntax (`%`, `_`).
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

/// \brief Catalog metadata for SQL clients (Flight SQL GetCatalogs/DbSchemas/Tables/
/// PrimaryKeys), read from DuckDB's information_schema and duckdb_constraints(). Internal
/// catalogs (system, the scratch catalog of Arrow stream views) are left out.
class CatalogQueries {
 public:
  explicit CatalogQueries(Connection* connection) : connection_(connection) {}

  arrow::Result<std::vector<std::string>> Catalogs();
  arrow::Result<std::vector<SchemaRow>> Schemas(const CatalogFilter& filter);
  arrow::Result<std::vector<RelationRow>> Relations(const CatalogFilter& filter);
  /// The Arrow schema of a table or view, as a query of it would return.
  arrow::Result<std::shared_ptr<arrow::Schema>> RelationSchema(const RelationRow& relation);
  /// Columns of the relations `filter` selects (types ignored), in table order.
  arrow::Result<std::vector<ColumnRow>> Columns(const CatalogFilter& filter);
  arrow::Result<std::vector<KeyColumnRow>> PrimaryKeys(const std::optional<std::string>& catalog,
                                                       const std::optional<std::string>& schema,
                                                       const std::string& table);
  /// The relation types Relations() reports.
  static std::vector<std::string> RelationTypes();

 private:
  Connection* connection_;
};

}  // namespace arrowport::storage
