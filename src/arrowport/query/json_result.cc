// Results as JSON rows (json_result.h), made on every core (text_pieces.h).
#include "arrowport/query/json_result.h"

#include <nlohmann/json.hpp>

#include <charconv>
#include <deque>
#include <cmath>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "arrow/array.h"
#include "arrow/buffer.h"
#include "arrow/extension_type.h"
#include "arrow/io/interfaces.h"
#include "arrow/record_batch.h"
#include "arrow/scalar.h"
#include "arrow/type.h"
#include "arrow/util/formatting.h"
#include "arrow/util/ubsan.h"
#include "arrowport/query/bignum_text.h"
#include "arrowport/query/text_pieces.h"
#include "arrowport/query/time_text.h"
#include "arrowport/query/variant_text.h"

namespace arrowport::query {

namespace {

// JSON rows are streamed: structure characters are appended directly and every string
// (keys, text values) is serialized by nlohmann (AppendJsonString), so escaping and invalid
// UTF-8 (replaced by U+FFFD) are handled as everywhere else. Numbers keep Arrow's text: a
// nlohmann value would round decimals to a double and change how doubles print (2 -> 2.0,
// 0.0000404 -> 4.04e-05). A nlohmann object per row would also merge duplicate column
// names, and cost ~1.7x the CPU time on 1M rows.

arrow::Status AppendJsonValue(const arrow::Scalar& scalar, std::string* out);

// An element of a nested value (a list's item, a map's key or value); `variants` when the
// elements are VARIANTs (their field names the extension, as DuckDB's export does).
arrow::Status AppendJsonItem(const arrow::Array& values, int64_t i, std::string* out,
                             const std::optional<VariantColumn>& variants = std::nullopt) {
  if (variants && !values.IsNull(i)) return variants->AppendJson(i, out);
  ARROW_ASSIGN_OR_RAISE(auto item, values.GetScalar(i));
  return AppendJsonValue(*item, out);
}

// A map as a list of {"key": ..., "value": ...}: keys need not be strings.
arrow::Status AppendJsonMap(const arrow::MapScalar& scalar, std::string* out) {
  const auto& entries = *scalar.value;
  const auto& st = static_cast<const arrow::StructArray&>(entries);
  ARROW_ASSIGN_OR_RAISE(
      const auto variants,
      VariantColumnOf(*static_cast<const arrow::MapType&>(*scalar.type).item_field(),
                      *st.field(1)));
  *out += '[';
  for (int64_t i = 0; i < entries.length(); ++i) {
    if (i) *out += ',';
    *out += "{\"key\":";
    ARROW_RETURN_NOT_OK(AppendJsonItem(*st.field(0), i, out));
    *out += ",\"value\":";
    ARROW_RETURN_NOT_OK(AppendJsonItem(*st.field(1), i, out, variants));
    *out += '}';
  }
  *out += ']';
  return arrow::Status::OK();
}

// DuckDB's UNION as its to_json and COPY (FORMAT json) write it: {"member": value}, so
// that members of the same type stay apart.
arrow::Status AppendJsonUnion(const arrow::UnionScalar& scalar, std::string* out) {
  const auto& type = static_cast<const arrow::UnionType&>(*scalar.type);
  *out += '{';
  AppendJsonString(type.field(type.child_ids()[scalar.type_code])->name(), out);
  *out += ':';
  ARROW_RETURN_NOT_OK(AppendJsonValue(*scalar.child_value(), out));
  *out += '}';
  return arrow::Status::OK();
}

// A value of an extension type: DuckDB's BIGNUM as its digits (a JSON number, as DECIMAL
// and HUGEINT are written), a VARIANT as the JSON it holds (variant_text.h), any other as
// its storage's value (arrow.json's text).
arrow::Status AppendJsonExtension(const arrow::ExtensionScalar& scalar, std::string* out) {
  if (IsParquetVariantType(*scalar.type)) {
    ARROW_ASSIGN_OR_RAISE(auto one, arrow::MakeArrayFromScalar(scalar, 1));
    return AppendVariantJsonAt(*one, 0, out);
  }
  if (!IsDuckDBBignum(*scalar.type)) return AppendJsonValue(*scalar.value, out);
  if (!arrow::is_base_binary_like(scalar.value->type->id()) &&
      !arrow::is_binary_view_like(scalar.value->type->id())) {
    return arrow::Status::Invalid("a BIGNUM stored as ", scalar.value->type->ToString());
  }
  const auto& storage = static_cast<const arrow::BaseBinaryScalar&>(*scalar.value);
  ARROW_ASSIGN_OR_RAISE(auto digits, BignumText(storage.view()));
  *out += digits;
  return arrow::Status::OK();
}

// A list's items; a list of VARIANTs (its field names the extension, as DuckDB's export
// does) as the JSON they hold.
arrow::Status AppendJsonList(const arrow::BaseListScalar& scalar, std::string* out) {
  const auto& values = *scalar.value;
  ARROW_ASSIGN_OR_RAISE(
      const auto variants,
      VariantColumnOf(*static_cast<const arrow::BaseListType&>(*scalar.type).value_field(),
                      values));
  *out += '[';
  for (int64_t i = 0; i < values.length(); ++i) {
    if (i) *out += ',';
    ARROW_RETURN_NOT_OK(AppendJsonItem(values, i, out, variants));
  }
  *out += ']';
  return arrow::Status::OK();
}

// A struct's fields by name; a VARIANT field as the JSON it holds.
arrow::Status AppendJsonStruct(const arrow::StructScalar& s, std::string* out) {
  const auto& type = static_cast<const arrow::StructType&>(*s.type);
  *out += '{';
  for (int i = 0; i < type.num_fields(); ++i) {
    if (i) *out += ',';
    AppendJsonString(type.field(i)->name(), out);
    *out += ':';
    if (IsParquetVariant(*type.field(i)) && s.value[i]->is_valid) {
      ARROW_ASSIGN_OR_RAISE(auto one, arrow::MakeArrayFromScalar(*s.value[i], 1));
      ARROW_RETURN_NOT_OK(AppendVariantJsonAt(*one, 0, out));
      continue;
    }
    ARROW_RETURN_NOT_OK(AppendJsonValue(*s.value[i], out));
  }
  *out += '}';
  return arrow::Status::OK();
}

arrow::Status AppendJsonValue(const arrow::Scalar& scalar, std::string* out) {
  using arrow::Type;
  if (!scalar.is_valid) {
    *out += "null";
    return arrow::Status::OK();
  }
  switch (scalar.type->id()) {
    case Type::BOOL:
      *out += static_cast<const arrow::BooleanScalar&>(scalar).value ? "true" : "false";
      return arrow::Status::OK();
    case Type::INT8: case Type::INT16: case Type::INT32: case Type::INT64:
    case Type::UINT8: case Type::UINT16: case Type::UINT32: case Type::UINT64:
    case Type::DECIMAL128: case Type::DECIMAL256:
      *out += scalar.ToString();
      return arrow::Status::OK();
    case Type::HALF_FLOAT: case Type::FLOAT: case Type::DOUBLE: {
      std::string text = scalar.ToString();
      // JSON has no NaN/Infinity literals.
      if (text == "nan" || text == "inf" || text == "-inf") {
        AppendJsonString(std::move(text), out);
      } else {
        *out += text;
      }
      return arrow::Status::OK();
    }
    case Type::LIST: case Type::LARGE_LIST: case Type::FIXED_SIZE_LIST:
    case Type::LIST_VIEW: case Type::LARGE_LIST_VIEW:
      return AppendJsonList(static_cast<const arrow::BaseListScalar&>(scalar), out);
    case Type::STRUCT:
      return AppendJsonStruct(static_cast<const arrow::StructScalar&>(scalar), out);
    case Type::MAP:
      return AppendJsonMap(static_cast<const arrow::MapScalar&>(scalar), out);
    case Type::SPARSE_UNION: case Type::DENSE_UNION:
      return AppendJsonUnion(static_cast<const arrow::UnionScalar&>(scalar), out);
    case Type::EXTENSION:
      return AppendJsonExtension(static_cast<const arrow::ExtensionScalar&>(scalar), out);
    case Type::BINARY: case Type::LARGE_BINARY: case Type::BINARY_VIEW:
    case Type::FIXED_SIZE_BINARY: {
      std::string text;
      AppendBlobText(static_cast<const arrow::BaseBinaryScalar&>(scalar).view(), &text);
      AppendJsonString(std::move(text), out);
      return arrow::Status::OK();
    }
    case Type::DICTIONARY: {
      // An ENUM: its value, not Arrow's text of the whole dictionary and an index.
      ARROW_ASSIGN_OR_RAISE(auto value,
                            static_cast<const arrow::DictionaryScalar&>(scalar).GetEncodedValue());
      return AppendJsonValue(*value, out);
    }
    default:
      // A date or time Arrow cannot write is ours (time_text.h); all else Arrow's text.
      AppendJsonString(OwnTimeTextOf(scalar).value_or(scalar.ToString()), out);
      return arrow::Status::OK();
  }
}

// A column's cells appended as JSON. The common types are written from their arrays
// (a Scalar per cell cost most of the time); the text is the same as AppendJsonValue's:
// Arrow's formatters behind Scalar::ToString, strings as nlohmann escapes them.
class JsonColumn {
 public:
  JsonColumn(const std::shared_ptr<arrow::Array>& array, std::optional<VariantColumn> variants)
      : array_(array), variants_(std::move(variants)) {
    if (array->type_id() == arrow::Type::TIMESTAMP) {
      timestamp_format_.emplace(array->type().get());
      arrow_writes_ = ArrowWritesBetween(*array->type());
    }
  }

