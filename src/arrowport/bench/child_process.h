#pragma once

// The bench's servers as processes of their own (ours and the plain Flight ceiling), so
// that a server's CPU is told from the client's: how one is started, waited for, read
// and stopped, and the two CPU clocks the bench reads.

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrow/status.h"

namespace arrowport::bench {

/// \brief A child process that runs until its owner goes: the owner's destructor sends
/// SIGTERM, waits up to 10 s, then SIGKILL, and reaps it, whatever happened before.
/// Its standard output and error go to files under the directory it was started in.
/// It is killed (SIGKILL) when the thread that started it ends (PR_SET_PDEATHSIG), so
/// start it from a thread that outlives it (the bench's main thread). Not thread-safe.
class ChildProcess {
 public:
  /// Starts `argv` (argv[0] a path) with stdin empty and our environment, `extra_env`
  /// ("NAME=value") in place of the same names in it; output to `dir`/`name`.out, .err.
  static arrow::Result<std::unique_ptr<ChildProcess>> Start(
      const std::vector<std::string>& argv, const std::vector<std::string>& extra_env,
      const std::filesystem::path& dir, const std::string& name);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  /// The first line of its standard output that starts with `prefix`, waited for up to
  /// `timeout_s`; an error (with the end of its standard error) if it exits first.
  arrow::Result<std::string> WaitForLine(const std::string& prefix, double timeout_s);

  /// SIGTERM, then the wait; OK if it exited with 0.
  arrow::Status Stop();

  pid_t pid() const { return pid_; }

 private:
  ChildProcess(pid_t pid, std::filesystem::path out, std::filesystem::path err)
      : pid_(pid), out_(std::move(out)), err_(std::move(err)) {}
  // Reaps it if it has exited (false: still running); `status` its wait status.
  bool Exited(int* status);
  std::string ErrorTail() const;

  pid_t pid_ = -1;  // -1 once reaped
  std::filesystem::path out_, err_;
};

/// The command that runs this executable again as it was run: /proc/self/exe and the
/// words before the program's own arguments (a dynamic loader's --library-path ... when
/// the binary runs through the toolchain's loader), from /proc/self/cmdline; `argc` is
/// main's.
arrow::Result<std::vector<std::string>> SelfCommand(int argc);

/// The CPU seconds (utime + stime, every thread, live or ended) process `pid` has used:
/// its CPU clock (clock_getcpuclockid), the total /proc/PID/stat shows in clock ticks, at
/// nanosecond resolution; /proc/PID/stat when the clock cannot be read.
arrow::Result<double> ProcessCpuSeconds(pid_t pid);

/// The CPU seconds this process has used, every thread (getrusage RUSAGE_SELF).
arrow::Result<double> SelfCpuSeconds();

}  // namespace arrowport::bench
