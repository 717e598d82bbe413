// Variants as JSON text (variant_text.h), from the Parquet variant encoding (VariantEncoding.md
// of apache/parquet-format): a value is a header byte (its basic type in the low 2 bits)
// and what follows; an object's keys are ids into the metadata's dictionary.
#include "arrowport/query/variant_text.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "arrow/array.h"
#include "arrow/extension_type.h"
#include "arrow/type.h"
#include "arrow/util/decimal.h"
#include "arrow/util/formatting.h"
#include "arrow/util/key_value_metadata.h"
#include "arrow/util/utf8.h"
#include "arrowport/common/binary_value.h"
#include "arrowport/query/text_pieces.h"
#include "arrowport/query/time_text.h"

namespace arrowport::query {

namespace {

constexpr int kMaxDepth = 256;  // as ingest holds variants to (ingest/variant_values.h)
constexpr std::string_view kVariantName = "arrow.parquet.variant";

arrow::Status Malformed(const char* what) {
  return arrow::Status::Invalid("a VARIANT value is not well formed (", what,
                                "): ask for format=arrow, or cast it to VARCHAR");
}

// A little-endian unsigned integer of `width` bytes (1-4) at `at`.
uint32_t ReadUnsigned(std::string_view bytes, size_t at, int width) {
  uint32_t value = 0;
  for (int i = 0; i < width; ++i) {
    value |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + i])) << (8 * i);
  }
  return value;
}

template <typename T>
T ReadLittleEndian(std::string_view bytes, size_t at) {
  T value;
  std::memcpy(&value, bytes.data() + at, sizeof(T));  // x86-64 and arm64: little-endian
  return value;
}

// The metadata's dictionary: header, size, offsets, then the keys' bytes.
class Keys {
 public:
  static arrow::Result<Keys> Read(std::string_view metadata) {
    if (metadata.empty()) return Malformed("empty metadata");
    const auto header = static_cast<unsigned char>(metadata[0]);
    if ((header & 0x0f) != 1) return Malformed("metadata version is not 1");
    Keys keys;
    keys.bytes_ = metadata;
    keys.width_ = ((header >> 6) & 3) + 1;
    if (metadata.size() < 1 + static_cast<size_t>(keys.width_)) return Malformed("metadata");
    keys.size_ = ReadUnsigned(metadata, 1, keys.width_);
    // The offsets (size + 1 of them) must lie within the bytes before the strings begin.
    const uint64_t offsets_end =
        1 + static_cast<uint64_t>(keys.width_) * (uint64_t{keys.size_} + 2);
    if (offsets_end > metadata.size()) return Malformed("metadata offsets");
    keys.strings_ = static_cast<size_t>(offsets_end);
    return keys;
  }

  arrow::Result<std::string_view> At(uint32_t id) const {
    if (id >= size_) return Malformed("object field id outside the metadata");
    const size_t at = 1 + static_cast<size_t>(width_) * (id + 1);
    const uint32_t begin = ReadUnsigned(bytes_, at, width_);
    const uint32_t end = ReadUnsigned(bytes_, at + width_, width_);
    if (begin > end || end > bytes_.size() - strings_) return Malformed("metadata key");
    return bytes_.substr(strings_ + begin, end - begin);
  }

 private:
  std::string_view bytes_;
  int width_ = 1;
  uint32_t size_ = 0;
  size_t strings_ = 0;
};

class JsonOfVariant {
 public:
  JsonOfVariant(const Keys& keys, std::string* out) : keys_(keys), out_(out), start_(out->size()) {}

  // The element at `at` in `bytes`, which it may not run past.
  arrow::Status Element(std::string_view bytes, size_t at, int depth) {
    if (at >= bytes.size()) return Malformed("an element past its bytes");
    const auto header = static_cast<unsigned char>(bytes[at]);
    const int info = header >> 2;
    switch (header & 3) {
      case 0:
        return Primitive(bytes, at + 1, info);
      case 1:  // a short string: its length in the header
        if (bytes.size() - at - 1 < static_cast<size_t>(info)) return Malformed("short string");
        return Text(bytes.substr(at + 1, info));
      default:
        // A container at the 257th level is refused, as ingest refuses it.
        if (depth >= kMaxDepth) return Malformed("nested more than 256 levels");
        return (header & 3) == 2 ? Object(bytes, at, info, depth) : Array(bytes, at, info, depth);
    }
  }

