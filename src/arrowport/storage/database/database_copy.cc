// Database::CopyCheckpointed (database.h): the database file as of one checkpoint, copied
// while writers go on, for backups.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "arrowport/common/file_descriptor.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/storage/database/database.h"
#include "arrowport/storage/database/database_impl.h"

namespace arrowport::storage {

namespace {

constexpr size_t kCopyChunkBytes = size_t{8} << 20;

arrow::Status Errno(const std::string& what, const std::string& path) {
  const int error = errno;
  const std::string message = what + " '" + path + "': " + std::strerror(error);
  if (error == ENOSPC || error == EDQUOT) return DiskFull("disk full: ", message);
  return arrow::Status::IOError(message);
}

// Removes the target unless the copy was completed.
class PartialFile {
 public:
  explicit PartialFile(std::string path) : path_(std::move(path)) {}
  PartialFile(const PartialFile&) = delete;
  PartialFile& operator=(const PartialFile&) = delete;
  ~PartialFile() {
    if (!kept_) ::unlink(path_.c_str());
  }
  void Keep() { kept_ = true; }

 private:
  std::string path_;
  bool kept_ = false;
};

arrow::Status CheckCancelled(const std::shared_ptr<CallCancellation>& cancellation) {
  if (cancellation && cancellation->cancelled()) {
    return cancellation->Explain(arrow::Status::Cancelled("backup cancelled"));
  }
  return arrow::Status::OK();
}

// Copies `source` to the new file `target`, durably; returns the bytes copied.
arrow::Result<int64_t> CopyFile(const std::string& source, const std::string& target,
                                const std::shared_ptr<CallCancellation>& cancellation) {
  FileDescriptor in(::open(source.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) return Errno("cannot open the database file", source);
  FileDescriptor out(
      ::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (out.get() < 0) return Errno("cannot create the backup's copy", target);
  PartialFile partial(target);
  std::vector<char> buffer(kCopyChunkBytes);
  int64_t copied = 0;
  for (;;) {
    ARROW_RETURN_NOT_OK(CheckCancelled(cancellation));
    const ssize_t got = ::read(in.get(), buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return Errno("cannot read the database file", source);
    if (got == 0) break;
    for (ssize_t done = 0; done < got;) {
      const ssize_t put = ::write(out.get(), buffer.data() + done, got - done);
      if (put < 0 && errno == EINTR) continue;
      if (put < 0) return Errno("cannot write the backup's copy", target);
      done += put;
    }
    copied += got;
  }
  if (::fsync(out.get()) != 0) return Errno("cannot sync the backup's copy", target);
  if (!out.Close()) return Errno("cannot close the backup's copy", target);
  partial.Keep();
  return copied;
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
  return CopyFile(impl_->path, target, cancellation);
}

}  // namespace arrowport::storage
