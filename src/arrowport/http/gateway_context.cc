#include "arrowport/http/gateway_context.h"

#include <algorithm>

#include "arrowport/common/caller_key.h"
#include "arrowport/http/deadline_socket_stream.h"
#include "arrowport/http/http_authorizer.h"
#include "arrowport/http/http_errors.h"
#include "arrowport/http/http_responses.h"
#include "arrowport/http/response_meter.h"
#include "arrowport/metrics/server_metrics.h"

namespace arrowport::http {

namespace {
constexpr int64_t kWholeBodyLimit = int64_t{512} << 20;
}  // namespace

void GatewayContext::Log(const char* method, const std::string& path, const arrow::Status& st,
                         std::chrono::steady_clock::time_point start,
                         Logger::Fields fields) const {
  fields.insert(fields.begin(), {{"protocol", "http"}, {"method", method}, {"path", path}});
  fields.push_back({"seconds", std::to_string(SecondsSince(start))});
  if (st.ok()) {
    fields.push_back({"status", "ok"});
    deps_.logger->Info("request", fields);
  } else {
    fields.push_back({"status", std::to_string(ToHttpError(st).status)});
    fields.push_back({"error", st.message()});
    deps_.logger->Warn("request failed", fields);
  }
}

void GatewayContext::Log(const httplib::Request& req, const arrow::Status& st,
                         std::chrono::steady_clock::time_point start,
                         Logger::Fields fields) const {
  fields.insert(fields.begin(), {"user", HttpAuthorizer::UserName(req)});
  Log(req.method.c_str(), req.path, st, start, std::move(fields));
}

arrow::Result<std::shared_ptr<HttpCall>> GatewayContext::BeginCall(
    const httplib::Response& res, bool query) const {
  const auto* connection = DeadlineSocketStream::Current();
  std::string ip;
  int port = 0;
  if (connection) connection->get_remote_ip_and_port(ip, port);
  auto principal = HttpAuthorizer::Caller(res);
  // Per-user limits: the authenticated user, else the client's address.
  const std::string caller = CallerKey(principal.get(), ip);
  const auto* meter = CallMeterOf(res);
  return HttpCall::Begin(deps_.limiter, deps_.watchdog, connection,
                         std::chrono::seconds(query ? deps_.query_timeout_s : 0), caller,
                         std::move(principal), meter ? meter->progress() : nullptr);
}

std::pair<int64_t, const char*> GatewayContext::BodyLimitFor(const std::string& method,
                                                             const std::string& path) const {
  // A body read by no handler is read whole by httplib all the same (a chunked 300 MiB
  // one to /auth/token or to no route at all took 300 MiB, counted nowhere).
  constexpr std::pair<int64_t, const char*> kUnread = {kUnreadBodyBytes, nullptr};
  if (method != "POST") return kUnread;
  // One name after the prefix, as the routes match (/ingest/a/b is no route).
  const auto named = [&](const char* prefix) {
    const size_t length = std::char_traits<char>::length(prefix);
    return path.size() > length && path.rfind(prefix, 0) == 0 &&
           path.find('/', length) == std::string::npos;
  };
  if (path == "/query") return {deps_.max_query_bytes, "http.max_query_bytes"};
  if (named("/ingest/")) return {deps_.max_body_bytes, "http.max_body_bytes"};
  if (named("/stream/")) return {WholeBodyLimit(), "http.max_body_bytes"};
  return kUnread;
}

int64_t GatewayContext::WholeBodyLimit() const {
  return std::min(deps_.max_body_bytes, kWholeBodyLimit);
}

}  // namespace arrowport::http
