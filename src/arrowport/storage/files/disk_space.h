#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "arrow/result.h"

namespace arrowport::storage {

/// What DiskWatch saw of the filesystems under the database.
struct DiskSpace {
  /// Some watched directory has less free space than needed: writes are refused.
  bool full = false;
  /// The watched directory with the least free space (the full one when full).
  std::string path;
  int64_t free_bytes = -1;  ///< free space there (-1: never read, or unreadable)
  int64_t needed_bytes = 0;  ///< storage.min_free_mb in bytes (0: not watched)
  /// Non-empty while the database's file is deleted or replaced (the server ran on):
  /// what writes commit then would be lost at the next start, so they are refused.
  std::string file_gone;
};

/// "disk full: 3 MiB free under /x, writes need 64 MiB (storage.min_free_mb)".
std::string DiskFullMessage(const DiskSpace& space);

/// Free space under `directory` (statvfs: what an unprivileged writer may still use), or
/// under its nearest existing ancestor when it does not exist yet.
arrow::Result<int64_t> FreeBytesUnder(const std::string& directory);

/// \brief Watches the free space of the filesystems that hold the database, its WAL and
/// DuckDB's temp directory, against storage.min_free_mb: below it writes are refused
/// before DuckDB meets a full disk (which can invalidate the database), and checkpoints
/// wait. One statvfs per distinct filesystem, at most once per kFreshness however many
/// writes ask while there is room (statvfs measured 15 us on a loaded 2-core machine: at
/// most 0.1% of one core per filesystem, whatever the write rate); while the disk is
/// full each check reads it again, so that space freed lets the next write in.
/// Thread-safe.
class DiskWatch {
 public:
  /// Readings younger than this are reused, unless they found the disk full.
  static constexpr std::chrono::milliseconds kFreshness{20};

  /// `directories` may repeat a filesystem (kept once) or not exist yet (their nearest
  /// existing ancestor is read). `min_free_bytes` 0: nothing is refused for space.
  /// `database_file` (empty: none) is the file as opened: while the path names another
  /// file or none (deleted, replaced), writes are refused.
  DiskWatch(std::vector<std::string> directories, int64_t min_free_bytes,
            std::string database_file = "");

  /// Free space now (read again unless the last reading is fresh).
  DiskSpace Check();
  /// The last reading, without reading again.
  DiskSpace Last() const;
  /// OK while there is room for writes and the database's file is where it was; else
  /// DiskFull naming the directory and the space, or IOError saying the file is gone.
  arrow::Status CheckWrite();
  int64_t min_free_bytes() const { return min_free_bytes_; }

 private:
  // "" while the database's file is the one opened; else why writes are refused.
  std::string FileGone() const;

  const std::vector<std::string> directories_;  // one per filesystem
  const int64_t min_free_bytes_;
  const std::string database_file_;
  dev_t file_device_ = 0;
  ino_t file_inode_ = 0;
  mutable std::mutex mutex_;  // guards last_ and read_at_
  DiskSpace last_;
  std::chrono::steady_clock::time_point read_at_{};
};

}  // namespace arrowport::storage
