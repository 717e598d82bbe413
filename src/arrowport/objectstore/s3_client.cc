#include "arrowport/objectstore/s3_client.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <thread>

#include "arrowport/common/ca_certificates.h"
#include "arrowport/common/thread_cancellation.h"
#include "arrowport/objectstore/s3_curl.h"
#include "arrowport/objectstore/s3_xml.h"

namespace arrowport::objectstore {

namespace {

constexpr int64_t kMinPartBytes = int64_t{5} << 20;  // S3's minimum (all but the last)
constexpr int64_t kMaxPartBytes = int64_t{5} << 30;

std::string EnvOr(const char* name, std::string fallback = "") {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : std::move(fallback);
}

bool Transient(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

// Before retry number `attempt` (1, 2, ...): 100 ms doubling up to 5 s, with jitter so
// that writers that failed together do not retry together.
std::chrono::milliseconds Backoff(int attempt) {
  const int64_t ceiling =
      std::min<int64_t>(int64_t{100} << std::min(attempt - 1, 6), 5000);
  std::random_device device;
  return std::chrono::milliseconds(ceiling / 2 + device() % (ceiling / 2 + 1));
}

// Sleeps `pause`, or less when `stop` says to end (then false).
bool PauseUnlessStopped(std::chrono::milliseconds pause, const TransferStop& stop) {
  const auto until = std::min(std::chrono::steady_clock::now() + pause, stop.deadline);
  while (std::chrono::steady_clock::now() < until) {
    if (stop.Stopped()) return false;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(until - std::chrono::steady_clock::now(),
                                                      std::chrono::milliseconds(50)));
  }
  return !stop.Stopped();
}

bool RefusedCredentials(const std::string& code) {
  static constexpr std::string_view kCodes[] = {
      "InvalidAccessKeyId",    "SignatureDoesNotMatch", "InvalidToken",
      "ExpiredToken",          "TokenRefreshRequired",  "InvalidSecurity",
      "MissingSecurityHeader", "InvalidTokenId"};
  return std::find(std::begin(kCodes), std::end(kCodes), code) != std::end(kCodes);
}

}  // namespace

std::string UriEncode(std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (c == '/' && keep_slash)) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xf]);
    }
  }
  return out;
}

struct S3Client::Impl {
  std::string bucket;
  std::string endpoint;  // scheme://host[:port], for messages
  std::string base_url;  // endpoint/bucket (path style) or scheme://bucket.host[:port]
  bool path_style = true;
  std::string region;
  int64_t part_bytes = 0;
  int retries = 0;
  int64_t call_timeout_ms = 0;
  std::shared_ptr<CallCancellation> stop;
  CurlSettings curl;
  CurlPool pool;

  std::string UrlOf(const S3Request& request) const;
  arrow::Status TransportError(std::string_view op, const std::string& key,
                               const CurlOutcome& outcome, int attempts) const;
  // A call given up before S3's answer: cancelled, the server stopping, or its deadline.
  arrow::Status Abandoned(std::string_view op, const std::string& key,
                          const TransferStop& stop, const CurlOutcome* last,
                          int attempts) const;
};

S3Client::S3Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
S3Client::~S3Client() = default;

