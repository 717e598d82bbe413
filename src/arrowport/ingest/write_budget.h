#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "arrow/record_batch.h"
#include "arrowport/common/call_context.h"
#include "arrowport/common/call_watchdog.h"

namespace arrowport::ingest {

/// \brief What bounds a write whose rows are not simply the client's own (design section
/// 11): a transform of an upload, a DoExchange or a copy_from makes rows of its own, so
/// it runs under the query deadline from its first batch and may write (or send back) at
/// most `max_write_factor` times the rows and the bytes its client sent, plus a floor.
struct WriteLimits {
  CallWatchdog* watchdog = nullptr;  ///< arms the deadline; null: no deadline
  int64_t query_timeout_s = 0;       ///< limits.query_timeout_s; 0: no deadline
  int64_t max_write_factor = 100;    ///< limits.max_write_factor
  int64_t floor_rows = int64_t{1} << 20;    ///< limits.max_write_floor_rows
  int64_t floor_bytes = int64_t{256} << 20;  ///< limits.max_write_floor_bytes
};

/// \brief One request's account of what its client sent and what it made of it. The
/// readers it makes count into it from whichever thread pulls them (the read-ahead
/// thread, DuckDB's), and hold it alive. Thread-safe.
class WriteBudget : public std::enable_shared_from_this<WriteBudget> {
 public:
  /// `call.cancellation` (may be null) is what the deadline cancels.
  static std::shared_ptr<WriteBudget> Make(const WriteLimits& limits, const CallContext& call);
  WriteBudget(const WriteLimits& limits, std::shared_ptr<CallCancellation> cancellation);

  /// `source` counted as what the client sent. Its first batch arms the query deadline
  /// (when `deadline` and a timeout are set): the time a client takes to start sending is
  /// its own, the work its first batch starts is the server's.
  std::shared_ptr<arrow::RecordBatchReader> CountSent(
      std::shared_ptr<arrow::RecordBatchReader> source, bool deadline);
  /// `produced` checked batch by batch against the cap: past it, the stream fails with
  /// WriteLimit (Flight RESOURCE_EXHAUSTED, HTTP 413) naming the figures and the setting.
  std::shared_ptr<arrow::RecordBatchReader> CapProduced(
      std::shared_ptr<arrow::RecordBatchReader> produced);

  /// Stops the deadline (the request is over); later first batches arm nothing.
  void Finish();

  int64_t sent_rows() const { return sent_rows_.load(); }
  int64_t produced_rows() const { return produced_rows_.load(); }

 private:
  class SentReader;
  class ProducedReader;
  void Sent(int64_t rows, int64_t bytes, bool arm);
  arrow::Status Produced(int64_t rows, int64_t bytes);

  const WriteLimits limits_;
  const std::shared_ptr<CallCancellation> cancellation_;
  std::atomic<int64_t> sent_rows_{0}, sent_bytes_{0};
  std::atomic<int64_t> produced_rows_{0}, produced_bytes_{0};
  std::mutex mutex_;  // guards deadline_ and finished_
  CallWatchdog::Watch deadline_;
  bool armed_ = false;
  bool finished_ = false;
};

}  // namespace arrowport::ingest
