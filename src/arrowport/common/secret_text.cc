#include "arrowport/common/secret_text.h"

#include <regex>

namespace arrowport {

namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// `text` with its percent-escapes decoded (libpq decodes them in a URI's names too).
std::string PercentDecoded(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      const int high = HexDigit(text[i + 1]);
      const int low = HexDigit(text[i + 2]);
      if (high >= 0 && low >= 0) {
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

bool PasswordIn(const std::string& decoded) {
  // password=... as a keyword or a URI's parameter; user:password@ in any URI.
  static const std::regex keyword(R"((^|[\s:?&;'"])password\s*=)", std::regex::icase);
  static const std::regex userinfo(R"([a-z][a-z0-9+.-]*://[^@/\s'"]*:[^@/\s'"]*@)",
                                   std::regex::icase);
  return std::regex_search(decoded, keyword) || std::regex_search(decoded, userinfo);
}

}  // namespace

bool HoldsPassword(const std::string& conninfo) { return PasswordIn(PercentDecoded(conninfo)); }

bool HoldsSecret(const std::string& text) {
  static const std::regex words(
      R"(secret|password|token|accountkey|account_key|connection_string|credential)",
      std::regex::icase);
  const std::string decoded = PercentDecoded(text);
  return std::regex_search(decoded, words) || PasswordIn(decoded);
}

}  // namespace arrowport
