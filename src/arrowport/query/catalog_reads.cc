#include "arrowport/query/catalog_reads.h"

#include "arrowport/query/session_connection.h"
#include "arrowport/storage/catalog/catalog_queries.h"
#include "arrowport/storage/database/shared_connection.h"

namespace arrowport::query {

CatalogReads::CatalogReads(SessionLease& lease)
    : connection_(&lease.storage_lease(StorageAccess{}).connection()) {}

arrow::Result<std::vector<std::string>> CatalogReads::Catalogs() {
  return storage::CatalogQueries(connection_).Catalogs();
}

arrow::Result<std::vector<SchemaRow>> CatalogReads::Schemas(const CatalogFilter& filter) {
  return storage::CatalogQueries(connection_).Schemas(filter);
}

arrow::Result<std::vector<RelationRow>> CatalogReads::Relations(const CatalogFilter& filter) {
  return storage::CatalogQueries(connection_).Relations(filter);
}

arrow::Result<std::shared_ptr<arrow::Schema>> CatalogReads::RelationSchema(
    const RelationRow& relation) {
  return storage::CatalogQueries(connection_).RelationSchema(relation);
}

arrow::Result<std::vector<ColumnRow>> CatalogReads::Columns(const CatalogFilter& filter) {
  return storage::CatalogQueries(connection_).Columns(filter);
}

arrow::Result<std::vector<KeyColumnRow>> CatalogReads::PrimaryKeys(
    const std::optional<std::string>& catalog, const std::optional<std::string>& schema,
    const std::string& table) {
  return storage::CatalogQueries(connection_).PrimaryKeys(catalog, schema, table);
}

std::vector<std::string> CatalogReads::RelationTypes() {
  return storage::CatalogQueries::RelationTypes();
}

}  // namespace arrowport::query
