#pragma once

// Internal to objectstore: one bucket's S3 requests over libcurl (curl's headers stay in
// s3_client.cc).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "arrow/buffer.h"
#include "arrow/result.h"
#include "arrow/status.h"
#include "arrowport/objectstore/object_store.h"
#include "arrowport/objectstore/s3_request.h"

namespace arrowport::objectstore {

/// \brief Sends S3 requests for one bucket: SigV4-signed by libcurl, over a pool of curl
/// easy handles (each keeps its connections alive between requests), with retries and
/// backoff for connection failures and 5xx answers (never for 4xx). Thread-safe.
///
/// Secrets (secret key, session token) go only to curl; no message contains them.
class S3Client {
 public:
  /// Resolves `settings` (and the AWS environment variables it defers to, see
  /// S3Settings) for `bucket`. Invalid for unusable settings.
  static arrow::Result<std::shared_ptr<S3Client>> Make(const S3Settings& settings,
                                                       std::string bucket);
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  /// Sends `request`, retrying transient failures (settings.retries times). Returns S3's
  /// final answer whatever its HTTP status; IOError when the endpoint could not be
  /// reached or the transfer failed (`op` names the operation in messages).
  arrow::Result<S3Response> Send(std::string_view op, const S3Request& request);

  /// The Status for an unsuccessful `response` to `op` on `key`: KeyError for a missing
  /// object, IOError naming S3's error Code and Message (and the credentials when S3
  /// refused them) otherwise.
  arrow::Status ErrorOf(std::string_view op, const std::string& key,
                        const S3Response& response) const;

  /// "s3://bucket/key" for messages.
  std::string ObjectUrl(const std::string& key) const;
  const std::string& bucket() const;
  const std::string& region() const;
  int64_t part_bytes() const;

 private:
  struct Impl;
  explicit S3Client(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

/// SigV4 URI encoding: unreserved characters (A-Z a-z 0-9 - _ . ~) kept, '/' kept when
/// `keep_slash`, every other byte %XX (upper-case hex).
std::string UriEncode(std::string_view text, bool keep_slash);

}  // namespace arrowport::objectstore
