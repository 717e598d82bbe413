#pragma once

#include <cstdint>
#include <memory>

#include "arrow/record_batch.h"
#include "arrowport/common/capped_memory_pool.h"
#include "arrowport/http/body_pipe.h"

namespace arrowport::http {

/// \brief Reports undecodable request bodies as invalid input (400), keeping the pipe's own
/// reasons (size limit, client hang-up) as they are, a decode that ran out of the
/// request's memory cap as too large (413), and one the server-wide budget refused as
/// busy (503). (Batch size limits themselves are the
/// ingest pipeline's, for every protocol.) Used by one thread.
class BodyDecodeReader : public arrow::RecordBatchReader {
 public:
  /// `pipe` may be null (a body read whole); `pool` is the one `inner` decodes into.
  BodyDecodeReader(std::shared_ptr<arrow::RecordBatchReader> inner, std::shared_ptr<BodyPipe> pipe,
                   std::shared_ptr<CappedMemoryPool> pool, int64_t max_batch_bytes);
  std::shared_ptr<arrow::Schema> schema() const override { return inner_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override;

 private:

  std::shared_ptr<arrow::RecordBatchReader> inner_;
  std::shared_ptr<BodyPipe> pipe_;  // null when the body was read whole
  std::shared_ptr<CappedMemoryPool> pool_;  // outlives the batches this reader hands out
  const int64_t max_batch_bytes_;  // named in the refusal
};

}  // namespace arrowport::http
