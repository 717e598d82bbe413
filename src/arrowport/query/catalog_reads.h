#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrow/type_fwd.h"
#include "arrowport/storage/catalog/catalog_rows.h"  // plain data

namespace arrowport::storage {
class Connection;
}  // namespace arrowport::storage

namespace arrowport::query {

class SessionLease;

using CatalogFilter = storage::CatalogFilter;
using SchemaRow = storage::SchemaRow;
using RelationRow = storage::RelationRow;
using KeyColumnRow = storage::KeyColumnRow;
using ColumnRow = storage::ColumnRow;

/// \brief Catalog metadata for SQL clients (Flight SQL GetCatalogs/DbSchemas/Tables/
/// PrimaryKeys) read on a leased session connection, so a session's temporary tables
/// show (see storage::CatalogQueries). Lives no longer than the lease it was made with.
class CatalogReads {
 public:
  explicit CatalogReads(SessionLease& lease);

  arrow::Result<std::vector<std::string>> Catalogs();
  arrow::Result<std::vector<SchemaRow>> Schemas(const CatalogFilter& filter);
  arrow::Result<std::vector<RelationRow>> Relations(const CatalogFilter& filter);
  /// The Arrow schema of a table or view, as a query of it would return.
  arrow::Result<std::shared_ptr<arrow::Schema>> RelationSchema(const RelationRow& relation);
  /// Columns of the relations `filter` selects (types ignored), in table order.
  arrow::Result<std::vector<ColumnRow>> Columns(const CatalogFilter& filter);
  arrow::Result<std::vector<KeyColumnRow>> PrimaryKeys(
      const std::optional<std::string>& catalog, const std::optional<std::string>& schema,
      const std::string& table);
  /// The relation types Relations() reports.
  static std::vector<std::string> RelationTypes();

 private:
  storage::Connection* connection_;  // the lease's
};

}  // namespace arrowport::query
