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
/// as one chunk in one write; large ones (column buffers) go out as they are, uncopied,
/// between a small header and its CRLF. Every chunk is whole once sent: a client's parser
/// hands it over without waiting for the next.
///
/// Finish() writes the last chunk. A body that fails is Abort()ed instead: it never gets
/// its last chunk, so every HTTP client sees the response cut, not complete.
///
/// An HTTP/1.0 client knows no chunked coding (RFC 9112 6.1: a server must not send it
/// one): its body goes unframed (`chunked` false), the same writes and buffering, and
/// ends when the server closes the connection.
class ChunkedBodyStream : public arrow::io::OutputStream {
 public:
  explicit ChunkedBodyStream(httplib::DataSink* sink, int64_t buffer_bytes = 64 << 10,
                             bool chunked = true);

  arrow::Status Write(const void* data, int64_t nbytes) override;
  /// Sends what is buffered as a chunk.
  arrow::Status Flush() override;
  /// Flushes; the body stays open (Finish ends it).
  arrow::Status Close() override;
  /// After an error: what was written so far is sent, nothing more reaches the client.
  arrow::Status Abort() override;
  bool closed() const override { return closed_; }
  arrow::Result<int64_t> Tell() const override { return position_; }

  /// Flushes and writes the last (empty) chunk: the body is complete. Once only; nothing
  /// is written after it (Abort included).
  arrow::Status Finish();

 private:
  // Writes `size` bytes at `data` to the sink.
  arrow::Status Send(const char* data, size_t size);
  // Sends `size` bytes as one chunk without copying them: header, data, CRLF.
  arrow::Status SendChunk(const char* data, size_t size);

  httplib::DataSink* sink_;
  const size_t buffer_bytes_;
  const bool chunked_;
  // Room for the longest chunk header (16 hex digits + CRLF) ahead of the data, so that a
  // buffered chunk goes out in one write.
  static constexpr size_t kHeaderRoom = 18;
  std::string buffer_;  // kHeaderRoom bytes of room, then the buffered data
  int64_t position_ = 0;
  bool closed_ = false;
  bool aborted_ = false;
  bool finished_ = false;  // the last chunk is out: nothing may follow it
};

}  // namespace arrowport::http