arrow::Result<std::shared_ptr<S3Client>> S3Client::Make(const S3Settings& settings,
                                                        std::string bucket) {
  auto impl = std::make_unique<Impl>();
  impl->bucket = std::move(bucket);
  impl->region = settings.region.empty()
                     ? EnvOr("AWS_REGION", EnvOr("AWS_DEFAULT_REGION", "us-east-1"))
                     : settings.region;
  impl->endpoint = settings.endpoint.empty()
                       ? "https://s3." + impl->region + ".amazonaws.com"
                       : settings.endpoint;
  while (impl->endpoint.ends_with('/')) impl->endpoint.pop_back();
  const size_t scheme_end = impl->endpoint.find("://");
  const std::string scheme = impl->endpoint.substr(0, scheme_end);
  if (scheme_end == std::string::npos || (scheme != "http" && scheme != "https") ||
      scheme_end + 3 == impl->endpoint.size() ||
      impl->endpoint.find_first_of("/?#@", scheme_end + 3) != std::string::npos) {
    return arrow::Status::Invalid("s3.endpoint '", settings.endpoint,
                                  "' is not http(s)://host[:port]");
  }
  impl->path_style = settings.path_style;
  impl->base_url = settings.path_style ? impl->endpoint + "/" + impl->bucket
                                       : scheme + "://" + impl->bucket + "." +
                                             impl->endpoint.substr(scheme_end + 3);
  if (settings.part_bytes < kMinPartBytes || settings.part_bytes > kMaxPartBytes) {
    return arrow::Status::Invalid("s3.part_bytes ", settings.part_bytes,
                                  " is outside S3's part sizes (5 MiB to 5 GiB)");
  }
  if (settings.timeout_ms <= 0 || settings.retries < 0 || settings.call_timeout_ms <= 0) {
    return arrow::Status::Invalid(
        "s3.timeout_ms and s3.call_timeout_ms must be positive and s3.retries >= 0");
  }
  impl->part_bytes = settings.part_bytes;
  impl->retries = settings.retries;
  impl->call_timeout_ms = settings.call_timeout_ms;
  impl->stop = settings.stop;

  CurlSettings& curl = impl->curl;
  curl.timeout_ms = settings.timeout_ms;
  curl.ca_file = settings.ca_file;
  curl.ca_source = "s3.ca_file " + settings.ca_file;
  if (scheme == "https" && settings.ca_file.empty()) {
    // The host's CA store (a RHEL or SUSE host keeps it where libcurl's compiled-in
    // Debian path is not): none found is a start-up error, not every request's.
    auto host = FindHostCaStore();
    if (!host.ok()) {
      return arrow::Status::IOError("S3 endpoint ", impl->endpoint, ": ",
                                    host.status().message(), "; or set s3.ca_file");
    }
    curl.ca_file = host->file;
    curl.ca_dir = host->dir;
    curl.ca_from_host = true;
    curl.ca_source = "s3.ca_file unset: the host's CAs, " + host->Describe();
  }
  const bool from_settings = !settings.access_key_id.empty();
  curl.access_key_id =
      from_settings ? settings.access_key_id : EnvOr("AWS_ACCESS_KEY_ID");
  curl.secret_access_key =
      from_settings ? settings.secret_access_key : EnvOr("AWS_SECRET_ACCESS_KEY");
  const std::string token =
      from_settings ? settings.session_token : EnvOr("AWS_SESSION_TOKEN");
  if (!curl.access_key_id.empty() && curl.secret_access_key.empty()) {
    return arrow::Status::Invalid(
        from_settings ? "s3.access_key_id is set but s3.secret_access_key is empty"
                      : "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is empty");
  }
  if (!curl.access_key_id.empty()) {
    curl.sigv4 = "aws:amz:" + impl->region + ":s3";
    if (!token.empty()) curl.token_header = "x-amz-security-token: " + token;
  }
  return std::shared_ptr<S3Client>(new S3Client(std::move(impl)));
}

std::string S3Client::Impl::UrlOf(const S3Request& request) const {
  std::string url = base_url;
  if (!request.key.empty() || !path_style) url += "/" + UriEncode(request.key, true);
  char separator = '?';
  for (const auto& [name, value] : request.query) {
    url += separator + UriEncode(name, false) + "=" + UriEncode(value, false);
    separator = '&';
  }
  return url;
}

arrow::Status S3Client::Impl::TransportError(std::string_view op, const std::string& key,
                                             const CurlOutcome& outcome,
                                             int attempts) const {
  const std::string& detail = outcome.error;
  const std::string what = std::string(op) + " s3://" + bucket + "/" + key + ", " +
                           std::to_string(attempts) +
                           (attempts == 1 ? " attempt" : " attempts");
  switch (outcome.code) {
    case CURLE_COULDNT_CONNECT:
      return arrow::Status::IOError(
          "cannot reach S3 endpoint ", endpoint, ": ",
          outcome.os_error != 0 ? std::strerror(static_cast<int>(outcome.os_error))
                                : detail,
          " (", what, ")");
    case CURLE_COULDNT_RESOLVE_HOST:
      return arrow::Status::IOError("cannot reach S3 endpoint ", endpoint, ": ", detail,
                                    " (", what, ")");
    case CURLE_OPERATION_TIMEDOUT:
      return arrow::Status::IOError("S3 endpoint ", endpoint, " did not answer within ",
                                    curl.timeout_ms, " ms (s3.timeout_ms): ", detail,
                                    " (", what, ")");
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CONNECT_ERROR:
      return arrow::Status::IOError(
          "TLS with S3 endpoint ", endpoint, " failed: ", detail, " (", curl.ca_source,
          ") (", what, ")");
    default:
      return arrow::Status::IOError("S3 request to ", endpoint, " failed: ", detail, " (",
                                    what, ")");
  }
}

arrow::Status S3Client::Impl::Abandoned(std::string_view op, const std::string& key,
                                        const TransferStop& stop, const CurlOutcome* last,
                                        int attempts) const {
  const std::string what = std::string(op) + " s3://" + bucket + "/" + key + ", " +
                           std::to_string(attempts) +
                           (attempts == 1 ? " attempt" : " attempts");
  std::string before;
  if (last != nullptr && last->code != CURLE_OK && last->code != CURLE_ABORTED_BY_CALLBACK) {
    before = "; the last attempt: " + last->error;
  } else if (last != nullptr && last->code == CURLE_OK) {
    before = "; the last attempt: HTTP " + std::to_string(last->response.status);
  }
  arrow::Status reason = stop.Reason();
  if (!reason.ok()) {
    // Whatever the request was doing is not known to have reached S3, nor not to have.
    return arrow::Status::IOError("S3 request to ", endpoint, " abandoned before its answer (",
                                  reason.message(), ")", before, " (", what, ")");
  }
  if (!stop.deadline_is_own) {
    return arrow::Status::IOError("S3 endpoint ", endpoint,
                                  " gave no answer in the time left to the request", before,
                                  " (", what, ")");
  }
  return arrow::Status::IOError("S3 endpoint ", endpoint, " gave no answer within ",
                                call_timeout_ms, " ms (s3.call_timeout_ms, retries included)",
                                before, " (", what, ")");
}

