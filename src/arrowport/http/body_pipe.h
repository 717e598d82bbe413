#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>

#include "arrow/io/interfaces.h"
#include "arrow/memory_pool.h"
#include "arrow/result.h"

namespace arrowport::http {

/// \brief Turns a pushed HTTP request body (the server's receive callback) into a pulled
/// arrow::io::InputStream for the IPC reader on the ingest thread. At most
/// `max_buffered_bytes` wait in between: a full pipe blocks the pusher, so a fast client
/// is slowed to DuckDB's pace instead of being buffered (backpressure).
class BodyPipe : public arrow::io::InputStream {
 public:
  /// Buffers handed to the reader are allocated from `pool` (the request's capped pool:
  /// an IPC message declares its own body length, so a Read may ask for anything).
  explicit BodyPipe(int64_t max_buffered_bytes,
                    arrow::MemoryPool* pool = arrow::default_memory_pool())
      : max_buffered_(max_buffered_bytes), pool_(pool) {}

  /// Producer side. Returns false once the consumer has stopped reading.
  bool Push(const char* data, size_t length);
  /// Producer side: the whole body arrived.
  void Finish();
  /// Producer side: the body ended abnormally (client hung up, limit hit).
  void Abort(arrow::Status reason);

  // InputStream (consumer side).
  arrow::Result<int64_t> Read(int64_t nbytes, void* out) override;
  arrow::Result<std::shared_ptr<arrow::Buffer>> Read(int64_t nbytes) override;
  arrow::Status Close() override;
  arrow::Result<int64_t> Tell() const override { return position_; }
  bool closed() const override;
  /// Consumer side, once the reader has met the end of what it reads (the IPC stream's
  /// end-of-stream marker): waits for the body's own end and returns why the producer
  /// aborted the body (OK when the whole body arrived and ended there). A coded body is
  /// checked only at its end (a gzip trailer after the marker). Invalid (400) when bytes
  /// follow the marker: a second stream sent in the same body, whose rows would be lost.
  arrow::Status AwaitEnd();
  /// Why the producer aborted the body (OK when it did not).
  arrow::Status abort_status() const;

 private:
  const int64_t max_buffered_;
  arrow::MemoryPool* const pool_;
  mutable std::mutex mutex_;  // guards everything below
  std::condition_variable changed_;
  std::deque<std::string> chunks_;
  size_t offset_in_front_ = 0;
  int64_t buffered_ = 0;
  int64_t position_ = 0;
  bool finished_ = false;
  bool reader_closed_ = false;
  arrow::Status abort_;
};

}  // namespace arrowport::http
