// The bench's child processes and CPU clocks (child_process.h).
#include "arrowport/bench/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>
#include <thread>

extern char** environ;

namespace arrowport::bench {

namespace fs = std::filesystem;

namespace {

std::string ReadWhole(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// An fd closed when it goes.
struct Fd {
  explicit Fd(int value) : fd(value) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int fd;
};

// In the forked child: only async-signal-safe calls until exec. `fds`: its stdin, stdout
// and stderr (close-on-exec in the parent; dup2 clears the flag on the copies).
[[noreturn]] void ExecChild(char* const* argv, char* const* envp, const int (&fds)[3],
                            pid_t parent) {
  // The child goes with the bench even if the bench is killed outright.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);
  for (int i = 0; i < 3; ++i) {
    if (::dup2(fds[i], i) < 0) ::_exit(127);
  }
  // Nothing else of the bench's (its in-process servers' sockets, a ceiling's files).
  ::close_range(3, ~0U, 0);
  // The bench's signal mask is not the child's.
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execve(argv[0], argv, envp);
  ::_exit(127);
}

}  // namespace

arrow::Result<std::unique_ptr<ChildProcess>> ChildProcess::Start(
    const std::vector<std::string>& argv, const std::vector<std::string>& extra_env,
    const fs::path& dir, const std::string& name) {
  if (argv.empty()) return arrow::Status::Invalid("a child process needs a command");
  const std::string out = (dir / (name + ".out")).string();
  const std::string err = (dir / (name + ".err")).string();
  std::vector<std::string> words(argv);
  std::vector<char*> args;
  for (auto& word : words) args.push_back(word.data());
  args.push_back(nullptr);
  std::vector<std::string> env(extra_env);
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const std::string_view name = text.substr(0, text.find('=') + 1);
    const bool replaced = std::any_of(extra_env.begin(), extra_env.end(),
                                      [&](const auto& e) { return e.rfind(name, 0) == 0; });
    if (!replaced) env.emplace_back(text);
  }
  std::vector<char*> envp;
  for (auto& entry : env) envp.push_back(entry.data());
  envp.push_back(nullptr);
  // Opened (and emptied) here, before the child runs: a reader never sees what a process
  // of the same name wrote there before.
  const Fd in(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const Fd out_fd(::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  const Fd err_fd(::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (in.fd < 0 || out_fd.fd < 0 || err_fd.fd < 0) {
    return arrow::Status::IOError("cannot open ", name, "'s output files in ", dir.string(),
                                  ": ", std::strerror(errno));
  }
  const int fds[3] = {in.fd, out_fd.fd, err_fd.fd};
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    return arrow::Status::IOError("cannot start ", name, ": ", std::strerror(errno));
  }
  if (pid == 0) ExecChild(args.data(), envp.data(), fds, parent);
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, out, err));
}

ChildProcess::~ChildProcess() { (void)Stop(); }

bool ChildProcess::Exited(int* status) {
  if (pid_ < 0) return true;
  pid_t reaped;
  while ((reaped = ::waitpid(pid_, status, WNOHANG)) < 0 && errno == EINTR) {
  }
  if (reaped == 0) return false;
  pid_ = -1;
  return true;
}

std::string ChildProcess::ErrorTail() const {
  std::string text = ReadWhole(err_);
  if (text.size() > 2000) text = "..." + text.substr(text.size() - 2000);
  return text.empty() ? "(no output on stderr)" : text;
}

arrow::Result<std::string> ChildProcess::WaitForLine(const std::string& prefix,
                                                     double timeout_s) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  for (;;) {
    std::istringstream lines(ReadWhole(out_));
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind(prefix, 0) == 0 && !lines.eof()) return line;  // a whole line
    }
    int status = 0;
    if (Exited(&status)) {
      return arrow::Status::IOError(out_.stem().string(), " exited before it printed '",
                                    prefix, "': ", ErrorTail());
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return arrow::Status::IOError(out_.stem().string(), " printed no '", prefix,
                                    "' within ", timeout_s, " s: ", ErrorTail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

arrow::Status ChildProcess::Stop() {
  if (pid_ < 0) return arrow::Status::OK();
  const pid_t pid = pid_;
  ::kill(pid, SIGTERM);
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!Exited(&status)) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      pid_ = -1;
      return arrow::Status::IOError("process ", pid, " ignored SIGTERM for 10 s: killed");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return arrow::Status::OK();
  return arrow::Status::IOError("process ", pid, " ended with status ", status, ": ",
                                ErrorTail());
}

arrow::Result<std::vector<std::string>> SelfCommand(int argc) {
  std::vector<std::string> words;
  const std::string cmdline = ReadWhole("/proc/self/cmdline");
  for (size_t start = 0; start < cmdline.size();) {
    const size_t end = cmdline.find('\0', start);
    words.push_back(cmdline.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  std::error_code error;
  const fs::path exe = fs::read_symlink("/proc/self/exe", error);
  if (error || argc < 1 || words.size() < static_cast<size_t>(argc)) {
    return arrow::Status::IOError("cannot tell how this process was started (/proc/self)");
  }
  // The program's arguments are the last argc - 1 words; before them, how it was run.
  words.resize(words.size() - static_cast<size_t>(argc - 1));
  words.front() = exe.string();
  return words;
}

namespace {

// utime + stime from /proc/PID/stat, in clock ticks (10 ms).
arrow::Result<double> StatCpuSeconds(pid_t pid) {
  const std::string stat = ReadWhole("/proc/" + std::to_string(pid) + "/stat");
  // The fields after the command name, which is in parentheses and may hold anything.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) {
    return arrow::Status::IOError("cannot read /proc/", pid, "/stat");
  }
  std::istringstream fields(stat.substr(close + 1));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // state is field 3; utime and stime are fields 14 and 15 (proc(5)).
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  if (!fields) return arrow::Status::IOError("cannot parse /proc/", pid, "/stat");
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

}  // namespace

arrow::Result<double> ProcessCpuSeconds(pid_t pid) {
  // The process's CPU clock is the kernel's own total of every thread's run time, the
  // figure /proc/PID/stat splits into utime and stime and rounds to clock ticks: read
  // here in nanoseconds (a 1M-row DoGet costs a few ticks).
  clockid_t clock;
  struct timespec now;
  if (::clock_getcpuclockid(pid, &clock) == 0 && ::clock_gettime(clock, &now) == 0) {
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
  }
  return StatCpuSeconds(pid);
}

arrow::Result<double> SelfCpuSeconds() {
  struct rusage usage;
  if (::getrusage(RUSAGE_SELF, &usage) != 0) {
    return arrow::Status::IOError("getrusage: ", std::strerror(errno));
  }
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

}  // namespace arrowport::bench
