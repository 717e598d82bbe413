#pragma once

// Internal to objectstore: one HTTP exchange with S3 over libcurl.

#include <curl/curl.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "arrow/status.h"
#include "arrowport/common/call_cancellation.h"
#include "arrowport/objectstore/s3_request.h"

namespace arrowport::objectstore {

/// How every request of one client is sent and signed.
struct CurlSettings {
  std::string sigv4;  ///< "aws:amz:REGION:s3"; empty: unsigned requests
  std::string access_key_id;
  std::string secret_access_key;
  std::string token_header;  ///< "x-amz-security-token: ..." or empty
  std::string ca_file;        ///< s3.ca_file, else the host's bundle (ca_from_host)
  std::string ca_dir;         ///< the host's CA directory, when it has no bundle
  bool ca_from_host = false;  ///< ca_file/ca_dir are the host's store, not s3.ca_file
  std::string ca_source;      ///< for TLS errors: which CAs were trusted
  int64_t timeout_ms = 30000;
};

/// What ends an exchange before its answer: the calling call cancelled (client gone, its
/// deadline, shutdown), the server stopping (S3Settings::stop), or the store call's total
/// deadline. Checked by curl's progress callback, at least once a second while a
/// transfer runs, moving or not.
struct TransferStop {
  std::shared_ptr<CallCancellation> call;    ///< may be null
  std::shared_ptr<CallCancellation> server;  ///< may be null
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  bool deadline_is_own = true;  ///< s3.call_timeout_ms's, not the calling thread's
  std::function<bool()> interrupted;  ///< may be empty (ThreadCancellation::interrupted)

  /// Why the exchange must end now (OK: it may go on). Past the deadline: OK too, the
  /// caller words that error (it knows the setting).
  arrow::Status Reason() const;
  bool Expired() const { return std::chrono::steady_clock::now() >= deadline; }
  bool Stopped() const { return !Reason().ok() || Expired(); }
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

  /// Sends `request` to `url` once (no retries), ended early (CURLE_ABORTED_BY_CALLBACK
  /// or CURLE_OPERATION_TIMEDOUT at the deadline) as `stop` says.
  CurlOutcome Perform(const CurlSettings& settings, const std::string& url,
                      const S3Request& request, const TransferStop& stop);

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
