#include "arrowport/objectstore/s3_curl.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <string_view>

#include "arrow/buffer_builder.h"
#include "arrowport/common/text_util.h"

namespace arrowport::objectstore {

namespace {

constexpr size_t kMaxIdle = 16;
// The largest answer body kept (see WriteBody).
constexpr int64_t kMaxObjectBytes = int64_t{1} << 30;

struct SlistFree {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using HeaderList = std::unique_ptr<curl_slist, SlistFree>;

// A request body in memory, read by curl (and rewound by it when it must resend).
struct BodyReader {
  const uint8_t* data;
  int64_t size;
  int64_t position = 0;
};

size_t ReadBody(char* out, size_t size, size_t count, void* user) {
  auto* reader = static_cast<BodyReader*>(user);
  const auto n = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(size * count),
                                                       reader->size - reader->position));
  if (n > 0) std::memcpy(out, reader->data + reader->position, n);
  reader->position += static_cast<int64_t>(n);
  return n;
}

int SeekBody(void* user, curl_off_t offset, int origin) {
  auto* reader = static_cast<BodyReader*>(user);
  if (origin != SEEK_SET || offset < 0 || offset > reader->size)
    return CURL_SEEKFUNC_FAIL;
  reader->position = offset;
  return CURL_SEEKFUNC_OK;
}

// What the callbacks collect during one exchange.
struct Received {
  arrow::BufferBuilder body;
  S3Response* response = nullptr;
  bool expect_body = true;  // false for HEAD, whose Content-Length is the object's
  bool out_of_memory = false;
};

size_t WriteBody(char* data, size_t size, size_t count, void* user) {
  auto* received = static_cast<Received*>(user);
  // No answer the stores need is this large (ranges are asked for in pieces, log files
  // are small): an endless or huge body is refused, not buffered.
  if (received->body.length() + static_cast<int64_t>(size * count) > kMaxObjectBytes) {
    received->out_of_memory = true;
    return 0;
  }
  if (!received->body.Append(data, static_cast<int64_t>(size * count)).ok()) {
    received->out_of_memory = true;
    return 0;  // aborts the transfer
  }
  return size * count;
}

bool NameIs(std::string_view name, std::string_view expected) {
  return name.size() == expected.size() &&
         std::equal(name.begin(), name.end(), expected.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         });
}

std::string_view Unquote(std::string_view text) {
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
    return text.substr(1, text.size() - 2);
  }
  return text;
}

size_t WriteHeader(char* data, size_t size, size_t count, void* user) {
  auto* received = static_cast<Received*>(user);
  S3Response* response = received->response;
  const std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) {  // a new response (after 100 Continue): start over
    response->etag.clear();
    response->header_error_code.clear();
    response->header_error_message.clear();
    return size * count;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * count;
  const std::string_view name = line.substr(0, colon);
  const std::string_view value = Trimmed(line.substr(colon + 1));
  if (NameIs(name, "ETag")) response->etag = value;
  // MinIO's error Code and Message for answers without a body (HEAD).
  if (NameIs(name, "x-minio-error-code")) response->header_error_code = value;
  if (NameIs(name, "x-minio-error-desc")) response->header_error_message = Unquote(value);
  int64_t length = 0;
  const auto [end, error] =
      std::from_chars(value.data(), value.data() + value.size(), length);
  // One allocation for a large object instead of doublings (a failure shows on Append).
  if (received->expect_body && NameIs(name, "Content-Length") && error == std::errc() &&
      length > 0 && length <= kMaxObjectBytes) {
    (void)received->body.Reserve(length);
  }
  return size * count;
}

void SetMethod(CURL* curl, const S3Request& request, BodyReader* reader) {
  if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (request.method == "PUT") {
    // A body curl does not hash: it signs x-amz-content-sha256: UNSIGNED-PAYLOAD (TLS
    // protects the bytes in transit), sparing a SHA-256 pass over every part.
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, &ReadBody);
    curl_easy_setopt(curl, CURLOPT_READDATA, reader);
    curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, &SeekBody);
    curl_easy_setopt(curl, CURLOPT_SEEKDATA, reader);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE,
                     static_cast<curl_off_t>(reader->size));
  } else if (request.method == "POST") {
    // A (small) body in memory, possibly empty: curl signs its SHA-256.
    static const char kEmpty[] = "";
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(reader->size));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS,
                     reader->size > 0 ? static_cast<const void*>(reader->data)
                                      : static_cast<const void*>(kEmpty));
  } else if (request.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
}

// curl's progress callback: a non-zero answer aborts the transfer.
int CheckStop(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const TransferStop*>(user)->Stopped() ? 1 : 0;
}

// The request's headers, and the token's: all of them or none (false: out of memory). A
// lost If-None-Match would turn a create into a replace.
bool BuildHeaders(const CurlSettings& settings, const S3Request& request,
                  HeaderList* headers) {
  bool headers_complete = true;
  auto add_header = [&](const std::string& line) {
    curl_slist* appended = curl_slist_append(headers->get(), line.c_str());
    if (appended == nullptr) {
      headers_complete = false;
      return;
    }
    (void)headers->release();  // `appended` is the same list, one longer
    headers->reset(appended);
  };
  for (const std::string& line : request.headers) add_header(line);
  if (!settings.token_header.empty()) add_header(settings.token_header);
  return headers_complete;
}

