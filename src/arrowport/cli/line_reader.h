#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <thread>

#include "arrow/result.h"

namespace arrowport::cli {

/// \brief Ctrl-C for the SQL shell: while one lives, SIGINT no longer ends the process.
/// Each Ctrl-C is latched (Take()), counted (count()), and runs `on_interrupt` with the
/// count it made on a thread of its own (to cancel the running statement: nothing a
/// signal handler may do). One per process: the handler can reach only statics.
class InterruptSignal {
 public:
  static arrow::Result<std::unique_ptr<InterruptSignal>> Install(
      std::function<void(int64_t count)> on_interrupt);
  ~InterruptSignal();  // stops the thread, restores the previous handler
  InterruptSignal(const InterruptSignal&) = delete;
  InterruptSignal& operator=(const InterruptSignal&) = delete;

  /// Whether Ctrl-C came since the last Take(); clears it.
  bool Take();
  /// How many times Ctrl-C came so far.
  static int64_t count();

 private:
  InterruptSignal(int read_fd, int write_fd) : read_fd_(read_fd), write_fd_(write_fd) {}
  int read_fd_, write_fd_;
  int prompt_wake_[2] = {-1, -1};  // what wakes a prompt waiting for a key
  std::thread thread_;
};

/// \brief Where the shell's lines come from: a terminal, edited with libedit (history
/// kept in a file), or a script (a file, a pipe), read as is.
class LineReader {
 public:
  enum class Outcome { kLine, kEnd, kInterrupted, kFailed };

  /// Standard input: `interactive` (a terminal) edits lines with libedit and keeps
  /// history in `history_path` ("" none), loaded now and added to as lines are entered;
  /// else plain lines. `interrupt` tells a Ctrl-C from the end of input.
  static std::unique_ptr<LineReader> ForStdin(bool interactive, const std::string& history_path,
                                              InterruptSignal* interrupt);
  /// The lines of `in` (-c's text), which must outlive the reader; `name` says where
  /// they are from in error messages.
  static std::unique_ptr<LineReader> ForStream(std::istream* in, const std::string& name);
  /// The lines of a regular file (`.read FILE`, `-f FILE`).
  static arrow::Result<std::unique_ptr<LineReader>> ForFile(const std::string& path);
  virtual ~LineReader() = default;

  /// The next line, without its break, in `line`; kEnd at the end of input (Ctrl-D);
  /// kInterrupted on Ctrl-C while waiting for it; kFailed when the input cannot be read
  /// (failure() says why). `prompt` is shown on a terminal.
  virtual Outcome Read(const std::string& prompt, std::string* line) = 0;
  /// Adds an entered statement or command to the history (a terminal's only).
  virtual void Remember(const std::string& entry) { (void)entry; }
  /// Whether lines come from a terminal (a person) rather than a script.
  virtual bool interactive() const { return false; }
  /// Where line `number` is, for a script's error messages ("FILE, line 3").
  virtual std::string Where(int64_t number) const = 0;
  /// Why the last Read() was kFailed.
  virtual std::string failure() const { return ""; }
  /// The number of the last line read (1-based).
  int64_t line_number() const { return line_number_; }

 protected:
  int64_t line_number_ = 0;
};

}  // namespace arrowport::cli