  arrow::Status Append(int64_t row, std::string* out) const {
    if (array_->IsNull(row)) {
      *out += "null";
      return arrow::Status::OK();
    }
    if (variants_) return variants_->AppendJson(row, out);
    switch (array_->type_id()) {
      case arrow::Type::BOOL:
        *out += static_cast<const arrow::BooleanArray&>(*array_).Value(row) ? "true" : "false";
        return arrow::Status::OK();
      case arrow::Type::INT32:
        AppendNumber(ValueAt<arrow::Int32Array>(row), out);
        return arrow::Status::OK();
      case arrow::Type::INT64:
        AppendNumber(ValueAt<arrow::Int64Array>(row), out);
        return arrow::Status::OK();
      case arrow::Type::DOUBLE: {
        const double value = ValueAt<arrow::DoubleArray>(row);
        if (!std::isfinite(value)) break;  // "nan", "inf": strings in JSON (AppendJsonValue)
        double_format_(value, [out](std::string_view text) { out->append(text); });
        return arrow::Status::OK();
      }
      case arrow::Type::TIMESTAMP: {
        const int64_t value = ValueAt<arrow::TimestampArray>(row);
        *out += '"';
        if (!arrow_writes_.Holds(value)) {
          *out += OwnTimeText(*array_->type(), value);
        } else {
          (*timestamp_format_)(value, [out](std::string_view text) { out->append(text); });
        }
        *out += '"';
        return arrow::Status::OK();
      }
      case arrow::Type::STRING:
        AppendText(static_cast<const arrow::StringArray&>(*array_).GetView(row), out);
        return arrow::Status::OK();
      case arrow::Type::LARGE_STRING:
        AppendText(static_cast<const arrow::LargeStringArray&>(*array_).GetView(row), out);
        return arrow::Status::OK();
      case arrow::Type::STRING_VIEW:
        AppendText(static_cast<const arrow::StringViewArray&>(*array_).GetView(row), out);
        return arrow::Status::OK();
      default:
        break;
    }
    ARROW_ASSIGN_OR_RAISE(auto scalar, array_->GetScalar(row));
    return AppendJsonValue(*scalar, out);
  }

