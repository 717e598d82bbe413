#pragma once

#include <cstdint>
#include <memory>
#include <mutex>

#include "arrow/record_batch.h"

namespace arrowport::ingest {

/// \brief Fully validates every batch of `source` before anyone downstream (DuckDB's
/// scan, the appender) reads it: Arrow's full validation checks offsets, dictionary
/// indices, UTF-8, view buffers and child lengths, which DuckDB trusts blindly (a bad
/// offset is a crash or a read of server memory there); string columns' UTF-8 is checked
/// by simdutf (ValidateColumnFull, the same verdict). A batch that fails, or whose
/// buffers exceed `max_batch_bytes`, ends the stream with Invalid / TooLarge naming the
/// batch and the column. Not thread-safe (one consumer).
///
/// DuckDB's scan wraps a reader's error in its own message, which loses the status code
/// and its typed detail; `error()` keeps the first error as it was made (a refused batch,
/// or the source's own: decoding, size limits, a client gone), for the caller to report
/// instead.
class ValidatingReader : public arrow::RecordBatchReader {
 public:
  ValidatingReader(std::shared_ptr<arrow::RecordBatchReader> source, int64_t max_batch_bytes)
      : source_(std::move(source)), max_batch_bytes_(max_batch_bytes) {}

  std::shared_ptr<arrow::Schema> schema() const override { return source_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override;
  arrow::Status Close() override { return source_->Close(); }

  /// The first error, refusal or the source's (OK if none). Read after the consumer is done.
  arrow::Status error() const;

 private:
  /// Refuses `*out` if over the limits, else replaces it with its aligned copy (if any
  /// buffer is misaligned) and checks its values (CheckValues).
  arrow::Status Check(std::shared_ptr<arrow::RecordBatch>* out, int64_t index) const;
  arrow::Status CheckValues(const arrow::RecordBatch& batch, int64_t index) const;

  std::shared_ptr<arrow::RecordBatchReader> source_;
  const int64_t max_batch_bytes_;
  int64_t batches_ = 0;
  mutable std::mutex mutex_;  // guards error_ (written by the reading thread)
  arrow::Status error_;
};

std::shared_ptr<ValidatingReader> MakeValidatingReader(
    std::shared_ptr<arrow::RecordBatchReader> source, int64_t max_batch_bytes);

}  // namespace arrowport::ingest
