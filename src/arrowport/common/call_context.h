#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "arrowport/common/call_cancellation.h"
#include "arrowport/common/principal.h"
#include "arrowport/common/write_stall.h"

namespace arrowport {

/// What a call has moved so far (rows and Arrow bytes received or served), as the
/// pipelines count it: the status page's active calls and `arrowport copy` show it. And
/// how far its query has come, as DuckDB estimates it (the `query_progress` action).
struct CallProgress {
  std::atomic<int64_t> rows{0};
  std::atomic<int64_t> bytes{0};
  void Add(int64_t more_rows, int64_t more_bytes) {
    rows.fetch_add(more_rows, std::memory_order_relaxed);
    bytes.fetch_add(more_bytes, std::memory_order_relaxed);
  }
  /// Whether a client asks how far the call's query has come (query_progress): only
  /// then does DuckDB estimate it (WatchedProgress).
  std::atomic<bool> watched{false};
  /// The percentage of its work DuckDB says the call's running query has done (0..100),
  /// or -1: no query running, or no estimate yet.
  double QueryPercent() const {
    std::lock_guard<std::mutex> lock(probe_mutex_);
    return probe_ ? probe_() : -1;
  }
  /// Makes `probe` answer QueryPercent() (empty: no query runs). The storage layer sets
  /// it for as long as a query's result lives; it is never called after it is replaced.
  void SetQueryProbe(std::function<double()> probe) {
    std::lock_guard<std::mutex> lock(probe_mutex_);
    probe_ = std::move(probe);
  }

 private:
  mutable std::mutex probe_mutex_;  // guards probe_ (and its calls)
  std::function<double()> probe_;
};

/// \brief What the pipelines know about the call they serve, whatever protocol carried
/// it. Protocol adapters fill it; the storage layer uses `cancellation` to interrupt
/// DuckDB when the client leaves; `principal` says who is calling.
struct CallContext {
  std::string protocol;  ///< "flight", "http", ...
  std::shared_ptr<CallCancellation> cancellation;  ///< may be null: not cancellable
  /// Asked right before an ingest commits (may be empty): true when the call has failed
  /// although its data stream looked complete. gRPC ends a failed call's stream (client
  /// gone, a message over the receive limit) exactly like a finished one and marks the
  /// call cancelled a moment later, so a truncated request must be caught at the commit.
  std::function<bool()> call_failed;
  /// Asked instead of call_failed right before what the call did is made permanent or
  /// kept in the client's transaction (may be empty: call_failed decides). Also true when
  /// the client's deadline is so near that the reply could reach it after the deadline:
  /// the client would be told DEADLINE_EXCEEDED for a write that was kept.
  std::function<bool()> too_late_to_keep;
  /// Who is calling. Null only in code paths that run without a caller (tests, the
  /// server's own maintenance): treated as the server itself.
  std::shared_ptr<const Principal> principal;
  /// Where the pipelines add the rows the call moves (may be null: not shown anywhere).
  std::shared_ptr<CallProgress> progress;
  /// The call's writes to its client (results, acknowledgements), which the watchdog
  /// cuts when one waits past limits.write_stall_timeout_s (may be null: not watched).
  std::shared_ptr<WriteStall> write_stall;
  /// Set by NoteCommitted when a write of the call committed after the call had failed,
  /// or so near its deadline that the reply may arrive after it (a commit longer than the
  /// time left): the client may have been told it failed, yet the write is kept. The call
  /// runner logs it (may be null: not reported).
  std::shared_ptr<std::atomic<bool>> committed_late;
  /// Set by NoteCommitted whenever a write of the call committed (may be null): a call
  /// that then fails anyway (its reply could not be sent, its deadline passed as it
  /// answered) is logged as committed too late, never as a plain failure, so that the
  /// log says of every write whether it was kept.
  std::shared_ptr<std::atomic<bool>> committed;
};

/// The call's progress when a client watches it (CallProgress::watched), else null.
inline std::shared_ptr<CallProgress> WatchedProgress(const CallContext& call) {
  return call.progress && call.progress->watched.load() ? call.progress : nullptr;
}

/// Whether what `call` did must be thrown away rather than kept (see too_late_to_keep).
inline bool TooLateToKeep(const CallContext& call) {
  if (call.too_late_to_keep) return call.too_late_to_keep();
  return call.call_failed && call.call_failed();
}

/// True when `call` failed or was cancelled (client gone, deadline, shutdown), or its
/// deadline is too near for the reply to arrive in time (TooLateToKeep). Asked once a
/// statement has ended and before a commit: a client that is told the statement failed,
/// or hears nothing, must not have it kept.
inline bool CallGone(const CallContext& call) {
  return (call.cancellation && call.cancellation->cancelled()) || TooLateToKeep(call);
}

/// Says that a write of `call` has just committed: noted when it was too late to keep.
inline void NoteCommitted(const CallContext& call) {
  if (call.committed) call.committed->store(true, std::memory_order_relaxed);
  if (call.committed_late && TooLateToKeep(call)) {
    call.committed_late->store(true, std::memory_order_relaxed);
  }
}
/// The same for a batch acknowledged on its own (per_batch ingest): noted only when the
/// call had failed, since its acknowledgement, not the call's reply, tells the client.
inline void NoteBatchCommitted(const CallContext& call) {
  if (call.committed_late && call.call_failed && call.call_failed()) {
    call.committed_late->store(true, std::memory_order_relaxed);
  }
}

}  // namespace arrowport
