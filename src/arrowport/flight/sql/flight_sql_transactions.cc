// FlightSqlService: transactions and sessions.
#include <arrow/flight/api.h>

#include "arrowport/common/logger.h"
#include "arrowport/flight/sql/flight_sql_service.h"
#include "arrowport/storage/connection.h"
#include "arrowport/storage/database.h"

namespace arrowport::flight::sql {

namespace fl = arrow::flight;
namespace fsql = arrow::flight::sql;

arrow::Result<fsql::ActionBeginTransactionResult> FlightSqlService::BeginTransaction(
    const fl::ServerCallContext& context, const fsql::ActionBeginTransactionRequest& request) {
  // A cookie-less client gets a session here (its cookie in the reply): a client that
  // keeps cookies can then end the transaction by closing its session.
  const Caller caller = CallerOf(context, /*create=*/true);
  std::shared_ptr<TransactionEntry> entry;
  if (auto pinned = PinnedFor(context)) {
    // The session's temporary tables live on its pinned connection: transactions too.
    std::lock_guard<std::mutex> lock(pinned->mutex);
    if (!pinned->connection->in_transaction()) {
      ARROW_RETURN_NOT_OK(pinned->connection->Begin());
      entry = pinned;
    }
  }
  if (entry == nullptr) {
    entry = std::make_shared<TransactionEntry>();
    ARROW_ASSIGN_OR_RAISE(auto conn, deps_.database->Connect());
    ARROW_RETURN_NOT_OK(conn->Begin());
    entry->connection = std::move(conn);
    entry->owner = Owner::Of(caller);
  }
  auto id = deps_.registry->AddTransaction(entry);
  if (!id.ok()) {
    std::lock_guard<std::mutex> lock(entry->mutex);
    entry->connection->Rollback();  // a pinned connection stays, without the transaction
    return id.status();
  }
  fsql::ActionBeginTransactionResult result;
  result.transaction_id = std::move(*id);
  return result;
}

arrow::Status FlightSqlService::EndTransaction(
    const fl::ServerCallContext& context, const fsql::ActionEndTransactionRequest& request) {
  ARROW_ASSIGN_OR_RAISE(auto entry, deps_.registry->TakeTransaction(
                                        request.transaction_id, CallerOf(context, false)));
  std::lock_guard<std::mutex> lock(entry->mutex);
  if (request.action == fsql::ActionEndTransactionRequest::kRollback) {
    entry->connection->Rollback();
    return arrow::Status::OK();
  }
  if (!entry->connection->in_transaction()) {
    // Not open any more (a failed ingest that DuckDB would not abort rolled it back).
    return arrow::Status::Invalid("the transaction was rolled back by an earlier failure; "
                                  "nothing was committed");
  }
  // DuckDB answers COMMIT of a transaction an earlier statement aborted by rolling it
  // back silently; the client must hear that its work is gone.
  auto alive = entry->connection->Execute("SELECT 1");
  if (!alive.ok()) {
    entry->connection->Rollback();
    return arrow::Status::Invalid(
        "the transaction was aborted by an earlier failed statement and has been rolled "
        "back; nothing was committed (", alive.message(), ")");
  }
  auto st = entry->connection->Commit();
  if (!st.ok()) {
    entry->connection->Rollback();
    return st.WithMessage("commit failed, the transaction was rolled back: ", st.message());
  }
  return arrow::Status::OK();
}

arrow::Result<fl::CancelFlightInfoResult> FlightSqlService::CancelFlightInfo(
    const fl::ServerCallContext& context, const fl::CancelFlightInfoRequest& request) {
  fl::CancelFlightInfoResult result;
  result.status = fl::CancelStatus::kNotCancellable;
  if (request.info == nullptr) return result;
  // Only the DoGets of the caller's own session and user: a FlightInfo someone else got
  // hold of cancels nothing.
  const Caller caller = CallerOf(context, false);
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
  // statements are freed here.
  const std::string session = CallerOf(context, false).session;
  deps_.registry->CloseSession(session);
  fl::CloseSessionResult result;
  result.status = fl::CloseSessionStatus::kClosed;
  return result;
}

}  // namespace arrowport::flight::sql
