#include "arrowport/query/whole_table_sql.h"

#include <cctype>
#include <string_view>

#include "arrow/util/string.h"

namespace arrowport::query {

std::optional<std::string> WholeTableOf(const std::string& sql) {
  // `SELECT * FROM name` or `"name"`, any case, blanks and one `;` around: read by hand,
  // as it is asked at every Flight SQL GetFlightInfo (std::regex took ~10 us a call).
  size_t at = 0;
  const auto blanks = [&] {
    const size_t from = at;
    while (at < sql.size() && std::isspace(static_cast<unsigned char>(sql[at]))) ++at;
    return at > from;
  };
  const auto word = [&](std::string_view expected) {
    if (sql.size() - at < expected.size() ||
        !arrow::internal::AsciiEqualsCaseInsensitive(
            std::string_view(sql).substr(at, expected.size()), expected)) {
      return false;
    }
    at += expected.size();
    return true;
  };
  const auto name_char = [&](bool first) {
    if (at >= sql.size()) return false;
    const auto c = static_cast<unsigned char>(sql[at]);
    return c == '_' || std::isalpha(c) || (!first && std::isdigit(c));
  };
  blanks();
  if (!word("select") || !blanks() || !word("*") || !blanks() || !word("from") ||
      !blanks()) {
    return std::nullopt;
  }
  const bool quoted = word("\"");
  const size_t start = at;
  if (!name_char(/*first=*/true)) return std::nullopt;
  while (name_char(/*first=*/false)) ++at;
  const size_t end = at;
  if (quoted && !word("\"")) return std::nullopt;
  blanks();
  word(";");
  blanks();
  if (at != sql.size()) return std::nullopt;
  return sql.substr(start, end - start);
}

}  // namespace arrowport::query
