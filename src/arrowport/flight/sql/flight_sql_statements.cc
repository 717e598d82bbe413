// FlightSqlService: ad-hoc statements (CommandStatementQuery, CommandStatementUpdate).
#include <arrow/flight/api.h>
#include <nlohmann/json.hpp>

#include <utility>

#include "arrow/record_batch.h"
#include "arrowport/flight/sql/current_call.h"
#include "arrowport/flight/sql/flight_sql_service.h"
#include "arrowport/query/query_pipeline.h"
#include "arrowport/query/prepared_query.h"
#include "arrowport/query/session_connection.h"

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

}  // namespace

arrow::Result<std::unique_ptr<fl::FlightInfo>> FlightSqlService::GetFlightInfoStatement(
    const fl::ServerCallContext& context, const fsql::StatementQuery& command,
    const fl::FlightDescriptor& descriptor) {
  ARROW_ASSIGN_OR_RAISE(const Caller caller, CallerOf(context, false));
  std::shared_ptr<TransactionEntry> txn;
  ARROW_ASSIGN_OR_RAISE(auto connection, ConnectionFor(caller, command.transaction_id, &txn));
  ARROW_ASSIGN_OR_RAISE(auto lease, LeaseIn(connection, UseOf("preparing", command.query),
                                            command.transaction_id, txn));
  auto entry = std::make_shared<StatementEntry>();
  entry->transaction_id = command.transaction_id;
  entry->shared = txn;
  ARROW_ASSIGN_OR_RAISE(entry->statement,
                        deps_.query->Prepare(lease, command.query, CurrentCall::Get()));
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
  ARROW_ASSIGN_OR_RAISE(auto plan, deps_.query->PlanWholeTableRead(sql, CurrentCall::Get()));
  if (!plan) return nullptr;
  const int64_t rows = plan->rows;
  const bool ordered = plan->ordered;
  auto endpoints = deps_.endpoints_of ? deps_.endpoints_of(std::move(*plan))
                                      : EndpointsOf(std::move(plan->tickets));
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
  ARROW_ASSIGN_OR_RAISE(auto lease, LeaseIn(connection, UseOf("preparing", command.query),
                                            command.transaction_id, txn));
  ARROW_ASSIGN_OR_RAISE(auto statement,
                        deps_.query->Prepare(lease, command.query, CurrentCall::Get()));
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
                          deps_.query->Execute(std::move(lease), sql, call, deps_.batch_rows));
  }
  return std::make_unique<fl::RecordBatchStream>(std::move(reader));
}

arrow::Result<int64_t> FlightSqlService::DoPutCommandStatementUpdate(
    const fl::ServerCallContext& context, const fsql::StatementUpdate& command) {
  ARROW_ASSIGN_OR_RAISE(const Caller caller, CallerOf(context, false));
  std::shared_ptr<TransactionEntry> txn;
  ARROW_ASSIGN_OR_RAISE(auto connection, ConnectionFor(caller, command.transaction_id, &txn));
  ARROW_ASSIGN_OR_RAISE(auto lease, LeaseIn(connection, UseOf("running", command.query),
                                            command.transaction_id, txn));
  return deps_.query->ExecuteUpdate(lease, command.query, CurrentCall::Get());
}

arrow::Result<std::unique_ptr<fl::FlightInfo>> FlightSqlService::RunNow(
    const std::shared_ptr<StatementEntry>& entry, query::SessionLease& lease,
    const fl::FlightDescriptor& descriptor) {
  auto* statement = entry->statement.get();
  std::shared_ptr<arrow::RecordBatch> params = entry->parameters;
  ARROW_RETURN_NOT_OK(statement->RequireBinding(params.get()));
  query::PreparedWrite write;
  write.statement = entry->statement;
  // The bound rows, once.
  write.next_rows = [&params] { return std::exchange(params, nullptr); };
  // Many parameter rows are all or nothing, unless the client's transaction decides.
  write.all_or_nothing = params != nullptr && params->num_rows() > 1;
  ARROW_ASSIGN_OR_RAISE(const int64_t changed,
                        deps_.query->ExecuteUpdate(lease, write, CurrentCall::Get()));
  // No endpoint: there is nothing to fetch, and nothing runs again at DoGet.
  ARROW_ASSIGN_OR_RAISE(auto info, fl::FlightInfo::Make(*statement->dataset_schema(),
                                                        descriptor, {}, changed, -1));
  return std::make_unique<fl::FlightInfo>(std::move(info));
}

}  // namespace arrowport::flight::sql