arrow::Result<S3Response> S3Client::Send(std::string_view op, const S3Request& request) {
  const std::string url = impl_->UrlOf(request);
  // The whole call, retries included, ends at its own deadline or the thread's call's,
  // whichever is first, and at once when that call is cancelled or the server stops.
  const ThreadCancellation thread = ThreadCancellation::Current();
  TransferStop stop;
  stop.call = thread.cancellation;
  stop.server = impl_->stop;
  stop.interrupted = thread.interrupted;
  stop.deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(impl_->call_timeout_ms);
  if (thread.deadline && *thread.deadline < stop.deadline) {
    stop.deadline = *thread.deadline;
    stop.deadline_is_own = false;
  }
  bool sent_before = false;
  std::optional<CurlOutcome> last;
  for (int attempt = 0;; ++attempt) {
    if (attempt > 0 && !PauseUnlessStopped(Backoff(attempt), stop)) {
      return impl_->Abandoned(op, request.key, stop, last ? &*last : nullptr, attempt);
    }
    if (stop.Stopped()) {
      return impl_->Abandoned(op, request.key, stop, last ? &*last : nullptr, attempt);
    }
    CurlOutcome outcome = impl_->pool.Perform(impl_->curl, url, request, stop);
    const bool last_attempt = attempt >= impl_->retries;
    if (outcome.out_of_memory) {
      return arrow::Status::IOError("S3 ", op, " ", ObjectUrl(request.key),
                                    ": the answer is larger than 1 GiB or does not fit in "
                                    "memory");
    }
    if (outcome.code != CURLE_OK) {
      if (outcome.code == CURLE_ABORTED_BY_CALLBACK ||
          (outcome.code == CURLE_OPERATION_TIMEDOUT && stop.Expired())) {
        return impl_->Abandoned(op, request.key, stop, &outcome, attempt + 1);
      }
      if (!Transient(outcome.code) || last_attempt) {
        return impl_->TransportError(op, request.key, outcome, attempt + 1);
      }
      sent_before |= outcome.code != CURLE_COULDNT_CONNECT &&
                     outcome.code != CURLE_COULDNT_RESOLVE_HOST;
      last = std::move(outcome);
      continue;
    }
    if (outcome.response.status >= 500 && !last_attempt) {
      sent_before = true;
      last = std::move(outcome);
      continue;
    }
    outcome.response.retried_after_send = sent_before;
    return std::move(outcome.response);
  }
}

arrow::Status S3Client::ErrorOf(std::string_view op, const std::string& key,
                                const S3Response& response) const {
  std::optional<S3Error> error = ParseS3Error(response.text());
  if (!error && !response.header_error_code.empty()) {
    error = S3Error{response.header_error_code, response.header_error_message};
  }
  const std::string where = ObjectUrl(key);
  if (error) {
    if (RefusedCredentials(error->code)) {
      return arrow::Status::IOError(
          "S3 refused the credentials (", error->code, ": ", error->message, ") for ", op,
          " ", where, " at ", impl_->endpoint,
          ": check s3.access_key_id and s3.secret_access_key (or AWS_ACCESS_KEY_ID, "
          "AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)");
    }
    if (error->code == "NoSuchKey") {
      return arrow::Status::KeyError("S3 ", op, " ", where,
                                     ": NoSuchKey: ", error->message);
    }
    if (error->code == "NoSuchBucket") {
      return arrow::Status::IOError("S3 ", op, " ", where,
                                    ": NoSuchBucket: ", error->message, " (bucket '",
                                    impl_->bucket, "' at ", impl_->endpoint, ")");
    }
    return arrow::Status::IOError("S3 ", op, " ", where, ": ", error->code, ": ",
                                  error->message, " (HTTP ", response.status, ")");
  }
  if (response.status == 404) {
    return arrow::Status::KeyError("S3 ", op, " ", where, ": not found (HTTP 404)");
  }
  if (response.status == 403) {
    return arrow::Status::IOError(
        "S3 ", op, " ", where, " at ", impl_->endpoint,
        ": access denied (HTTP 403): wrong credentials or no permission");
  }
  return arrow::Status::IOError("S3 ", op, " ", where, " at ", impl_->endpoint, ": HTTP ",
                                response.status);
}

std::string S3Client::ObjectUrl(const std::string& key) const {
  return "s3://" + impl_->bucket + "/" + key;
}
const std::string& S3Client::bucket() const { return impl_->bucket; }
const std::string& S3Client::region() const { return impl_->region; }
int64_t S3Client::part_bytes() const { return impl_->part_bytes; }

}  // namespace arrowport::objectstore
