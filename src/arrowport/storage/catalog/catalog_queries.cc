#include "arrowport/storage/catalog/catalog_queries.h"

#include <algorithm>

#include "arrow/array.h"
#include "arrow/scalar.h"
#include "arrow/table.h"
#include "arrowport/common/identifier.h"
#include "arrowport/storage/database/connection.h"

namespace arrowport::storage {

namespace {

// Catalogs a client never sees: DuckDB's own and the scratch catalog of stream views.
constexpr const char* kHiddenCatalogs = "('system', 'arrowport_scratch')";
// Nor the request log's schema (the sandbox refuses it to every SQL caller).
constexpr const char* kHiddenSchema = "'arrowport'";

// Text of every row of `column` (empty for NULL).
arrow::Result<std::vector<std::string>> Strings(const arrow::Table& table, const char* column) {
  auto chunked = table.GetColumnByName(column);
  if (!chunked) return arrow::Status::IOError("catalog query lacks column ", column);
  std::vector<std::string> out;
  out.reserve(table.num_rows());
  for (const auto& chunk : chunked->chunks()) {
    for (int64_t i = 0; i < chunk->length(); ++i) {
      if (chunk->IsNull(i)) {
        out.emplace_back();
        continue;
      }
      ARROW_ASSIGN_OR_RAISE(auto scalar, chunk->GetScalar(i));
      out.push_back(scalar->ToString());
    }
  }
  return out;
}

// Appends "AND <column> <op> $n" with `value` as parameter n.
void AddCondition(std::string* sql, std::vector<std::string>* params, const char* column,
                  const char* op, const std::string& value) {
  params->push_back(value);
  *sql += std::string(" AND ") + column + " " + op + " $" + std::to_string(params->size());
}

std::string FlightTableType(const std::string& duckdb_type) {
  if (duckdb_type == "BASE TABLE") return "TABLE";
  return duckdb_type;
}

}  // namespace

std::vector<std::string> CatalogQueries::RelationTypes() {
  return {"LOCAL TEMPORARY", "TABLE", "VIEW"};
}

arrow::Result<std::vector<std::string>> CatalogQueries::Catalogs() {
  ARROW_ASSIGN_OR_RAISE(auto table,
                        connection_->QueryTable(
                            std::string("SELECT DISTINCT catalog_name FROM "
                                        "information_schema.schemata WHERE catalog_name "
                                        "NOT IN ") +
                            kHiddenCatalogs + " ORDER BY catalog_name"));
  return Strings(*table, "catalog_name");
}

arrow::Result<std::vector<SchemaRow>> CatalogQueries::Schemas(const CatalogFilter& filter) {
  std::string sql =
      std::string("SELECT catalog_name, schema_name FROM information_schema.schemata "
                  "WHERE catalog_name NOT IN ") + kHiddenCatalogs +
      " AND schema_name <> " + kHiddenSchema;
  std::vector<std::string> params;
  if (filter.catalog) AddCondition(&sql, &params, "catalog_name", "=", *filter.catalog);
  if (filter.schema_pattern) {
    AddCondition(&sql, &params, "schema_name", "LIKE", *filter.schema_pattern);
  }
  sql += " ORDER BY catalog_name, schema_name";
  ARROW_ASSIGN_OR_RAISE(auto table, connection_->QueryTable(sql, params));
  ARROW_ASSIGN_OR_RAISE(auto catalogs, Strings(*table, "catalog_name"));
  ARROW_ASSIGN_OR_RAISE(auto schemas, Strings(*table, "schema_name"));
  std::vector<SchemaRow> out;
  for (size_t i = 0; i < catalogs.size(); ++i) out.push_back({catalogs[i], schemas[i]});
  return out;
}

namespace {

// The catalog, schema pattern and table pattern of `filter` as conditions on
// information_schema columns, with bound parameters.
void AddFilter(std::string* sql, std::vector<std::string>* params, const CatalogFilter& filter) {
  if (filter.catalog) AddCondition(sql, params, "table_catalog", "=", *filter.catalog);
  if (filter.schema_pattern) {
    AddCondition(sql, params, "table_schema", "LIKE", *filter.schema_pattern);
  }
  if (filter.table_pattern) {
    AddCondition(sql, params, "table_name", "LIKE", *filter.table_pattern);
  }
}

}  // namespace

arrow::Result<std::vector<RelationRow>> CatalogQueries::Relations(const CatalogFilter& filter) {
  std::string sql =
      std::string("SELECT table_catalog, table_schema, table_name, table_type FROM "
                  "information_schema.tables WHERE table_catalog NOT IN ") + kHiddenCatalogs +
      " AND table_schema <> " + kHiddenSchema;
  std::vector<std::string> params;
  AddFilter(&sql, &params, filter);
  sql += " ORDER BY table_type, table_catalog, table_schema, table_name";
  ARROW_ASSIGN_OR_RAISE(auto table, connection_->QueryTable(sql, params));
  ARROW_ASSIGN_OR_RAISE(auto catalogs, Strings(*table, "table_catalog"));
  ARROW_ASSIGN_OR_RAISE(auto schemas, Strings(*table, "table_schema"));
  ARROW_ASSIGN_OR_RAISE(auto names, Strings(*table, "table_name"));
  ARROW_ASSIGN_OR_RAISE(auto types, Strings(*table, "table_type"));
  std::vector<RelationRow> out;
  for (size_t i = 0; i < names.size(); ++i) {
    RelationRow row{catalogs[i], schemas[i], names[i], FlightTableType(types[i])};
    if (!filter.table_types.empty() &&
        std::find(filter.table_types.begin(), filter.table_types.end(), row.type) ==
            filter.table_types.end()) {
      continue;
    }
    out.push_back(std::move(row));
  }
  return out;
}

arrow::Result<std::shared_ptr<arrow::Schema>> CatalogQueries::RelationSchema(
    const RelationRow& relation) {
  return connection_->DescribeQuery("SELECT * FROM " + QuoteIdentifier(relation.catalog) +
                                    "." + QuoteIdentifier(relation.schema) + "." +
                                    QuoteIdentifier(relation.name));
}

arrow::Result<std::vector<ColumnRow>> CatalogQueries::Columns(const CatalogFilter& filter) {
  std::string sql =
      std::string("SELECT table_catalog, table_schema, table_name, column_name, data_type, "
                  "is_nullable, numeric_precision::VARCHAR AS numeric_precision, "
                  "numeric_scale::VARCHAR AS numeric_scale FROM information_schema.columns "
                  "WHERE table_catalog NOT IN ") + kHiddenCatalogs +
      " AND table_schema <> " + kHiddenSchema;
  std::vector<std::string> params;
  AddFilter(&sql, &params, filter);
  sql += " ORDER BY table_catalog, table_schema, table_name, ordinal_position";
  ARROW_ASSIGN_OR_RAISE(auto result, connection_->QueryTable(sql, params));
  ARROW_ASSIGN_OR_RAISE(auto catalogs, Strings(*result, "table_catalog"));
  ARROW_ASSIGN_OR_RAISE(auto schemas, Strings(*result, "table_schema"));
  ARROW_ASSIGN_OR_RAISE(auto tables, Strings(*result, "table_name"));
  ARROW_ASSIGN_OR_RAISE(auto names, Strings(*result, "column_name"));
  ARROW_ASSIGN_OR_RAISE(auto types, Strings(*result, "data_type"));
  ARROW_ASSIGN_OR_RAISE(auto nullable, Strings(*result, "is_nullable"));
  ARROW_ASSIGN_OR_RAISE(auto precision, Strings(*result, "numeric_precision"));
  ARROW_ASSIGN_OR_RAISE(auto scale, Strings(*result, "numeric_scale"));
  auto number = [](const std::string& text) -> std::optional<int32_t> {
    if (text.empty()) return std::nullopt;
    return static_cast<int32_t>(std::stol(text));
  };
  std::vector<ColumnRow> out;
  for (size_t i = 0; i < names.size(); ++i) {
    out.push_back({catalogs[i], schemas[i], tables[i], names[i], types[i], nullable[i] != "NO",
                   number(precision[i]), number(scale[i])});
  }
  return out;
}

arrow::Result<std::vector<KeyColumnRow>> CatalogQueries::PrimaryKeys(
    const std::optional<std::string>& catalog, const std::optional<std::string>& schema,
    const std::string& table) {
  std::string sql =
      "SELECT database_name, schema_name, table_name, constraint_name, "
      "unnest(constraint_column_names) AS column_name, "
      "unnest(generate_series(1, len(constraint_column_names))) AS key_sequence "
      "FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' "
      "AND database_name NOT IN " + std::string(kHiddenCatalogs) +
      " AND schema_name <> " + kHiddenSchema;
  std::vector<std::string> params;
  AddCondition(&sql, &params, "table_name", "=", table);
  if (catalog) AddCondition(&sql, &params, "database_name", "=", *catalog);
  if (schema) AddCondition(&sql, &params, "schema_name", "=", *schema);
  sql += " ORDER BY database_name, schema_name, key_sequence";
  ARROW_ASSIGN_OR_RAISE(auto result, connection_->QueryTable(sql, params));
  ARROW_ASSIGN_OR_RAISE(auto catalogs, Strings(*result, "database_name"));
  ARROW_ASSIGN_OR_RAISE(auto schemas, Strings(*result, "schema_name"));
  ARROW_ASSIGN_OR_RAISE(auto tables, Strings(*result, "table_name"));
  ARROW_ASSIGN_OR_RAISE(auto names, Strings(*result, "constraint_name"));
  ARROW_ASSIGN_OR_RAISE(auto columns, Strings(*result, "column_name"));
  ARROW_ASSIGN_OR_RAISE(auto sequences, Strings(*result, "key_sequence"));
  std::vector<KeyColumnRow> out;
  for (size_t i = 0; i < columns.size(); ++i) {
    out.push_back({catalogs[i], schemas[i], tables[i], columns[i],
                   static_cast<int32_t>(std::stoi(sequences[i])), names[i]});
  }
  return out;
}

}  // namespace arrowport::storage
