#pragma once

#include <arrow/flight/server_middleware.h>

#include <memory>
#include <string>

#include "arrowport/common/principal.h"

namespace arrowport::auth {
class Authenticator;
}

namespace arrowport::flight {

/// \brief Authenticates every Flight call (Handshake included) from its `authorization`
/// header before any handler runs: `Basic` credentials are verified and answered with
/// an `authorization: Bearer <token>` response header (what pyarrow's
/// authenticate_basic_token, ADBC's username/password and the Flight SQL JDBC driver
/// read), `Bearer` tokens are verified; anything else ends the call UNAUTHENTICATED.
/// Handlers read the caller with PrincipalOf(). `authenticator` outlives the server.
class AuthMiddlewareFactory : public arrow::flight::ServerMiddlewareFactory {
 public:
  static constexpr const char* kName = "arrowport-auth";
  explicit AuthMiddlewareFactory(const auth::Authenticator* authenticator)
      : authenticator_(authenticator) {}

  arrow::Status StartCall(
      const arrow::flight::CallInfo& info,
      const arrow::flight::ServerCallContext& context,
      std::shared_ptr<arrow::flight::ServerMiddleware>* middleware) override;

 private:
  const auth::Authenticator* authenticator_;
};

/// The caller of `context` as the middleware established it; null when the middleware
/// is not installed (then the call is treated as the server's own).
std::shared_ptr<const Principal> PrincipalOf(
    const arrow::flight::ServerCallContext& context);

}  // namespace arrowport::flight
