#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "arrow/result.h"
#include "arrowport/config/config.h"
#include "arrowport/ingest/ingest_request.h"
#include "arrowport/ingest/ingest_result.h"

namespace arrowport::metrics {
class IngestMeter;
class ServerMetrics;
}  // namespace arrowport::metrics
namespace arrowport::storage {
class ConnectionLease;
}

namespace arrowport::ingest {

class StreamRouter;

/// True when `status` reports incoming data that does not fit the target table (type
/// conflict, unknown column under strict, missing NOT NULL column): HTTP answers 422.
bool IsSchemaMismatch(const arrow::Status& status);

/// \brief One ingest request from its door to its answer, whatever protocol carried it.
/// Begun at the door (IngestPipeline::Begin: its names and id checked, its stream routed,
/// both once), run by IngestPipeline::Ingest, it keeps the request's bookkeeping in one
/// place: its stream's entry in the router, its meter and its result.
///
/// The entry and the meter begin when the rows start to flow (Ingest), so a request its
/// door then refuses (authorization, the call limits) is neither listed nor counted, as
/// before any data. Once begun they end exactly once: in Finish, which records the end in
/// the router and the metrics, or, for a run dropped half way, in the destructor.
/// Move-only; used by one thread at a time (per_batch commits are counted on the thread
/// running the write).
class IngestRun {
 public:
  IngestRun(IngestRun&& other) noexcept;
  IngestRun& operator=(IngestRun&&) = delete;
  IngestRun(const IngestRun&) = delete;
  IngestRun& operator=(const IngestRun&) = delete;
  /// A run whose rows started to flow and that was not finished ends as a failure.
  ~IngestRun();

  const IngestRequest& request() const { return request_; }
  /// The stream's routing, as it was when the run began.
  const config::StreamConfig& route() const { return route_; }
  /// The request's commit mode: its own, else its stream's.
  config::CommitMode commit() const { return commit_; }
  const IngestResult& result() const { return result_; }

 private:
  friend class IngestPipeline;

  IngestRun(IngestRequest request, config::StreamConfig route, std::string table,
            StreamRouter* router, metrics::ServerMetrics* metrics);

  /// The rows start to flow: the stream is listed with this request running (before, a
  /// long request was missing until it ended) and the request is metered. `connection`:
  /// the caller's, whose commit counts a write that joined its transaction.
  void Start(storage::ConnectionLease* connection);
  /// `on_commit` after each per_batch commit is counted in the router, at once: a long
  /// request's rows and last write are live, not counted when it ends.
  BatchCommitted CountingCommits(BatchCommitted on_commit);
  /// The request's end, recorded once in the router's counters and the metrics. Returns
  /// the result, or `status` naming the stream, the table and, for per_batch, what stays
  /// committed.
  arrow::Result<IngestResult> Finish(arrow::Status status);
  /// The written rows, batches and bytes of the result the router has not counted yet.
  void TakeUncounted(int64_t* rows, int64_t* batches, int64_t* bytes);
  void FinishMeter(const arrow::Status& status, bool per_batch);
  arrow::Status RecordOutcome(const arrow::Status& status, bool per_batch);

  IngestRequest request_;
  config::StreamConfig route_;
  config::CommitMode commit_;
  StreamRouter* router_;  // null once moved from
  metrics::ServerMetrics* metrics_;  // null: not metered
  std::shared_ptr<metrics::IngestMeter> meter_;  // shared with the read-ahead's metering
  storage::ConnectionLease* connection_ = nullptr;
  IngestResult result_;
  std::chrono::steady_clock::time_point start_;
  bool started_ = false;
  bool finished_ = false;
  int64_t counted_rows_ = 0, counted_batches_ = 0, counted_bytes_ = 0;
};

}  // namespace arrowport::ingest
