#pragma once

#include <memory>
#include <optional>
#include <string>

#include <arrow/flight/sql/server_session_middleware_factory.h>

namespace arrowport::flight::sql {

/// \brief Arrow's Flight SQL session middleware (the `arrow_flight_session_id` cookie
/// ADBC and JDBC send back), with what Arrowport needs on top: the id of a session, so
/// the statements and transactions it owns can be found and freed, and closing a
/// session by id when it idles out. Install it in FlightServerOptions::middleware.
class SessionStore : public arrow::flight::sql::ServerSessionMiddlewareFactory {
 public:
  static std::shared_ptr<SessionStore> Make();

  /// The id of `session`, nullopt when it was closed.
  std::optional<std::string> IdOf(const arrow::flight::sql::FlightSession* session);
  /// Forgets session `id`: its cookie is rejected from then on. Never fails loudly.
  void Close(const std::string& id);

 private:
  using ServerSessionMiddlewareFactory::ServerSessionMiddlewareFactory;
};

}  // namespace arrowport::flight::sql
