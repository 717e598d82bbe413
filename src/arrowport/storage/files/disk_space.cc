#include "arrowport/storage/files/disk_space.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "arrowport/common/status_detail.h"

namespace arrowport::storage {

namespace {

// The directory itself, or its nearest existing ancestor (DuckDB makes its temp directory
// only when it first spills).
std::string ExistingDirectory(const std::string& directory) {
  std::filesystem::path path =
      std::filesystem::absolute(directory.empty() ? std::string(".") : directory);
  std::error_code error;
  while (!std::filesystem::exists(path, error) && path.has_parent_path() &&
         path != path.parent_path()) {
    path = path.parent_path();
  }
  return path.lexically_normal().string();
}

// One directory per filesystem (by device), in the order given.
std::vector<std::string> OnePerFilesystem(const std::vector<std::string>& directories) {
  std::vector<std::string> kept;
  std::vector<dev_t> devices;
  for (const auto& directory : directories) {
    const std::string existing = ExistingDirectory(directory);
    struct stat info {};
    if (::stat(existing.c_str(), &info) != 0) continue;
    bool seen = false;
    for (dev_t device : devices) seen = seen || device == info.st_dev;
    if (seen) continue;
    devices.push_back(info.st_dev);
    kept.push_back(existing);
  }
  return kept;
}

int64_t MiB(int64_t bytes) { return bytes >> 20; }

}  // namespace

std::string DiskFullMessage(const DiskSpace& space) {
  return "disk full: " + std::to_string(MiB(space.free_bytes)) + " MiB free under " +
         space.path + ", writes need " + std::to_string(MiB(space.needed_bytes)) +
         " MiB (storage.min_free_mb); free space there and writes resume by themselves";
}

arrow::Result<int64_t> FreeBytesUnder(const std::string& directory) {
  const std::string existing = ExistingDirectory(directory);
  struct statvfs info {};
  if (::statvfs(existing.c_str(), &info) != 0) {
    return arrow::Status::IOError("cannot read the free space under ", existing, ": ",
                                  std::strerror(errno));
  }
  return static_cast<int64_t>(info.f_bavail) * static_cast<int64_t>(info.f_frsize);
}

DiskWatch::DiskWatch(std::vector<std::string> directories, int64_t min_free_bytes,
                     std::string database_file)
    : directories_(OnePerFilesystem(directories)),
      min_free_bytes_(min_free_bytes),
      database_file_(std::move(database_file)) {
  last_.needed_bytes = min_free_bytes_;
  if (!directories_.empty()) last_.path = directories_.front();
  struct stat info {};
  if (!database_file_.empty() && ::stat(database_file_.c_str(), &info) == 0) {
    file_device_ = info.st_dev;
    file_inode_ = info.st_ino;
  }
}

std::string DiskWatch::FileGone() const {
  if (database_file_.empty() || file_inode_ == 0) return "";
  // A server whose file was deleted (a cleanup job, an operator) went on committing into
  // the file it held open, and the next start began an empty database at the path: every
  // row acknowledged since was lost (an attack run). A stat is a microsecond. The same
  // file back at the path (renamed away and back) lets writes in again.
  struct stat info {};
  const bool gone = ::stat(database_file_.c_str(), &info) != 0
                        ? errno == ENOENT || errno == ENOTDIR
                        : info.st_dev != file_device_ || info.st_ino != file_inode_;
  if (!gone) return "";
  return "the database file " + database_file_ + " was deleted or replaced while the " +
         "server ran: writes are refused, since what they commit would be lost at the " +
         "next start; reads go on (export what you need, e.g. GET " +
         "/tables/NAME?format=parquet), then restart the server";
}

DiskSpace DiskWatch::Check() {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  // A reading that refuses writes is never reused: space freed a moment ago lets the next
  // write in (a client that freed space and wrote at once was refused on a 20 ms old
  // reading). Refusals are rare, and a statvfs is 15 us.
  if (last_.free_bytes >= 0 && !last_.full && last_.file_gone.empty() &&
      now - read_at_ < kFreshness) {
    return last_;
  }
  DiskSpace reading;
  reading.file_gone = FileGone();
  reading.needed_bytes = min_free_bytes_;
  reading.path = last_.path;
  for (const auto& directory : directories_) {
    auto free = FreeBytesUnder(directory);
    if (!free.ok()) continue;  // unreadable: never a reason to refuse writes
    if (reading.free_bytes < 0 || *free < reading.free_bytes) {
      reading.free_bytes = *free;
      reading.path = directory;
    }
  }
  reading.full = min_free_bytes_ > 0 && reading.free_bytes >= 0 &&
                 reading.free_bytes < min_free_bytes_;
  last_ = reading;
  read_at_ = now;
  return last_;
}

DiskSpace DiskWatch::Last() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return last_;
}

arrow::Status DiskWatch::CheckWrite() {
  if (min_free_bytes_ <= 0 && database_file_.empty()) return arrow::Status::OK();
  const DiskSpace space = Check();
  if (!space.file_gone.empty()) return arrow::Status::IOError(space.file_gone);
  if (!space.full) return arrow::Status::OK();
  return DiskFull(DiskFullMessage(space));
}

}  // namespace arrowport::storage
