#pragma once

// Internal to objectstore: the durable-write steps of the directory store.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "arrow/result.h"
#include "arrow/status.h"

namespace arrowport::objectstore {

/// Names of the store's own temporary files start with this (List skips them).
inline constexpr std::string_view kTempFilePrefix = ".arrowport-tmp-";

/// \brief A new, uniquely named temporary file in one directory, written and then moved
/// into place durably (fsync of the file, rename or link, fsync of the directory). A
/// TempFile destroyed before Commit/CommitIfAbsent removes its file. Move-only; not
/// thread-safe (one writer).
class TempFile {
 public:
  /// Creates the file in `dir`, creating `dir` and its parents as needed.
  static arrow::Result<TempFile> Create(const std::string& dir);

  TempFile(TempFile&& other) noexcept;
  TempFile& operator=(TempFile&& other) noexcept;
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile();

  arrow::Status Write(const void* data, int64_t size);
  /// Makes the data durable and renames the file to `path` (replacing any file there).
  arrow::Status Commit(const std::string& path);
  /// Makes the data durable and hard-links it as `path` only if nothing is there
  /// (link(2) fails with EEXIST atomically): AlreadyExists otherwise. The temporary name
  /// is removed either way.
  arrow::Status CommitIfAbsent(const std::string& path, const std::string& key);
  /// Closes and removes the file (nothing happens once committed).
  void Discard();

 private:
  TempFile(int fd, std::string dir, std::string path)
      : fd_(fd), dir_(std::move(dir)), path_(std::move(path)) {}
  arrow::Status SyncAndClose();

  int fd_ = -1;
  std::string dir_;
  std::string path_;  // empty once committed or discarded
};

/// fsync of a directory, so that a rename or link in it survives a crash.
arrow::Status SyncDirectory(const std::string& dir);

/// "cannot VERB PATH: strerror(errno)" as an IOError.
arrow::Status ErrnoError(std::string_view verb, const std::string& path, int error);

}  // namespace arrowport::objectstore
