// Connection: what the catalog holds (relations, columns, result schemas).
#include "arrowport/storage/connection.h"

#include <duckdb.h>

#include "arrow/record_batch.h"
#include "arrow/scalar.h"
#include "arrow/table.h"
#include "arrowport/common/identifier.h"
#include "arrowport/storage/connection_impl.h"
#include "arrowport/storage/duckdb_error.h"
#include "arrowport/storage/duckdb_handle.h"
#include "arrowport/storage/result_batch_reader.h"

namespace arrowport::storage {

arrow::Result<std::shared_ptr<arrow::Schema>> Connection::DescribeQuery(
    const std::string& sql) {
  PreparedHandle prepared;
  if (duckdb_prepare(impl_->conn.get(), sql.c_str(), prepared.out()) == DuckDBError) {
    const char* error = duckdb_prepare_error(prepared.get());
    return TranslateDuckDBError(-1, error ? error : "cannot prepare statement");
  }
  const idx_t n = duckdb_prepared_statement_column_count(prepared.get());
  std::vector<LogicalTypeHandle> types;
  std::vector<std::string> names;
  for (idx_t i = 0; i < n; ++i) {
    types.emplace_back(duckdb_prepared_statement_column_logical_type(prepared.get(), i));
    // The C API hands over a copy of the name; it must be freed here.
    const char* name = duckdb_prepared_statement_column_name(prepared.get(), i);
    names.emplace_back(name ? name : "");
    if (name) duckdb_free(const_cast<char*>(name));
  }
  ArrowOptionsHandle options;
  duckdb_connection_get_arrow_options(impl_->conn.get(), options.out());
  return ArrowSchemaOf(options.get(), types, names);
}

arrow::Status Connection::ColumnsFromDescribe(const arrow::Table& table,
                                              std::vector<ColumnInfo>* columns) {
  ARROW_ASSIGN_OR_RAISE(auto flat, table.CombineChunksToBatch());
  auto names = flat->GetColumnByName("column_name");
  auto types = flat->GetColumnByName("column_type");
  auto nulls = flat->GetColumnByName("null");
  if (!names || !types || !nulls) return arrow::Status::IOError("unexpected DESCRIBE output");
  columns->clear();
  for (int64_t i = 0; i < flat->num_rows(); ++i) {
    ARROW_ASSIGN_OR_RAISE(auto n, names->GetScalar(i));
    ARROW_ASSIGN_OR_RAISE(auto t, types->GetScalar(i));
    ARROW_ASSIGN_OR_RAISE(auto z, nulls->GetScalar(i));
    columns->push_back({n->ToString(), t->ToString(), z->ToString() != "NO"});
  }
  return arrow::Status::OK();
}

arrow::Result<std::optional<std::vector<ColumnInfo>>> Connection::DescribeRelation(
    const std::string& name) {
  // DESCRIBE of a missing relation would fail and abort the caller's transaction, and
  // duckdb_columns() enumerates the whole catalog (milliseconds); so existence is checked
  // first through the C API's table description (or duckdb_views() for views).
  TableDescriptionHandle description;
  const bool is_table =
      duckdb_table_description_create_ext(impl_->conn.get(), impl_->catalog.c_str(), "main",
                                          name.c_str(), description.out()) == DuckDBSuccess;
  description.reset();
  if (!is_table) {
    ARROW_ASSIGN_OR_RAISE(
        auto views, QueryTable("SELECT 1 FROM duckdb_views() WHERE database_name = $1 AND "
                               "schema_name = 'main' AND view_name = $2",
                               {impl_->catalog, name}));
    if (views->num_rows() == 0) return std::nullopt;
  }
  ARROW_ASSIGN_OR_RAISE(auto table, QueryTable("DESCRIBE " + QuoteIdentifier(impl_->catalog) +
                                               ".main." + QuoteIdentifier(name)));
  std::vector<ColumnInfo> columns;
  ARROW_RETURN_NOT_OK(ColumnsFromDescribe(*table, &columns));
  return columns;
}

namespace {

// Appends a type's full identity (id, and what parameterises it) to `out`.
void AppendTypeSignature(duckdb_logical_type type, std::string* out) {
  const duckdb_type id = duckdb_get_type_id(type);
  *out += std::to_string(static_cast<int>(id));
  auto child = [&](duckdb_logical_type nested) {
    *out += '(';
    AppendTypeSignature(nested, out);
    *out += ')';
    duckdb_destroy_logical_type(&nested);
  };
  switch (id) {
    case DUCKDB_TYPE_DECIMAL:
      *out += "(" + std::to_string(duckdb_decimal_width(type)) + "," +
              std::to_string(duckdb_decimal_scale(type)) + ")";
      break;
    case DUCKDB_TYPE_LIST:
      child(duckdb_list_type_child_type(type));
      break;
    case DUCKDB_TYPE_ARRAY:
      *out += "[" + std::to_string(duckdb_array_type_array_size(type)) + "]";
      child(duckdb_array_type_child_type(type));
      break;
    case DUCKDB_TYPE_MAP:
      child(duckdb_map_type_key_type(type));
      child(duckdb_map_type_value_type(type));
      break;
    case DUCKDB_TYPE_STRUCT:
    case DUCKDB_TYPE_UNION: {
      const bool is_struct = id == DUCKDB_TYPE_STRUCT;
      const idx_t n = is_struct ? duckdb_struct_type_child_count(type)
                                : duckdb_union_type_member_count(type);
      for (idx_t i = 0; i < n; ++i) {
        char* name = is_struct ? duckdb_struct_type_child_name(type, i)
                               : duckdb_union_type_member_name(type, i);
        *out += '{' + std::string(name ? name : "") + ':';
        if (name) duckdb_free(name);
        child(is_struct ? duckdb_struct_type_child_type(type, i)
                        : duckdb_union_type_member_type(type, i));
        *out += '}';
      }
      break;
    }
    case DUCKDB_TYPE_ENUM: {
      const uint32_t n = duckdb_enum_dictionary_size(type);
      *out += "<" + std::to_string(n);
      for (uint32_t i = 0; i < n; ++i) {
        char* value = duckdb_enum_dictionary_value(type, i);
        *out += ',' + std::string(value ? value : "");
        if (value) duckdb_free(value);
      }
      *out += '>';
      break;
    }
    default:
      break;
  }
}

}  // namespace

arrow::Result<std::optional<std::string>> Connection::TableSignature(const std::string& table) {
  TableDescriptionHandle description;
  const bool exists =
      duckdb_table_description_create_ext(impl_->conn.get(), impl_->catalog.c_str(), "main",
                                          table.c_str(), description.out()) == DuckDBSuccess;
  std::optional<std::string> signature;
  if (exists) {
    signature.emplace();
    const idx_t n = duckdb_table_description_get_column_count(description.get());
    for (idx_t i = 0; i < n; ++i) {
      char* name = duckdb_table_description_get_column_name(description.get(), i);
      *signature += std::string(name ? name : "") + '\x1f';
      if (name) duckdb_free(name);
      LogicalTypeHandle type(duckdb_table_description_get_column_type(description.get(), i));
      AppendTypeSignature(type.get(), &*signature);
      *signature += '\x1e';
    }
  }
  return signature;
}

arrow::Result<std::vector<TableInfo>> Connection::ListRelations() {
  ARROW_ASSIGN_OR_RAISE(
      auto table,
      QueryTable("SELECT table_name AS name, 'table' AS kind, estimated_size::BIGINT AS rows "
                 "FROM duckdb_tables() WHERE NOT temporary AND schema_name = 'main' "
                 "AND database_name = current_database() "
                 "UNION ALL SELECT view_name, 'view', -1::BIGINT FROM duckdb_views() "
                 "WHERE NOT internal AND NOT temporary AND schema_name = 'main' "
                 "AND database_name = current_database() ORDER BY name"));
  ARROW_ASSIGN_OR_RAISE(auto flat, table->CombineChunksToBatch());
  std::vector<TableInfo> out;
  for (int64_t i = 0; i < flat->num_rows(); ++i) {
    ARROW_ASSIGN_OR_RAISE(auto n, flat->column(0)->GetScalar(i));
    ARROW_ASSIGN_OR_RAISE(auto k, flat->column(1)->GetScalar(i));
    ARROW_ASSIGN_OR_RAISE(auto r, flat->column(2)->GetScalar(i));
    out.push_back({n->ToString(), k->ToString(), std::stoll(r->ToString())});
  }
  return out;
}

}  // namespace arrowport::storage
