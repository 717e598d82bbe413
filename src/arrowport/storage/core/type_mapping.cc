#include "arrowport/storage/core/type_mapping.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <vector>

#include <duckdb.h>

#include "arrow/extension_type.h"
#include "arrow/type.h"

namespace arrowport::storage {

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string Printable(std::string_view name) {
  std::string out;
  for (char c : name.substr(0, 64)) out += static_cast<unsigned char>(c) < 0x20 ? '?' : c;
  if (name.size() > 64) out += "...";
  return out;
}

arrow::Status CheckName(const std::string& path, const std::string& name) {
  if (name.find('\0') != std::string::npos) {
    return arrow::Status::Invalid("column '", Printable(path),
                                  "' has a NUL byte in its name; DuckDB would cut the name "
                                  "there: rename it");
  }
  if (name.size() > kMaxColumnNameBytes) {
    return arrow::Status::Invalid("column '", Printable(path), "' has a name of ",
                                  name.size(), " bytes; at most ", kMaxColumnNameBytes,
                                  " are accepted");
  }
  return arrow::Status::OK();
}

arrow::Status CheckType(const std::string& path, const arrow::DataType& type, bool creating) {
  using arrow::Type;
  switch (type.id()) {
    case Type::NA:
      if (creating) {
        return arrow::Status::Invalid(
            "column '", path,
            "' has Arrow type null (no values to infer a type from); cast it to a concrete "
            "type on the client, or create the table first");
      }
      return arrow::Status::OK();
    case Type::DECIMAL256:
      // DuckDB 2.0 reads none, whatever the precision ("Unsupported Internal Arrow Type
      // for Decimal"), and its decimals hold at most 38 digits.
      return arrow::Status::Invalid("column '", path, "' is ", type.ToString(),
                                    ": DuckDB reads no 256-bit decimals; send decimal128 "
                                    "(at most 38 digits)");
    case Type::HALF_FLOAT:
      return arrow::Status::Invalid("column '", path, "' is ", type.ToString(),
                                    " (float16): DuckDB has no 16-bit float; send float32");
    case Type::DENSE_UNION:
      return arrow::Status::Invalid("column '", path, "' is ", type.ToString(),
                                    ": DuckDB stores sparse unions only; send a sparse union");
    case Type::EXTENSION: {
      const auto& ext = static_cast<const arrow::ExtensionType&>(type);
      return CheckType(path, *ext.storage_type(), creating);
    }
    case Type::DICTIONARY: {
      const auto& dict = static_cast<const arrow::DictionaryType&>(type);
      return CheckType(path, *dict.value_type(), creating);
    }
    default:
      break;
  }
  for (int i = 0; i < type.num_fields(); ++i) {
    const auto& child = type.field(i);
    const std::string child_path = path + "." + child->name();
    ARROW_RETURN_NOT_OK(CheckName(child_path, child->name()));
    ARROW_RETURN_NOT_OK(CheckType(child_path, *child->type(), false));
  }
  return arrow::Status::OK();
}

// Position among the integer widths (8, 16, 32, 64, 128 bits), or -1.
int IntegerRank(int id, bool* is_unsigned) {
  static constexpr duckdb_type kSigned[] = {DUCKDB_TYPE_TINYINT, DUCKDB_TYPE_SMALLINT,
                                            DUCKDB_TYPE_INTEGER, DUCKDB_TYPE_BIGINT,
                                            DUCKDB_TYPE_HUGEINT};
  static constexpr duckdb_type kUnsigned[] = {DUCKDB_TYPE_UTINYINT, DUCKDB_TYPE_USMALLINT,
                                              DUCKDB_TYPE_UINTEGER, DUCKDB_TYPE_UBIGINT,
                                              DUCKDB_TYPE_UHUGEINT};
  for (int i = 0; i < 5; ++i) {
    if (id == kSigned[i]) { *is_unsigned = false; return i; }
    if (id == kUnsigned[i]) { *is_unsigned = true; return i; }
  }
  return -1;
}

}  // namespace

arrow::Status CheckIngestSchema(const arrow::Schema& schema, bool creating) {
  if (schema.num_fields() == 0) {
    return arrow::Status::Invalid("the Arrow schema has no columns");
  }
  if (schema.num_fields() > kMaxIngestColumns) {
    return arrow::Status::Invalid("the Arrow schema has ", schema.num_fields(),
                                  " columns; at most ", kMaxIngestColumns,
                                  " are accepted (DuckDB's binder slows down quadratically "
                                  "with width); split the data into narrower tables");
  }
  std::set<std::string> seen;
  for (const auto& field : schema.fields()) {
    if (field->name().empty()) {
      return arrow::Status::Invalid("a column has an empty name");
    }
    ARROW_RETURN_NOT_OK(CheckName(field->name(), field->name()));
    if (!seen.insert(Lower(field->name())).second) {
      return arrow::Status::Invalid("duplicate column name '", field->name(),
                                    "' (DuckDB column names are case-insensitive)");
    }
    ARROW_RETURN_NOT_OK(CheckType(field->name(), *field->type(), creating));
  }
  return arrow::Status::OK();
}

std::string StorageTypeFor(const ColumnType& scan_type) {
  if (scan_type.id == DUCKDB_TYPE_ENUM) return "VARCHAR";
  return scan_type.sql;
}

bool IsNullType(const ColumnType& type) { return type.id == DUCKDB_TYPE_SQLNULL; }

bool SameType(const ColumnType& a, const ColumnType& b) { return a.identity == b.identity; }

bool IsSafeConversion(const ColumnType& from, const ColumnType& to) {
  if (SameType(from, to) || IsNullType(from)) return true;
  if (from.aliased || to.aliased) return false;  // JSON is not any VARCHAR
  if (from.id == DUCKDB_TYPE_ENUM && to.id == DUCKDB_TYPE_VARCHAR) return true;
  bool from_unsigned = false, to_unsigned = false;
  const int from_rank = IntegerRank(from.id, &from_unsigned);
  const int to_rank = IntegerRank(to.id, &to_unsigned);
  if (from_rank >= 0 && to_rank >= 0) {
    if (from_unsigned == to_unsigned) return from_rank <= to_rank;
    return from_unsigned && !to_unsigned && from_rank < to_rank;  // u32 -> i64
  }
  if (from.id == DUCKDB_TYPE_FLOAT && to.id == DUCKDB_TYPE_DOUBLE) return true;
  if (from_rank >= 0 && to.id == DUCKDB_TYPE_DOUBLE) return from_rank <= 1;  // exact in 53 bits
  if (from.id == DUCKDB_TYPE_DECIMAL && to.id == DUCKDB_TYPE_DECIMAL) {
    return to.scale >= from.scale && (to.width - to.scale) >= (from.width - from.scale);
  }
  return to.id == DUCKDB_TYPE_TIMESTAMP &&
         (from.id == DUCKDB_TYPE_TIMESTAMP_S || from.id == DUCKDB_TYPE_TIMESTAMP_MS ||
          from.id == DUCKDB_TYPE_DATE);
}

}  // namespace arrowport::storage
