#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "arrow/result.h"

namespace arrowport {
class Logger;
namespace ingest { class IngestPipeline; class StreamRouter; }
namespace query { class QueryPipeline; }
}  // namespace arrowport

namespace arrowport::http {

/// What the HTTP adapter needs; all pointers outlive the gateway.
struct HttpGatewayDeps {
  ingest::IngestPipeline* ingest = nullptr;
  ingest::StreamRouter* router = nullptr;
  query::QueryPipeline* query = nullptr;
  Logger* logger = nullptr;
  int64_t max_body_bytes = int64_t{4} << 30;
  int worker_threads = 8;
  int compression_level = 3;  ///< zstd level for compressed responses
};

/// \brief The HTTP surface (design section 6) over the shared ingest and query pipelines,
/// on cpp-httplib: streamed request bodies in, chunked responses out, keep-alive, a
/// bounded worker pool, body size limits and JSON errors.
class HttpGateway {
 public:
  /// Binds `host:port` (0 = any free port) and starts serving on a background thread.
  static arrow::Result<std::unique_ptr<HttpGateway>> Start(HttpGatewayDeps deps,
                                                           const std::string& host, int port);
  ~HttpGateway();

  int port() const;
  /// Stops accepting and waits for the listener to exit. Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit HttpGateway(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace arrowport::http
