#include "arrowport/http/body_decode_reader.h"

#include "arrowport/common/status_detail.h"

namespace arrowport::http {

BodyDecodeReader::BodyDecodeReader(std::shared_ptr<arrow::RecordBatchReader> inner,
                                   std::shared_ptr<BodyPipe> pipe,
                                   std::shared_ptr<CappedMemoryPool> pool,
                                   int64_t max_batch_bytes)
    : inner_(std::move(inner)),
      pipe_(std::move(pipe)),
      pool_(std::move(pool)),
      max_batch_bytes_(max_batch_bytes) {}

arrow::Status BodyDecodeReader::ReadNext(std::shared_ptr<arrow::RecordBatch>* out) {
  auto st = inner_->ReadNext(out);
  if (st.ok()) {
    // The stream's end counts only at the body's end: a coded body may still turn out cut
    // short or corrupt (its trailer comes after the marker), and that is no commit.
    if (*out == nullptr && pipe_) ARROW_RETURN_NOT_OK(pipe_->AwaitEnd());
    return st;
  }
  // The body's own end (a stall, a hang-up, a limit) as the pipe was told it, whatever
  // the IPC reader made of the bytes it had.
  if (pipe_) ARROW_RETURN_NOT_OK(pipe_->abort_status());
  if (HasErrorKind(st, ErrorKind::kTooLarge)) return st;
  if (auto busy = pool_->budget_refusal(); !busy.ok()) return busy;  // 503, not 413
  if (pool_->refused()) {
    return TooLarge("a record batch needs more than ", pool_->cap(),
                    " bytes once decoded (limits.max_batch_bytes is ", max_batch_bytes_,
                    " bytes): ", st.message());
  }
  return arrow::Status::Invalid("request body is not a valid Arrow IPC stream: ",
                                st.message());
}

}  // namespace arrowport::http
