#include "arrowport/ingest/variant_values.h"

#include <simdutf.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

#include "arrow/array.h"
#include "arrow/extension_type.h"
#include "arrow/type.h"
#include "arrow/util/decimal.h"
#include "arrow/util/key_value_metadata.h"
#include "arrowport/common/binary_value.h"
#include "arrowport/storage/core/type_mapping.h"

namespace arrowport::ingest {

namespace {

constexpr std::string_view kVariantName = "arrow.parquet.variant";

bool IsVariantField(const arrow::Field& field) {
  if (field.type()->id() == arrow::Type::EXTENSION &&
      static_cast<const arrow::ExtensionType&>(*field.type()).extension_name() ==
          kVariantName) {
    return true;
  }
  const auto& metadata = field.metadata();
  if (metadata == nullptr) return false;
  const int at = metadata->FindKey("ARROW:extension:name");
  return at >= 0 && metadata->value(at) == kVariantName;
}

arrow::Status Malformed(const char* what) {
  return arrow::Status::Invalid("an arrow.parquet.variant value is not well formed: ", what);
}

// A little-endian unsigned number of `size` (1 to 4) bytes.
uint64_t ReadUnsigned(const uint8_t* bytes, int size) {
  uint64_t value = 0;
  for (int i = 0; i < size; ++i) value |= static_cast<uint64_t>(bytes[i]) << (8 * i);
  return value;
}

int64_t ReadSigned(const uint8_t* bytes, int size) {
  uint64_t value = 0;
  std::memcpy(&value, bytes, static_cast<size_t>(size));
  const int shift = 64 - 8 * size;  // sign-extended from `size` bytes
  return static_cast<int64_t>(value << shift) >> shift;
}

bool Utf8(const uint8_t* bytes, size_t size) {
  return simdutf::validate_utf8(reinterpret_cast<const char*>(bytes), size);
}

// A metadata's dictionary, once checked: its size and where its offsets are.
struct Dictionary {
  uint64_t size = 0;
  const uint8_t* offsets = nullptr;  // size + 1 of them, in order
  int offset_size = 1;
  uint64_t KeyBytes(uint64_t id) const {
    return ReadUnsigned(offsets + (id + 1) * offset_size, offset_size) -
           ReadUnsigned(offsets + id * offset_size, offset_size);
  }
};

// One row's value, read against its metadata's dictionary.
class ValueCheck {
 public:
  explicit ValueCheck(const Dictionary& dictionary) : dictionary_(dictionary) {}

  // The bytes of keys its objects name, each as often as named: DuckDB stores a key with
  // every object that names it.
  uint64_t named_key_bytes() const { return named_key_bytes_; }

  // The size of the value at `bytes` (at most `available` of them).
  arrow::Result<size_t> Value(const uint8_t* bytes, size_t available, int depth) {
    if (available == 0) return Malformed("a value is cut short");
    const int basic_type = bytes[0] & 0x03;
    const int header = bytes[0] >> 2;
    switch (basic_type) {
      case 0: {
        ARROW_ASSIGN_OR_RAISE(auto size, Primitive(header, bytes + 1, available - 1));
        return size + 1;
      }
      case 1:  // a short string: its length in the header
        if (static_cast<size_t>(header) > available - 1) {
          return Malformed("a string is cut short");
        }
        if (!Utf8(bytes + 1, static_cast<size_t>(header))) return Malformed("a string is not UTF-8");
        return static_cast<size_t>(header) + 1;
      default:
        return Nested(basic_type == 2, header, bytes, available, depth);
    }
  }

 private:
  arrow::Result<size_t> Primitive(int type, const uint8_t* bytes, size_t available) {
    // Sizes of the primitive types 0-20 (-1: a length prefix follows).
    static constexpr int kSizes[] = {0, 0, 0, 1, 2, 4, 8, 8, 5, 9, 17,
                                     4, 8, 8, 4, -1, -1, 8, 8, 8, 16};
    if (type > 20) {
      return arrow::Status::Invalid("an arrow.parquet.variant value holds primitive type ",
                                    type, ", not one of the encoding's (0-20)");
    }
    size_t size = static_cast<size_t>(kSizes[type]);
    if (kSizes[type] < 0) {
      if (available < 4) return Malformed("a binary or string is cut short");
      size = 4 + ReadUnsigned(bytes, 4);
    }
    if (size > available) return Malformed("a primitive value is cut short");
    if (type == 16 && !Utf8(bytes + 4, size - 4)) return Malformed("a string is not UTF-8");
    if (type >= 8 && type <= 10) ARROW_RETURN_NOT_OK(Decimal(type, bytes));
    if (type == 12 || type == 13) {
      const int64_t micros = ReadSigned(bytes, 8);
      if (micros < storage::kLeastTimestampMicros || micros > storage::kMostTimestampMicros) {
        return Malformed("a timestamp is outside the range DuckDB holds");
      }
    }
    if (type == 17) {
      const int64_t micros = ReadSigned(bytes, 8);
      if (micros < 0 || micros > int64_t{86400000000}) {
        return Malformed("a time of day is outside 00:00:00 to 24:00:00");
      }
    }
    return size;
  }

