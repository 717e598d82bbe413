#pragma once

#include <functional>
#include <thread>

#include "arrow/status.h"

namespace arrowport::http {

/// \brief A thread owned by one request handler and always joined (RAII): the HTTP
/// ingest decodes and writes on it while the handler's thread pumps the body. If the
/// handler leaves early (an exception from the body read, an early return), the
/// destructor first calls `unblock` (which must make `work` return soon, e.g. abort the
/// body pipe it reads from) and then joins, so neither a joinable std::thread nor a
/// dangling reference can outlive the handler. No exception escapes `work`: one that
/// would is caught and reported by status().
class OwnedWorker {
 public:
  OwnedWorker(std::function<void()> work, std::function<void()> unblock);
  ~OwnedWorker();
  OwnedWorker(const OwnedWorker&) = delete;
  OwnedWorker& operator=(const OwnedWorker&) = delete;

  /// Waits for `work` to return. Idempotent.
  void Join();
  /// OK, or why `work` ended with an exception. Valid after Join().
  const arrow::Status& status() const { return status_; }

 private:
  std::function<void()> unblock_;
  arrow::Status status_;
  std::thread thread_;  // last: started once everything it uses exists
};

}  // namespace arrowport::http
