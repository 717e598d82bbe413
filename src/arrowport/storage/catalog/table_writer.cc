#include "arrowport/storage/catalog/table_writer.h"

#include "arrowport/common/identifier.h"
#include "arrowport/storage/database/connection.h"
#include "arrowport/storage/core/type_mapping.h"

namespace arrowport::storage {

namespace {

std::string JoinQuoted(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + QuoteIdentifier(names[i]);
  return out;
}

}  // namespace

arrow::Status CreateTable(Connection* conn, const TableName& table,
                          const std::vector<ColumnInfo>& columns) {
  for (const auto& column : columns) {
    if (IsNullType(column.type)) {
      return arrow::Status::Invalid(
          "column '", column.name,
          "' has Arrow type null (no values to infer a type from); cast it to a concrete "
          "type on the client, or create the table first");
    }
  }
  // Every statement here holds its table (Connection::Hold): for the transaction it
  // runs in (the writer holding it already, this waits for nothing), or for itself.
  ARROW_ASSIGN_OR_RAISE(auto pass, conn->Hold(table, TableUse::kReshape));
  std::string sql = std::string(table.temporary ? "CREATE TEMPORARY TABLE " : "CREATE TABLE ") +
                    conn->Qualified(table) + " (";
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i) sql += ", ";
    sql += QuoteIdentifier(columns[i].name) + " " + StorageTypeFor(columns[i].type);
  }
  return conn->Execute(sql + ")");
}

arrow::Status AddColumn(Connection* conn, const TableName& table, const ColumnInfo& column) {
  ARROW_ASSIGN_OR_RAISE(auto pass, conn->Hold(table, TableUse::kReshape));
  return conn->Execute("ALTER TABLE " + conn->Qualified(table) + " ADD COLUMN " +
                       QuoteIdentifier(column.name) + " " + StorageTypeFor(column.type));
}

arrow::Status DropTable(Connection* conn, const TableName& table) {
  ARROW_ASSIGN_OR_RAISE(auto pass, conn->Hold(table, TableUse::kReshape));
  return conn->Execute("DROP TABLE " + conn->Qualified(table));
}

arrow::Result<int64_t> InsertFrom(Connection* conn, const TableName& table,
                                  const std::string& relation,
                                  const std::vector<std::string>& target_columns,
                                  const std::vector<std::string>& source_columns,
                                  InsertLength length) {
  ARROW_ASSIGN_OR_RAISE(auto pass, conn->Hold(table, TableUse::kWrite));
  const std::string sql = "INSERT INTO " + conn->Qualified(table) + " (" +
                          JoinQuoted(target_columns) + ") SELECT " +
                          JoinQuoted(source_columns) + " FROM " + relation;
  return length == InsertLength::kStream ? conn->ExecuteBulkUpdate(sql)
                                         : conn->ExecuteUpdate(sql);
}

}  // namespace arrowport::storage
