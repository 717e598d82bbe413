#pragma once

// Internal to objectstore: one S3 API request and S3's answer to it, what S3Client sends
// and s3_curl.h's exchange carries.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "arrow/buffer.h"

namespace arrowport::objectstore {

/// One S3 API request.
struct S3Request {
  std::string method = "GET";  ///< GET, HEAD, PUT, POST or DELETE
  std::string key;             ///< the object's full key in the bucket; "" for the bucket
  /// Unencoded names and values ("uploads" with "" is `?uploads=`).
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::string> headers;  ///< "Name: value", signed with the request
  /// PUT/POST payload, read (again on retries) while Send runs; PUT sends it as
  /// UNSIGNED-PAYLOAD, POST with its SHA-256 (curl computes both).
  const uint8_t* body = nullptr;
  int64_t body_size = 0;
};

/// What S3 answered (any HTTP status: the caller decides what is success).
struct S3Response {
  long status = 0;
  std::shared_ptr<arrow::Buffer> body;  ///< never null in an answer Send returns
  std::string etag;
  int64_t content_length = -1;  ///< Content-Length when sent (HEAD: the object's size)
  int64_t modified_ms = 0;      ///< Last-Modified (second precision)
  /// S3's error Code/Message from headers (MinIO sends them on HEAD, which has no body).
  std::string header_error_code;
  std::string header_error_message;
  /// An earlier attempt may have reached S3 (it was retried after a 5xx or a broken
  /// connection): a conditional request's 412 may be that attempt's own success.
  bool retried_after_send = false;

  bool ok() const { return status >= 200 && status < 300; }
  std::string_view text() const {
    if (body == nullptr) return {};
    return {reinterpret_cast<const char*>(body->data()),
            static_cast<size_t>(body->size())};
  }
};

}  // namespace arrowport::objectstore
