#pragma once

#include <utility>

#include <unordered_map>

#include <mutex>

#include <memory>
#include <optional>
#include <string>

#include <arrow/flight/sql/server_session_middleware_factory.h>

namespace arrowport::flight::sql {

/// \brief Arrow's Flight SQL session store (the `arrow_flight_session_id` cookie ADBC and
/// JDBC send back), with what Arrowport needs on top: the id of a session, so the
/// statements and transactions it owns can be found and freed, and closing a session by
/// id when it idles out. Install it in FlightServerOptions::middleware under
/// ServerSessionMiddleware::kMiddlewareName.
///
/// Unlike Arrow's own StartCall (which, as a stop-gap, stores a new session for every
/// call without a cookie, plain Flight calls included, and never frees it), a session is
/// made only when Flight SQL code asks for one; a cookie naming a closed or expired
/// session is treated as no cookie rather than failing the call.
class SessionStore : public arrow::flight::sql::ServerSessionMiddlewareFactory {
 public:
  static std::shared_ptr<SessionStore> Make();

  arrow::Status StartCall(const arrow::flight::CallInfo& info,
                          const arrow::flight::ServerCallContext& context,
                          std::shared_ptr<arrow::flight::ServerMiddleware>* middleware) override;
  /// Number of sessions held (tests, metrics).
  size_t size();

  /// A new session and its id (the cookie's value).
  std::pair<std::string, std::shared_ptr<arrow::flight::sql::FlightSession>> NewSession();
  /// The id of `session`, nullopt when it was closed.
  std::optional<std::string> IdOf(const arrow::flight::sql::FlightSession* session);
  /// Forgets session `id`: its cookie is rejected from then on. Never fails loudly.
  void Close(const std::string& id);

 private:
  using ServerSessionMiddlewareFactory::ServerSessionMiddlewareFactory;

  std::mutex ids_mutex_;  // guards ids_
  /// The id of every open session, by session: found without a scan of all sessions.
  std::unordered_map<const arrow::flight::sql::FlightSession*, std::string> ids_;
};

}  // namespace arrowport::flight::sql
