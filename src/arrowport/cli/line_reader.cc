#include "arrowport/cli/line_reader.h"

#include <editline/readline.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cwchar>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>

#include "arrowport/cli/history_file.h"

namespace arrowport::cli {

namespace {

// The signal handler's only way to its InterruptSignal (a handler sees statics alone):
// the latch, the pipe that wakes the thread, and the handler it replaced.
volatile sig_atomic_t g_interrupted = 0;
volatile sig_atomic_t g_interrupts = 0;  // only the handler writes it
volatile sig_atomic_t g_interrupt_write_fd = -1;
// A second pipe the handler writes, for the prompt's key reader (KeyOrInterrupt): it
// wakes a wait for a key whichever thread the signal lands on.
volatile sig_atomic_t g_prompt_wake_write_fd = -1;
int g_prompt_wake_read_fd = -1;
struct sigaction g_previous_action;

constexpr char kInterruptByte = 1;
constexpr char kStopByte = 0;

extern "C" void OnInterrupt(int) {
  const int saved = errno;
  g_interrupted = 1;
  g_interrupts = g_interrupts + 1;
  const char byte = kInterruptByte;
  if (g_interrupt_write_fd >= 0) (void)!::write(g_interrupt_write_fd, &byte, 1);
  if (g_prompt_wake_write_fd >= 0) (void)!::write(g_prompt_wake_write_fd, &byte, 1);
  errno = saved;
}

// libedit's key reader, in place of its own: its own retries a read cut short by a
// signal once (a first Ctrl-C at the prompt did nothing), so this one waits on the
// terminal and on the prompt's wake pipe together, and answers a Ctrl-C as the end of
// input (-1), which ends readline() at once; TerminalLines then sees the latch. A key is
// one character, decoded from the locale's multibyte form as libedit's own reader does.
extern "C" int KeyOrInterrupt(FILE*) {
  pollfd waits[2] = {{STDIN_FILENO, POLLIN, 0}, {g_prompt_wake_read_fd, POLLIN, 0}};
  for (;;) {
    const int ready = ::poll(waits, g_prompt_wake_read_fd >= 0 ? 2 : 1, -1);
    if (ready < 0 && errno != EINTR) return -1;
    if (waits[1].revents != 0 || g_interrupted != 0) {
      char drained[64];
      while (::read(g_prompt_wake_read_fd, drained, sizeof(drained)) > 0) {
      }
      if (g_interrupted != 0) return -1;
    }
    if (ready > 0 && waits[0].revents != 0) break;
  }
  std::mbstate_t state{};
  for (int bytes = 0; bytes < MB_LEN_MAX; ++bytes) {
    char byte;
    ssize_t got;
    do {
      got = ::read(STDIN_FILENO, &byte, 1);
    } while (got < 0 && errno == EINTR && g_interrupted == 0);
    if (got <= 0) return -1;
    wchar_t key;
    const size_t used = std::mbrtowc(&key, &byte, 1, &state);
    if (used == static_cast<size_t>(-2)) continue;  // more bytes of the same character
    if (used == static_cast<size_t>(-1)) return static_cast<unsigned char>(byte);
    return static_cast<int>(key);
  }
  return -1;
}

// The lines of a script: a file, or standard input that is not a terminal.
class ScriptLines : public LineReader {
 public:
  ScriptLines(std::istream* in, std::string name, InterruptSignal* interrupt = nullptr,
              std::unique_ptr<std::ifstream> owned = nullptr)
      : in_(in), name_(std::move(name)), interrupt_(interrupt), owned_(std::move(owned)) {}
  Outcome Read(const std::string&, std::string* line) override {
    if (!std::getline(*in_, *line)) {
      // A read cut short by Ctrl-C is not the end of the script (whose last statement
      // would then run). Standard input (read through stdio) tells them apart itself: a
      // read that failed sets its error flag, the end its end flag; the handler's latch
      // may be set only later (ThreadSanitizer runs handlers after the call returns).
      const int error = errno;
      const bool failed = in_ == &std::cin ? !std::feof(stdin) : in_->bad();
      if ((failed && error == EINTR) || (interrupt_ != nullptr && interrupt_->Take())) {
        return Outcome::kInterrupted;
      }
      if (failed) {
        failure_ = std::string("cannot read ") + name_ + ": " + std::strerror(error);
        return Outcome::kFailed;
      }
      return Outcome::kEnd;
    }
    ++line_number_;
    if (!line->empty() && line->back() == '\r') line->pop_back();
    return Outcome::kLine;
  }
  std::string Where(int64_t number) const override {
    return name_ + ", line " + std::to_string(number);
  }
  std::string failure() const override { return failure_; }

