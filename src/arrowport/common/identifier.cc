#include "arrowport/common/identifier.h"

namespace arrowport {

namespace {
constexpr size_t kMaxNameBytes = 128;

bool IsIdentStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool IsIdentChar(char c) { return IsIdentStart(c) || (c >= '0' && c <= '9'); }

std::string Printable(std::string_view name) {
  std::string out;
  for (char c : name.substr(0, 64)) {
    out += (static_cast<unsigned char>(c) < 0x20) ? '?' : c;
  }
  if (name.size() > 64) out += "...";
  return out;
}
}  // namespace

arrow::Status ValidateName(std::string_view what, std::string_view name) {
  if (name.empty()) {
    return arrow::Status::Invalid(what, " name must not be empty");
  }
  if (name.size() > kMaxNameBytes) {
    return arrow::Status::Invalid(what, " name '", Printable(name), "' is longer than ",
                                  kMaxNameBytes, " bytes");
  }
  bool ok = IsIdentStart(name[0]);
  for (char c : name) ok = ok && IsIdentChar(c);
  if (!ok) {
    return arrow::Status::Invalid(
        "invalid ", what, " name '", Printable(name),
        "': use letters, digits and underscores, starting with a letter or underscore");
  }
  return arrow::Status::OK();
}

std::string QuoteIdentifier(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 2);
  out += '"';
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string QuoteLiteral(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 2);
  out += '\'';
  for (char c : value) {
    if (c == '\'') out += '\'';
    out += c;
  }
  out += '\'';
  return out;
}

}  // namespace arrowport
