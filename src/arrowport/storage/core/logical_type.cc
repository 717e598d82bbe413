#include "arrowport/storage/core/logical_type.h"

namespace arrowport::storage {

namespace {

void AppendIdentity(duckdb_logical_type type, std::string* out) {
  const duckdb_type id = duckdb_get_type_id(type);
  *out += std::to_string(static_cast<int>(id));
  // An alias (JSON over VARCHAR, user types) makes a different type for DuckDB.
  if (char* alias = duckdb_logical_type_get_alias(type)) {
    *out += "'" + std::string(alias) + "'";
    duckdb_free(alias);
  }
  auto child = [&](duckdb_logical_type nested) {
    *out += '(';
    AppendIdentity(nested, out);
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

std::string TypeIdentity(duckdb_logical_type type) {
  std::string out;
  AppendIdentity(type, &out);
  return out;
}

ColumnType ColumnTypeOf(duckdb_logical_type type, std::string sql) {
  ColumnType out;
  out.id = static_cast<int>(duckdb_get_type_id(type));
  if (out.id == DUCKDB_TYPE_DECIMAL) {
    out.width = duckdb_decimal_width(type);
    out.scale = duckdb_decimal_scale(type);
  }
  if (char* alias = duckdb_logical_type_get_alias(type)) {
    out.aliased = true;
    duckdb_free(alias);
  }
  out.identity = TypeIdentity(type);
  out.sql = std::move(sql);
  return out;
}

}  // namespace arrowport::storage