 private:
  // Where a list of `count` children begins: after the header, the count, and (objects)
  // the field ids; returns the offsets' position, checking all of it is present.
  struct Children {
    size_t ids = 0;       // objects: the field ids
    size_t offsets = 0;   // count + 1 offsets of `width` bytes
    size_t values = 0;    // where the offsets count from
    size_t end = 0;       // where the values end: the last offset
    uint32_t count = 0;
    int width = 1;
  };

  arrow::Result<Children> Layout(std::string_view bytes, size_t at, bool large, int id_width,
                                 int width) const {
    Children children;
    children.width = width;
    const int count_width = large ? 4 : 1;
    if (bytes.size() - at - 1 < static_cast<size_t>(count_width)) return Malformed("count");
    children.count = ReadUnsigned(bytes, at + 1, count_width);
    children.ids = at + 1 + count_width;
    const uint64_t offsets =
        children.ids + static_cast<uint64_t>(id_width) * children.count;
    const uint64_t values = offsets + static_cast<uint64_t>(width) * (uint64_t{children.count} + 1);
    if (values > bytes.size()) return Malformed("more elements than it holds");
    children.offsets = static_cast<size_t>(offsets);
    children.values = static_cast<size_t>(values);
    const uint32_t total = ReadUnsigned(
        bytes, children.offsets + static_cast<size_t>(width) * children.count, width);
    if (total > bytes.size() - children.values) return Malformed("values past its bytes");
    children.end = children.values + total;
    return children;
  }

  // The position of child `i`, within its container's values.
  arrow::Result<size_t> ChildAt(std::string_view bytes, const Children& c, uint32_t i) const {
    const uint32_t offset =
        ReadUnsigned(bytes, c.offsets + static_cast<size_t>(c.width) * i, c.width);
    if (offset >= c.end - c.values) return Malformed("an element past its bytes");
    return c.values + offset;
  }

  arrow::Status Object(std::string_view bytes, size_t at, int info, int depth) {
    const int width = (info & 3) + 1;
    const int id_width = ((info >> 2) & 3) + 1;
    ARROW_ASSIGN_OR_RAISE(auto children, Layout(bytes, at, (info >> 4) & 1, id_width, width));
    *out_ += '{';
    for (uint32_t i = 0; i < children.count; ++i) {
      if (i) *out_ += ',';
      ARROW_ASSIGN_OR_RAISE(
          auto key, keys_.At(ReadUnsigned(bytes, children.ids + size_t{1} * id_width * i,
                                          id_width)));
      ARROW_RETURN_NOT_OK(Text(key));
      *out_ += ':';
      ARROW_ASSIGN_OR_RAISE(auto child, ChildAt(bytes, children, i));
      ARROW_RETURN_NOT_OK(Element(bytes.substr(0, children.end), child, depth + 1));
    }
    *out_ += '}';
    return Grown();
  }

  arrow::Status Array(std::string_view bytes, size_t at, int info, int depth) {
    ARROW_ASSIGN_OR_RAISE(auto children, Layout(bytes, at, (info >> 2) & 1, 0, (info & 3) + 1));
    *out_ += '[';
    for (uint32_t i = 0; i < children.count; ++i) {
      if (i) *out_ += ',';
      ARROW_ASSIGN_OR_RAISE(auto child, ChildAt(bytes, children, i));
      ARROW_RETURN_NOT_OK(Element(bytes.substr(0, children.end), child, depth + 1));
    }
    *out_ += ']';
    return Grown();
  }

