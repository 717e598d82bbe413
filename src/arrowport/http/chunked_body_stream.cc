#include "arrowport/http/chunked_body_stream.h"

#include <cstdio>
#include <cstring>

namespace arrowport::http {

namespace {

// "\r\n" (when the previous chunk still needs closing), `size` in hex, "\r\n".
size_t FormatHeader(char* out, bool crlf_first, size_t size) {
  return static_cast<size_t>(std::snprintf(out, 24, "%s%zx\r\n", crlf_first ? "\r\n" : "", size));
}

}  // namespace

ChunkedBodyStream::ChunkedBodyStream(httplib::DataSink* sink, int64_t buffer_bytes)
    : sink_(sink), buffer_bytes_(static_cast<size_t>(buffer_bytes)) {
  buffer_.reserve(kHeaderRoom + buffer_bytes_);
  buffer_.resize(kHeaderRoom);
}

arrow::Status ChunkedBodyStream::Send(const char* data, size_t size) {
  if (!sink_->write(data, size)) return arrow::Status::IOError("the peer closed the connection");
  return arrow::Status::OK();
}

arrow::Status ChunkedBodyStream::SendChunk(const char* data, size_t size) {
  char header[24];
  const size_t length = FormatHeader(header, crlf_owed_, size);
  ARROW_RETURN_NOT_OK(Send(header, length));
  crlf_owed_ = false;
  ARROW_RETURN_NOT_OK(Send(data, size));
  crlf_owed_ = true;
  return arrow::Status::OK();
}

arrow::Status ChunkedBodyStream::Write(const void* data, int64_t nbytes) {
  if (aborted_) return arrow::Status::IOError("the response was aborted");
  if (closed_) return arrow::Status::IOError("the response body is closed");
  if (nbytes <= 0) return arrow::Status::OK();
  const auto size = static_cast<size_t>(nbytes);
  const size_t buffered = buffer_.size() - kHeaderRoom;
  if (buffered + size <= buffer_bytes_) {
    buffer_.append(static_cast<const char*>(data), size);
  } else {
    ARROW_RETURN_NOT_OK(Flush());
    if (size >= buffer_bytes_ / 2) {
      // Large pieces (column buffers) go out without a copy.
      ARROW_RETURN_NOT_OK(SendChunk(static_cast<const char*>(data), size));
    } else {
      buffer_.append(static_cast<const char*>(data), size);
    }
  }
  position_ += nbytes;
  return arrow::Status::OK();
}

arrow::Status ChunkedBodyStream::Flush() {
  if (aborted_) return arrow::Status::IOError("the response was aborted");
  const size_t buffered = buffer_.size() - kHeaderRoom;
  if (buffered == 0) return arrow::Status::OK();
  // The header goes right before the data, in the room kept for it: one write.
  char header[24];
  const size_t length = FormatHeader(header, crlf_owed_, buffered);
  char* start = buffer_.data() + kHeaderRoom - length;
  std::memcpy(start, header, length);
  crlf_owed_ = false;
  auto st = Send(start, length + buffered);
  buffer_.resize(kHeaderRoom);
  ARROW_RETURN_NOT_OK(st);
  crlf_owed_ = true;
  return arrow::Status::OK();
}

arrow::Status ChunkedBodyStream::Close() {
  if (closed_) return arrow::Status::OK();
  auto st = aborted_ ? arrow::Status::OK() : Flush();
  closed_ = true;
  return st;
}

arrow::Status ChunkedBodyStream::Abort() {
  // What was written before goes out (a writer's marker of an unfinished result among
  // it), each chunk closed so that a client's parser yields it; the last chunk never does.
  if (!aborted_ && !closed_) (void)Flush();
  if (!aborted_ && crlf_owed_ && Send("\r\n", 2).ok()) crlf_owed_ = false;
  aborted_ = closed_ = true;
  buffer_.resize(kHeaderRoom);
  return arrow::Status::OK();
}

arrow::Status ChunkedBodyStream::Finish() {
  if (aborted_) return arrow::Status::IOError("the response was aborted");
  if (!closed_) ARROW_RETURN_NOT_OK(Flush());
  closed_ = true;
  static constexpr char kLastAfterChunk[] = "\r\n0\r\n\r\n";
  static constexpr char kLastAlone[] = "0\r\n\r\n";
  if (crlf_owed_) return Send(kLastAfterChunk, sizeof(kLastAfterChunk) - 1);
  return Send(kLastAlone, sizeof(kLastAlone) - 1);
}

}  // namespace arrowport::http
