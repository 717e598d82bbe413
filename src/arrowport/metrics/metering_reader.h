#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "arrow/record_batch.h"
#include "arrowport/common/call_context.h"
#include "arrowport/common/sized_batches.h"

namespace arrowport::metrics {

class ServerMetrics;

/// \brief Passes a stream of batches through and reports it: `on_batch(rows, bytes)` for
/// each batch pulled (Arrow buffer bytes), and `on_end(ok, seconds)` once, when the stream
/// ends, fails, or is dropped unfinished (then `ok` is false), `seconds` counted from
/// `start`. How the pipelines count what they receive and serve. Read by one
/// thread at a time, like any reader; the callbacks run on the reading thread.
class MeteringReader : public arrow::RecordBatchReader {
 public:
  using OnBatch = std::function<void(int64_t rows, int64_t bytes)>;
  using OnEnd = std::function<void(bool ok, double seconds)>;

  /// `start`: when the work the reader delivers began (the query's start).
  MeteringReader(std::shared_ptr<arrow::RecordBatchReader> source, OnBatch on_batch,
                 OnEnd on_end = {},
                 std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now());
  ~MeteringReader() override;

  std::shared_ptr<arrow::Schema> schema() const override { return source_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override;
  arrow::Status Close() override;

 private:
  void End(bool ok);

  std::shared_ptr<arrow::RecordBatchReader> source_;
  const OnBatch on_batch_;
  OnEnd on_end_;  // emptied once called
  const std::chrono::steady_clock::time_point start_;
  const SizedBatches* const sized_;  // source_ itself when it measures its batches
};

/// \brief `reader` counted in `metrics` as a query result served over `protocol`: rows and
/// bytes as they are pulled (also into `progress` when set), and at its end its outcome
/// and the time since `start`. Returns `reader` itself when `metrics` is null or
/// `protocol` is empty (the server's own queries, like the readiness probe).
std::shared_ptr<arrow::RecordBatchReader> MeterResult(
    std::shared_ptr<arrow::RecordBatchReader> reader, ServerMetrics* metrics,
    const std::string& protocol, std::shared_ptr<CallProgress> progress,
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now());

}  // namespace arrowport::metrics
