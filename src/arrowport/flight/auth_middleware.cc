#include "arrowport/common/status_detail.h"
#include "arrowport/flight/auth_middleware.h"

#include <arrow/flight/server.h>
#include <arrow/flight/types.h>

#include "arrowport/auth/authenticator.h"
#include "arrowport/flight/flight_status.h"
#include "arrowport/flight/status_code_interceptor.h"

namespace arrowport::flight {

namespace fl = arrow::flight;

namespace {

// The per-call middleware: holds the caller, and the token a Basic login is answered
// with.
class AuthMiddleware : public fl::ServerMiddleware {
 public:
  AuthMiddleware(std::shared_ptr<const Principal> principal, std::string bearer)
      : principal_(std::move(principal)), bearer_(std::move(bearer)) {}
  std::string name() const override { return AuthMiddlewareFactory::kName; }
  void SendingHeaders(fl::AddCallHeaders* outgoing_headers) override {
    if (!bearer_.empty())
      outgoing_headers->AddHeader("authorization", "Bearer " + bearer_);
  }
  void CallCompleted(const arrow::Status&) override {}
  const std::shared_ptr<const Principal>& principal() const { return principal_; }

 private:
  std::shared_ptr<const Principal> principal_;
  std::string bearer_;
};

std::string HeaderValue(const fl::CallHeaders& headers, const char* key) {
  auto it = headers.find(key);
  return it == headers.end() ? std::string() : std::string(it->second);
}

}  // namespace

arrow::Status AuthMiddlewareFactory::StartCall(
    const fl::CallInfo& info, const fl::ServerCallContext& context,
    std::shared_ptr<fl::ServerMiddleware>* middleware) {
  // Two credentials in one call are ambiguous (which one would win depends on the
  // proxy or library): refused rather than guessed.
  if (context.incoming_headers().count("authorization") > 1) {
    return ToFlightStatus(Unauthenticated("more than one authorization header: send one"));
  }
  auto who = authenticator_->Authenticate(
      HeaderValue(context.incoming_headers(), "authorization"),
      auth::AuthSource{"flight", context.peer()});
  if (!who.ok()) {
    MarkCallLogged();  // the authenticator logged it (a wrong password, a throttled login)
    return ToFlightStatus(who.status());
  }
  std::string bearer;
  if (who->basic) {
    // Every Basic login is answered with a token; clients keep it for the calls after.
    auto token = authenticator_->IssueToken(*who->principal);
    if (!token.ok()) return ToFlightStatus(token.status());
    bearer = std::move(token->token);
  }
  *middleware = std::make_shared<AuthMiddleware>(who->principal, std::move(bearer));
  return arrow::Status::OK();
}

std::shared_ptr<const Principal> PrincipalOf(const fl::ServerCallContext& context) {
  auto* middleware = context.GetMiddleware(AuthMiddlewareFactory::kName);
  if (middleware == nullptr) return nullptr;
  return static_cast<AuthMiddleware*>(middleware)->principal();
}

}  // namespace arrowport::flight
