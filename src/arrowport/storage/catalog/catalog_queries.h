#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrow/type_fwd.h"
#include "arrowport/storage/catalog/catalog_rows.h"

namespace arrowport::storage {

class Connection;

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
