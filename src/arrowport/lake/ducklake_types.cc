#include "arrowport/lake/ducklake_types.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "arrow/compute/api.h"
#include "arrow/type.h"
#include "arrow/util/decimal.h"
#include "arrowport/common/text_util.h"
#include "arrowport/lake/lake_files.h"

namespace arrowport::lake {

namespace {

std::string LowerAscii(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// Years 1 to 9999 only: what every reader parses as four digits.
constexpr int64_t kDuckLakeFirstDay = -719162;  // 0001-01-01
constexpr int64_t kDuckLakeLastDay = 2932896;   // 9999-12-31

std::optional<std::string> DuckLakeTimestampText(int64_t value, arrow::TimeUnit::type unit, bool utc) {
  int64_t per_second = 1;
  switch (unit) {
    case arrow::TimeUnit::SECOND: per_second = 1; break;
    case arrow::TimeUnit::MILLI: per_second = 1000; break;
    case arrow::TimeUnit::MICRO: per_second = 1000000; break;
    case arrow::TimeUnit::NANO: per_second = 1000000000; break;
  }
  int64_t seconds = value / per_second, fraction = value % per_second;
  if (fraction < 0) {
    fraction += per_second;
    seconds -= 1;
  }
  const int64_t days = seconds >= 0 ? seconds / 86400 : -((-seconds + 86399) / 86400);
  if (days < kDuckLakeFirstDay || days > kDuckLakeLastDay) return std::nullopt;
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[64];
  int n = std::snprintf(text, sizeof(text), "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  std::string out(text, static_cast<size_t>(n));
  if (fraction != 0) {
    const int digits = unit == arrow::TimeUnit::NANO ? 9 : unit == arrow::TimeUnit::MICRO ? 6 : 3;
    n = std::snprintf(text, sizeof(text), ".%0*lld", digits, static_cast<long long>(fraction));
    out.append(text, static_cast<size_t>(n));
  }
  if (utc) out += "+00";
  return out;
}

arrow::Result<std::string> UnhexText(const std::string& text) {
  if (text.size() % 2 != 0) return arrow::Status::Invalid("odd-length hex");
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < text.size(); i += 2) {
    const int hi = nibble(text[i]), lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return arrow::Status::Invalid("not hex: ", text.substr(0, 16));
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

}  // namespace

arrow::Result<std::string> DuckLakeTypeName(const arrow::DataType& type,
                                            const std::string& column) {
  switch (type.id()) {
    case arrow::Type::BOOL: return "boolean";
    case arrow::Type::INT8: return "int8";
    case arrow::Type::INT16: return "int16";
    case arrow::Type::INT32: return "int32";
    case arrow::Type::INT64: return "int64";
    case arrow::Type::UINT8: return "uint8";
    case arrow::Type::UINT16: return "uint16";
    case arrow::Type::UINT32: return "uint32";
    case arrow::Type::UINT64: return "uint64";
    case arrow::Type::FLOAT: return "float32";
    case arrow::Type::DOUBLE: return "float64";
    case arrow::Type::STRING:
    case arrow::Type::LARGE_STRING: return "varchar";
    case arrow::Type::BINARY:
    case arrow::Type::LARGE_BINARY: return "blob";
    case arrow::Type::DATE32: return "date";
    case arrow::Type::DECIMAL128: {
      const auto& decimal = static_cast<const arrow::Decimal128Type&>(type);
      return "decimal(" + std::to_string(decimal.precision()) + "," +
             std::to_string(decimal.scale()) + ")";
    }
    case arrow::Type::TIMESTAMP: {
      const auto& ts = static_cast<const arrow::TimestampType&>(type);
      if (ts.unit() != arrow::TimeUnit::MICRO) break;
      return ts.timezone().empty() ? "timestamp" : "timestamptz";
    }
    default:
      break;
  }
  return arrow::Status::Invalid("column '", column, "' has type ", type.ToString(),
                                ", which Arrowport does not write into a DuckLake table yet "
                                "(nested and time types are not supported)");
}

arrow::Result<std::shared_ptr<arrow::DataType>> ArrowTypeOfDuckLake(const std::string& name) {
  const std::string type = LowerAscii(name);
  if (type == "boolean") return arrow::boolean();
  if (type == "int8") return arrow::int8();
  if (type == "int16") return arrow::int16();
  if (type == "int32") return arrow::int32();
  if (type == "int64") return arrow::int64();
  if (type == "uint8") return arrow::uint8();
  if (type == "uint16") return arrow::uint16();
  if (type == "uint32") return arrow::uint32();
  if (type == "uint64") return arrow::uint64();
  if (type == "float32") return arrow::float32();
  if (type == "float64") return arrow::float64();
  if (type == "varchar" || type == "json") return arrow::utf8();
  if (type == "blob") return arrow::binary();
  if (type == "date") return arrow::date32();
  if (type == "time") return arrow::time64(arrow::TimeUnit::MICRO);
  if (type == "timestamp" || type == "timestamp_us") return arrow::timestamp(arrow::TimeUnit::MICRO);
  if (type == "timestamp_s") return arrow::timestamp(arrow::TimeUnit::SECOND);
  if (type == "timestamp_ms") return arrow::timestamp(arrow::TimeUnit::MILLI);
  if (type == "timestamp_ns") return arrow::timestamp(arrow::TimeUnit::NANO);
  if (type == "timestamptz") return arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
  if (type == "uuid") return arrow::utf8();
  if (type.rfind("decimal(", 0) == 0 && type.back() == ')') {
    int precision = 0, scale = 0;
    if (std::sscanf(type.c_str(), "decimal(%d,%d)", &precision, &scale) == 2 ||
        std::sscanf(type.c_str(), "decimal(%d, %d)", &precision, &scale) == 2) {
      if (precision >= 1 && precision <= 38 && scale >= 0 && scale <= precision) {
        return arrow::decimal128(precision, scale);
      }
    }
  }
  return arrow::Status::NotImplemented("the DuckLake column type '", name,
                                       "' is not read by Arrowport yet");
}

std::optional<std::string> DuckLakeValueText(const arrow::Scalar& value) {
  if (!value.is_valid) return std::nullopt;
  switch (value.type->id()) {
    case arrow::Type::BOOL:
      return static_cast<const arrow::BooleanScalar&>(value).value ? "1" : "0";
    case arrow::Type::INT8:
    case arrow::Type::INT16:
    case arrow::Type::INT32:
    case arrow::Type::INT64:
    case arrow::Type::UINT8:
    case arrow::Type::UINT16:
    case arrow::Type::UINT32:
    case arrow::Type::UINT64:
    case arrow::Type::DECIMAL128:
      return value.ToString();
    case arrow::Type::FLOAT:
    case arrow::Type::DOUBLE: {
      const double v = value.type->id() == arrow::Type::FLOAT
                           ? static_cast<const arrow::FloatScalar&>(value).value
                           : static_cast<const arrow::DoubleScalar&>(value).value;
      if (std::isnan(v)) return std::nullopt;
      if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
      char text[64];
      std::snprintf(text, sizeof(text), "%.17g", v);
      return std::string(text);
    }
    case arrow::Type::STRING:
    case arrow::Type::LARGE_STRING: {
      auto view = static_cast<const arrow::BaseBinaryScalar&>(value).view();
      if (view.find('\0') != std::string_view::npos) return std::nullopt;
      return std::string(view);
    }
    case arrow::Type::BINARY:
    case arrow::Type::LARGE_BINARY:
      return HexTextUpper(static_cast<const arrow::BaseBinaryScalar&>(value).view());
    case arrow::Type::DATE32: {
      const int64_t days = static_cast<const arrow::Date32Scalar&>(value).value;
      if (days < kDuckLakeFirstDay || days > kDuckLakeLastDay) return std::nullopt;
      return FormatDate(days);
    }
    case arrow::Type::TIMESTAMP: {
      const auto& type = static_cast<const arrow::TimestampType&>(*value.type);
      return DuckLakeTimestampText(static_cast<const arrow::TimestampScalar&>(value).value, type.unit(),
                           !type.timezone().empty());
    }
    default:
      return std::nullopt;
  }
}

std::optional<std::string> DuckLakeBoundText(const arrow::Scalar& value, bool is_max) {
  constexpr size_t kMaxBound = 256;
  const auto id = value.type->id();
  const bool text = id == arrow::Type::STRING || id == arrow::Type::LARGE_STRING;
  const bool blob = id == arrow::Type::BINARY || id == arrow::Type::LARGE_BINARY;
  if (!value.is_valid || !(text || blob)) return DuckLakeValueText(value);
  std::string bytes(static_cast<const arrow::BaseBinaryScalar&>(value).view());
  if (text && bytes.find('\0') != std::string::npos) return std::nullopt;
  if (bytes.size() > kMaxBound) {
    size_t cut = kMaxBound;
    // Strings are cut between characters (never inside a UTF-8 sequence).
    while (text && cut > 0 && (static_cast<unsigned char>(bytes[cut]) & 0xC0) == 0x80) --cut;
    bytes.resize(cut);
    if (is_max) {
      // Raise the last byte that can be raised (ASCII below 0x7F for strings, keeping
      // them valid UTF-8; any below 0xFF for blobs), dropping what follows it.
      size_t at = bytes.size();
      while (at > 0) {
        const unsigned char c = static_cast<unsigned char>(bytes[at - 1]);
        if (text ? c < 0x7F : c < 0xFF) break;
        --at;
      }
      if (at == 0) return std::nullopt;
      bytes.resize(at);
      bytes[at - 1] = static_cast<char>(static_cast<unsigned char>(bytes[at - 1]) + 1);
    }
  }
  return text ? bytes : HexTextUpper(bytes);
}

arrow::Result<std::shared_ptr<arrow::Scalar>> ParseDuckLakeValue(
    const std::string& text, const std::shared_ptr<arrow::DataType>& type) {
  ARROW_RETURN_NOT_OK(EnsureComputeKernels());
  switch (type->id()) {
    case arrow::Type::BINARY:
    case arrow::Type::LARGE_BINARY: {
      ARROW_ASSIGN_OR_RAISE(auto bytes, UnhexText(text));
      return arrow::MakeScalar(type, arrow::Buffer::FromString(std::move(bytes)));
    }
    case arrow::Type::STRING:
    case arrow::Type::LARGE_STRING:
      return arrow::MakeScalar(type, arrow::Buffer::FromString(text));
    case arrow::Type::BOOL: {
      const std::string lower = LowerAscii(text);
      if (lower == "true" || lower == "1" || lower == "t") return arrow::MakeScalar(true);
      if (lower == "false" || lower == "0" || lower == "f") return arrow::MakeScalar(false);
      return arrow::Status::Invalid("not a boolean: ", text);
    }
    case arrow::Type::FLOAT:
    case arrow::Type::DOUBLE: {
      const std::string lower = LowerAscii(text);
      double v = 0;
      if (lower == "inf" || lower == "infinity") {
        v = INFINITY;
      } else if (lower == "-inf" || lower == "-infinity") {
        v = -INFINITY;
      } else {
        char* end = nullptr;
        v = std::strtod(text.c_str(), &end);
        if (end == text.c_str() || *end != '\0') return arrow::Status::Invalid("not a number: ", text);
      }
      if (type->id() == arrow::Type::FLOAT) return arrow::MakeScalar(static_cast<float>(v));
      return arrow::MakeScalar(v);
    }
    case arrow::Type::TIMESTAMP: {
      // DuckDB's text: "2024-01-31 12:00:00[.ffffff][+00]"; Arrow's parser takes an
      // ISO 8601 offset of +HH:MM.
      std::string iso = text;
      if (iso.size() >= 3 && (iso[iso.size() - 3] == '+' || iso[iso.size() - 3] == '-') &&
          iso.size() > 19) {
        iso += ":00";
      }
      ARROW_ASSIGN_OR_RAISE(auto parsed,
                            arrow::compute::Cast(arrow::Datum(arrow::MakeScalar(iso)), type));
      return parsed.scalar();
    }
    default: {
      ARROW_ASSIGN_OR_RAISE(auto parsed,
                            arrow::compute::Cast(arrow::Datum(arrow::MakeScalar(text)), type));
      return parsed.scalar();
    }
  }
}

arrow::Result<int> CompareScalars(const arrow::Scalar& a, const arrow::Scalar& b) {
  ARROW_RETURN_NOT_OK(EnsureComputeKernels());
  ARROW_ASSIGN_OR_RAISE(auto less, arrow::compute::CallFunction(
                                       "less", {arrow::Datum(a.GetSharedPtr()),
                                                arrow::Datum(b.GetSharedPtr())}));
  if (static_cast<const arrow::BooleanScalar&>(*less.scalar()).value) return -1;
  ARROW_ASSIGN_OR_RAISE(auto greater, arrow::compute::CallFunction(
                                          "greater", {arrow::Datum(a.GetSharedPtr()),
                                                      arrow::Datum(b.GetSharedPtr())}));
  return static_cast<const arrow::BooleanScalar&>(*greater.scalar()).value ? 1 : 0;
}

}  // namespace arrowport::lake