 private:
  // A batch read off the wire may have its buffers at any address (an IPC body inside a
  // gRPC message, as the CLI reads results): values are loaded without assuming alignment.
  template <typename ArrayType>
  typename ArrayType::value_type ValueAt(int64_t row) const {
    return arrow::util::SafeLoad(static_cast<const ArrayType&>(*array_).raw_values() + row);
  }

  template <typename Integer>
  static void AppendNumber(Integer value, std::string* out) {
    char text[24];
    auto end = std::to_chars(text, text + sizeof(text), value).ptr;
    out->append(text, end);
  }

  // Printable ASCII without '"' and '\\' is its own JSON text; anything else goes
  // through nlohmann (escapes, invalid UTF-8 replaced).
  static void AppendText(std::string_view text, std::string* out) {
    for (const char c : text) {
      if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') {
        AppendJsonString(std::string(text), out);
        return;
      }
    }
    *out += '"';
    out->append(text);
    *out += '"';
  }

  std::shared_ptr<arrow::Array> array_;
  const std::optional<VariantColumn> variants_;  // DuckDB's VARIANT: the JSON it holds
  // Arrow's own formatters, as Scalar::ToString uses them; they keep state between calls.
  mutable arrow::internal::StringFormatter<arrow::DoubleType> double_format_;
  mutable std::optional<arrow::internal::StringFormatter<arrow::TimestampType>> timestamp_format_;
  ArrowTimeRange arrow_writes_;  // a timestamp column's values Arrow's formatter writes
};

// Rows of a result as JSON objects, each after ",\n" but the result's first.
arrow::Result<std::shared_ptr<arrow::Buffer>> JsonRowsText(
    const std::shared_ptr<arrow::RecordBatch>& piece, int64_t first_row) {
  std::vector<std::string> keys;  // `"name":`, serialized once per piece
  std::deque<JsonColumn> columns;  // formatters keep state: built in place, never moved
  for (int c = 0; c < piece->num_columns(); ++c) {
    keys.emplace_back();
    AppendJsonString(piece->schema()->field(c)->name(), &keys.back());
    keys.back() += ':';
    ARROW_ASSIGN_OR_RAISE(auto variants,
                          VariantColumnOf(*piece->schema()->field(c), *piece->column(c)));
    columns.emplace_back(piece->column(c), std::move(variants));
  }
  std::string text;
  for (int64_t r = 0; r < piece->num_rows(); ++r) {
    text += first_row + r ? ",\n{" : "\n{";
    for (int c = 0; c < piece->num_columns(); ++c) {
      if (c) text += ',';
      text += keys[c];
      ARROW_RETURN_NOT_OK(columns[c].Append(r, &text));
    }
    text += '}';
  }
  return arrow::Buffer::FromString(std::move(text));
}

// Rows made into text at once on a pool thread: about 1 MB of text for the bench's 5
// columns (a row's keys and punctuation make it several times its Arrow bytes).
constexpr PieceSize kJsonPiece{8192, 256 << 10};

}  // namespace

arrow::Result<int64_t> WriteJson(arrow::RecordBatchReader* reader,
                                 const std::shared_ptr<arrow::io::OutputStream>& sink) {
  ARROW_RETURN_NOT_OK(sink->Write("[", 1));
  ARROW_ASSIGN_OR_RAISE(const int64_t rows,
                        WriteTextPieces(reader, kJsonPiece, JsonRowsText, {}, sink));
  const std::string_view end = rows ? "\n]\n" : "]\n";
  ARROW_RETURN_NOT_OK(sink->Write(end.data(), static_cast<int64_t>(end.size())));
  return rows;
}

}  // namespace arrowport::query
