#include "arrowport/ingest/replay_reader.h"

namespace arrowport::ingest {

arrow::Status ReplayReader::ReadNext(std::shared_ptr<arrow::RecordBatch>* out) {
  if (next_ < ahead_.size()) {
    *out = std::move(ahead_[next_++]);
    return arrow::Status::OK();
  }
  return source_->ReadNext(out);
}

arrow::Status Drain(arrow::RecordBatchReader* source) {
  for (;;) {
    ARROW_ASSIGN_OR_RAISE(auto batch, source->Next());
    if (!batch) return arrow::Status::OK();
  }
}

arrow::Status EndsWithItsInput::ReadNext(std::shared_ptr<arrow::RecordBatch>* out) {
  ARROW_RETURN_NOT_OK(output_->ReadNext(out));
  if (*out == nullptr) ARROW_RETURN_NOT_OK(Drain(input_.get()));
  return arrow::Status::OK();
}

}  // namespace arrowport::ingest