// How `curl` reaches `url`: its connection, its limits in time and rate, the stop its
// progress callback checks, TLS and SigV4 signing. `error_buffer` (CURL_ERROR_SIZE) and
// `stop` outlive the transfer.
void SetTransferOptions(CURL* curl, const CurlSettings& settings, const std::string& url,
                        const TransferStop& stop, char* error_buffer) {
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  // No CURLOPT_PATH_AS_IS: curl >= 8.14 refuses it with SigV4. Keys never hold "." or
  // ".." segments (ValidateKey), so curl's dot-segment normalisation changes nothing and
  // the path it signs is the path we built.
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "arrowport");
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(settings.timeout_ms));
  // A trickle (under 16 KiB/s for timeout_ms) ends the request, and so does any request
  // running ten times timeout_ms in all or past the store call's deadline; the progress
  // callback ends it as soon as its call is cancelled or the server stops: a store (or
  // something posing as one) cannot hold a call, a query or the shutdown.
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 16L * 1024);
  curl_easy_setopt(
      curl, CURLOPT_LOW_SPEED_TIME,
      static_cast<long>(std::max<int64_t>(1, (settings.timeout_ms + 999) / 1000)));
  int64_t total_ms = settings.timeout_ms * 10;
  if (stop.deadline != std::chrono::steady_clock::time_point::max()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        stop.deadline - std::chrono::steady_clock::now());
    total_ms = std::clamp<int64_t>(left.count(), 1, total_ms);
  }
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(total_ms));
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, &CheckStop);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &stop);
  if (settings.ca_from_host) {
    // Exactly the host's store: libcurl's compiled-in paths (Debian's, in a portable
    // build) are replaced, a NULL turning one off where the host has none of that kind.
    curl_easy_setopt(curl, CURLOPT_CAINFO,
                     settings.ca_file.empty() ? nullptr : settings.ca_file.c_str());
    curl_easy_setopt(curl, CURLOPT_CAPATH,
                     settings.ca_dir.empty() ? nullptr : settings.ca_dir.c_str());
  } else if (!settings.ca_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, settings.ca_file.c_str());
  }
  if (!settings.sigv4.empty()) {
    // curl signs (SigV4) and adds x-amz-date and x-amz-content-sha256 itself.
    curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, settings.sigv4.c_str());
    curl_easy_setopt(curl, CURLOPT_USERNAME, settings.access_key_id.c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD, settings.secret_access_key.c_str());
  }
}

// A completed transfer's status, length, modification time and body into `outcome`.
void ReadResponse(CURL* curl, Received* received, CurlOutcome* outcome) {
  S3Response& response = outcome->response;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  curl_off_t length = -1;
  if (curl_easy_getinfo(curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) ==
      CURLE_OK) {
    response.content_length = length;
  }
  curl_off_t modified = -1;
  if (curl_easy_getinfo(curl, CURLINFO_FILETIME_T, &modified) == CURLE_OK &&
      modified >= 0) {
    response.modified_ms = static_cast<int64_t>(modified) * 1000;
  }
  auto body = received->body.Finish();
  if (body.ok()) {
    response.body = std::move(body).ValueUnsafe();
  } else {
    outcome->out_of_memory = true;
  }
}

}  // namespace

arrow::Status TransferStop::Reason() const {
  if (call != nullptr && call->cancelled()) return call->reason();
  if (server != nullptr && server->cancelled()) return server->reason();
  if (interrupted && interrupted()) {
    return arrow::Status::Cancelled("the query the store was read for was interrupted (its "
                                    "call was cancelled or ran out of time)");
  }
  return arrow::Status::OK();
}

CurlPool::CurlPool() {
  // Thread-safe and reference-counted since curl 7.84.
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

CurlPool::~CurlPool() {
  idle_.clear();
  curl_global_cleanup();
}

CurlPool::EasyHandle CurlPool::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!idle_.empty()) {
      EasyHandle handle = std::move(idle_.back());
      idle_.pop_back();
      return handle;
    }
  }
  return EasyHandle(curl_easy_init());
}

void CurlPool::Release(EasyHandle handle) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (idle_.size() < kMaxIdle) idle_.push_back(std::move(handle));
}

CurlOutcome CurlPool::Perform(const CurlSettings& settings, const std::string& url,
                              const S3Request& request, const TransferStop& stop) {
  CurlOutcome outcome;
  EasyHandle handle = Acquire();
  CURL* curl = handle.get();
  if (curl == nullptr) {
    outcome.code = CURLE_OUT_OF_MEMORY;
    outcome.error = "curl_easy_init failed";
    return outcome;
  }
  HeaderList headers;
  if (!BuildHeaders(settings, request, &headers)) {
    outcome.code = CURLE_OUT_OF_MEMORY;
    outcome.error = "out of memory building the request headers";
    Release(std::move(handle));
    return outcome;
  }
  curl_easy_reset(curl);  // options only: the handle's live connections stay
  char error_buffer[CURL_ERROR_SIZE] = "";
  SetTransferOptions(curl, settings, url, stop, error_buffer);
  Received received;
  received.response = &outcome.response;
  received.expect_body = request.method != "HEAD";
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &WriteBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &received);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &WriteHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &received);
  curl_easy_setopt(curl, CURLOPT_FILETIME, 1L);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());

  BodyReader reader{request.body, request.body_size};
  SetMethod(curl, request, &reader);

  outcome.code = curl_easy_perform(curl);
  outcome.out_of_memory = received.out_of_memory;
  if (outcome.code != CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &outcome.os_error);
    outcome.error =
        error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(outcome.code);
  } else {
    ReadResponse(curl, &received, &outcome);
  }
  // Nothing the handle points at (headers, buffers, callbacks' data) outlives this call.
  curl_easy_reset(curl);
  Release(std::move(handle));
  return outcome;
}

}  // namespace arrowport::objectstore
