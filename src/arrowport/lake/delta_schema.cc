#include "arrowport/lake/delta_schema.h"
#include "arrowport/lake/json_text.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "arrow/scalar.h"
#include "arrow/type.h"
#include "arrow/util/decimal.h"
#include "arrowport/common/identifier.h"
#include "arrowport/lake/lake_files.h"

namespace arrowport::lake {

namespace {

using nlohmann::json;

arrow::Status Unsupported(const std::string& column, const arrow::DataType& type,
                          const std::string& why) {
  return arrow::Status::NotImplemented("column '", column, "' has type ", type.ToString(),
                                       ", which a Delta Lake table cannot hold", why);
}

arrow::Result<std::shared_ptr<arrow::Field>> StoredField(const arrow::Field& field,
                                                         const std::string& path) {
  ARROW_ASSIGN_OR_RAISE(auto type, DeltaStoredType(field.type(), path));
  return arrow::field(field.name(), std::move(type), field.nullable());
}

arrow::Result<json> TypeJson(const arrow::DataType& type);

arrow::Result<json> FieldJson(const arrow::Field& field) {
  ARROW_ASSIGN_OR_RAISE(auto type, TypeJson(*field.type()));
  return json{{"name", field.name()}, {"type", type}, {"nullable", field.nullable()},
              {"metadata", json::object()}};
}

arrow::Result<json> TypeJson(const arrow::DataType& type) {
  switch (type.id()) {
    case arrow::Type::INT8: return json("byte");
    case arrow::Type::INT16: return json("short");
    case arrow::Type::INT32: return json("integer");
    case arrow::Type::INT64: return json("long");
    case arrow::Type::FLOAT: return json("float");
    case arrow::Type::DOUBLE: return json("double");
    case arrow::Type::BOOL: return json("boolean");
    case arrow::Type::STRING: return json("string");
    case arrow::Type::BINARY: return json("binary");
    case arrow::Type::DATE32: return json("date");
    case arrow::Type::TIMESTAMP: {
      const auto& ts = static_cast<const arrow::TimestampType&>(type);
      return json(ts.timezone().empty() ? "timestamp_ntz" : "timestamp");
    }
    case arrow::Type::DECIMAL128: {
      const auto& dec = static_cast<const arrow::Decimal128Type&>(type);
      return json("decimal(" + std::to_string(dec.precision()) + "," +
                  std::to_string(dec.scale()) + ")");
    }
    case arrow::Type::LIST: {
      const auto& list = static_cast<const arrow::ListType&>(type);
      ARROW_ASSIGN_OR_RAISE(auto element, TypeJson(*list.value_type()));
      return json{{"type", "array"}, {"elementType", element},
                  {"containsNull", list.value_field()->nullable()}};
    }
    case arrow::Type::MAP: {
      const auto& map = static_cast<const arrow::MapType&>(type);
      ARROW_ASSIGN_OR_RAISE(auto key, TypeJson(*map.key_type()));
      ARROW_ASSIGN_OR_RAISE(auto value, TypeJson(*map.item_type()));
      return json{{"type", "map"}, {"keyType", key}, {"valueType", value},
                  {"valueContainsNull", map.item_field()->nullable()}};
    }
    case arrow::Type::STRUCT: {
      json fields = json::array();
      for (const auto& child : type.fields()) {
        ARROW_ASSIGN_OR_RAISE(auto f, FieldJson(*child));
        fields.push_back(std::move(f));
      }
      return json{{"type", "struct"}, {"fields", std::move(fields)}};
    }
    default:
      return arrow::Status::Invalid("no Delta type for stored type ", type.ToString());
  }
}

// Limits on schemas read from a log (another writer's): nesting, width, names.
constexpr int kMaxTypeDepth = 64;
constexpr size_t kMaxFields = 10000;
constexpr size_t kMaxNameBytes = 1024;

arrow::Result<std::shared_ptr<arrow::DataType>> ArrowOf(const json& type, int depth);

arrow::Result<std::shared_ptr<arrow::Field>> FieldOf(const json& field, int depth) {
  if (!field.is_object() || !field.contains("name") || !field["name"].is_string() ||
      !field.contains("type")) {
    return arrow::Status::Invalid("Delta schema field without name or type");
  }
  const std::string name = field["name"].get<std::string>();
  if (name.empty() || name.size() > kMaxNameBytes || name.find('\0') != std::string::npos) {
    return arrow::Status::Invalid("the Delta schema has a column name that is empty, longer ",
                                  "than ", kMaxNameBytes, " bytes or holds a NUL byte");
  }
  ARROW_ASSIGN_OR_RAISE(auto type, ArrowOf(field["type"], depth + 1));
  const bool nullable = field.value("nullable", true);
  return arrow::field(name, std::move(type), nullable);
}

arrow::Result<std::shared_ptr<arrow::DataType>> ArrowOf(const json& type, int depth) {
  if (depth > kMaxTypeDepth) {
    return arrow::Status::Invalid("the Delta schema nests types deeper than ", kMaxTypeDepth);
  }
  if (type.is_string()) {
    const std::string name = type.get<std::string>();
    if (name == "byte") return arrow::int8();
    if (name == "short") return arrow::int16();
    if (name == "integer") return arrow::int32();
    if (name == "long") return arrow::int64();
    if (name == "float") return arrow::float32();
    if (name == "double") return arrow::float64();
    if (name == "boolean") return arrow::boolean();
    if (name == "string") return arrow::utf8();
    if (name == "binary") return arrow::binary();
    if (name == "date") return arrow::date32();
    if (name == "timestamp") return arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
    if (name == "timestamp_ntz") return arrow::timestamp(arrow::TimeUnit::MICRO);
    int precision = 0, scale = 0;
    if (std::sscanf(name.c_str(), "decimal(%d,%d)", &precision, &scale) == 2 ||
        std::sscanf(name.c_str(), "decimal(%d, %d)", &precision, &scale) == 2) {
      return arrow::Decimal128Type::Make(precision, scale);
    }
    return arrow::Status::NotImplemented("Delta type '", name, "' is not supported");
  }
  if (!type.is_object() || !type.contains("type") || !type["type"].is_string()) {
    return arrow::Status::Invalid("malformed Delta type in the schema");
  }
  const std::string kind = type["type"].get<std::string>();
  if (kind == "array") {
    ARROW_ASSIGN_OR_RAISE(auto element, ArrowOf(type.at("elementType"), depth + 1));
    return arrow::list(arrow::field("element", element, type.value("containsNull", true)));
  }
  if (kind == "map") {
    ARROW_ASSIGN_OR_RAISE(auto key, ArrowOf(type.at("keyType"), depth + 1));
    ARROW_ASSIGN_OR_RAISE(auto value, ArrowOf(type.at("valueType"), depth + 1));
    return std::make_shared<arrow::MapType>(
        arrow::field("key", key, false),
        arrow::field("value", value, type.value("valueContainsNull", true)));
  }
  if (kind == "struct") {
    arrow::FieldVector fields;
    if (!type.at("fields").is_array() || type.at("fields").size() > kMaxFields) {
      return arrow::Status::Invalid("malformed or too wide struct in the Delta schema");
    }
    for (const auto& f : type.at("fields")) {
      ARROW_ASSIGN_OR_RAISE(auto field, FieldOf(f, depth + 1));
      fields.push_back(std::move(field));
    }
    return arrow::struct_(std::move(fields));
  }
  return arrow::Status::NotImplemented("Delta type '", kind, "' is not supported");
}

bool AnyNtz(const arrow::DataType& type) {
  if (type.id() == arrow::Type::TIMESTAMP) {
    return static_cast<const arrow::TimestampType&>(type).timezone().empty();
  }
  for (const auto& child : type.fields()) {
    if (AnyNtz(*child->type())) return true;
  }
  return false;
}

}  // namespace

arrow::Result<std::shared_ptr<arrow::DataType>> DeltaStoredType(
    const std::shared_ptr<arrow::DataType>& type, const std::string& column) {
  switch (type->id()) {
    case arrow::Type::INT8:
    case arrow::Type::INT16:
    case arrow::Type::INT32:
    case arrow::Type::INT64:
    case arrow::Type::FLOAT:
    case arrow::Type::DOUBLE:
    case arrow::Type::BOOL:
    case arrow::Type::STRING:
    case arrow::Type::BINARY:
    case arrow::Type::DATE32:
      return type;
    // Delta has no unsigned types: the next wider signed type holds every value.
    case arrow::Type::UINT8: return arrow::int16();
    case arrow::Type::UINT16: return arrow::int32();
    case arrow::Type::UINT32: return arrow::int64();
    case arrow::Type::HALF_FLOAT: return arrow::float32();
    case arrow::Type::LARGE_STRING:
    case arrow::Type::STRING_VIEW:
      return arrow::utf8();
    case arrow::Type::LARGE_BINARY:
    case arrow::Type::BINARY_VIEW:
    case arrow::Type::FIXED_SIZE_BINARY:
      return arrow::binary();
    case arrow::Type::DATE64: return arrow::date32();
    case arrow::Type::TIMESTAMP: {
      // Delta timestamps are microseconds: UTC instants (timestamp) or wall-clock
      // values (timestamp_ntz).
      const auto& ts = static_cast<const arrow::TimestampType&>(*type);
      return arrow::timestamp(arrow::TimeUnit::MICRO,
                              ts.timezone().empty() ? std::string() : std::string("UTC"));
    }
    case arrow::Type::DECIMAL32:
    case arrow::Type::DECIMAL64:
    case arrow::Type::DECIMAL128:
    case arrow::Type::DECIMAL256: {
      const auto& dec = static_cast<const arrow::DecimalType&>(*type);
      if (dec.precision() > 38) return Unsupported(column, *type, " (precision above 38)");
      return arrow::Decimal128Type::Make(dec.precision(), dec.scale());
    }
    case arrow::Type::DICTIONARY:
      return DeltaStoredType(static_cast<const arrow::DictionaryType&>(*type).value_type(),
                             column);
    case arrow::Type::LIST:
    case arrow::Type::LARGE_LIST:
    case arrow::Type::LIST_VIEW:
    case arrow::Type::LARGE_LIST_VIEW:
    case arrow::Type::FIXED_SIZE_LIST: {
      const auto& value_field = type->field(0);
      ARROW_ASSIGN_OR_RAISE(auto element, DeltaStoredType(value_field->type(), column));
      return arrow::list(arrow::field("element", element, value_field->nullable()));
    }
    case arrow::Type::MAP: {
      const auto& map = static_cast<const arrow::MapType&>(*type);
      ARROW_ASSIGN_OR_RAISE(auto key, DeltaStoredType(map.key_type(), column));
      ARROW_ASSIGN_OR_RAISE(auto item, DeltaStoredType(map.item_type(), column));
      return std::make_shared<arrow::MapType>(
          arrow::field("key", key, false),
          arrow::field("value", item, map.item_field()->nullable()));
    }
    case arrow::Type::STRUCT: {
      arrow::FieldVector fields;
      for (const auto& child : type->fields()) {
        ARROW_ASSIGN_OR_RAISE(auto stored, StoredField(*child, column + "." + child->name()));
        fields.push_back(std::move(stored));
      }
      return arrow::struct_(std::move(fields));
    }
    case arrow::Type::UINT64:
      return Unsupported(column, *type, " (no unsigned 64-bit type; cast it to int64 or "
                                        "decimal(20,0) first)");
    default:
      return Unsupported(column, *type, "");
  }
}

arrow::Result<std::shared_ptr<arrow::Schema>> DeltaStoredSchema(const arrow::Schema& schema) {
  arrow::FieldVector fields;
  for (const auto& field : schema.fields()) {
    ARROW_ASSIGN_OR_RAISE(auto stored, StoredField(*field, field->name()));
    fields.push_back(std::move(stored));
  }
  return arrow::schema(std::move(fields));
}

arrow::Result<std::string> ToDeltaSchemaString(const arrow::Schema& schema) {
  json fields = json::array();
  for (const auto& field : schema.fields()) {
    ARROW_ASSIGN_OR_RAISE(auto f, FieldJson(*field));
    fields.push_back(std::move(f));
  }
  return JsonText(json{{"type", "struct"}, {"fields", std::move(fields)}});
}

arrow::Result<std::shared_ptr<arrow::Schema>> FromDeltaSchemaString(const std::string& text) {
  // Anything nested deeper than any schema we accept is dropped while parsing (and then
  // refused as malformed), so a hostile schema cannot build a huge tree.
  json parsed = json::parse(
      text,
      [](int depth, json::parse_event_t, json&) { return depth <= 4 * kMaxTypeDepth; },
      /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("fields") ||
      !parsed["fields"].is_array()) {
    return arrow::Status::Invalid("the Delta table's schemaString is not a struct type");
  }
  if (parsed["fields"].size() > kMaxFields) {
    return arrow::Status::Invalid("the Delta schema has more than ", kMaxFields, " columns");
  }
  arrow::FieldVector fields;
  try {
    for (const auto& f : parsed["fields"]) {
      ARROW_ASSIGN_OR_RAISE(auto field, FieldOf(f, 0));
      fields.push_back(std::move(field));
    }
  } catch (const json::exception& e) {
    return arrow::Status::Invalid("malformed Delta schemaString: ", e.what());
  }
  return arrow::schema(std::move(fields));
}

bool HasTimestampNtz(const arrow::Schema& schema) {
  for (const auto& field : schema.fields()) {
    if (AnyNtz(*field->type())) return true;
  }
  return false;
}

std::string DuckDbTypeName(const arrow::DataType& type) {
  switch (type.id()) {
    case arrow::Type::INT8: return "TINYINT";
    case arrow::Type::INT16: return "SMALLINT";
    case arrow::Type::INT32: return "INTEGER";
    case arrow::Type::INT64: return "BIGINT";
    case arrow::Type::FLOAT: return "FLOAT";
    case arrow::Type::DOUBLE: return "DOUBLE";
    case arrow::Type::BOOL: return "BOOLEAN";
    case arrow::Type::STRING: return "VARCHAR";
    case arrow::Type::BINARY: return "BLOB";
    case arrow::Type::DATE32: return "DATE";
    case arrow::Type::TIMESTAMP:
      return static_cast<const arrow::TimestampType&>(type).timezone().empty() ? "TIMESTAMP"
                                                                               : "TIMESTAMPTZ";
    case arrow::Type::DECIMAL128: {
      const auto& dec = static_cast<const arrow::Decimal128Type&>(type);
      return "DECIMAL(" + std::to_string(dec.precision()) + "," + std::to_string(dec.scale()) +
             ")";
    }
    case arrow::Type::LIST:
      return DuckDbTypeName(*static_cast<const arrow::ListType&>(type).value_type()) + "[]";
    case arrow::Type::MAP: {
      const auto& map = static_cast<const arrow::MapType&>(type);
      return "MAP(" + DuckDbTypeName(*map.key_type()) + ", " +
             DuckDbTypeName(*map.item_type()) + ")";
    }
    case arrow::Type::STRUCT: {
      std::string out = "STRUCT(";
      for (int i = 0; i < type.num_fields(); ++i) {
        if (i > 0) out += ", ";
        out += QuoteIdentifier(type.field(i)->name()) + " " + DuckDbTypeName(*type.field(i)->type());
      }
      return out + ")";
    }
    default:
      return "VARCHAR";
  }
}

bool IsPartitionableType(const arrow::DataType& type) {
  switch (type.id()) {
    case arrow::Type::INT8:
    case arrow::Type::INT16:
    case arrow::Type::INT32:
    case arrow::Type::INT64:
    case arrow::Type::BOOL:
    case arrow::Type::STRING:
    case arrow::Type::DATE32:
    case arrow::Type::TIMESTAMP:
    case arrow::Type::DECIMAL128:
      return true;
    default:
      return false;
  }
}

arrow::Result<std::string> PartitionValueText(const arrow::Scalar& value) {
  switch (value.type->id()) {
    case arrow::Type::DATE32:
      return FormatDate(static_cast<const arrow::Date32Scalar&>(value).value);
    case arrow::Type::TIMESTAMP: {
      // timestamp_ntz: "2024-01-31 12:00:00.000000"; timestamp: the instant in UTC, with
      // its zone ("...T12:00:00.000000Z"), so no reader takes it in its session's zone.
      const bool utc =
          !static_cast<const arrow::TimestampType&>(*value.type).timezone().empty();
      return FormatTimestamp(static_cast<const arrow::TimestampScalar&>(value).value,
                             utc ? TimestampText::kPartitionUtc : TimestampText::kPartitionNtz,
                             utc);
    }
    case arrow::Type::STRING:
      return std::string(static_cast<const arrow::StringScalar&>(value).view());
    default:
      if (!IsPartitionableType(*value.type)) {
        return arrow::Status::Invalid("type ", value.type->ToString(),
                                      " cannot be a partition column");
      }
      return value.ToString();
  }
}

}  // namespace arrowport::lake
