#include "arrowport/storage/catalog/server_secrets.h"

#include "arrow/array.h"
#include "arrow/scalar.h"
#include "arrow/table.h"
#include "arrowport/common/identifier.h"

namespace arrowport::storage {

namespace {

constexpr const char* kStateSchema = "arrowport";  // the request log's, hidden from SQL
constexpr const char* kSecretsTable = "secrets";

}  // namespace

arrow::Result<std::string> KeepServerSecret(Connection* conn, const std::string& name,
                                            const std::string& candidate) {
  // Fully qualified: the catalog is named after the database file (see request_log.cc).
  const std::string schema = QuoteIdentifier(conn->catalog()) + "." +
                             QuoteIdentifier(kStateSchema);
  const std::string table = schema + "." + QuoteIdentifier(kSecretsTable);
  auto kept = conn->Execute("CREATE SCHEMA IF NOT EXISTS " + schema +
                            "; CREATE TABLE IF NOT EXISTS " + table +
                            " (name VARCHAR PRIMARY KEY, value VARCHAR NOT NULL, "
                            "created_at TIMESTAMP DEFAULT current_timestamp)");
  if (kept.ok()) {
    kept = conn->QueryTable("INSERT OR IGNORE INTO " + table +
                                " (name, value) VALUES ($1, $2)",
                            {name, candidate})
               .status();
  }
  auto found = kept.ok() ? conn->QueryTable("SELECT value FROM " + table +
                                                " WHERE name = $1",
                                            {name})
                         : arrow::Result<std::shared_ptr<arrow::Table>>(kept);
  if (!found.ok()) {
    return found.status().WithMessage("the server's secret '", name,
                                      "' cannot be kept in its database "
                                      "(arrowport.secrets): ",
                                      found.status().message());
  }
  const auto& rows = *found;
  if (rows->num_rows() != 1 || rows->num_columns() != 1) {
    return arrow::Status::IOError("the server's secret '", name, "' is missing from "
                                  "arrowport.secrets after it was stored");
  }
  ARROW_ASSIGN_OR_RAISE(auto value, rows->column(0)->GetScalar(0));
  if (!value->is_valid) {
    return arrow::Status::IOError("the server's secret '", name, "' is NULL in "
                                  "arrowport.secrets: the table was changed outside the "
                                  "server; delete its row to make a new one");
  }
  const auto type = value->type->id();
  if (type != arrow::Type::STRING && type != arrow::Type::STRING_VIEW &&
      type != arrow::Type::LARGE_STRING) {
    return arrow::Status::IOError("the server's secret '", name, "' in arrowport.secrets "
                                  "is of type ", value->type->ToString(), ", not text");
  }
  return std::string(static_cast<const arrow::BaseBinaryScalar&>(*value).view());
}

}  // namespace arrowport::storage
