#include "arrowport/query/bignum_text.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "arrow/array.h"
#include "arrow/builder.h"
#include "arrow/extension/opaque.h"
#include "arrow/extension_type.h"
#include "arrow/type.h"
#include "arrowport/common/binary_value.h"
#include "arrowport/query/text_pieces.h"

namespace arrowport::query {

bool IsDuckDBBignum(const arrow::DataType& type) {
  if (type.id() != arrow::Type::EXTENSION) return false;
  const auto& extension = static_cast<const arrow::ExtensionType&>(type);
  if (extension.extension_name() != "arrow.opaque") return false;
  const auto& opaque = static_cast<const arrow::extension::OpaqueType&>(type);
  return opaque.vendor_name() == "DuckDB" && opaque.type_name() == "bignum";
}

namespace {

arrow::Status TooLargeForText(size_t length) {
  return arrow::Status::Invalid(
      "a BIGNUM of ", length, " bytes (more than ", kMaxBignumTextBytes,
      ", about 2,467 digits) is not written as JSON or CSV text; read it as Arrow, or "
      "cast it to VARCHAR for DuckDB's text of it");
}

// The encoded value at `i` of a BIGNUM column's storage.
arrow::Result<std::string_view> EncodedAt(const arrow::Array& storage, int64_t i) {
  if (auto value = BinaryValueAt(storage, i)) return *value;
  return arrow::Status::Invalid("a BIGNUM column stored as ", storage.type()->ToString());
}

}  // namespace

arrow::Result<std::string> BignumText(std::string_view encoded) {
  // A 3-byte header (a sign bit, then the magnitude's length), then the magnitude, big
  // endian; every bit of both inverted for a negative number.
  const auto* bytes = reinterpret_cast<const uint8_t*>(encoded.data());
  if (encoded.size() < 4) {
    return arrow::Status::Invalid("a BIGNUM of ", encoded.size(), " bytes is not DuckDB's "
                                  "encoding of one");
  }
  const bool negative = (bytes[0] & 0x80) == 0;
  const uint8_t flip = negative ? 0xFF : 0x00;
  const size_t length = (static_cast<size_t>((bytes[0] ^ flip) & 0x7F) << 16) |
                        (static_cast<size_t>(bytes[1] ^ flip) << 8) |
                        static_cast<size_t>(bytes[2] ^ flip);
  if (length != encoded.size() - 3) {
    return arrow::Status::Invalid("a BIGNUM's header says ", length, " bytes where ",
                                  encoded.size() - 3, " follow");
  }
  if (length > kMaxBignumTextBytes) return TooLargeForText(length);
  // The magnitude in 32-bit words, most significant first, divided by 10^9 again and
  // again: each remainder is the next nine digits from the right.
  std::vector<uint32_t> words((length + 3) / 4, 0);
  for (size_t i = 0; i < length; ++i) {
    const size_t from_right = length - 1 - i;
    const uint8_t byte = bytes[3 + i] ^ flip;
    words[words.size() - 1 - from_right / 4] |= static_cast<uint32_t>(byte)
                                                << (8 * (from_right % 4));
  }
  constexpr uint32_t kBase = 1000000000;
  std::vector<uint32_t> groups;  // nine digits each, least significant first
  size_t first = 0;              // the first word not yet 0
  while (first < words.size() && words[first] == 0) ++first;
  while (first < words.size()) {
    uint64_t remainder = 0;
    for (size_t i = first; i < words.size(); ++i) {
      const uint64_t current = (remainder << 32) | words[i];
      words[i] = static_cast<uint32_t>(current / kBase);
      remainder = current % kBase;
    }
    groups.push_back(static_cast<uint32_t>(remainder));
    while (first < words.size() && words[first] == 0) ++first;
  }
  if (groups.empty()) return std::string("0");
  std::string text = negative ? "-" : "";
  text += std::to_string(groups.back());
  for (size_t i = groups.size() - 1; i-- > 0;) {
    const std::string group = std::to_string(groups[i]);
    text.append(9 - group.size(), '0');
    text += group;
  }
  return text;
}

arrow::Status CheckBignumsFitText(const arrow::Array& column) {
  const arrow::DataType& type = *column.type();
  if (IsDuckDBBignum(type)) {
    const auto& storage = *static_cast<const arrow::ExtensionArray&>(column).storage();
    for (int64_t i = 0; i < storage.length(); ++i) {
      if (storage.IsNull(i)) continue;
      ARROW_ASSIGN_OR_RAISE(auto encoded, EncodedAt(storage, i));
      if (encoded.size() > kMaxBignumTextBytes + 3) return TooLargeForText(encoded.size() - 3);
    }
    return arrow::Status::OK();
  }
  if (type.id() == arrow::Type::EXTENSION) {
    return CheckBignumsFitText(*static_cast<const arrow::ExtensionArray&>(column).storage());
  }
  if (type.id() == arrow::Type::DICTIONARY) {
    return CheckBignumsFitText(*static_cast<const arrow::DictionaryArray&>(column).dictionary());
  }
  // A nested column: the values its children hold (a list's, a struct's, a map's, a
  // union's).
  for (const auto& child : column.data()->child_data) {
    ARROW_RETURN_NOT_OK(CheckBignumsFitText(*arrow::MakeArray(child)));
  }
  return arrow::Status::OK();
}

arrow::Result<std::shared_ptr<arrow::Array>> BignumsAsText(const arrow::Array& column) {
  const auto& storage = *static_cast<const arrow::ExtensionArray&>(column).storage();
  return TextColumn(storage, [&storage](int64_t i, std::string* text) {
    ARROW_ASSIGN_OR_RAISE(auto encoded, EncodedAt(storage, i));
    ARROW_ASSIGN_OR_RAISE(auto digits, BignumText(encoded));
    *text += digits;
    return arrow::Status::OK();
  });
}

}  // namespace arrowport::query