  // decimal4, decimal8 and decimal16: a scale byte, then the unscaled value, within the
  // precision of its width (9, 18 and 38 digits).
  static arrow::Status Decimal(int type, const uint8_t* bytes) {
    const int width = type == 8 ? 4 : type == 9 ? 8 : 16;
    const int precision = type == 8 ? 9 : type == 9 ? 18 : 38;
    if (bytes[0] > precision) return Malformed("a decimal's scale exceeds its precision");
    arrow::Decimal128 value;
    if (width == 16) {
      value = arrow::Decimal128(bytes + 1);  // little endian, as the encoding has it
    } else {
      value = arrow::Decimal128(ReadSigned(bytes + 1, width));
    }
    const auto bound = arrow::Decimal128::GetScaleMultiplier(precision);
    if (value >= bound || value <= -bound) return Malformed("a decimal has too many digits");
    return arrow::Status::OK();
  }

  // An object (field ids, offsets, values) or an array (offsets, values).
  arrow::Result<size_t> Nested(bool object, int header, const uint8_t* bytes,
                               size_t available, int depth) {
    if (depth >= kMaxVariantDepth) {
      return arrow::Status::Invalid("an arrow.parquet.variant value nests more than ",
                                    kMaxVariantDepth, " levels deep");
    }
    const int offset_size = (header & 0x03) + 1;
    const int id_size = object ? ((header >> 2) & 0x03) + 1 : 0;
    const bool large = object ? (header & 0x10) != 0 : (header & 0x04) != 0;
    const int count_size = large ? 4 : 1;
    uint64_t at = 1;
    if (available < at + count_size) return Malformed("a container is cut short");
    const uint64_t count = ReadUnsigned(bytes + at, count_size);
    at += count_size;
    const uint64_t ids_at = at;
    at += count * static_cast<uint64_t>(id_size);
    const uint64_t offsets_at = at;
    at += (count + 1) * static_cast<uint64_t>(offset_size);
    // Sizes checked against the bytes present before anything is made for them.
    if (at > available) return Malformed("a container declares more elements than it holds");
    const uint8_t* region = bytes + at;
    const uint64_t region_size = available - at;
    const uint64_t total = ReadUnsigned(bytes + offsets_at + count * offset_size, offset_size);
    if (total > region_size) return Malformed("a container's values are cut short");
    std::vector<uint64_t> starts(count);
    for (uint64_t i = 0; i < count; ++i) {
      starts[i] = ReadUnsigned(bytes + offsets_at + i * offset_size, offset_size);
      if (!object) continue;
      const uint64_t id = ReadUnsigned(bytes + ids_at + i * id_size, id_size);
      if (id >= dictionary_.size) {
        return Malformed("an object's field id is not in its metadata's dictionary");
      }
      named_key_bytes_ += dictionary_.KeyBytes(id);
    }
    // Each value lies before the next one's start: none shares another's bytes (whose
    // checks would then repeat), and an array's are in order.
    if (object) std::sort(starts.begin(), starts.end());
    for (uint64_t i = 0; i < count; ++i) {
      const uint64_t end = i + 1 < count ? starts[i + 1] : total;
      if (starts[i] > end) return Malformed("an array's offsets are out of order");
      ARROW_ASSIGN_OR_RAISE(auto size, Value(region + starts[i], end - starts[i], depth + 1));
      (void)size;  // what is left before the next value is padding
    }
    return static_cast<size_t>(at + total);
  }

