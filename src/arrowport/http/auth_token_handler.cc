#include "arrowport/http/auth_token_handler.h"

#include <nlohmann/json.hpp>

#include <chrono>

#include "arrowport/auth/authenticator.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/http/gateway_context.h"
#include "arrowport/http/http_authorizer.h"
#include "arrowport/http/http_responses.h"

namespace arrowport::http {

void HandleAuthToken(const GatewayContext& ctx, const httplib::Request& req,
                     httplib::Response& res) {
  const auto start = std::chrono::steady_clock::now();
  const auto* authenticator = ctx.deps().authenticator;
  arrow::Status st;
  if (authenticator == nullptr || !authenticator->enabled()) {
    st = arrow::Status::Invalid(
        "authentication is off on this server: no token is needed");
  } else if (!HttpAuthorizer::SentBasic(res)) {
    // A token must not mint its own successor: a login proves the password again.
    st = Unauthenticated("POST /auth/token takes Basic credentials (user:password)");
  }
  arrow::Result<auth::IssuedToken> token =
      st.ok() ? authenticator->IssueToken(*HttpAuthorizer::Caller(res))
              : arrow::Result<auth::IssuedToken>(st);
  ctx.Log(req, token.status(), start);
  if (!token.ok()) return SendStatus(res, token.status());
  SendJson(
      res, 200,
      nlohmann::json{{"token", token->token}, {"expires_at", token->expires_at}}.dump());
}

}  // namespace arrowport::http
