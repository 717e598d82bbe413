#pragma once

#include <cstdint>
#include <memory>
#include <mutex>

#include "arrow/record_batch.h"
#include "arrowport/common/capped_memory_pool.h"
#include "arrowport/http/body_pipe.h"

namespace arrowport::http {

/// \brief Reports undecodable request bodies as invalid input (400), keeping the pipe's own
/// reasons (size limit, client hang-up) as they are, and refuses batches over
/// limits.max_batch_bytes or over the request's memory budget (413).
/// Used by one thread (the ingest's reader); limit_error() from any.
class BodyDecodeReader : public arrow::RecordBatchReader {
 public:
  /// `pipe` may be null (a body read whole); `pool` is the one `inner` decodes into.
  BodyDecodeReader(std::shared_ptr<arrow::RecordBatchReader> inner, std::shared_ptr<BodyPipe> pipe,
                   std::shared_ptr<CappedMemoryPool> pool, int64_t max_batch_bytes);
  std::shared_ptr<arrow::Schema> schema() const override { return inner_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override;

  /// The size limit a batch hit, if any: DuckDB's scan reports reader errors as its own
  /// (losing the status detail), so the handler asks here to answer 413.
  arrow::Status limit_error() const;

 private:
  arrow::Status Decode(std::shared_ptr<arrow::RecordBatch>* out);

  std::shared_ptr<arrow::RecordBatchReader> inner_;
  std::shared_ptr<BodyPipe> pipe_;  // null when the body was read whole
  std::shared_ptr<CappedMemoryPool> pool_;  // outlives the batches this reader hands out
  const int64_t max_batch_bytes_;
  mutable std::mutex mutex_;  // guards limit_error_
  arrow::Status limit_error_;
};

}  // namespace arrowport::http
