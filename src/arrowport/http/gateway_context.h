#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <httplib.h>
#include "arrow/result.h"

#include "arrowport/common/logger.h"
#include "arrowport/http/http_call.h"
#include "arrowport/http/http_gateway_deps.h"

namespace arrowport::http {

/// \brief What every HTTP handler shares: the gateway's dependencies, the request log
/// line, and admission of calls that touch the database. Outlives the server's workers.
/// Thread-safe (read-only after construction).
class GatewayContext {
 public:
  explicit GatewayContext(HttpGatewayDeps deps) : deps_(std::move(deps)) {}

  const HttpGatewayDeps& deps() const { return deps_; }

  /// One log line per request: protocol, method, path, seconds, status (+ `fields`).
  void Log(const char* method, const std::string& path, const arrow::Status& st,
           std::chrono::steady_clock::time_point start, Logger::Fields fields = {}) const;
  /// The same for `req`, naming its authenticated user.
  void Log(const httplib::Request& req, const arrow::Status& st,
           std::chrono::steady_clock::time_point start, Logger::Fields fields = {}) const;

  /// Admits and watches a call that reads or writes the database (see HttpCall) on the
  /// connection being served, on behalf of the caller `res` was authenticated for
  /// (HttpAuthorizer); queries get limits.query_timeout_s.
  arrow::Result<std::shared_ptr<HttpCall>> BeginCall(const httplib::Response& res,
                                                     bool query) const;

  /// Limit for bodies read whole (seed JSON): lower than streamed ingest bodies.
  int64_t WholeBodyLimit() const;
  /// What httplib may read of a body no route reads (it reads it whole, then drops it).
  static constexpr int64_t kUnreadBodyBytes = int64_t{64} << 10;
  /// The most a request's body may declare, and the key that sets it; null for a route
  /// that reads no body (any but POST /query, /ingest/{stream} and /stream/{stream}),
  /// whose body httplib reads whole and drops: 64 KiB at most.
  std::pair<int64_t, const char*> BodyLimitFor(const std::string& method,
                                               const std::string& path) const;

 private:
  const HttpGatewayDeps deps_;
};

}  // namespace arrowport::http
