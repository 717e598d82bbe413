#pragma once

#include <httplib.h>

#include <cstdint>
#include <string>

#include "arrow/io/interfaces.h"
#include "arrow/result.h"

namespace arrowport::http {

/// \brief A response body in HTTP/1.1 chunked transfer coding, framed here and written to
/// a cpp-httplib DataSink of a response without length (the handler sets
/// `Transfer-Encoding: chunked` itself).
///
/// Why not httplib's own chunked provider: it copies every write twice (into a payload
/// string, then into a chunk string) before the socket; a 10M-row Arrow result is 400 MB.
/// Here small writes (IPC metadata, padding, CSV rows) gather in one buffer that goes out
/// with its chunk header in one write; large ones (column buffers) go out as they are,
/// uncopied, behind a small header write.
///
/// Finish() writes the last chunk. A body that fails is Abort()ed instead: it never gets
/// its last chunk, so every HTTP client sees the response cut, not complete.
class ChunkedBodyStream : public arrow::io::OutputStream {
 public:
  explicit ChunkedBodyStream(httplib::DataSink* sink, int64_t buffer_bytes = 256 << 10);

  arrow::Status Write(const void* data, int64_t nbytes) override;
  /// Sends what is buffered as a chunk.
  arrow::Status Flush() override;
  /// Flushes; the body stays open (Finish ends it).
  arrow::Status Close() override;
  /// After an error: what was written so far is sent, nothing more reaches the client.
  arrow::Status Abort() override;
  bool closed() const override { return closed_; }
  arrow::Result<int64_t> Tell() const override { return position_; }

  /// Flushes and writes the last (empty) chunk: the body is complete.
  arrow::Status Finish();

 private:
  // Writes `size` bytes at `data` to the sink.
  arrow::Status Send(const char* data, size_t size);
  // Sends `size` bytes as one chunk: its header (after the previous chunk's CRLF) in one
  // small write, the data in another.
  arrow::Status SendChunk(const char* data, size_t size);

  httplib::DataSink* sink_;
  const size_t buffer_bytes_;
  // Room for the longest chunk header ("\r\n" + 16 hex digits + "\r\n") ahead of the data,
  // so that a buffered chunk goes out in one write.
  static constexpr size_t kHeaderRoom = 20;
  std::string buffer_;  // kHeaderRoom bytes of room, then the buffered data
  bool crlf_owed_ = false;  // the previous chunk's closing CRLF is still to be written
  int64_t position_ = 0;
  bool closed_ = false;
  bool aborted_ = false;
};

}  // namespace arrowport::http
