// Database::CopyCheckpointed (database.h): the database file as of one checkpoint, copied
// while writers go on, for backups.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "arrowport/common/file_descriptor.h"
#include "arrowport/common/staged_file.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/storage/database/database.h"
#include "arrowport/storage/database/database_impl.h"

namespace arrowport::storage {

namespace {

constexpr size_t kCopyChunkBytes = size_t{8} << 20;

arrow::Status CheckCancelled(const std::shared_ptr<CallCancellation>& cancellation) {
  if (cancellation && cancellation->cancelled()) {
    return cancellation->Explain(arrow::Status::Cancelled("backup cancelled"));
  }
  return arrow::Status::OK();
}

// What the copying child says of its end (its exit code): 0, or where it failed (its
// errno is written to the report pipe).
enum CopyStep : int { kCopied = 0, kOpenSource = 1, kRead = 2, kWrite = 3, kSync = 4 };

// The child's whole life: raw system calls only (it is a copy of a threaded process made
// without fork's handlers), on memory the parent allocated before it.
[[noreturn]] void CopyInChild(const char* source, int out, char* buffer, size_t size,
                              int report) {
  auto fail = [report](int step) {
    const int error = errno;
    (void)!::write(report, &error, sizeof(error));
    ::_exit(step);
  };
  const int in = ::open(source, O_RDONLY | O_CLOEXEC);
  if (in < 0) fail(kOpenSource);
  for (;;) {
    const ssize_t got = ::read(in, buffer, size);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail(kRead);
    if (got == 0) break;
    for (ssize_t done = 0; done < got;) {
      const ssize_t put = ::write(out, buffer + done, got - done);
      if (put < 0 && errno == EINTR) continue;
      if (put < 0) fail(kWrite);
      done += put;
    }
  }
  if (::fsync(out) != 0) fail(kSync);
  ::_exit(kCopied);
}

// Copies `source` to the new file `target`, durably; returns the bytes copied. The
// database file is read by a child process: closing any descriptor of a file drops every
// POSIX lock this process holds on it, and DuckDB's lock on its database file is one (a
// copy made here let a second server open the database a backup had just copied).
arrow::Result<int64_t> CopyFile(const std::string& source, const std::string& target,
                                const std::shared_ptr<CallCancellation>& cancellation) {
  FileDescriptor out(
      ::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (out.get() < 0) return FileError("cannot create the backup's copy", target);
  StagedFile partial(target);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return FileError("cannot copy", source);
  FileDescriptor report_read(pipe_fds[0]), report_write(pipe_fds[1]);
  std::vector<char> buffer(kCopyChunkBytes);
  // A raw clone, as fork without its handlers: a new process (its own descriptor table,
  // so its close() is not ours) sharing nothing it could lock.
  const pid_t child = static_cast<pid_t>(::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0));
  if (child < 0) return FileError("cannot start the copy of", source);
  if (child == 0) {
    CopyInChild(source.c_str(), out.get(), buffer.data(), buffer.size(), report_write.get());
  }
  report_write.Close();
  int status = 0;
  for (;;) {
    const pid_t ended = ::waitpid(child, &status, WNOHANG);
    if (ended == child) break;
    if (ended < 0 && errno != EINTR) return FileError("cannot wait for the copy of", source);
    if (cancellation && cancellation->cancelled()) {
      ::kill(child, SIGKILL);
      while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
      }
      return CheckCancelled(cancellation);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != kCopied) {
    int error = 0;
    if (::read(report_read.get(), &error, sizeof(error)) != sizeof(error)) error = EIO;
    errno = error;
    const int step = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (step == kOpenSource) return FileError("cannot open the database file", source);
    if (step == kRead) return FileError("cannot read the database file", source);
    if (step == kSync) return FileError("cannot sync the backup's copy", target);
    return FileError("cannot write the backup's copy", target);
  }
  struct stat copied = {};
  if (::fstat(out.get(), &copied) != 0) return FileError("cannot stat the backup's copy", target);
  if (!out.Close()) return FileError("cannot close the backup's copy", target);
  partial.Keep();
  return static_cast<int64_t>(copied.st_size);
}

// Counts a backup's copy as running while it lives: the checkpointer skips its turn.
class CopyRunning {
 public:
  explicit CopyRunning(std::atomic<int>* count) : count_(count) { ++*count_; }
  CopyRunning(const CopyRunning&) = delete;
  CopyRunning& operator=(const CopyRunning&) = delete;
  ~CopyRunning() { --*count_; }

 private:
  std::atomic<int>* count_;
};

}  // namespace

arrow::Status Database::CopyRoom() {
  // The copy is written beside the database: it must leave storage.min_free_mb there, as
  // a commit does (the copy filled the disk to its last byte, where WAL commits stop).
  if (!impl_->disk || impl_->disk->min_free_bytes() <= 0) return arrow::Status::OK();
  const DiskSpace space = impl_->disk->Check();
  std::error_code error;
  const auto file = std::filesystem::file_size(impl_->path, error);
  if (error || space.free_bytes < 0) return arrow::Status::OK();
  const int64_t needed = static_cast<int64_t>(file) + impl_->disk->min_free_bytes();
  if (space.free_bytes >= needed) return arrow::Status::OK();
  return DiskFull("backup refused: disk full: ", space.free_bytes >> 20, " MiB free under ",
                  space.path, ", the copy of the ", file >> 20,
                  " MiB database file beside it needs ", needed >> 20,
                  " MiB (its size plus storage.min_free_mb)");
}

arrow::Result<int64_t> Database::CopyCheckpointed(
    const std::string& target, const std::shared_ptr<CallCancellation>& cancellation,
    const std::function<void()>& checkpointed, std::chrono::milliseconds checkpoint_wait) {
  if (impl_->path == ":memory:") {
    return arrow::Status::Invalid(
        "an in-memory database has no file to back up: start the server with --db FILE");
  }
  ARROW_RETURN_NOT_OK(CheckpointRoom());
  // The connection keeps this DuckDB instance open (a reopening closes it only once its
  // last connection is gone), so no checkpoint at close can run during the copy.
  ARROW_ASSIGN_OR_RAISE(auto conn, Connect());
  CopyRunning running(&impl_->copies_running);
  std::unique_lock<std::mutex> one_at_a_time(impl_->checkpoint_mutex);
  const auto give_up = std::chrono::steady_clock::now() + checkpoint_wait;
  auto pause = std::chrono::milliseconds(20);
  for (;;) {
    arrow::Status st;
    {
      AllocationGuard::Suspension suspended;
      AllocationGuard::CommitScope checkpointing;
      st = conn->Execute("CHECKPOINT");
    }
    if (st.ok()) break;
    // DuckDB refuses a checkpoint while another write transaction is open: those end
    // soon (ingest commits), so it is asked again, briefly, until `checkpoint_wait`.
    if (std::chrono::steady_clock::now() + pause > give_up) {
      return st.WithMessage("backup: no checkpoint within ", checkpoint_wait.count(),
                            " ms (", st.message(), ")");
    }
    ARROW_RETURN_NOT_OK(CheckCancelled(cancellation));
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(500));
  }
  if (checkpointed) checkpointed();
  ARROW_RETURN_NOT_OK(CopyRoom());
  return CopyFile(impl_->path, target, cancellation);
}

}  // namespace arrowport::storage
