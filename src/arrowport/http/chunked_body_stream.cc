#include "arrowport/http/chunked_body_stream.h"

#include <cstdio>
#include <cstring>

#include "arrowport/common/status_detail.h"
#include "arrowport/http/deadline_socket_stream.h"

namespace arrowport::http {

namespace {

// `size` in hex, then CRLF; returns its length.
size_t FormatHeader(char* out, size_t size) {
  return static_cast<size_t>(std::snprintf(out, 24, "%zx\r\n", size));
}

constexpr char kCrlf[] = "\r\n";

}  // namespace

ChunkedBodyStream::ChunkedBodyStream(httplib::DataSink* sink, int64_t buffer_bytes,
                                     bool chunked)
    : sink_(sink), buffer_bytes_(static_cast<size_t>(buffer_bytes)), chunked_(chunked) {
  buffer_.reserve(kHeaderRoom + buffer_bytes_ + 2);
  buffer_.resize(kHeaderRoom);
}

arrow::Status ChunkedBodyStream::Send(const char* data, size_t size) {
  if (sink_->write(data, size)) return arrow::Status::OK();
  // The sink writes on the connection's own thread, whose stream says why it failed.
  const DeadlineSocketStream* stream = DeadlineSocketStream::Current();
  if (stream != nullptr && stream->write_stalled()) {
    const auto seconds =
        std::chrono::duration_cast<std::chrono::seconds>(stream->write_timeout()).count();
    return TimedOut("the client stopped reading the response: a write waited more than ",
                    seconds, " s (limits.write_stall_timeout_s)");
  }
  return ClientGone("the client closed the connection before the response was whole");
}

arrow::Status ChunkedBodyStream::SendChunk(const char* data, size_t size) {
  if (!chunked_) return Send(data, size);
  char header[24];
  ARROW_RETURN_NOT_OK(Send(header, FormatHeader(header, size)));
  ARROW_RETURN_NOT_OK(Send(data, size));
  return Send(kCrlf, 2);
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
  if (!chunked_) {
    auto st = Send(buffer_.data() + kHeaderRoom, buffered);
    buffer_.resize(kHeaderRoom);
    return st;
  }
  // Header in the room kept before the data, CRLF after it: the chunk in one write.
  char header[24];
  const size_t length = FormatHeader(header, buffered);
  char* start = buffer_.data() + kHeaderRoom - length;
  std::memcpy(start, header, length);
  buffer_.append(kCrlf, 2);
  auto st = Send(start, length + buffered + 2);
  buffer_.resize(kHeaderRoom);
  return st;
}

arrow::Status ChunkedBodyStream::Close() {
  if (closed_) return arrow::Status::OK();
  auto st = aborted_ ? arrow::Status::OK() : Flush();
  closed_ = true;
  return st;
}

arrow::Status ChunkedBodyStream::Abort() {
  // What was written before goes out (a writer's marker of an unfinished result among
  // it), as whole chunks a client's parser yields; the last chunk never does.
  if (!aborted_ && !closed_) (void)Flush();
  aborted_ = closed_ = true;
  buffer_.resize(kHeaderRoom);
  return arrow::Status::OK();
}

arrow::Status ChunkedBodyStream::Finish() {
  if (aborted_) return arrow::Status::IOError("the response was aborted");
  if (finished_) return arrow::Status::Invalid("the response body is already complete");
  if (!closed_) ARROW_RETURN_NOT_OK(Flush());
  closed_ = true;
  // After it, nothing: an Abort() now would write into the next response.
  aborted_ = finished_ = true;
  if (!chunked_) return arrow::Status::OK();  // the connection's close ends the body
  static constexpr char kLastChunk[] = "0\r\n\r\n";
  return Send(kLastChunk, sizeof(kLastChunk) - 1);
}

}  // namespace arrowport::http
