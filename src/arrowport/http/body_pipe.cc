#include "arrowport/http/body_pipe.h"

#include <algorithm>
#include <cstring>

#include "arrow/buffer.h"

namespace arrowport::http {

bool BodyPipe::Push(const char* data, size_t length) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return reader_closed_ || buffered_ < max_buffered_; });
  if (reader_closed_) return false;
  chunks_.emplace_back(data, length);
  buffered_ += static_cast<int64_t>(length);
  changed_.notify_all();
  return true;
}

void BodyPipe::Finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  finished_ = true;
  changed_.notify_all();
}

void BodyPipe::Abort(arrow::Status reason) {
  std::lock_guard<std::mutex> lock(mutex_);
  abort_ = std::move(reason);
  finished_ = true;
  changed_.notify_all();
}

arrow::Result<int64_t> BodyPipe::Read(int64_t nbytes, void* out) {
  auto* dest = static_cast<char*>(out);
  int64_t copied = 0;
  std::unique_lock<std::mutex> lock(mutex_);
  while (copied < nbytes) {
    changed_.wait(lock, [&] { return !chunks_.empty() || finished_ || reader_closed_; });
    if (reader_closed_) return arrow::Status::Invalid("read from a closed request body");
    if (chunks_.empty()) {
      if (!abort_.ok()) return abort_;
      break;  // end of body
    }
    auto& front = chunks_.front();
    const size_t take = std::min<size_t>(front.size() - offset_in_front_,
                                         static_cast<size_t>(nbytes - copied));
    std::memcpy(dest + copied, front.data() + offset_in_front_, take);
    copied += static_cast<int64_t>(take);
    offset_in_front_ += take;
    if (offset_in_front_ == front.size()) {
      buffered_ -= static_cast<int64_t>(front.size());
      chunks_.pop_front();
      offset_in_front_ = 0;
      changed_.notify_all();
    }
  }
  position_ += copied;
  return copied;
}

arrow::Result<std::shared_ptr<arrow::Buffer>> BodyPipe::Read(int64_t nbytes) {
  // The IPC reader asks for the body length a message declares; the buffer grows with the
  // bytes that actually arrive, so a lying length ends as a truncated stream instead of
  // a huge allocation up front.
  constexpr int64_t kFirstStep = int64_t{1} << 20;
  ARROW_ASSIGN_OR_RAISE(auto buffer,
                        arrow::AllocateResizableBuffer(std::min(nbytes, kFirstStep), pool_));
  int64_t filled = 0;
  while (filled < nbytes) {
    if (filled == buffer->size()) {
      ARROW_RETURN_NOT_OK(buffer->Resize(std::min(nbytes, 2 * buffer->size()),
                                         /*shrink_to_fit=*/false));
    }
    ARROW_ASSIGN_OR_RAISE(auto n, Read(buffer->size() - filled, buffer->mutable_data() + filled));
    if (n == 0) break;  // end of body
    filled += n;
  }
  ARROW_RETURN_NOT_OK(buffer->Resize(filled, /*shrink_to_fit=*/false));
  return std::shared_ptr<arrow::Buffer>(std::move(buffer));
}

arrow::Status BodyPipe::Close() {
  std::lock_guard<std::mutex> lock(mutex_);
  reader_closed_ = true;
  chunks_.clear();
  buffered_ = 0;
  changed_.notify_all();
  return arrow::Status::OK();
}

arrow::Status BodyPipe::AwaitEnd() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return !chunks_.empty() || finished_ || reader_closed_; });
  if (reader_closed_) return arrow::Status::Invalid("read from a closed request body");
  if (!abort_.ok()) return abort_;
  if (chunks_.empty()) return arrow::Status::OK();
  // Taken as the end, the stream would commit and the rest of the body be dropped
  // unread (two streams concatenated lost the second's rows, with 200).
  return arrow::Status::Invalid(
      "the request body goes on after its Arrow IPC stream ended (the end-of-stream "
      "marker at byte ", position_, "): send one stream per request");
}

arrow::Status BodyPipe::abort_status() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return abort_;
}

bool BodyPipe::closed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return reader_closed_;
}

}  // namespace arrowport::http
