// FlightSqlService: ad-hoc statements (CommandStatementQuery, CommandStatementUpdate).
#include <arrow/flight/api.h>
#include <nlohmann/json.hpp>

#include "arrow/record_batch.h"
#include "arrowport/common/client_principal.h"
#include "arrowport/flight/sql/current_call.h"
#include "arrowport/flight/sql/flight_sql_service.h"
#include "arrowport/query/query_pipeline.h"
#include "arrowport/query/prepared_query.h"
#include "arrowport/query/session_connection.h"
#include "arrowport/query/whole_table_sql.h"

namespace arrowport::flight::sql {

namespace fl = arrow::flight;
namespace fsql = arrow::flight::sql;
using json = nlohmann::json;

namespace {

// A statement query's ticket handle: the SQL and the transaction it runs in. Stateless,
// so a ticket stays valid however long the client waits before DoGet.
arrow::Result<std::string> StatementTicket(const std::string& sql, const std::string& txn) {
  json handle = {{"sql", sql}};
  if (!txn.empty()) handle["txn"] = txn;
  return fsql::CreateStatementQueryTicket(handle.dump());
}

// Whose SQL the current call carries (the SQL sandbox judges it for them).
std::shared_ptr<const Principal> SqlCaller() { return ClientPrincipal(CurrentCall::Get()); }

}  // namespace

arrow::Result<std::unique_ptr<fl::FlightInfo>> FlightSqlService::GetFlightInfoStatement(
    const fl::ServerCallContext& context, const fsql::StatementQuery& command,
    const fl::FlightDescriptor& descriptor) {
  ARROW_ASSIGN_OR_RAISE(const Caller caller, CallerOf(context, false));
  std::shared_ptr<TransactionEntry> txn;
  ARROW_ASSIGN_OR_RAISE(auto connection, ConnectionFor(caller, command.transaction_id, &txn));
  ARROW_RETURN_NOT_OK(deps_.query->RefreshLakesNamedIn(command.query, CurrentCall::Get()));
  ARROW_ASSIGN_OR_RAISE(auto lease, LeaseIn(connection, UseOf("preparing", command.query), command.transaction_id, txn));
  auto entry = std::make_shared<StatementEntry>();
  entry->transaction_id = command.transaction_id;
  entry->shared = txn;
  ARROW_ASSIGN_OR_RAISE(entry->statement,
                        query::PreparedQuery::Make(lease, command.query, SqlCaller().get(),
                                                   CurrentCall::Get().cancellation));
  if (!entry->statement->returns_rows()) {
    // DDL/DML down the query path (JDBC execute, ADBC cursor.execute): runs here, once.
    return RunNow(entry, lease, descriptor);
  }
  lease.Release();
  if (command.transaction_id.empty() && txn == nullptr) {
    ARROW_ASSIGN_OR_RAISE(auto split, WholeTableInfo(command.query,
                                                     *entry->statement->dataset_schema(),
                                                     descriptor));
    if (split) return split;
  }
  ARROW_ASSIGN_OR_RAISE(auto ticket, StatementTicket(command.query, command.transaction_id));
  return InfoWithTicket(*entry->statement->dataset_schema(), descriptor, std::move(ticket));
}

arrow::Result<std::unique_ptr<fl::FlightInfo>> FlightSqlService::WholeTableInfo(
    const std::string& sql, const arrow::Schema& schema, const fl::FlightDescriptor& descriptor) {
  const auto table = query::WholeTableOf(sql);
  if (!table) return nullptr;
  query::QueryRequest request;
  request.table = *table;
  auto plan = deps_.query->PlanRead(request, /*count_rows=*/false);
  // One part of a cluster's lake table too: its ticket names the snapshot any node reads.
  if (plan.tickets.size() <= 1 && !(plan.anywhere && deps_.in_cluster)) return nullptr;
  const int64_t rows = plan.rows;
  const bool ordered = plan.ordered;
  auto endpoints = deps_.endpoints_of ? deps_.endpoints_of(std::move(plan))
                                      : EndpointsOf(std::move(plan.tickets));
  ARROW_ASSIGN_OR_RAISE(auto info, fl::FlightInfo::Make(schema, descriptor, std::move(endpoints),
                                                        rows, -1, ordered));
  return std::make_unique<fl::FlightInfo>(std::move(info));
}

arrow::Result<std::unique_ptr<fl::SchemaResult>> FlightSqlService::GetSchemaStatement(
    const fl::ServerCallContext& context, const fsql::StatementQuery& command,
    const fl::FlightDescriptor& descriptor) {
  ARROW_ASSIGN_OR_RAISE(const Caller caller, CallerOf(context, false));
  std::shared_ptr<TransactionEntry> txn;
  ARROW_ASSIGN_OR_RAISE(auto connection, ConnectionFor(caller, command.transaction_id, &txn));
  ARROW_RETURN_NOT_OK(deps_.query->RefreshLakesNamedIn(command.query, CurrentCall::Get()));
  ARROW_ASSIGN_OR_RAISE(auto lease, LeaseIn(connection, UseOf("preparing", command.query), command.transaction_id, txn));
  ARROW_ASSIGN_OR_RAISE(auto statement,
                        query::PreparedQuery::Make(lease, command.query, SqlCaller().get(),
                                                   CurrentCall::Get().cancellation));
  return fl::SchemaResult::Make(*statement->dataset_schema());
}

arrow::Result<std::unique_ptr<fl::FlightDataStream>> FlightSqlService::DoGetStatement(
    const fl::ServerCallContext& context, const fsql::StatementQueryTicket& command) {
  auto handle = json::parse(command.statement_handle, nullptr, /*allow_exceptions=*/false);
  if (!handle.is_object() || !handle.contains("sql") || !handle["sql"].is_string() ||
      (handle.contains("txn") && !handle["txn"].is_string())) {
    return arrow::Status::Invalid("malformed Flight SQL statement ticket");
  }
  const std::string sql = handle["sql"].get<std::string>();
  const std::string txn_id = handle.contains("txn") ? handle["txn"].get<std::string>() : "";
  const CallContext& call = CurrentCall::Get();
  ARROW_ASSIGN_OR_RAISE(const Caller caller, CallerOf(context, false));
  std::shared_ptr<arrow::RecordBatchReader> reader;
  if (txn_id.empty() && deps_.registry->Pinned(caller) == nullptr) {
    // The shared read path: its own connection, streaming, cancellable.
    query::QueryRequest request;
    request.sql = sql;
    ARROW_ASSIGN_OR_RAISE(reader, deps_.query->Execute(request, call));
  } else {
    std::shared_ptr<TransactionEntry> txn;
    ARROW_ASSIGN_OR_RAISE(auto connection, ConnectionFor(caller, txn_id, &txn));
    // The result keeps the connection until its last batch: the transaction's next call
    // waits for it (or is refused, naming it), instead of cutting it off.
    ARROW_ASSIGN_OR_RAISE(auto lease,
                          LeaseIn(connection, UseOf("a result being read of", sql), txn_id, txn));
    ARROW_ASSIGN_OR_RAISE(reader,
                          deps_.query->ExecuteOn(std::move(lease), sql, call, deps_.batch_rows));
  }
  return std::make_unique<fl::RecordBatchStream>(std::move(reader));
}

arrow::Result<int64_t> FlightSqlService::DoPutCommandStatementUpdate(
    const fl::ServerCallContext& context, const fsql::StatementUpdate& command) {
  ARROW_ASSIGN_OR_RAISE(const Caller caller, CallerOf(context, false));
  std::shared_ptr<TransactionEntry> txn;
  ARROW_ASSIGN_OR_RAISE(auto connection, ConnectionFor(caller, command.transaction_id, &txn));
  // A write that reads a lake table (CREATE TABLE AS, INSERT ... SELECT) reads its latest.
  ARROW_RETURN_NOT_OK(deps_.query->RefreshLakesNamedIn(command.query, CurrentCall::Get()));
  ARROW_ASSIGN_OR_RAISE(auto lease, LeaseIn(connection, UseOf("running", command.query), command.transaction_id, txn));
  // One statement per call, judged by the sandbox (which also refuses transaction
  // control and scripts) before it runs.
  return RunWrite(lease, /*all_or_nothing=*/false, [&] {
    return lease.ExecuteUpdate(command.query, *SqlCaller(), CurrentCall::Get().cancellation);
  });
}

arrow::Result<std::unique_ptr<fl::FlightInfo>> FlightSqlService::RunNow(
    const std::shared_ptr<StatementEntry>& entry, query::SessionLease& lease,
    const fl::FlightDescriptor& descriptor) {
  const auto& cancel = CurrentCall::Get().cancellation;
  auto* statement = entry->statement.get();
  const auto& params = entry->parameters;
  ARROW_RETURN_NOT_OK(statement->RequireBinding(params.get()));
  // Many parameter rows are all or nothing, unless the client's transaction decides.
  const bool many_rows = params != nullptr && params->num_rows() > 1;
  auto result = RunWrite(lease, many_rows, [&]() -> arrow::Result<int64_t> {
    if (params == nullptr || params->num_rows() == 0) {
      return statement->ExecuteUpdate(lease, cancel);
    }
    int64_t total = 0;
    for (int64_t row = 0; row < params->num_rows(); ++row) {
      ARROW_RETURN_NOT_OK(statement->Bind(lease, *params, row));
      ARROW_ASSIGN_OR_RAISE(auto rows, statement->ExecuteUpdate(lease, cancel));
      total += rows;
    }
    return total;
  });
  ARROW_ASSIGN_OR_RAISE(const int64_t changed, std::move(result));
  // No endpoint: there is nothing to fetch, and nothing runs again at DoGet.
  ARROW_ASSIGN_OR_RAISE(auto info, fl::FlightInfo::Make(*statement->dataset_schema(),
                                                        descriptor, {}, changed, -1));
  return std::make_unique<fl::FlightInfo>(std::move(info));
}

}  // namespace arrowport::flight::sql
