#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace arrowport::ingest {

/// \brief One mutex per table (names matched case-insensitively) that serialises DDL
/// (create, replace, add columns) on it, so concurrent first writers of a table create
/// it one after the other instead of conflicting. Bounded: beyond `kMaxLocks`, locks
/// nobody holds or waits for are dropped. Thread-safe.
class TableLocks {
 public:
  static constexpr size_t kMaxLocks = 1024;

  /// The lock of `table`.
  std::shared_ptr<std::mutex> For(const std::string& table);

 private:
  std::mutex mutex_;  // guards locks_
  std::map<std::string, std::shared_ptr<std::mutex>> locks_;
};

}  // namespace arrowport::ingest
