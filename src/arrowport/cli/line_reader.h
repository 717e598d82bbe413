#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>

#include "arrow/result.h"

namespace arrowport::cli {

/// \brief Ctrl-C for the SQL shell: while one lives, SIGINT no longer ends the process;
/// it is counted and wakes whoever waits on fd(). One per process (the signal's handler
/// can reach only a static: the write end of a pipe).
class InterruptSignal {
 public:
  static arrow::Result<std::unique_ptr<InterruptSignal>> Install();
  ~InterruptSignal();  // restores the previous handler
  InterruptSignal(const InterruptSignal&) = delete;
  InterruptSignal& operator=(const InterruptSignal&) = delete;

  /// Readable after each Ctrl-C until Take() (a poll() target for a watching thread).
  int fd() const { return read_fd_; }
  /// Whether Ctrl-C came since the last Take(); clears it.
  bool Take();

 private:
  InterruptSignal(int read_fd, int write_fd) : read_fd_(read_fd), write_fd_(write_fd) {}
  int read_fd_, write_fd_;
};

/// \brief Where the shell's lines come from: a terminal, edited with libedit (history
/// kept in a file), or a script (a file, a pipe), read as is.
class LineReader {
 public:
  enum class Outcome { kLine, kEnd, kInterrupted };

  /// Standard input: `interactive` (a terminal) edits lines with libedit and keeps
  /// history in `history_path` ("" none), loaded now and saved as lines are entered;
  /// else plain lines. `interrupt` tells a Ctrl-C at the prompt from the end of input.
  static std::unique_ptr<LineReader> ForStdin(bool interactive, const std::string& history_path,
                                              InterruptSignal* interrupt);
  /// The lines of `in` (-c's text), which must outlive the reader; `name` says where
  /// they are from in error messages.
  static std::unique_ptr<LineReader> ForStream(std::istream* in, const std::string& name);
  /// The lines of a file (`.read FILE`, `-f FILE`).
  static arrow::Result<std::unique_ptr<LineReader>> ForFile(const std::string& path);
  virtual ~LineReader() = default;

  /// The next line, without its break, in `line`; kEnd at the end of input (Ctrl-D);
  /// kInterrupted when Ctrl-C was pressed at the prompt. `prompt` is shown on a terminal.
  virtual Outcome Read(const std::string& prompt, std::string* line) = 0;
  /// Adds an entered statement or command to the history (a terminal's only).
  virtual void Remember(const std::string& entry) { (void)entry; }
  /// Where the last line read is, for a script's error messages ("FILE, line 3").
  virtual std::string where() const = 0;
};

}  // namespace arrowport::cli
