#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "arrow/record_batch.h"

namespace arrowport::ingest {

/// \brief Passes `source` through and counts what is pulled from it, so a response
/// reports what DuckDB actually scanned. The counts may be read from another thread.
class CountingReader : public arrow::RecordBatchReader {
 public:
  explicit CountingReader(std::shared_ptr<arrow::RecordBatchReader> source)
      : source_(std::move(source)) {}
  std::shared_ptr<arrow::Schema> schema() const override { return source_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override;
  int64_t rows() const { return rows_; }
  int64_t batches() const { return batches_; }
  int64_t bytes() const { return bytes_; }  ///< Arrow buffer bytes

 private:
  std::shared_ptr<arrow::RecordBatchReader> source_;
  std::atomic<int64_t> rows_{0}, batches_{0}, bytes_{0};
};

}  // namespace arrowport::ingest
