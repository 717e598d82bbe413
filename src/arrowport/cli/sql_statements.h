#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace arrowport::cli {

/// \brief Cuts typed or read SQL into statements at each `;` outside quotes and
/// comments ('text' with '' inside, E'text' with backslash escapes, "names", $tag$ bodies
/// $tag$ (not after a name: a$b$ is one identifier), -- to the end of the line,
/// /* nested */), as DuckDB's own parser reads them. Lines are fed one at a time; a
/// statement may span many lines and a line may hold many statements.
class StatementSplitter {
 public:
  /// Adds `line` (without its line break) to what is pending.
  void Feed(std::string_view line);
  /// The statements ended so far, each with its `;` and surrounding blanks removed
  /// (empty ones, `;;`, left out); what follows the last `;` stays pending.
  std::vector<std::string> TakeComplete();
  /// Whether text other than blanks and comments is waiting for its `;`.
  bool pending() const;
  /// The pending text, as typed (for a script that ends without its last `;`).
  std::string TakePending();
  /// Forgets what is pending (Ctrl-C at the prompt).
  void Reset();
  /// Whether the text fed so far ends inside a quote or a block comment (a script that
  /// ends so is cut short: what follows the opening would be lost without a word).
  bool unterminated() const { return state_ != State::kCode && state_ != State::kLineComment; }

 private:
  enum class State {
    kCode,
    kSingleQuote,
    kEscapeString,  // E'...': a backslash escapes the next character
    kDoubleQuote,
    kLineComment,
    kBlockComment,
    kDollar,
  };
  /// Reads text_ from scan_from_ on, moving each finished statement to done_.
  void Scan();

  std::string text_;      // the pending statement, as typed
  bool has_code_ = false;  // text_ holds something other than blanks and comments
  std::vector<std::string> done_;
  State state_ = State::kCode;
  int block_depth_ = 0;
  std::string dollar_tag_;  // "$tag$" while in a dollar-quoted body
  size_t scan_from_ = 0;    // the part of text_ not scanned yet
};

/// Whether `line`, at the start of a statement, is a dot-command (`.tables`).
bool IsDotCommand(std::string_view line);

}  // namespace arrowport::cli
