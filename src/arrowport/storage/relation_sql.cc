#include "arrowport/storage/relation_sql.h"

#include "arrow/scalar.h"
#include "arrow/table.h"
#include "arrowport/common/identifier.h"
#include "arrowport/storage/connection.h"

namespace arrowport::storage {

std::string SelectFromTable(const std::string& table, const std::vector<std::string>& columns,
                            std::optional<int64_t> limit) {
  std::string select;
  for (const auto& column : columns) {
    select += (select.empty() ? "" : ", ") + QuoteIdentifier(column);
  }
  std::string out = "SELECT " + (select.empty() ? std::string("*") : select) + " FROM " +
                    QuoteIdentifier(table);
  if (limit) out += " LIMIT " + std::to_string(*limit);
  return out;
}

arrow::Result<int64_t> CountRows(Connection* conn, const std::string& table) {
  ARROW_ASSIGN_OR_RAISE(auto result,
                        conn->QueryTable("SELECT count(*)::BIGINT FROM " + QuoteIdentifier(table)));
  if (result->num_rows() != 1) return arrow::Status::IOError("count returned no row");
  ARROW_ASSIGN_OR_RAISE(auto scalar, result->column(0)->GetScalar(0));
  return std::static_pointer_cast<arrow::Int64Scalar>(scalar)->value;
}

arrow::Status CreateFileView(Connection* conn, const std::string& name,
                             const std::string& location) {
  auto ends_with = [&](const std::string& suffix) {
    return location.size() >= suffix.size() &&
           location.compare(location.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  std::string reader = "read_parquet";
  if (ends_with(".csv") || ends_with(".csv.gz") || ends_with(".tsv")) reader = "read_csv";
  if (ends_with(".json") || ends_with(".jsonl") || ends_with(".ndjson")) reader = "read_json";
  return conn->Execute("CREATE OR REPLACE VIEW " + QuoteIdentifier(name) + " AS SELECT * FROM " +
                       reader + "(" + QuoteLiteral(location) + ")");
}

std::string LoadExtensionSql(const std::string& name) { return "LOAD " + QuoteIdentifier(name); }

}  // namespace arrowport::storage