  arrow::Status Primitive(std::string_view bytes, size_t at, int type) {
    static constexpr int kSizes[] = {0, 0, 0, 1, 2, 4, 8, 8, 5, 9, 17, 4, 8, 8, 4, 4, 4, 8, 8, 8, 16};
    if (type > 20) return Malformed("unknown primitive type");
    const size_t left = bytes.size() - at;
    if (left < static_cast<size_t>(kSizes[type])) return Malformed("primitive past its bytes");
    switch (type) {
      case 0: *out_ += "null"; return arrow::Status::OK();
      case 1: *out_ += "true"; return arrow::Status::OK();
      case 2: *out_ += "false"; return arrow::Status::OK();
      case 3: *out_ += std::to_string(ReadLittleEndian<int8_t>(bytes, at)); break;
      case 4: *out_ += std::to_string(ReadLittleEndian<int16_t>(bytes, at)); break;
      case 5: *out_ += std::to_string(ReadLittleEndian<int32_t>(bytes, at)); break;
      case 6: *out_ += std::to_string(ReadLittleEndian<int64_t>(bytes, at)); break;
      case 7: return Floating(ReadLittleEndian<double>(bytes, at));
      case 14: return Floating(ReadLittleEndian<float>(bytes, at));
      case 8: return Decimal(bytes[at], ReadLittleEndian<int32_t>(bytes, at + 1));
      case 9: return Decimal(bytes[at], ReadLittleEndian<int64_t>(bytes, at + 1));
      case 10: {
        const auto low = ReadLittleEndian<uint64_t>(bytes, at + 1);
        const auto high = ReadLittleEndian<int64_t>(bytes, at + 9);
        return Decimal(bytes[at], arrow::Decimal128(high, low));
      }
      case 11: return Time(*arrow::date32(), ReadLittleEndian<int32_t>(bytes, at));
      case 12: return Time(*arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"),
                           ReadLittleEndian<int64_t>(bytes, at));
      case 13: return Time(*arrow::timestamp(arrow::TimeUnit::MICRO),
                           ReadLittleEndian<int64_t>(bytes, at));
      case 17: return Time(*arrow::time64(arrow::TimeUnit::MICRO),
                           ReadLittleEndian<int64_t>(bytes, at));
      case 18: return Time(*arrow::timestamp(arrow::TimeUnit::NANO, "UTC"),
                           ReadLittleEndian<int64_t>(bytes, at));
      case 19: return Time(*arrow::timestamp(arrow::TimeUnit::NANO),
                           ReadLittleEndian<int64_t>(bytes, at));
      case 15: case 16: {  // binary, string: a 4-byte length, then the bytes
        const uint32_t size = ReadUnsigned(bytes, at, 4);
        if (left - 4 < size) return Malformed("string past its bytes");
        if (type == 16) return Text(bytes.substr(at + 4, size));
        ARROW_RETURN_NOT_OK(Room(size_t{4} * size));  // a byte is \xHH at most
        std::string blob;
        AppendBlobText(bytes.substr(at + 4, size), &blob);
        return Text(blob);
      }
      default:  // 20: a UUID, 16 bytes big-endian
        return Uuid(bytes.substr(at, 16));
    }
    return Grown();
  }

  // As a DOUBLE or FLOAT column is written (json_result.cc): Arrow's shortest text, NaN
  // and infinities as strings.
  template <typename Number>
  arrow::Status Floating(Number number) {
    if (std::isnan(number)) return Text("nan");
    if (std::isinf(number)) return Text(number > 0 ? "inf" : "-inf");
    using ArrowType = std::conditional_t<std::is_same_v<Number, float>, arrow::FloatType,
                                         arrow::DoubleType>;
    arrow::internal::StringFormatter<ArrowType> format;
    format(number, [this](std::string_view text) { out_->append(text); });
    return Grown();
  }

  arrow::Status Decimal(char scale_byte, arrow::Decimal128 unscaled) {
    const auto scale = static_cast<unsigned char>(scale_byte);
    if (scale > 38) return Malformed("decimal scale past 38");
    *out_ += unscaled.ToString(scale);
    return Grown();
  }

  arrow::Status Time(const arrow::DataType& type, int64_t value) {
    *out_ += '"';
    *out_ += OwnTimeText(type, value);
    *out_ += '"';
    return Grown();
  }

  arrow::Status Uuid(std::string_view bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    *out_ += '"';
    for (size_t i = 0; i < bytes.size(); ++i) {
      if (i == 4 || i == 6 || i == 8 || i == 10) *out_ += '-';
      const auto byte = static_cast<unsigned char>(bytes[i]);
      out_->append({kHex[byte >> 4], kHex[byte & 0xf]});
    }
    *out_ += '"';
    return Grown();
  }

  // Text (a key or a string) as a JSON string: its bytes must be UTF-8.
  arrow::Status Text(std::string_view text) {
    ARROW_RETURN_NOT_OK(Room(text.size()));  // before escaping makes it longer still
    if (!arrow::util::ValidateUTF8(text)) return Malformed("a string that is not UTF-8");
    AppendJsonString(text, out_);
    return Grown();
  }

