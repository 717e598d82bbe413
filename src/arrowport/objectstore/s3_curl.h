#pragma once

// Internal to objectstore: one HTTP exchange with S3 over libcurl.

#include <curl/curl.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "arrowport/objectstore/s3_client.h"

namespace arrowport::objectstore {

/// How every request of one client is sent and signed.
struct CurlSettings {
  std::string sigv4;  ///< "aws:amz:REGION:s3"; empty: unsigned requests
  std::string access_key_id;
  std::string secret_access_key;
  std::string token_header;  ///< "x-amz-security-token: ..." or empty
  std::string ca_file;
  int64_t timeout_ms = 30000;
};

/// The result of one exchange: a transfer error, or S3's answer.
struct CurlOutcome {
  CURLcode code = CURLE_OK;
  long os_error = 0;  ///< errno of a failed connect
  std::string error;  ///< curl's description of a failed transfer
  bool out_of_memory = false;
  S3Response response;
};

/// \brief A pool of curl easy handles: each keeps its live connections (keep-alive, TLS
/// sessions) from one request to the next. Thread-safe; a handle serves one request at a
/// time.
class CurlPool {
 public:
  CurlPool();
  ~CurlPool();
  CurlPool(const CurlPool&) = delete;
  CurlPool& operator=(const CurlPool&) = delete;

  /// Sends `request` to `url` once (no retries).
  CurlOutcome Perform(const CurlSettings& settings, const std::string& url,
                      const S3Request& request);

 private:
  struct EasyFree {
    void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
  };
  using EasyHandle = std::unique_ptr<CURL, EasyFree>;

  EasyHandle Acquire();
  void Release(EasyHandle handle);

  std::mutex mutex_;              // guards idle_
  std::vector<EasyHandle> idle_;  // at most kMaxIdle, most recently used last
};

}  // namespace arrowport::objectstore
