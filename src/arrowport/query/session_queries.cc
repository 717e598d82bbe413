// QueryPipeline's verbs on a session: what runs on a client's connection that outlives
// the call (a Flight SQL transaction's, a pinned session's, a prepared statement's),
// under its lease. The lake refresh, the SQL sandbox and the metering happen here, so no
// protocol has to remember them; ExecutePrepared is in prepared_query.cc.
#include <chrono>

#include "arrow/record_batch.h"
#include "arrowport/common/call_cancellation.h"
#include "arrowport/common/client_principal.h"
#include "arrowport/metrics/server_metrics.h"
#include "arrowport/query/prepared_query.h"
#include "arrowport/query/query_pipeline.h"
#include "arrowport/query/session_connection.h"
#include "arrowport/query/whole_table_sql.h"
#include "arrowport/storage/database/connection.h"
#include "arrowport/storage/database/database.h"
#include "arrowport/storage/database/prepared_statement.h"
#include "arrowport/storage/database/shared_connection.h"

namespace arrowport::query {

namespace {

arrow::Status CallGoneAsWriteEnded(bool in_client_transaction) {
  return arrow::Status::Cancelled(
      "the call failed or was cancelled (client gone, deadline passed or too near to answer "
      "in time, or server shutdown) as the statement ended",
      in_client_transaction
          ? " in a transaction: the transaction was aborted, nothing of it will commit"
          : ": it was rolled back, nothing of it is kept");
}

// Runs `write` (a client's DDL or DML under `storage`) and ends it: see
// QueryPipeline::ExecuteUpdate.
arrow::Result<int64_t> RunWrite(storage::ConnectionLease& storage, bool all_or_nothing,
                                const CallContext& call,
                                const std::function<arrow::Result<int64_t>()>& write) {
  const bool in_client_transaction = storage.in_transaction();
  // A transaction of its own, not DuckDB's autocommit, so that a write whose client left
  // or whose deadline came is rolled back rather than kept. (Begun and committed on this
  // thread, it costs no more than autocommit.)
  if (!in_client_transaction) ARROW_RETURN_NOT_OK(storage.Begin());
  auto result = write();
  // Asked once the statement has ended: gRPC marks a call whose deadline passed a moment
  // before the watchdog interrupts DuckDB, and a statement the client is told failed must
  // not commit later with its transaction.
  const bool gone = result.ok() && CallGone(call);
  if (gone) result = CallGoneAsWriteEnded(in_client_transaction);
  if (in_client_transaction) {
    // Told failed, it must not commit later with the client's transaction; nor may half
    // of an all-or-nothing write.
    if (gone || (!result.ok() && all_or_nothing)) storage.AbortTransaction();
    return result;
  }
  if (result.ok()) {
    auto st = storage.Commit();
    if (st.ok()) {
      NoteCommitted(call);
    } else {
      result = st;
    }
  }
  // (A failed COMMIT has ended the transaction, or marked the connection for discard.)
  if (!result.ok() && storage.in_transaction()) {
    auto st = storage.RollbackOrDiscard();
    if (!st.ok()) {
      return result.status().WithMessage(result.status().message(), "; ", st.message());
    }
  }
  return result;
}

// Every parameter row of `write`, each bound and run in turn; with none, one run.
arrow::Result<int64_t> RunRows(SessionLease& lease, const PreparedWrite& write,
                               const std::shared_ptr<CallCancellation>& cancel) {
  PreparedQuery& statement = *write.statement;
  int64_t changed = 0;
  bool any_rows = false;
  while (true) {
    ARROW_ASSIGN_OR_RAISE(auto rows, write.next_rows());
    if (rows == nullptr) break;
    ARROW_RETURN_NOT_OK(statement.CheckParameters(*rows));
    for (int64_t row = 0; row < rows->num_rows(); ++row) {
      any_rows = true;
      ARROW_RETURN_NOT_OK(statement.Bind(lease, *rows, row));
      ARROW_ASSIGN_OR_RAISE(auto done, statement.ExecuteUpdate(lease, cancel));
      changed += done;
    }
  }
  if (!any_rows) {
    if (statement.num_parameters() > 0) {
      return arrow::Status::Invalid("the statement has ", statement.num_parameters(),
                                    " parameter(s) but no parameter rows were sent");
    }
    ARROW_ASSIGN_OR_RAISE(changed, statement.ExecuteUpdate(lease, cancel));
  }
  return changed;
}

}  // namespace

arrow::Result<std::shared_ptr<SessionConnection>> QueryPipeline::OpenSession() {
  ARROW_ASSIGN_OR_RAISE(auto conn, database_->Connect());
  return std::make_shared<SessionConnection>(
      SessionConnection::OpenKey{}, storage::SharedConnection::Make(std::move(conn)));
}

arrow::Status QueryPipeline::Begin(SessionLease& lease, std::string holder) {
  storage::ConnectionLease& storage = lease.storage_lease(StorageAccess{});
  ARROW_RETURN_NOT_OK(storage.Begin());
  if (!holder.empty()) storage.connection().NameHolder(std::move(holder));
  return arrow::Status::OK();
}

arrow::Status QueryPipeline::Commit(SessionLease& lease) {
  return lease.storage_lease(StorageAccess{}).Commit();
}

arrow::Status QueryPipeline::Rollback(SessionLease& lease) {
  return lease.storage_lease(StorageAccess{}).Rollback();
}

arrow::Status QueryPipeline::RollbackOrDiscard(SessionLease& lease) {
  return lease.storage_lease(StorageAccess{}).RollbackOrDiscard();
}

bool QueryPipeline::InTransaction(const SessionLease& lease) {
  return lease.storage_lease(StorageAccess{}).in_transaction();
}

arrow::Status QueryPipeline::CheckTransactionAlive(SessionLease& lease) {
  return lease.storage_lease(StorageAccess{}).connection().Execute("SELECT 1");
}

arrow::Result<std::shared_ptr<PreparedQuery>> QueryPipeline::Prepare(
    SessionLease& lease, const std::string& sql, const CallContext& call) const {
  ARROW_RETURN_NOT_OK(RefreshLakesNamedIn(sql, call));
  return PreparedQuery::Make(lease, sql, ClientPrincipal(call).get(), call.cancellation);
}

arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> QueryPipeline::Execute(
    SessionLease lease, const std::string& sql, const CallContext& call,
    int64_t batch_rows) {
  if (!lease) return arrow::Status::Invalid("internal: a query on an empty session lease");
  ARROW_RETURN_NOT_OK(RefreshLakesNamedIn(sql, call));
  storage::ConnectionLease& connection = lease.storage_lease(StorageAccess{});
  ARROW_ASSIGN_OR_RAISE(auto statement,
                        storage::PreparedStatement::Make(connection, sql,
                                                         ClientPrincipal(call).get(),
                                                         call.cancellation));
  storage::QueryOptions options;
  options.batch_rows = batch_rows;
  options.cancellation = call.cancellation;
  options.progress = WatchedProgress(call);
  ARROW_ASSIGN_OR_RAISE(auto result,
                        storage::PreparedStatement::Query(statement, connection, options));
  // The reader takes the lease along until its last batch.
  auto leased = storage::MakeLeasedReader(std::move(result), std::move(connection));
  return Metered(std::move(leased), call);
}

arrow::Result<int64_t> QueryPipeline::ExecuteUpdate(SessionLease& lease,
                                                    const std::string& sql,
                                                    const CallContext& call) {
  // A write that reads a lake table (CREATE TABLE AS, INSERT ... SELECT) reads its latest.
  ARROW_RETURN_NOT_OK(RefreshLakesNamedIn(sql, call));
  const auto start = std::chrono::steady_clock::now();
  storage::ConnectionLease& storage = lease.storage_lease(StorageAccess{});
  storage::Connection& connection = storage.connection();
  auto result = RunWrite(storage, /*all_or_nothing=*/false, call, [&] {
    // Interrupts the statement only, not the COMMIT or ROLLBACK that ends it.
    auto interrupt = connection.InterruptOn(call.cancellation);
    return connection.ExecuteUpdate(sql, *ClientPrincipal(call), call.cancellation);
  });
  MeterEnded(call, start, result.ok());
  return result;
}

arrow::Result<int64_t> QueryPipeline::ExecuteUpdate(SessionLease& lease,
                                                    const PreparedWrite& write,
                                                    const CallContext& call) {
  ARROW_RETURN_NOT_OK(RefreshLakesNamedIn(write.statement->sql(), call));
  const auto start = std::chrono::steady_clock::now();
  auto result = RunWrite(lease.storage_lease(StorageAccess{}), write.all_or_nothing, call,
                         [&] { return RunRows(lease, write, call.cancellation); });
  MeterEnded(call, start, result.ok());
  return result;
}

arrow::Result<std::optional<ReadPlan>> QueryPipeline::PlanWholeTableRead(
    const std::string& sql, const CallContext& call) {
  const auto table = WholeTableOf(sql);
  if (!table) return std::nullopt;
  // Planned from the view as it was prepared, another writer's files were left out of a
  // lake table's parts (an attack run).
  ARROW_RETURN_NOT_OK(RefreshLakesNamedIn(sql, call));
  QueryRequest request;
  request.table = *table;
  auto plan = PlanRead(request, /*count_rows=*/false);
  // One part of a cluster's lake table too: its ticket names the snapshot any node reads.
  if (plan.tickets.size() <= 1 && !plan.anywhere) return std::nullopt;
  return plan;
}

void QueryPipeline::MeterEnded(const CallContext& call,
                               std::chrono::steady_clock::time_point start, bool ok) const {
  if (metrics_ == nullptr || call.protocol.empty()) return;
  metrics_->BeginServe(call.protocol)
      .Finish(ok, std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
                      .count());
}

}  // namespace arrowport::query
