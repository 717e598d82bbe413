#pragma once

#include <httplib.h>

#include <memory>
#include <string>

#include "arrow/status.h"
#include "arrowport/common/principal.h"

namespace arrowport {
class Logger;
namespace auth {
class Authenticator;
}
namespace query {
struct QueryRequest;
}
}  // namespace arrowport

namespace arrowport::http {

/// \brief Who is calling over HTTP, and what they may do: the one authentication and
/// authorization step every route goes through. The gateway's pre-routing handler calls
/// Authenticate once per request; handlers ask Read/ReadTable/WriteStream (AccessPolicy
/// underneath, shared with Flight) before they touch the database. Stateless.
class HttpAuthorizer {
 public:
  /// Authenticates `req` from its Authorization header and records the caller in `res`
  /// (and the user's name for log lines). /healthz and /readyz need no credentials.
  /// False when it has answered the request itself (401 with WWW-Authenticate).
  static bool Authenticate(const auth::Authenticator& authenticator,
                           const httplib::Request& req, httplib::Response& res,
                           Logger* logger);

  /// The caller Authenticate recorded (null on the open routes).
  static std::shared_ptr<const Principal> Caller(const httplib::Response& res);
  /// True when the caller sent user:password (Basic), not a token.
  static bool SentBasic(const httplib::Response& res);
  /// The caller's name for log lines ("-" when none).
  static std::string UserName(const httplib::Request& req);

  /// Reading `request`: a table by name (the user's `tables` list) or free SQL.
  static arrow::Status Read(const httplib::Response& res,
                            const query::QueryRequest& request);
  static arrow::Status ReadTable(const httplib::Response& res, const std::string& table);
  /// Ingesting into `stream` (optionally to an explicit `table`): writer, listed stream.
  static arrow::Status WriteStream(const httplib::Response& res,
                                   const std::string& stream, const std::string& table);
};

}  // namespace arrowport::http
