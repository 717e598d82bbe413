#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "arrow/result.h"
#include "arrowport/http/http_gateway_deps.h"

namespace arrowport::http {

/// Which routes a listener serves: every route, or only GET /metrics (metrics.port).
enum class HttpSurface { kAll, kMetricsOnly };

/// \brief The HTTP surface (design section 6) over the shared ingest and query pipelines,
/// on cpp-httplib's request parsing and routing (HttpServer: connection cap, header and
/// read deadlines): streamed request bodies in, chunked responses out, keep-alive, body
/// size limits counted after decompression, admission and cancellation of calls, JSON
/// errors.
class HttpGateway {
 public:
  /// Binds `host:port` (0 = any free port) and starts serving on a background thread.
  static arrow::Result<std::unique_ptr<HttpGateway>> Start(
      HttpGatewayDeps deps, const std::string& host, int port,
      HttpSurface surface = HttpSurface::kAll);
  ~HttpGateway();

  int port() const;
  /// HTTP connections open now (the metrics).
  size_t open_connections() const;
  /// Connections refused because their address held its share already (the metrics).
  uint64_t connections_refused_per_address() const;
  /// Stops accepting at once; requests in flight may finish until `deadline`. The server
  /// cancels the calls still open at that deadline; their handlers get `answer_window`
  /// to write why (and what an upload committed), then the sockets of connections still
  /// open are shut down so their handlers return. Returns when every worker has
  /// finished. Idempotent.
  void Stop(std::chrono::system_clock::time_point deadline,
            std::chrono::milliseconds answer_window = std::chrono::milliseconds(0));

 private:
  struct Impl;
  explicit HttpGateway(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace arrowport::http
