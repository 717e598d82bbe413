#include "arrowport/storage/core/table_name.h"

#include "arrow/util/string.h"
#include "arrowport/common/identifier.h"
#include "arrowport/common/status_detail.h"

namespace arrowport::storage {

namespace {
constexpr const char* kTempCatalog = "temp";

bool IsSchemaNamed(const std::string& a, const char* b) {
  return arrow::internal::AsciiEqualsCaseInsensitive(a, b);
}
}  // namespace

arrow::Result<TableName> TableName::FromClient(const std::string& schema,
                                               const std::string& table, bool temporary) {
  ARROW_RETURN_NOT_OK(ValidateName("table", table));
  std::string normalized = schema.empty() || IsSchemaNamed(schema, "main") ? "main" : schema;
  ARROW_RETURN_NOT_OK(ValidateName("schema", normalized));
  if (temporary && normalized != "main") {
    return arrow::Status::Invalid("a temporary table has no schema (got '", schema,
                                  "'); leave the schema unset");
  }
  for (const char* reserved : {"arrowport", "arrowport_scratch", "temp", "system",
                               "information_schema", "pg_catalog"}) {
    if (IsSchemaNamed(normalized, reserved)) {
      return PermissionDenied("schema '", normalized, "' is reserved (the server's own "
                              "state or DuckDB's catalogs); write to another schema");
    }
  }
  return TableName(std::move(normalized), table, temporary);
}

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