  arrow::Status Grown() const { return Room(0); }

  // Whether `more` bytes of text fit under the cap, before they are made.
  arrow::Status Room(size_t more) const {
    if (out_->size() - start_ + more <= kMaxVariantTextBytes) return arrow::Status::OK();
    return arrow::Status::Invalid(
        "a VARIANT value's JSON text passes ", kMaxVariantTextBytes >> 20,
        " MiB: ask for format=arrow, or cast it to VARCHAR for DuckDB's text of it");
  }

  const Keys& keys_;
  std::string* out_;
  const size_t start_;
};

}  // namespace

bool IsParquetVariantType(const arrow::DataType& type) {
  return type.id() == arrow::Type::EXTENSION &&
         static_cast<const arrow::ExtensionType&>(type).extension_name() == kVariantName;
}

bool IsParquetVariant(const arrow::Field& field) {
  if (IsParquetVariantType(*field.type())) return true;
  const auto& metadata = field.metadata();
  if (metadata == nullptr || field.type()->id() != arrow::Type::STRUCT) return false;
  const int at = metadata->FindKey("ARROW:extension:name");
  return at >= 0 && metadata->value(at) == kVariantName;
}

arrow::Status AppendVariantJson(std::string_view metadata, std::string_view value,
                                std::string* out) {
  arrow::util::InitializeUTF8();  // ValidateUTF8's tables (once; a no-op after)
  ARROW_ASSIGN_OR_RAISE(auto keys, Keys::Read(metadata));
  return JsonOfVariant(keys, out).Element(value, 0, 0);
}

arrow::Result<VariantColumn> VariantColumn::Of(const arrow::Array& column) {
  const auto& storage = column.type_id() == arrow::Type::EXTENSION
                            ? *static_cast<const arrow::ExtensionArray&>(column).storage()
                            : column;
  if (storage.type_id() != arrow::Type::STRUCT) return Malformed("its storage is not a struct");
  const auto& fields = static_cast<const arrow::StructArray&>(storage);
  VariantColumn variants;
  variants.metadata_ = fields.GetFieldByName("metadata");
  variants.value_ = fields.GetFieldByName("value");
  if (variants.metadata_ == nullptr || variants.value_ == nullptr) {
    return Malformed("no metadata or value field");
  }
  return variants;
}

arrow::Status VariantColumn::AppendJson(int64_t row, std::string* out) const {
  if (metadata_->IsNull(row)) return Malformed("a row without metadata");
  if (value_->IsNull(row)) {
    // Its value in a typed_value field (a shredded variant), not DuckDB's export.
    return arrow::Status::NotImplemented(
        "a VARIANT row without a value field (shredded) is not written as text: ask for "
        "format=arrow");
  }
  const auto metadata_bytes = BinaryValueAt(*metadata_, row);
  const auto value_bytes = BinaryValueAt(*value_, row);
  if (!metadata_bytes || !value_bytes) return Malformed("its fields are not binary");
  return AppendVariantJson(*metadata_bytes, *value_bytes, out);
}

arrow::Result<std::optional<VariantColumn>> VariantColumnOf(const arrow::Field& field,
                                                            const arrow::Array& column) {
  if (!IsParquetVariant(field)) return std::nullopt;
  return VariantColumn::Of(column);
}

arrow::Status AppendVariantJsonAt(const arrow::Array& variant, int64_t row, std::string* out) {
  ARROW_ASSIGN_OR_RAISE(const auto variants, VariantColumn::Of(variant));
  return variants.AppendJson(row, out);
}

arrow::Status CheckVariantsWritable(const arrow::Array& column) {
  ARROW_ASSIGN_OR_RAISE(const auto variants, VariantColumn::Of(column));
  std::string json;
  for (int64_t i = 0; i < column.length(); ++i) {
    if (column.IsNull(i)) continue;
    json.clear();
    ARROW_RETURN_NOT_OK(variants.AppendJson(i, &json));
  }
  return arrow::Status::OK();
}

arrow::Result<std::shared_ptr<arrow::Array>> VariantsAsText(const arrow::Array& column) {
  ARROW_ASSIGN_OR_RAISE(const auto variants, VariantColumn::Of(column));
  return TextColumn(column, [&variants](int64_t i, std::string* json) {
    return variants.AppendJson(i, json);
  });
}

}  // namespace arrowport::query
