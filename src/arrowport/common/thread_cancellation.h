#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <mutex>
#include <memory>
#include <optional>

#include "arrowport/common/call_cancellation.h"

namespace arrowport {

/// What blocking I/O started on this thread must obey (an object store's transfers, which
/// take no CallContext): the cancellation of the call the thread is serving and a
/// deadline. The innermost ThreadCancellationScope's; none when no scope is open.
struct ThreadCancellation {
  std::shared_ptr<CallCancellation> cancellation;  ///< may be null
  std::optional<std::chrono::steady_clock::time_point> deadline;
  /// Polled: true once the work is to stop (the DuckDB query a read on one of DuckDB's
  /// threads serves was interrupted); may be empty.
  std::function<bool()> interrupted;

  /// The current thread's.
  static ThreadCancellation Current();
};

/// \brief Makes `limits` the current thread's ThreadCancellation until destroyed (then the
/// enclosing scope's again). Set where a call's work runs (an ingest into a lake table, a
/// query refreshing lake views) and on the threads that work hands transfers to. Not
/// movable: it restores what it replaced on the thread that made it.
class ThreadCancellationScope {
 public:
  explicit ThreadCancellationScope(ThreadCancellation limits);
  explicit ThreadCancellationScope(std::shared_ptr<CallCancellation> cancellation)
      : ThreadCancellationScope(ThreadCancellation{std::move(cancellation), std::nullopt}) {}
  ~ThreadCancellationScope();
  ThreadCancellationScope(const ThreadCancellationScope&) = delete;
  ThreadCancellationScope& operator=(const ThreadCancellationScope&) = delete;

 private:
  ThreadCancellation previous_;
};

/// \brief Waits for another thread's answer as long as the current thread's call is not
/// cancelled (the call's reason then): the answering thread may be stuck in a store
/// request of its own. Without a current call, waits.
template <typename T>
arrow::Status WaitUnlessCancelled(const std::shared_future<T>& answer) {
  const auto call = ThreadCancellation::Current().cancellation;
  if (call == nullptr) {
    answer.wait();
    return arrow::Status::OK();
  }
  while (answer.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    if (call->cancelled()) return call->reason();
  }
  return arrow::Status::OK();
}

/// \brief Takes `lock` as WaitUnlessCancelled waits: the holder may be stuck in a store
/// request of its own, and a call whose client left must not wait for it.
inline arrow::Status LockUnlessCancelled(std::unique_lock<std::timed_mutex>& lock) {
  const auto call = ThreadCancellation::Current().cancellation;
  if (call == nullptr) {
    lock.lock();
    return arrow::Status::OK();
  }
  while (!lock.try_lock_for(std::chrono::milliseconds(50))) {
    if (call->cancelled()) return call->reason();
  }
  return arrow::Status::OK();
}

}  // namespace arrowport
