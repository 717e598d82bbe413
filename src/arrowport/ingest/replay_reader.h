#pragma once

#include <memory>
#include <vector>

#include "arrow/record_batch.h"

namespace arrowport::ingest {

/// \brief Serves batches already read from `source` (to look ahead at a request), then
/// the rest of `source`, so the look-ahead is invisible to whoever reads next.
class ReplayReader : public arrow::RecordBatchReader {
 public:
  ReplayReader(std::vector<std::shared_ptr<arrow::RecordBatch>> ahead,
               std::shared_ptr<arrow::RecordBatchReader> source)
      : ahead_(std::move(ahead)), source_(std::move(source)) {}
  std::shared_ptr<arrow::Schema> schema() const override { return source_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override;

 private:
  std::vector<std::shared_ptr<arrow::RecordBatch>> ahead_;
  size_t next_ = 0;
  std::shared_ptr<arrow::RecordBatchReader> source_;
};

/// Reads `source` to its end and discards the batches (a retried body is still
/// received and validated, so the client sees its upload complete).
arrow::Status Drain(arrow::RecordBatchReader* source);

}  // namespace arrowport::ingest
