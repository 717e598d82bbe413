#pragma once

#include <httplib.h>

#include "arrow/io/interfaces.h"
#include "arrow/result.h"

namespace arrowport::http {

/// \brief An arrow::io::OutputStream over a cpp-httplib DataSink: lets Arrow writers
/// (IPC, Parquet, CSV) stream straight into a chunked request or response body.
/// A failed write means the peer went away.
class DataSinkStream : public arrow::io::OutputStream {
 public:
  explicit DataSinkStream(httplib::DataSink* sink) : sink_(sink) {}

  arrow::Status Write(const void* data, int64_t nbytes) override {
    if (aborted_) return arrow::Status::IOError("the response was aborted");
    if (!sink_->write(static_cast<const char*>(data), static_cast<size_t>(nbytes))) {
      return arrow::Status::IOError("the peer closed the connection");
    }
    position_ += nbytes;
    return arrow::Status::OK();
  }
  arrow::Status Close() override {
    closed_ = true;
    return arrow::Status::OK();
  }
  /// After an error: nothing more reaches the client (no footer or end-of-stream marker
  /// that would make a cut result look complete).
  arrow::Status Abort() override {
    aborted_ = closed_ = true;
    return arrow::Status::OK();
  }
  bool closed() const override { return closed_; }
  arrow::Result<int64_t> Tell() const override { return position_; }

 private:
  httplib::DataSink* sink_;
  int64_t position_ = 0;
  bool closed_ = false;
  bool aborted_ = false;
};

}  // namespace arrowport::http
