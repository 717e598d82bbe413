#include "arrowport/ingest/validating_reader.h"

#include <algorithm>

#include "arrow/array.h"
#include "arrow/util/byte_size.h"
#include "arrowport/common/status_detail.h"

namespace arrowport::ingest {

namespace {

class ValidatingReader : public arrow::RecordBatchReader {
 public:
  ValidatingReader(std::shared_ptr<arrow::RecordBatchReader> source, int64_t max_batch_bytes)
      : source_(std::move(source)), max_batch_bytes_(max_batch_bytes) {}

  std::shared_ptr<arrow::Schema> schema() const override { return source_->schema(); }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    ARROW_RETURN_NOT_OK(source_->ReadNext(out));
    if (*out == nullptr) return arrow::Status::OK();
    const int64_t index = batches_++;
    auto st = Check(**out, index);
    if (!st.ok()) *out = nullptr;
    return st;
  }

  arrow::Status Close() override { return source_->Close(); }

 private:
  arrow::Status Check(const arrow::RecordBatch& batch, int64_t index) const {
    const int64_t bytes = arrow::util::TotalBufferSize(batch);
    if (bytes > max_batch_bytes_) {
      return TooLarge("record batch ", index, " holds ", bytes, " bytes, more than ",
                      max_batch_bytes_, " (limits.max_batch_bytes); send smaller batches");
    }
    // Columns without buffers (null type, empty structs, run-end encoded) can claim any
    // number of rows for free; DuckDB would still materialise every one of them.
    const int64_t columns = std::max(batch.num_columns(), 1);
    if (batch.num_rows() > max_batch_bytes_ / columns) {
      return TooLarge("record batch ", index, " claims ", batch.num_rows(), " rows of ",
                      columns, " columns, more values than limits.max_batch_bytes (",
                      max_batch_bytes_, ") allows");
    }
    if (!batch.schema()->Equals(*schema(), /*check_metadata=*/false)) {
      return arrow::Status::Invalid("record batch ", index,
                                    " does not match the stream's schema");
    }
    for (int i = 0; i < batch.num_columns(); ++i) {
      const auto& column = batch.column(i);
      arrow::Status st = column->length() == batch.num_rows()
                             ? column->ValidateFull()
                             : arrow::Status::Invalid("has ", column->length(),
                                                      " values but the batch has ",
                                                      batch.num_rows(), " rows");
      if (!st.ok()) {
        return arrow::Status::Invalid("record batch ", index, ", column '",
                                      batch.schema()->field(i)->name(),
                                      "' is not valid Arrow: ", st.message());
      }
    }
    return arrow::Status::OK();
  }

  std::shared_ptr<arrow::RecordBatchReader> source_;
  const int64_t max_batch_bytes_;
  int64_t batches_ = 0;
};

}  // namespace

std::shared_ptr<arrow::RecordBatchReader> MakeValidatingReader(
    std::shared_ptr<arrow::RecordBatchReader> source, int64_t max_batch_bytes) {
  return std::make_shared<ValidatingReader>(std::move(source), max_batch_bytes);
}

}  // namespace arrowport::ingest
