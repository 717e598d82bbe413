// FlightSqlService: ad-hoc statements (CommandStatementQuery, CommandStatementUpdate).
#include <arrow/flight/api.h>
#include <nlohmann/json.hpp>

#include "arrow/record_batch.h"
#include "arrowport/common/client_principal.h"
#include "arrowport/flight/sql/current_call.h"
#include "arrowport/flight/sql/flight_sql_service.h"
#include "arrowport/query/query_pipeline.h"
#include "arrowport/storage/connection.h"
#include "arrowport/storage/database.h"
#include "arrowport/storage/prepared_statement.h"

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
  std::shared_ptr<TransactionEntry> txn;
  ARROW_ASSIGN_OR_RAISE(auto conn, ConnectionFor(context, command.transaction_id, &txn));
  std::unique_lock<std::mutex> txn_lock;
  if (txn) txn_lock = std::unique_lock<std::mutex>(txn->mutex);
  auto entry = std::make_shared<StatementEntry>();
  entry->transaction_id = command.transaction_id;
  entry->shared = txn;
  ARROW_ASSIGN_OR_RAISE(entry->statement,
                        storage::PreparedStatement::Make(conn, command.query, SqlCaller().get()));
  if (!entry->statement->returns_rows()) {
    // DDL/DML down the query path (JDBC execute, ADBC cursor.execute): runs here, once.
    if (txn_lock.owns_lock()) txn_lock.unlock();
    return RunNow(entry, descriptor);
  }
  ARROW_ASSIGN_OR_RAISE(auto ticket, StatementTicket(command.query, command.transaction_id));
  return InfoWithTicket(*entry->statement->dataset_schema(), descriptor, std::move(ticket));
}

arrow::Result<std::unique_ptr<fl::SchemaResult>> FlightSqlService::GetSchemaStatement(
    const fl::ServerCallContext& context, const fsql::StatementQuery& command,
    const fl::FlightDescriptor& descriptor) {
  std::shared_ptr<TransactionEntry> txn;
  ARROW_ASSIGN_OR_RAISE(auto conn, ConnectionFor(context, command.transaction_id, &txn));
  std::unique_lock<std::mutex> txn_lock;
  if (txn) txn_lock = std::unique_lock<std::mutex>(txn->mutex);
  ARROW_ASSIGN_OR_RAISE(auto statement,
                        storage::PreparedStatement::Make(conn, command.query, SqlCaller().get()));
  return fl::SchemaResult::Make(*statement->dataset_schema());
}

arrow::Result<std::unique_ptr<fl::FlightDataStream>> FlightSqlService::DoGetStatement(
    const fl::ServerCallContext& context, const fsql::StatementQueryTicket& command) {
  auto handle = json::parse(command.statement_handle, nullptr, /*allow_exceptions=*/false);
  if (!handle.is_object() || !handle.contains("sql") || !handle["sql"].is_string()) {
    return arrow::Status::Invalid("malformed Flight SQL statement ticket");
  }
  const std::string sql = handle["sql"].get<std::string>();
  const std::string txn_id = handle.value("txn", "");
  const CallContext& call = CurrentCall::Get();
  std::shared_ptr<arrow::RecordBatchReader> reader;
  if (txn_id.empty() && PinnedFor(context) == nullptr) {
    // The shared read path: its own connection, streaming, cancellable.
    query::QueryRequest request;
    request.sql = sql;
    ARROW_ASSIGN_OR_RAISE(reader, deps_.query->Execute(request, call));
  } else {
    std::shared_ptr<TransactionEntry> txn;
    ARROW_ASSIGN_OR_RAISE(auto conn, ConnectionFor(context, txn_id, &txn));
    ARROW_ASSIGN_OR_RAISE(auto statement, storage::PreparedStatement::Make(conn, sql, SqlCaller().get()));
    storage::QueryOptions options;
    options.batch_rows = deps_.batch_rows;
    options.cancellation = call.cancellation;
    ARROW_ASSIGN_OR_RAISE(reader, storage::PreparedStatement::Query(statement, options));
  }
  return std::make_unique<fl::RecordBatchStream>(std::move(reader));
}

arrow::Result<int64_t> FlightSqlService::DoPutCommandStatementUpdate(
    const fl::ServerCallContext& context, const fsql::StatementUpdate& command) {
  std::shared_ptr<TransactionEntry> txn;
  ARROW_ASSIGN_OR_RAISE(auto conn, ConnectionFor(context, command.transaction_id, &txn));
  std::unique_lock<std::mutex> txn_lock;
  if (txn) txn_lock = std::unique_lock<std::mutex>(txn->mutex);
  // One statement per call, judged by the sandbox (which also refuses transaction
  // control and scripts) before it runs.
  auto interrupt = conn->InterruptOn(CurrentCall::Get().cancellation);
  return conn->ExecuteUpdate(command.query, *SqlCaller());
}

arrow::Result<std::unique_ptr<fl::FlightInfo>> FlightSqlService::RunNow(
    const std::shared_ptr<StatementEntry>& entry, const fl::FlightDescriptor& descriptor) {
  std::lock_guard<std::mutex> lock(entry->mutex);
  std::unique_lock<std::mutex> shared_lock;
  if (entry->shared) shared_lock = std::unique_lock<std::mutex>(entry->shared->mutex);
  const auto& cancel = CurrentCall::Get().cancellation;
  auto* statement = entry->statement.get();
  const auto& params = entry->parameters;
  ARROW_RETURN_NOT_OK(RequireBinding(*statement, params.get()));
  // Many parameter rows are all or nothing, unless the client's transaction decides.
  const bool own_transaction =
      !statement->connection()->in_transaction() && params != nullptr &&
      params->num_rows() > 1;
  if (own_transaction) ARROW_RETURN_NOT_OK(statement->connection()->Begin());
  auto run = [&]() -> arrow::Result<int64_t> {
    if (params == nullptr || params->num_rows() == 0) return statement->ExecuteUpdate(cancel);
    int64_t total = 0;
    for (int64_t row = 0; row < params->num_rows(); ++row) {
      ARROW_RETURN_NOT_OK(statement->Bind(*params, row));
      ARROW_ASSIGN_OR_RAISE(auto rows, statement->ExecuteUpdate(cancel));
      total += rows;
    }
    return total;
  };
  auto result = run();
  if (!result.ok() && !own_transaction && params != nullptr && params->num_rows() > 1) {
    // Rows before the failure ran in the client's transaction: it must not commit half.
    statement->connection()->AbortTransaction();
  }
  if (own_transaction) {
    if (result.ok()) {
      auto st = statement->connection()->Commit();
      if (!st.ok()) result = st;
    }
    if (!result.ok()) statement->connection()->Rollback();
  }
  ARROW_ASSIGN_OR_RAISE(const int64_t changed, std::move(result));
  // No endpoint: there is nothing to fetch, and nothing runs again at DoGet.
  ARROW_ASSIGN_OR_RAISE(auto info, fl::FlightInfo::Make(*statement->dataset_schema(),
                                                        descriptor, {}, changed, -1));
  return std::make_unique<fl::FlightInfo>(std::move(info));
}

}  // namespace arrowport::flight::sql
