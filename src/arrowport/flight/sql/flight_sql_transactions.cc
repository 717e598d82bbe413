// FlightSqlService: transactions and sessions.
#include <arrow/flight/api.h>

#include "arrowport/common/call_context.h"
#include "arrowport/common/logger.h"
#include "arrowport/flight/sql/current_call.h"
#include "arrowport/flight/sql/flight_sql_service.h"
#include "arrowport/query/query_pipeline.h"
#include "arrowport/query/session_connection.h"

namespace arrowport::flight::sql {

namespace fl = arrow::flight;
namespace fsql = arrow::flight::sql;

arrow::Result<fsql::ActionBeginTransactionResult> FlightSqlService::BeginTransaction(
    const fl::ServerCallContext& context, const fsql::ActionBeginTransactionRequest& request) {
  // A cookie-less client gets a session here (its cookie in the reply): a client that
  // keeps cookies can then end the transaction by closing its session.
  ARROW_ASSIGN_OR_RAISE(const Caller caller, CallerOf(context, /*create=*/true));
  ARROW_ASSIGN_OR_RAISE(
      auto id, deps_.registry->BeginTransaction(
                   caller, [this] { return deps_.query->OpenSession(); }, Wait()));
  fsql::ActionBeginTransactionResult result;
  result.transaction_id = std::move(id);
  return result;
}

arrow::Status FlightSqlService::EndTransaction(
    const fl::ServerCallContext& context, const fsql::ActionEndTransactionRequest& request) {
  ARROW_ASSIGN_OR_RAISE(const Caller caller, CallerOf(context, false));
  const bool rollback = request.action == fsql::ActionEndTransactionRequest::kRollback;
  ARROW_RETURN_NOT_OK(deps_.registry->EndTransaction(caller, request.transaction_id, rollback,
                                                     Wait(), CallGone));
  if (!rollback) NoteCommitted(CurrentCall::Get());
  return arrow::Status::OK();
}

arrow::Result<fl::CancelFlightInfoResult> FlightSqlService::CancelFlightInfo(
    const fl::ServerCallContext& context, const fl::CancelFlightInfoRequest& request) {
  fl::CancelFlightInfoResult result;
  result.status = fl::CancelStatus::kNotCancellable;
  if (request.info == nullptr) return result;
  // Only the DoGets of the caller's own session and user: a FlightInfo someone else got
  // hold of cancels nothing.
  ARROW_ASSIGN_OR_RAISE(const Caller caller, CallerOf(context, false));
  int cancelled = 0;
  for (const auto& endpoint : request.info->endpoints()) {
    cancelled += deps_.registry->CancelRunning(
        endpoint.ticket.ticket,
        arrow::Status::Cancelled("the query was cancelled by the client (CancelFlightInfo)"),
        caller);
  }
  // Nothing running: it finished (or never started); results not yet fetched stay valid.
  if (cancelled > 0) result.status = fl::CancelStatus::kCancelled;
  return result;
}

arrow::Result<fl::CloseSessionResult> FlightSqlService::CloseSession(
    const fl::ServerCallContext& context, const fl::CloseSessionRequest& request) {
  // ADBC sends only this when a connection closes: its transaction rolls back and its
  // statements are freed here, once no call of the session runs any more.
  ARROW_ASSIGN_OR_RAISE(const Caller caller, CallerOf(context, false));
  fl::CloseSessionResult result;
  if (caller.session.empty() && caller.connection.empty()) {
    // No cookie, and a connection that does not tell clients apart (a proxy's): nothing
    // is known to be this client's, so nothing is closed, and the answer says so.
    result.status = fl::CloseSessionStatus::kNotClosable;
    return result;
  }
  ARROW_RETURN_NOT_OK(deps_.registry->CloseSession(
      caller, query::SessionConnection::Clock::now() + deps_.busy_timeout));
  result.status = fl::CloseSessionStatus::kClosed;
  return result;
}

}  // namespace arrowport::flight::sql
