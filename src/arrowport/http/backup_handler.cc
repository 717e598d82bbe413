#include "arrowport/http/backup_handler.h"

#include "arrowport/auth/access_policy.h"
#include "arrowport/http/gateway_context.h"
#include "arrowport/http/http_authorizer.h"
#include "arrowport/http/http_call.h"
#include "arrowport/http/http_responses.h"

namespace arrowport::http {

void AddBackupRoute(const GatewayContext& ctx, httplib::Server& server) {
  server.Post("/admin/backup", [&ctx](const httplib::Request& req, httplib::Response& res) {
    const auto start = std::chrono::steady_clock::now();
    if (!ctx.deps().backup) {
      return SendError(res, {404, "not_found", "this listener makes no backups"});
    }
    auto allowed = auth::AccessPolicy::RequireRole(HttpAuthorizer::Caller(res).get(),
                                                   Role::kAdmin, "make a backup");
    if (!allowed.ok()) return SendStatus(res, allowed);
    // Admitted and watched as any call: a client that hangs up cancels the backup.
    auto call = ctx.BeginCall(res, /*query=*/false);
    if (!call.ok()) return SendStatus(res, call.status());
    const std::string to = req.has_param("to") ? req.get_param_value("to") : "";
    auto summary = ctx.deps().backup(to, (*call)->context().cancellation);
    ctx.Log(req, summary.status(), start, {{"to", to}});
    if (!summary.ok()) return SendStatus(res, summary.status());
    res.set_header("Cache-Control", "no-store");
    SendJson(res, 200, *summary);
  });
}

}  // namespace arrowport::http
