#include "arrowport/http/first_batch_reader.h"

namespace arrowport::http {

namespace {

class FirstBatchReader : public arrow::RecordBatchReader {
 public:
  FirstBatchReader(std::shared_ptr<arrow::RecordBatchReader> inner,
                   std::shared_ptr<arrow::RecordBatch> first)
      : inner_(std::move(inner)), first_(std::move(first)) {}

  std::shared_ptr<arrow::Schema> schema() const override { return inner_->schema(); }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    if (!replayed_) {
      replayed_ = true;
      *out = std::move(first_);
      return arrow::Status::OK();
    }
    return inner_->ReadNext(out);
  }

  arrow::Status Close() override { return inner_->Close(); }

 private:
  std::shared_ptr<arrow::RecordBatchReader> inner_;
  std::shared_ptr<arrow::RecordBatch> first_;
  bool replayed_ = false;
};

}  // namespace

arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> ReadFirstBatchAhead(
    std::shared_ptr<arrow::RecordBatchReader> reader,
    const std::function<arrow::Status(const arrow::RecordBatch*)>& check) {
  std::shared_ptr<arrow::RecordBatch> first;
  ARROW_RETURN_NOT_OK(reader->ReadNext(&first));
  if (check) ARROW_RETURN_NOT_OK(check(first.get()));
  return std::make_shared<FirstBatchReader>(std::move(reader), std::move(first));
}

}  // namespace arrowport::http
