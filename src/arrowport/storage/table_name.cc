#include "arrowport/storage/table_name.h"

#include "arrowport/common/identifier.h"

namespace arrowport::storage {

namespace {
constexpr const char* kTempCatalog = "temp";
}  // namespace

std::string TableName::ToString() const {
  if (temporary) return std::string(kTempCatalog) + "." + table;
  return schema == "main" ? table : schema + "." + table;
}

std::string TableName::CatalogIn(const std::string& database_catalog) const {
  return temporary ? kTempCatalog : database_catalog;
}

std::string TableName::Sql(const std::string& database_catalog) const {
  return QuoteIdentifier(CatalogIn(database_catalog)) + "." + QuoteIdentifier(schema) + "." +
         QuoteIdentifier(table);
}

}  // namespace arrowport::storage
