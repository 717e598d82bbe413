#include "arrowport/flight/sql/flight_sql_service.h"

#include <arrow/flight/sql/server_session_middleware.h>

#include "arrowport/common/status_detail.h"
#include "arrowport/flight/sql/current_call.h"
#include "arrowport/query/query_pipeline.h"
#include "arrowport/query/session_connection.h"
#include "arrow/record_batch.h"

namespace arrowport::flight::sql {

namespace fl = arrow::flight;
namespace fsql = arrow::flight::sql;

FlightSqlService::FlightSqlService(FlightSqlDeps deps) : deps_(std::move(deps)) {
  RegisterSqlInfos();
}

namespace {

// Whether a header says the call came through a proxy: the forwarding headers, and
// those Envoy (and so Istio) and AWS's balancers add even when told not to forward.
bool ProxiedBy(std::string_view header) {
  for (std::string_view name : {"forwarded", "via", "x-real-ip", "x-amzn-trace-id"}) {
    if (header == name) return true;
  }
  for (std::string_view prefix : {"x-forwarded-", "x-envoy-"}) {
    if (header.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

// The client's gRPC connection (Caller::connection): its peer address, one per TCP
// connection while it is open; "" for a call that came through a proxy, whose connection
// may carry other clients' calls too (a balancer that forwards says so in a header), and
// for any peer that is not a TCP address and port (which need not tell clients apart).
std::string ConnectionOf(const fl::ServerCallContext& context) {
  for (const auto& [header, value] : context.incoming_headers()) {
    if (ProxiedBy(header)) return "";
  }
  std::string peer = context.peer();
  const bool tcp = peer.rfind("ipv4:", 0) == 0 || peer.rfind("ipv6:", 0) == 0;
  return tcp ? peer : "";
}

}  // namespace

arrow::Result<Caller> FlightSqlService::CallerOf(const fl::ServerCallContext& context,
                                                bool create) {
  Caller caller;
  const auto& principal = CurrentCall::Get().principal;
  if (principal != nullptr) caller.user = principal->user;
  caller.connection = ConnectionOf(context);
  auto* middleware = dynamic_cast<fsql::ServerSessionMiddleware*>(
      context.GetMiddleware(fsql::ServerSessionMiddleware::kMiddlewareName));
  if (middleware == nullptr) return caller;
  caller.presented_cookie = middleware->HasSession();
  if (!create && !caller.presented_cookie) return caller;
  auto session = middleware->GetSession();
  if (!session.ok() || *session == nullptr) return caller;
  caller.session = deps_.registry->SessionId(session->get());
  ARROW_RETURN_NOT_OK(deps_.registry->Touch(caller));
  return caller;
}

arrow::Result<std::shared_ptr<query::SessionConnection>> FlightSqlService::ConnectionFor(
    const Caller& caller, const std::string& transaction_id,
    std::shared_ptr<TransactionEntry>* transaction) {
  if (transaction_id.empty()) {
    if (auto pinned = deps_.registry->Pinned(caller)) {
      *transaction = pinned;
      return pinned->connection;
    }
    return deps_.query->OpenSession();
  }
  ARROW_ASSIGN_OR_RAISE(*transaction, deps_.registry->FindTransaction(transaction_id, caller));
  return (*transaction)->connection;
}

SessionWait FlightSqlService::Wait() const {
  return {query::SessionConnection::Clock::now() + deps_.busy_timeout,
          CurrentCall::Get().cancellation};
}

arrow::Result<query::SessionLease> FlightSqlService::Lease(
    const std::shared_ptr<query::SessionConnection>& connection, std::string use) {
  const SessionWait wait = Wait();
  return connection->Acquire(std::move(use), wait.deadline, wait.cancellation);
}

arrow::Result<query::SessionLease> FlightSqlService::LeaseIn(
    const std::shared_ptr<query::SessionConnection>& connection, std::string use,
    const std::string& transaction_id, const std::shared_ptr<TransactionEntry>& txn) {
  ARROW_ASSIGN_OR_RAISE(auto lease, Lease(connection, std::move(use)));
  ARROW_RETURN_NOT_OK(deps_.registry->CheckLeased(lease, transaction_id, txn));
  return lease;
}

arrow::Result<query::SessionLease> FlightSqlService::LeaseFor(const StatementEntry& entry,
                                                                   std::string use) {
  return LeaseIn(entry.statement->connection(), std::move(use), entry.transaction_id,
                 entry.shared);
}

bool CallGone() { return arrowport::CallGone(CurrentCall::Get()); }

std::string UseOf(const char* what, const std::string& sql) {
  constexpr size_t kShown = 60;
  std::string shown = sql.substr(0, kShown);
  for (char& c : shown) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return std::string(what) + " '" + shown + (sql.size() > kShown ? "...'" : "'");
}

std::vector<fl::FlightEndpoint> EndpointsOf(std::vector<std::string> tickets) {
  std::vector<fl::FlightEndpoint> endpoints(tickets.size());
  for (size_t i = 0; i < tickets.size(); ++i) endpoints[i].ticket.ticket = std::move(tickets[i]);
  return endpoints;
}

arrow::Result<std::unique_ptr<fl::FlightInfo>> InfoWithTicket(
    const arrow::Schema& schema, const fl::FlightDescriptor& descriptor, std::string ticket) {
  ARROW_ASSIGN_OR_RAISE(auto info, fl::FlightInfo::Make(schema, descriptor,
                                                        EndpointsOf({std::move(ticket)}), -1,
                                                        -1, /*ordered=*/true));
  return std::make_unique<fl::FlightInfo>(std::move(info));
}

}  // namespace arrowport::flight::sql
