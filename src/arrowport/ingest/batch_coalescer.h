#pragma once

#include <cstdint>
#include <deque>
#include <memory>

#include "arrow/record_batch.h"

namespace arrowport::ingest {

/// What the coalescer joins: batches under `small_rows` rows (and under `max_bytes`), into
/// batches of up to `target_rows` rows or `max_bytes` bytes.
struct CoalesceLimits {
  int64_t small_rows = 4096;
  int64_t target_rows = 65536;
  int64_t max_bytes = int64_t{4} << 20;
};

/// \brief Joins runs of small batches of `source` into larger ones before DuckDB sees
/// them: DuckDB scans, converts and appends batch by batch, with a cost per batch that
/// does not depend on its rows, so a request of many one-row batches would cost far more
/// than its data (and memory grew with its batch count). Batches of `small_rows` or more
/// pass as they are, in order. For requests committed as a whole only: a joined batch
/// waits for the client's next ones (per_batch acknowledges each client batch and must
/// see it alone). `batches_in()` counts the batches read from `source`. One consumer.
class BatchCoalescer : public arrow::RecordBatchReader {
 public:
  BatchCoalescer(std::shared_ptr<arrow::RecordBatchReader> source, CoalesceLimits limits = {})
      : source_(std::move(source)), limits_(limits) {}

  std::shared_ptr<arrow::Schema> schema() const override { return source_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override;
  arrow::Status Close() override { return source_->Close(); }

  int64_t batches_in() const { return batches_in_; }

 private:
  bool Small(const arrow::RecordBatch& batch) const;

  std::shared_ptr<arrow::RecordBatchReader> source_;
  const CoalesceLimits limits_;
  std::shared_ptr<arrow::RecordBatch> pending_;  // read ahead, not yet handed out
  std::deque<std::shared_ptr<arrow::RecordBatch>> unjoined_;  // a run Arrow could not join
  bool ended_ = false;
  int64_t batches_in_ = 0;
};

}  // namespace arrowport::ingest
