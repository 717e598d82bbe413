#include "arrowport/common/status_detail.h"
#include "arrowport/http/http_authorizer.h"

#include "arrowport/auth/access_policy.h"
#include "arrowport/auth/authenticator.h"
#include "arrowport/common/logger.h"
#include "arrowport/http/http_errors.h"
#include "arrowport/http/http_responses.h"
#include "arrowport/query/query_pipeline.h"

namespace arrowport::http {

namespace {

constexpr const char* kCallerKey = "arrowport.caller";
// The authenticated user's name, for log lines. Set only by Authenticate, after every
// incoming copy is removed: a client cannot choose the name its requests are logged as.
constexpr const char* kUserHeader = "X-Arrowport-Internal-User";

struct CallerEntry {
  std::shared_ptr<const Principal> principal;
  bool basic = false;
};

bool IsOpenRoute(const std::string& path) {
  return path == "/healthz" || path == "/readyz";
}

}  // namespace

bool HttpAuthorizer::Authenticate(const auth::Authenticator& authenticator,
                                  const httplib::Request& req, httplib::Response& res,
                                  Logger* logger) {
  // cpp-httplib hands out const references to a Request it owns (see the gateway's
  // pre-routing handler, which rewrites Accept-Encoding the same way).
  auto& headers = const_cast<httplib::Request&>(req).headers;
  headers.erase(kUserHeader);
  if (IsOpenRoute(req.path)) return true;
  const auth::AuthSource source{
      "http", req.remote_addr + ":" + std::to_string(req.remote_port), req.remote_addr};
  // Two credentials in one request are ambiguous (which one would win depends on the
  // proxy or library): refused rather than guessed.
  auto who = req.get_header_value_count("Authorization") > 1
                 ? arrow::Result<auth::Authenticated>(
                       Unauthenticated("more than one Authorization header: send one"))
                 : authenticator.Authenticate(req.get_header_value("Authorization"), source);
  if (!who.ok()) {
    // 401, or 429 for a login the failed-login limits refused.
    const int status = ToHttpError(who.status()).status;
    if (logger) {
      logger->Warn("request failed", {{"protocol", "http"},
                                      {"method", req.method},
                                      {"path", req.path},
                                      {"status", std::to_string(status)},
                                      {"error", who.status().message()}});
    }
    SendStatus(res, who.status());
    LimitDrain(401);  // not authenticated, whichever the answer: no unlimited upload
    return false;
  }
  headers.emplace(kUserHeader, who->principal->user);
  res.user_data.set(kCallerKey, CallerEntry{who->principal, who->basic});
  return true;
}

std::shared_ptr<const Principal> HttpAuthorizer::Caller(const httplib::Response& res) {
  const auto* caller = res.user_data.get<CallerEntry>(kCallerKey);
  return caller ? caller->principal : nullptr;
}

bool HttpAuthorizer::SentBasic(const httplib::Response& res) {
  const auto* caller = res.user_data.get<CallerEntry>(kCallerKey);
  return caller != nullptr && caller->basic;
}

std::string HttpAuthorizer::UserName(const httplib::Request& req) {
  return req.has_header(kUserHeader) ? req.get_header_value(kUserHeader) : "-";
}

arrow::Status HttpAuthorizer::Read(const httplib::Response& res,
                                   const query::QueryRequest& request) {
  // SQL is judged by the SQL sandbox, which holds table-limited users to their tables.
  if (!request.table.empty()) return ReadTable(res, request.table);
  return arrow::Status::OK();
}

arrow::Status HttpAuthorizer::ReadTable(const httplib::Response& res,
                                        const std::string& table) {
  return auth::AccessPolicy::ReadTable(Caller(res).get(), table);
}

arrow::Status HttpAuthorizer::WriteStream(const httplib::Response& res,
                                          const std::string& stream,
                                          const std::string& table) {
  return auth::AccessPolicy::WriteStream(Caller(res).get(), stream, table);
}

}  // namespace arrowport::http
