#include "arrowport/storage/type_mapping.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <vector>

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
    case Type::DECIMAL256: {
      const auto& dec = static_cast<const arrow::Decimal256Type&>(type);
      if (dec.precision() > 38) {
        return arrow::Status::Invalid("column '", path, "' is ", type.ToString(),
                                      ": DuckDB decimals hold at most 38 digits");
      }
      return arrow::Status::OK();
    }
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

int IntegerRank(std::string_view t, bool* is_unsigned) {
  static const std::vector<std::string_view> kSigned = {"TINYINT", "SMALLINT", "INTEGER",
                                                         "BIGINT", "HUGEINT"};
  static const std::vector<std::string_view> kUnsigned = {"UTINYINT", "USMALLINT",
                                                           "UINTEGER", "UBIGINT", "UHUGEINT"};
  for (size_t i = 0; i < kSigned.size(); ++i) {
    if (t == kSigned[i]) { *is_unsigned = false; return static_cast<int>(i); }
    if (t == kUnsigned[i]) { *is_unsigned = true; return static_cast<int>(i); }
  }
  return -1;
}

bool ParseDecimal(std::string_view t, int* precision, int* scale) {
  return std::sscanf(std::string(t).c_str(), "DECIMAL(%d,%d)", precision, scale) == 2;
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

std::string StorageTypeFor(std::string_view scan_type) {
  if (scan_type.substr(0, 5) == "ENUM(") return "VARCHAR";
  return std::string(scan_type);
}

bool IsSafeConversion(std::string_view from, std::string_view to) {
  if (from == to || from == "\"NULL\"" || from == "NULL") return true;
  if (from.substr(0, 5) == "ENUM(" && to == "VARCHAR") return true;
  bool from_unsigned = false, to_unsigned = false;
  const int from_rank = IntegerRank(from, &from_unsigned);
  const int to_rank = IntegerRank(to, &to_unsigned);
  if (from_rank >= 0 && to_rank >= 0) {
    if (from_unsigned == to_unsigned) return from_rank <= to_rank;
    return from_unsigned && !to_unsigned && from_rank < to_rank;  // u32 -> i64
  }
  if (from == "FLOAT" && to == "DOUBLE") return true;
  if (from_rank >= 0 && to == "DOUBLE") return from_rank <= 1;  // exact in 53 bits
  int fp = 0, fs = 0, tp = 0, ts = 0;
  if (ParseDecimal(from, &fp, &fs) && ParseDecimal(to, &tp, &ts)) {
    return ts >= fs && (tp - ts) >= (fp - fs);
  }
  static const std::set<std::pair<std::string_view, std::string_view>> kTimestamps = {
      {"TIMESTAMP_S", "TIMESTAMP"}, {"TIMESTAMP_MS", "TIMESTAMP"}, {"DATE", "TIMESTAMP"}};
  return kTimestamps.count({from, to}) > 0;
}

}  // namespace arrowport::storage
