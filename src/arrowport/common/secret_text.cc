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

// libpq's password keywords (password=, sslpassword=, oauth_client_secret=), as a
// conninfo keyword or a URI's parameter; a URI's user:password@.
bool PasswordIn(const std::string& text) {
  static const std::regex keyword(
      R"((^|[\s:?&;'"])(ssl)?password\s*=|oauth_client_secret\s*=)", std::regex::icase);
  static const std::regex userinfo(R"([a-z][a-z0-9+.-]*://[^@/\s'"]*:[^@/\s'"]*@)",
                                   std::regex::icase);
  // libpq ends a URI's user:password at the first '@' or '/', whatever comes before.
  static const std::regex libpq_userinfo(R"(postgres(ql)?://[^@/:]*:[^@/]*@)",
                                         std::regex::icase);
  return std::regex_search(text, keyword) || std::regex_search(text, userinfo) ||
         std::regex_search(text, libpq_userinfo);
}

// Matched as written and decoded: decoding hides a password whose escapes decode to a
// character the match stops at ('/', ' ', '\'': "ap:s3%2Fcret@"), and reveals a keyword
// written in escapes ("p%61ssword=").
bool PasswordInEither(const std::string& text) {
  return PasswordIn(text) || PasswordIn(PercentDecoded(text));
}

}  // namespace

bool HoldsPassword(const std::string& conninfo) { return PasswordInEither(conninfo); }

bool HoldsSecret(const std::string& text) {
  static const std::regex words(
      R"(secret|password|token|accountkey|account_key|connection_string|credential)",
      std::regex::icase);
  return std::regex_search(PercentDecoded(text), words) || PasswordInEither(text);
}

}  // namespace arrowport
