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
  std::shared_ptr<TransactionEntry> entry;
  query::SessionLease lease;
  if (auto pinned = deps_.registry->Pinned(caller)) {
    // The session's temporary tables live on its pinned connection: transactions too.
    ARROW_ASSIGN_OR_RAISE(lease, Lease(pinned->connection, "beginning a transaction"));
    // A rollback refused earlier while the connection was busy is done first.
    if (pinned->refused_end.load() == TransactionEntry::RefusedEnd::kRollback) {
      ARROW_RETURN_NOT_OK(SettleRefusedEnd(lease, "", pinned));
    }
    if (!lease.in_transaction()) {
      ARROW_RETURN_NOT_OK(lease.Begin());
      pinned->refused_end = TransactionEntry::RefusedEnd::kNone;
      entry = pinned;
    } else {
      lease.Release();  // the session's own transaction: this one gets a connection of its own
    }
  }
  if (entry == nullptr) {
    entry = std::make_shared<TransactionEntry>();
    ARROW_ASSIGN_OR_RAISE(entry->connection, deps_.query->OpenSession());
    entry->owner = Owner::Of(caller);
    ARROW_ASSIGN_OR_RAISE(lease, Lease(entry->connection, "beginning a transaction"));
    ARROW_RETURN_NOT_OK(lease.Begin());
  }
  // Told to a writer that waits in vain for a table this transaction writes (its user,
  // not its address: the writer may be another user).
  lease.NameHolder("a Flight SQL transaction of user '" + caller.user + "'");
  auto id = deps_.registry->AddTransaction(entry);
  if (!id.ok()) {
    // A pinned connection stays, without the transaction.
    auto st = lease.RollbackOrDiscard();
    if (!st.ok()) return id.status().WithMessage(id.status().message(), "; ", st.message());
    return id.status();
  }
  fsql::ActionBeginTransactionResult result;
  result.transaction_id = std::move(*id);
  return result;
}

arrow::Result<query::SessionLease> FlightSqlService::LeaseToEnd(
    const std::shared_ptr<TransactionEntry>& entry, bool rollback) {
  // A transaction is ended only when nothing else runs on it. A result still being read
  // in it is stopped first, as PostgreSQL closes a transaction's cursors when it ends:
  // the client asked for the transaction to end, and arrow-go clients (ADBC) forget it
  // whatever the answer, so a refusal left their connection unusable. A result stops
  // between DuckDB's chunks, which aborts nothing: its transaction's work commits. A
  // statement still running (a query before its first rows, an insert) would abort the
  // transaction if interrupted: a rollback stops it too, a commit waits for it.
  auto leased = entry->connection->AcquireStopping(
      rollback ? "rolling back the transaction" : "committing the transaction",
      query::SessionConnection::Clock::now() + deps_.busy_timeout,
      CurrentCall::Get().cancellation,
      arrow::Status::Cancelled("the client ", rollback ? "rolled back" : "committed",
                               " the transaction this call ran in, which ends what runs "
                               "in it"),
      /*any_call=*/rollback);
  if (leased.ok()) return leased;
  // Nothing let go of the connection in time. arrow-go clients forget the id whatever the
  // answer: a rollback asked for is done once the connection is free, and a transaction
  // whose commit was refused must not take in calls that name no transaction
  // (SettleRefusedEnd).
  using RefusedEnd = TransactionEntry::RefusedEnd;
  entry->refused_end = rollback ? RefusedEnd::kRollback : RefusedEnd::kCommit;
  const auto& st = leased.status();
  return st.WithMessage(st.message(), rollback
      ? "; the transaction will be rolled back as soon as its connection is free: "
        "nothing of it will commit"
      : "; the transaction is still open: commit it again by its id once the result is "
        "read, or roll it back");
}

arrow::Status FlightSqlService::EndTransaction(
    const fl::ServerCallContext& context, const fsql::ActionEndTransactionRequest& request) {
  ARROW_ASSIGN_OR_RAISE(const Caller caller, CallerOf(context, false));
  ARROW_ASSIGN_OR_RAISE(auto entry,
                        deps_.registry->FindTransaction(request.transaction_id, caller));
  const bool rollback = request.action == fsql::ActionEndTransactionRequest::kRollback;
  auto leased = LeaseToEnd(entry, rollback);
  ARROW_RETURN_NOT_OK(leased);
  auto lease = std::move(*leased);
  // Another call may have ended it while this one waited.
  ARROW_RETURN_NOT_OK(deps_.registry->TakeTransaction(request.transaction_id, caller, entry));
  if (rollback) {
    auto st = lease.Rollback();
    if (st.ok()) return st;
    // Never "OK" for a rollback not done: the connection is closed, which rolls back.
    deps_.registry->Unpin(entry);
    entry->connection->Discard(std::move(lease));
    return arrow::Status::IOError(st.message(), "; the transaction's connection was closed, "
                                  "which rolled it back (temporary tables of the session "
                                  "are gone with it)");
  }
  if (!lease.in_transaction()) {
    // Not open any more (a failed ingest that DuckDB would not abort rolled it back).
    return arrow::Status::Invalid("the transaction was rolled back by an earlier failure; "
                                  "nothing was committed");
  }
  // DuckDB answers COMMIT of a transaction an earlier statement aborted by rolling it
  // back silently; the client must hear that its work is gone.
  auto roll_back = [&] {
    if (!lease.Rollback().ok()) {  // closing the connection rolls back
      deps_.registry->Unpin(entry);
      entry->connection->Discard(std::move(lease));
    }
  };
  auto alive = lease.CheckTransactionAlive();
  if (!alive.ok()) {
    roll_back();
    return arrow::Status::Invalid(
        "the transaction was aborted by an earlier failed statement and has been rolled "
        "back; nothing was committed (", alive.message(), ")");
  }
  if (CallGone()) {
    // The client would not hear that it committed (it left, or its deadline leaves the
    // answer no time, perhaps after a long wait for the lease): nothing may commit.
    roll_back();
    return arrow::Status::Cancelled(
        "the call failed or was cancelled (client gone, deadline passed or too near to "
        "answer in time) before the commit: the transaction was rolled back, nothing was "
        "committed");
  }
  auto st = lease.Commit();
  if (st.ok()) NoteCommitted(CurrentCall::Get());
  if (!st.ok() && lease.in_transaction()) {
    // DuckDB neither committed nor rolled back: closing the connection rolls back.
    deps_.registry->Unpin(entry);
    entry->connection->Discard(std::move(lease));
    return st.WithMessage("commit failed, and the transaction's connection was closed, "
                          "which rolled it back (temporary tables of the session are gone "
                          "with it): ", st.message());
  }
  if (!st.ok()) {
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