  const Dictionary& dictionary_;
  uint64_t named_key_bytes_ = 0;
};

// The metadata's dictionary, once its header, offsets and strings are checked.
arrow::Result<Dictionary> CheckMetadata(std::string_view metadata) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(metadata.data());
  if (metadata.empty()) return Malformed("its metadata is empty");
  if ((bytes[0] & 0x0F) != 1) return Malformed("its metadata is not of version 1");
  const int offset_size = ((bytes[0] >> 6) & 0x03) + 1;
  if (metadata.size() < 1 + static_cast<size_t>(offset_size)) {
    return Malformed("its metadata is cut short");
  }
  const uint64_t size = ReadUnsigned(bytes + 1, offset_size);
  const uint64_t offsets_at = 1 + offset_size;
  const uint64_t strings_at = offsets_at + (size + 1) * offset_size;
  if (strings_at > metadata.size()) return Malformed("its metadata's dictionary is cut short");
  const uint64_t strings_size = metadata.size() - strings_at;
  uint64_t previous = 0;
  for (uint64_t i = 0; i <= size; ++i) {
    const uint64_t offset = ReadUnsigned(bytes + offsets_at + i * offset_size, offset_size);
    if ((i == 0 && offset != 0) || offset < previous || offset > strings_size) {
      return Malformed("its metadata's dictionary offsets are out of order");
    }
    if (!Utf8(bytes + strings_at + previous, offset - previous)) {
      return Malformed("a field name is not UTF-8");
    }
    previous = offset;
  }
  return Dictionary{size, bytes + offsets_at, offset_size};
}

// How many times its own bytes a value's keys may take as DuckDB stores them. A 16 KB key
// named by 1,000 small objects (46 KB of Arrow) became 16 MB in DuckDB: eight such rows
// made a 128 MB WAL, and a few MB of them a checkpoint that ran out of memory and
// invalidated the database. Documents name their keys a few times their size at most.
constexpr uint64_t kMaxKeyRepetition = 8;
constexpr uint64_t kKeyRepetitionAllowance = 4096;

// The value at `i` of a binary child; nullopt when null.
arrow::Result<std::optional<std::string_view>> BinaryAt(const arrow::Array& array, int64_t i) {
  if (array.IsNull(i)) return std::nullopt;
  if (auto value = BinaryValueAt(array, i)) return value;
  return arrow::Status::Invalid("an arrow.parquet.variant's metadata and value are binary, "
                                "not ", array.type()->ToString());
}

arrow::Status CheckVariantColumn(const arrow::ArrayData& data) {
  auto storage = data.Copy();
  if (storage->type->id() == arrow::Type::EXTENSION) {
    storage->type = static_cast<const arrow::ExtensionType&>(*data.type).storage_type();
  }
  if (storage->type->id() != arrow::Type::STRUCT) {
    return arrow::Status::Invalid("an arrow.parquet.variant column is a struct, not ",
                                  storage->type->ToString());
  }
  const auto column = std::static_pointer_cast<arrow::StructArray>(arrow::MakeArray(storage));
  const auto metadata = column->GetFieldByName("metadata");
  const auto value = column->GetFieldByName("value");
  if (metadata == nullptr) return Malformed("the struct has no 'metadata' field");
  for (int64_t i = 0; i < column->length(); ++i) {
    if (column->IsNull(i)) continue;
    ARROW_ASSIGN_OR_RAISE(auto metadata_bytes, BinaryAt(*metadata, i));
    if (!metadata_bytes) return Malformed("a row has no metadata");
    ARROW_ASSIGN_OR_RAISE(const Dictionary dictionary, CheckMetadata(*metadata_bytes));
    if (value == nullptr) continue;  // shredded: typed_value holds Arrow's own types
    ARROW_ASSIGN_OR_RAISE(auto value_bytes, BinaryAt(*value, i));
    if (!value_bytes) continue;
    ValueCheck check(dictionary);
    ARROW_ASSIGN_OR_RAISE(
        auto size, check.Value(reinterpret_cast<const uint8_t*>(value_bytes->data()),
                               value_bytes->size(), 0));
    if (size != value_bytes->size()) return Malformed("bytes follow its value");
    const uint64_t own_bytes = metadata_bytes->size() + value_bytes->size();
    if (check.named_key_bytes() > kMaxKeyRepetition * own_bytes + kKeyRepetitionAllowance) {
      return arrow::Status::Invalid(
          "an arrow.parquet.variant value names its keys ", check.named_key_bytes(),
          " bytes' worth in ", own_bytes, " bytes: DuckDB stores a key with each object "
          "that names it, and a value may take at most ", kMaxKeyRepetition,
          " times its size so (shorter keys, or fewer objects naming a long one)");
    }
  }
  return arrow::Status::OK();
}

}  // namespace

arrow::Status CheckVariantValues(const arrow::Field& field, const arrow::ArrayData& data) {
  if (IsVariantField(field)) return CheckVariantColumn(data);
  const arrow::DataType& type = *field.type();
  switch (type.id()) {
    case arrow::Type::EXTENSION: {
      const auto storage = static_cast<const arrow::ExtensionType&>(type).storage_type();
      return CheckVariantValues(arrow::Field(field.name(), storage), data);
    }
    case arrow::Type::DICTIONARY:
      if (data.dictionary == nullptr) return arrow::Status::OK();
      return CheckVariantValues(
          arrow::Field("", static_cast<const arrow::DictionaryType&>(type).value_type()),
          *data.dictionary);
    default:
      // A nested column's children (a struct's, a list's or map's items, a union's, a
      // run-end encoded column's values), checked whole past a slice: it errs on refusing.
      for (int i = 0; i < type.num_fields() && i < static_cast<int>(data.child_data.size());
           ++i) {
        ARROW_RETURN_NOT_OK(CheckVariantValues(*type.field(i), *data.child_data[i]));
      }
      return arrow::Status::OK();
  }
}

}  // namespace arrowport::ingest
