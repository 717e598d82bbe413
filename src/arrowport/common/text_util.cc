#include "arrowport/common/text_util.h"

namespace arrowport {

namespace {

std::string HexWith(std::string_view bytes, const char* digits) {
  std::string out;
  out.reserve(2 * bytes.size());
  for (const char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    out.push_back(digits[byte >> 4]);
    out.push_back(digits[byte & 0xf]);
  }
  return out;
}

}  // namespace

std::string_view Trimmed(std::string_view text, std::string_view blanks) {
  const size_t begin = text.find_first_not_of(blanks);
  if (begin == std::string_view::npos) return text.substr(text.size());
  return text.substr(begin, text.find_last_not_of(blanks) - begin + 1);
}

std::string HexText(std::string_view bytes) { return HexWith(bytes, "0123456789abcdef"); }

std::string HexTextUpper(std::string_view bytes) {
  return HexWith(bytes, "0123456789ABCDEF");
}

}  // namespace arrowport
