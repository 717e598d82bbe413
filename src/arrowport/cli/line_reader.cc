#include "arrowport/cli/line_reader.h"

#include <editline/readline.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>

namespace arrowport::cli {

namespace {

// The handler's only way to the InterruptSignal that installed it (a signal handler sees
// statics alone): the pipe's write end, and what it replaced.
volatile sig_atomic_t g_interrupt_write_fd = -1;
struct sigaction g_previous_action;

extern "C" void OnInterrupt(int) {
  const int saved = errno;
  const char byte = 1;
  if (g_interrupt_write_fd >= 0) (void)!::write(g_interrupt_write_fd, &byte, 1);
  errno = saved;
}

// The lines of a script: a file, or standard input that is not a terminal.
class ScriptLines : public LineReader {
 public:
  ScriptLines(std::istream* in, std::string name, std::unique_ptr<std::ifstream> owned = nullptr)
      : in_(in), name_(std::move(name)), owned_(std::move(owned)) {}
  Outcome Read(const std::string&, std::string* line) override {
    if (!std::getline(*in_, *line)) return Outcome::kEnd;
    ++line_number_;
    if (!line->empty() && line->back() == '\r') line->pop_back();
    return Outcome::kLine;
  }
  std::string where() const override {
    return name_ + ", line " + std::to_string(line_number_);
  }

 private:
  std::istream* in_;
  std::string name_;
  std::unique_ptr<std::ifstream> owned_;
  int64_t line_number_ = 0;
};

// A terminal: libedit's readline interface (BSD-licensed, unlike GNU readline, so the
// binary we package may link it), with its history.
class TerminalLines : public LineReader {
 public:
  TerminalLines(std::string history_path, InterruptSignal* interrupt)
      : history_path_(std::move(history_path)), interrupt_(interrupt) {
    rl_readline_name = "arrowport";
    using_history();
    stifle_history(kHistoryEntries);
    if (!history_path_.empty()) (void)read_history(history_path_.c_str());
  }
  ~TerminalLines() override { clear_history(); }

  Outcome Read(const std::string& prompt, std::string* line) override {
    if (interrupt_ != nullptr) (void)interrupt_->Take();
    char* text = readline(prompt.c_str());
    // libedit gives up its read on a signal: NULL then means Ctrl-C, not the end.
    if (interrupt_ != nullptr && interrupt_->Take()) {
      std::free(text);
      std::fputs("^C\n", stdout);
      std::fflush(stdout);
      return Outcome::kInterrupted;
    }
    if (text == nullptr) return Outcome::kEnd;
    line->assign(text);
    std::free(text);
    ++line_number_;
    return Outcome::kLine;
  }

  void Remember(const std::string& entry) override {
    if (entry.empty()) return;
    add_history(entry.c_str());
    // Saved at once: a shell closed with its terminal keeps what was typed.
    if (!history_path_.empty()) (void)write_history(history_path_.c_str());
  }
  std::string where() const override { return "line " + std::to_string(line_number_); }

 private:
  static constexpr int kHistoryEntries = 2000;
  std::string history_path_;
  InterruptSignal* interrupt_;
  int64_t line_number_ = 0;
};

}  // namespace

arrow::Result<std::unique_ptr<InterruptSignal>> InterruptSignal::Install() {
  if (g_interrupt_write_fd >= 0) return arrow::Status::Invalid("Ctrl-C is already handled");
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    return arrow::Status::IOError("cannot make a pipe: ", std::strerror(errno));
  }
  g_interrupt_write_fd = fds[1];
  struct sigaction action = {};
  action.sa_handler = OnInterrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: a blocked read returns, so the prompt can act
  ::sigaction(SIGINT, &action, &g_previous_action);
  return std::unique_ptr<InterruptSignal>(new InterruptSignal(fds[0], fds[1]));
}

InterruptSignal::~InterruptSignal() {
  ::sigaction(SIGINT, &g_previous_action, nullptr);
  g_interrupt_write_fd = -1;
  ::close(read_fd_);
  ::close(write_fd_);
}

bool InterruptSignal::Take() {
  char buffer[64];
  bool any = false;
  while (::read(read_fd_, buffer, sizeof(buffer)) > 0) any = true;
  return any;
}

std::unique_ptr<LineReader> LineReader::ForStdin(bool interactive,
                                                 const std::string& history_path,
                                                 InterruptSignal* interrupt) {
  if (interactive) return std::make_unique<TerminalLines>(history_path, interrupt);
  return std::make_unique<ScriptLines>(&std::cin, "standard input");
}

std::unique_ptr<LineReader> LineReader::ForStream(std::istream* in, const std::string& name) {
  return std::make_unique<ScriptLines>(in, name);
}

arrow::Result<std::unique_ptr<LineReader>> LineReader::ForFile(const std::string& path) {
  auto in = std::make_unique<std::ifstream>(path);
  if (!*in) return arrow::Status::IOError("cannot read '", path, "': ", std::strerror(errno));
  auto* stream = in.get();
  return std::make_unique<ScriptLines>(stream, path, std::move(in));
}

}  // namespace arrowport::cli