 private:
  std::string failure_;
  std::istream* in_;
  std::string name_;
  InterruptSignal* interrupt_;
  std::unique_ptr<std::ifstream> owned_;
};

// A terminal: libedit's readline interface (BSD-licensed, unlike GNU readline, so the
// binary we package may link it), with its history.
class TerminalLines : public LineReader {
 public:
  TerminalLines(std::string history_path, InterruptSignal* interrupt)
      : history_(std::move(history_path)), interrupt_(interrupt) {
    rl_getc_function = KeyOrInterrupt;  // before anything initialises libedit
    rl_readline_name = "arrowport";
    // Ctrl-C reaches InterruptSignal's handler itself (which ends the read at once);
    // libedit's own would take it first and raise it again, and with every other thread
    // blocking SIGINT that second one waited until the read had resumed.
    rl_catch_signals = 0;
    // Tab inserts itself: libedit would complete file names, never SQL.
    rl_bind_key('\t', rl_insert);
    using_history();
    stifle_history(kHistoryEntries);
    for (const auto& entry : history_.Load(kHistoryEntries)) add_history(entry.c_str());
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
    // Appended at once (a shell closed with its terminal keeps what was typed), so that
    // two shells at once both keep theirs. (libedit's append_history(1, ...) wrote the
    // entry before the newest too: each entry landed twice.)
    history_.Append(entry);
  }
  bool interactive() const override { return true; }
  std::string Where(int64_t number) const override { return "line " + std::to_string(number); }

 private:
  static constexpr int kHistoryEntries = 2000;
  HistoryFile history_;
  InterruptSignal* interrupt_;
};

}  // namespace

arrow::Result<std::unique_ptr<InterruptSignal>> InterruptSignal::Install(
    std::function<void(int64_t count)> on_interrupt) {
  if (g_interrupt_write_fd >= 0) return arrow::Status::Invalid("Ctrl-C is already handled");
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return arrow::Status::IOError("cannot make a pipe: ", std::strerror(errno));
  }
  // The handler must never block: a full pipe only loses a wake-up (the latch holds).
  (void)::fcntl(fds[1], F_SETFL, O_NONBLOCK);
  std::unique_ptr<InterruptSignal> signal(new InterruptSignal(fds[0], fds[1]));
  const int read_fd = fds[0];
  signal->thread_ = std::thread([read_fd, on_interrupt = std::move(on_interrupt)] {
    char byte = kInterruptByte;
    for (;;) {
      const ssize_t got = ::read(read_fd, &byte, 1);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0 || byte == kStopByte) return;
      on_interrupt(count());
    }
  });
  int wake[2];
  if (::pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    return arrow::Status::IOError("cannot make a pipe: ", std::strerror(errno));
  }
  signal->prompt_wake_[0] = wake[0];
  signal->prompt_wake_[1] = wake[1];
  g_prompt_wake_read_fd = wake[0];
  g_prompt_wake_write_fd = wake[1];
  g_interrupted = 0;
  g_interrupt_write_fd = fds[1];
  struct sigaction action = {};
  action.sa_handler = OnInterrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: a blocked read returns, so the prompt can act
  ::sigaction(SIGINT, &action, &g_previous_action);
  return signal;
}

InterruptSignal::~InterruptSignal() {
  ::sigaction(SIGINT, &g_previous_action, nullptr);
  g_interrupt_write_fd = -1;
  g_prompt_wake_write_fd = -1;
  g_prompt_wake_read_fd = -1;
  for (const int fd : prompt_wake_) {
    if (fd >= 0) ::close(fd);
  }
  const char stop = kStopByte;
  (void)!::write(write_fd_, &stop, 1);
  if (thread_.joinable()) thread_.join();
  ::close(read_fd_);
  ::close(write_fd_);
}

int64_t InterruptSignal::count() { return g_interrupts; }

bool InterruptSignal::Take() {
  const bool interrupted = g_interrupted != 0;
  g_interrupted = 0;
  return interrupted;
}

std::unique_ptr<LineReader> LineReader::ForStdin(bool interactive,
                                                 const std::string& history_path,
                                                 InterruptSignal* interrupt) {
  if (interactive) return std::make_unique<TerminalLines>(history_path, interrupt);
  return std::make_unique<ScriptLines>(&std::cin, "standard input", interrupt);
}

std::unique_ptr<LineReader> LineReader::ForStream(std::istream* in, const std::string& name) {
  return std::make_unique<ScriptLines>(in, name);
}

arrow::Result<std::unique_ptr<LineReader>> LineReader::ForFile(const std::string& path) {
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) {
    return arrow::Status::IOError("cannot read '", path, "': ", std::strerror(errno));
  }
  if (!S_ISREG(info.st_mode)) return arrow::Status::IOError("'", path, "' is not a file");
  auto in = std::make_unique<std::ifstream>(path);
  if (!*in) return arrow::Status::IOError("cannot read '", path, "': ", std::strerror(errno));
  auto* stream = in.get();
  return std::make_unique<ScriptLines>(stream, path, nullptr, std::move(in));
}

}  // namespace arrowport::cli
