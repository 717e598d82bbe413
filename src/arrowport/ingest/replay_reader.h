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

/// \brief Serves `output` (a transform's rows), and at its end reads the client's
/// `input` to its end (Drain) first: a transform that needs only some of the input
/// (`LIMIT 10`) ends before the upload does, and its rows are committed only once the
/// upload has ended as it should (an HTTP body that stalls, is cut short or whose coding
/// is corrupt, a Flight client that leaves: the request fails, nothing is committed).
/// Read after DuckDB has finished the transform's query (`output` is that transform's
/// own result, `input` what it read), so `input` has one reader at a time.
class EndsWithItsInput : public arrow::RecordBatchReader {
 public:
  EndsWithItsInput(std::shared_ptr<arrow::RecordBatchReader> output,
                   std::shared_ptr<arrow::RecordBatchReader> input)
      : output_(std::move(output)), input_(std::move(input)) {}
  std::shared_ptr<arrow::Schema> schema() const override { return output_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override;

 private:
  std::shared_ptr<arrow::RecordBatchReader> output_;
  std::shared_ptr<arrow::RecordBatchReader> input_;
};

}  // namespace arrowport::ingest
