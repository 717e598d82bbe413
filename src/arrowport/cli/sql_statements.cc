#include "arrowport/cli/sql_statements.h"

#include <cctype>

namespace arrowport::cli {

namespace {

bool IsBlank(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string Trimmed(std::string_view text) {
  size_t begin = 0, end = text.size();
  while (begin < end && IsBlank(text[begin])) ++begin;
  while (end > begin && IsBlank(text[end - 1])) --end;
  return std::string(text.substr(begin, end - begin));
}

// A letter of a name or a dollar quote's tag: ASCII letters, '_', digits after the first,
// and every byte of a multi-byte UTF-8 character (DuckDB's scanner takes those as letters).
bool IsTagChar(char c, bool first) {
  const auto u = static_cast<unsigned char>(c);
  return std::isalpha(u) != 0 || c == '_' || u >= 0x80 || (!first && std::isdigit(u) != 0);
}

// The dollar-quote tag ("$", "$tag$") that starts at text[i], or "" when none does ($1 is
// a parameter, not a tag).
std::string DollarTagAt(const std::string& text, size_t i) {
  size_t j = i + 1;
  while (j < text.size() && IsTagChar(text[j], j == i + 1)) ++j;
  if (j < text.size() && text[j] == '$') return text.substr(i, j - i + 1);
  return "";
}

}  // namespace

void StatementSplitter::Feed(std::string_view line) {
  text_.append(line);
  text_.push_back('\n');  // ends a -- comment; every lookahead below has a next char
  Scan();
}

void StatementSplitter::Scan() {
  size_t i = scan_from_;
  for (; i < text_.size(); ++i) {
    const char c = text_[i];
    const char next = i + 1 < text_.size() ? text_[i + 1] : '\0';
    switch (state_) {
      case State::kCode:
        if (c == ';') {
          std::string statement = Trimmed(std::string_view(text_).substr(0, i));
          if (has_code_) done_.push_back(std::move(statement));
          text_.erase(0, i + 1);
          i = static_cast<size_t>(-1);  // the loop's ++i starts the rest at 0
          has_code_ = false;
          continue;
        }
        if (c == '-' && next == '-') {
          state_ = State::kLineComment;
          ++i;
        } else if (c == '/' && next == '*') {
          state_ = State::kBlockComment;
          block_depth_ = 1;
          ++i;
        } else if (!IsBlank(c)) {
          has_code_ = true;
          const bool after_name = i > 0 && IsTagChar(text_[i - 1], false);
          if (c == '\'') {
            // E'...' (not the end of a name such as "type'"): backslash escapes.
            const bool escape = i > 0 && (text_[i - 1] == 'E' || text_[i - 1] == 'e') &&
                                !(i > 1 && IsTagChar(text_[i - 2], false));
            state_ = escape ? State::kEscapeString : State::kSingleQuote;
          }
          if (c == '"') state_ = State::kDoubleQuote;
          if (c == '$' && !after_name) {
            dollar_tag_ = DollarTagAt(text_, i);
            if (!dollar_tag_.empty()) {
              state_ = State::kDollar;
              i += dollar_tag_.size() - 1;
            }
          }
        }
        break;
      case State::kSingleQuote:  // '' inside reads as the end and a new start: same cut
        if (c == '\'') state_ = State::kCode;
        break;
      case State::kEscapeString:
        if (c == '\\') {
          ++i;
        } else if (c == '\'') {
          state_ = State::kCode;
        }
        break;
      case State::kDoubleQuote:
        if (c == '"') state_ = State::kCode;
        break;
      case State::kLineComment:
        if (c == '\n') state_ = State::kCode;
        break;
      case State::kBlockComment:
        if (c == '/' && next == '*') {
          ++block_depth_;
          ++i;
        } else if (c == '*' && next == '/') {
          ++i;
          if (--block_depth_ == 0) state_ = State::kCode;
        }
        break;
      case State::kDollar:
        if (c == '$' && text_.compare(i, dollar_tag_.size(), dollar_tag_) == 0) {
          i += dollar_tag_.size() - 1;
          state_ = State::kCode;
        }
        break;
    }
  }
  scan_from_ = text_.size();
}

std::vector<std::string> StatementSplitter::TakeComplete() {
  std::vector<std::string> out;
  out.swap(done_);
  return out;
}

bool StatementSplitter::pending() const { return has_code_; }

std::string StatementSplitter::TakePending() {
  std::string out = has_code_ ? Trimmed(text_) : std::string();
  Reset();
  return out;
}

void StatementSplitter::Reset() {
  text_.clear();
  has_code_ = false;
  state_ = State::kCode;
  block_depth_ = 0;
  dollar_tag_.clear();
  scan_from_ = 0;
}

bool IsDotCommand(std::string_view line) {
  size_t i = 0;
  while (i < line.size() && IsBlank(line[i])) ++i;
  return i + 1 < line.size() && line[i] == '.' &&
         std::isalpha(static_cast<unsigned char>(line[i + 1])) != 0;
}

}  // namespace arrowport::cli
