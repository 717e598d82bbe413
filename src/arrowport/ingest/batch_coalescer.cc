#include "arrowport/ingest/batch_coalescer.h"

#include <iterator>
#include <vector>

#include "arrow/util/byte_size.h"

namespace arrowport::ingest {

bool BatchCoalescer::Small(const arrow::RecordBatch& batch) const {
  return batch.num_rows() < limits_.small_rows &&
         arrow::util::TotalBufferSize(batch) < limits_.max_bytes;
}

arrow::Status BatchCoalescer::ReadNext(std::shared_ptr<arrow::RecordBatch>* out) {
  *out = nullptr;
  if (!unjoined_.empty()) {
    *out = std::move(unjoined_.front());
    unjoined_.pop_front();
    return arrow::Status::OK();
  }
  std::shared_ptr<arrow::RecordBatch> first = std::move(pending_);
  if (first == nullptr && !ended_) {
    ARROW_RETURN_NOT_OK(source_->ReadNext(&first));
    if (first != nullptr) ++batches_in_;
  }
  if (first == nullptr) {
    ended_ = true;
    return arrow::Status::OK();
  }
  if (!Small(*first) || ended_) {
    *out = std::move(first);
    return arrow::Status::OK();
  }
  // A run of small batches, up to the target: the batch that ends the run (large, or the
  // one that would pass the target) is kept for the next call.
  std::vector<std::shared_ptr<arrow::RecordBatch>> run{std::move(first)};
  int64_t rows = run.front()->num_rows();
  int64_t bytes = arrow::util::TotalBufferSize(*run.front());
  while (rows < limits_.target_rows && bytes < limits_.max_bytes) {
    std::shared_ptr<arrow::RecordBatch> next;
    ARROW_RETURN_NOT_OK(source_->ReadNext(&next));
    if (next == nullptr) {
      ended_ = true;
      break;
    }
    ++batches_in_;
    if (!Small(*next) || rows + next->num_rows() > limits_.target_rows) {
      pending_ = std::move(next);
      break;
    }
    rows += next->num_rows();
    bytes += arrow::util::TotalBufferSize(*next);
    run.push_back(std::move(next));
  }
  if (run.size() > 1) {
    auto joined = arrow::ConcatenateRecordBatches(run);
    if (joined.ok()) {
      *out = std::move(*joined);
      return arrow::Status::OK();
    }
    // Columns Arrow cannot join (dictionaries it cannot unify): handed out one by one.
  }
  *out = std::move(run.front());
  unjoined_.assign(std::make_move_iterator(run.begin() + 1),
                   std::make_move_iterator(run.end()));
  return arrow::Status::OK();
}

}  // namespace arrowport::ingest
