// FlightSqlService: prepared statements (create, bind by DoPut, query, update, close).
#include <arrow/flight/api.h>

#include "arrow/record_batch.h"
#include "arrow/table.h"
#include "arrow/util/byte_size.h"
#include "arrowport/common/aligned_batch.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/flight/sql/current_call.h"
#include "arrowport/flight/sql/flight_sql_service.h"
#include "arrowport/query/query_pipeline.h"
#include "arrowport/query/prepared_query.h"
#include "arrowport/query/session_connection.h"

namespace arrowport::flight::sql {

namespace fl = arrow::flight;
namespace fsql = arrow::flight::sql;

namespace {

// Parameter rows bound to a query are kept until it runs: bounded, unlike the rows of an
// update, which are executed as they arrive.
constexpr int64_t kMaxQueryParameterBytes = int64_t{64} << 20;

// A parameter batch as received, ready for Bind, which reads its values one by one: like
// every ingested batch, aligned (zero-copy decoding leaves buffers at any address) and
// fully validated (a bad offset would be a read outside the buffer).
arrow::Result<std::shared_ptr<arrow::RecordBatch>> CheckedParameters(
    std::shared_ptr<arrow::RecordBatch> batch) {
  ARROW_ASSIGN_OR_RAISE(batch, AlignBuffers(std::move(batch)));
  auto valid = batch->ValidateFull();
  if (!valid.ok()) {
    return arrow::Status::Invalid("query parameters are not valid Arrow: ", valid.message());
  }
  return batch;
}

// Every parameter row the client sent, as one batch.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> ReadParameters(
    fl::FlightMessageReader* reader, int64_t* total_bytes) {
  ARROW_ASSIGN_OR_RAISE(auto schema, reader->GetSchema());
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  int64_t bytes = 0;
  while (true) {
    ARROW_ASSIGN_OR_RAISE(auto chunk, reader->Next());
    if (chunk.data == nullptr) break;
    bytes += arrow::util::TotalBufferSize(*chunk.data);
    if (bytes > kMaxQueryParameterBytes) {
      return TooLarge("query parameters larger than ", kMaxQueryParameterBytes >> 20,
                      " MiB; bind fewer rows per execution");
    }
    ARROW_ASSIGN_OR_RAISE(chunk.data, CheckedParameters(std::move(chunk.data)));
    batches.push_back(std::move(chunk.data));
  }
  *total_bytes = bytes;
  ARROW_ASSIGN_OR_RAISE(auto table, arrow::Table::FromRecordBatches(schema, batches));
  return table->CombineChunksToBatch();
}

}  // namespace

arrow::Result<fsql::ActionCreatePreparedStatementResult>
FlightSqlService::CreatePreparedStatement(
    const fl::ServerCallContext& context,
    const fsql::ActionCreatePreparedStatementRequest& request) {
  // Outside a transaction the statement owns its connection, so its results stream
  // while other statements run; inside one it runs on the transaction's connection, and
  // in a session with temporary tables on the session's.
  // Charged before DuckDB prepares it: its plan is what a long statement costs.
  const int64_t estimate =
      query::kPreparedBytesPerSqlByte * static_cast<int64_t>(request.query.size());
  ARROW_ASSIGN_OR_RAISE(const Caller caller, CallerOf(context, /*create=*/false));
  ARROW_ASSIGN_OR_RAISE(auto statement_charge,
                        deps_.registry->ChargeHeldBytes(estimate, caller.user));
  std::shared_ptr<TransactionEntry> txn;
  ARROW_ASSIGN_OR_RAISE(auto connection, ConnectionFor(caller, request.transaction_id, &txn));
  auto entry = std::make_shared<StatementEntry>();
  entry->statement_charge = std::move(statement_charge);
  entry->transaction_id = request.transaction_id;
  entry->shared = txn;
  {
    ARROW_ASSIGN_OR_RAISE(auto lease, LeaseIn(connection, UseOf("preparing", request.query),
                                              request.transaction_id, txn));
    ARROW_ASSIGN_OR_RAISE(entry->statement,
                          deps_.query->Prepare(lease, request.query, CurrentCall::Get()));
  }
  // A short text can name a wide table: what the plan holds (a 3,000-column table's,
  // 0.5 MB) is charged once known (a reader opened statements until DuckDB's memory was
  // full).
  const int64_t plan_bytes = entry->statement->held_plan_bytes();
  if (plan_bytes > estimate) {
    ARROW_ASSIGN_OR_RAISE(entry->plan_charge,
                          deps_.registry->ChargeHeldBytes(plan_bytes - estimate, caller.user));
  }
  entry->owner = Owner::Of(caller);
  fsql::ActionCreatePreparedStatementResult result;
  result.dataset_schema = entry->statement->dataset_schema();
  result.parameter_schema = entry->statement->parameter_schema();
  ARROW_ASSIGN_OR_RAISE(result.prepared_statement_handle,
                        deps_.registry->AddStatement(std::move(entry)));
  return result;
}

arrow::Status FlightSqlService::ClosePreparedStatement(
    const fl::ServerCallContext& context,
    const fsql::ActionClosePreparedStatementRequest& request) {
  ARROW_ASSIGN_OR_RAISE(const Caller caller, CallerOf(context, false));
  return deps_.registry->CloseStatement(request.prepared_statement_handle, caller);
}

arrow::Result<std::unique_ptr<fl::FlightInfo>> FlightSqlService::GetFlightInfoPreparedStatement(
    const fl::ServerCallContext& context, const fsql::PreparedStatementQuery& command,
    const fl::FlightDescriptor& descriptor) {
  ARROW_ASSIGN_OR_RAISE(const Caller caller, CallerOf(context, false));
  ARROW_ASSIGN_OR_RAISE(auto entry,
                        deps_.registry->FindStatement(command.prepared_statement_handle, caller));
  const auto& statement = entry->statement;
  // What runs here, and the parts of a whole lake table, see the lake's latest commit, as
  // at DoGet (the pipeline's verbs bring the views up to date): planned from the view as
  // it was prepared, another writer's files were left out of the parts, and CREATE TABLE
  // AS copied the old snapshot (an attack run).
  if (!statement->returns_rows()) {
    ARROW_ASSIGN_OR_RAISE(auto lease,
                          LeaseFor(*entry, UseOf("running", statement->sql())));
    return RunNow(entry, lease, descriptor);
  }
  std::shared_ptr<arrow::Schema> schema = statement->dataset_schema();
  if (statement->result_types_unresolved()) {
    // DuckDB types such a result only with its parameters (`SELECT ?`): planned with the
    // bound values, not run, so that the schema matches what DoGet streams and a
    // statement that writes (INSERT ... SELECT ? RETURNING *) writes once, at DoGet.
    ARROW_ASSIGN_OR_RAISE(auto lease,
                          LeaseFor(*entry, UseOf("describing", statement->sql())));
    ARROW_RETURN_NOT_OK(statement->RequireBinding(entry->parameters.get()));
    ARROW_ASSIGN_OR_RAISE(schema, statement->ResultSchemaWithBindings(lease));
  }
  // ADBC and JDBC prepare every query: a whole table is split here too.
  if (entry->transaction_id.empty() && entry->shared == nullptr &&
      statement->parameter_schema()->num_fields() == 0) {
    ARROW_ASSIGN_OR_RAISE(auto split, WholeTableInfo(statement->sql(), *schema, descriptor));
    if (split) return split;
  }
  // The descriptor's command (CommandPreparedStatementQuery) is the ticket.
  return InfoWithTicket(*schema, descriptor, descriptor.cmd);
}

arrow::Result<std::unique_ptr<fl::SchemaResult>> FlightSqlService::GetSchemaPreparedStatement(
    const fl::ServerCallContext& context, const fsql::PreparedStatementQuery& command,
    const fl::FlightDescriptor& descriptor) {
  ARROW_ASSIGN_OR_RAISE(const Caller caller, CallerOf(context, false));
  ARROW_ASSIGN_OR_RAISE(auto entry,
                        deps_.registry->FindStatement(command.prepared_statement_handle, caller));
  return fl::SchemaResult::Make(*entry->statement->dataset_schema());
}

arrow::Result<std::unique_ptr<fl::FlightDataStream>> FlightSqlService::DoGetPreparedStatement(
    const fl::ServerCallContext& context, const fsql::PreparedStatementQuery& command) {
  ARROW_ASSIGN_OR_RAISE(const Caller caller, CallerOf(context, false));
  ARROW_ASSIGN_OR_RAISE(auto entry,
                        deps_.registry->FindStatement(command.prepared_statement_handle, caller));
  if (!entry->statement->returns_rows()) {
    return arrow::Status::Invalid("this prepared statement returns no rows (it ran at "
                                  "GetFlightInfo); there is nothing to fetch");
  }
  ARROW_ASSIGN_OR_RAISE(auto lease, LeaseFor(*entry, UseOf("a result being read of", entry->statement->sql())));
  ARROW_ASSIGN_OR_RAISE(auto reader,
                        deps_.query->ExecutePrepared(entry->statement, entry->parameters,
                                                     std::move(lease), CurrentCall::Get(),
                                                     deps_.batch_rows, entry));
  return std::make_unique<fl::RecordBatchStream>(std::move(reader));
}

arrow::Status FlightSqlService::DoPutPreparedStatementQuery(
    const fl::ServerCallContext& context, const fsql::PreparedStatementQuery& command,
    fl::FlightMessageReader* reader, fl::FlightMetadataWriter* writer) {
  ARROW_ASSIGN_OR_RAISE(const Caller caller, CallerOf(context, false));
  ARROW_ASSIGN_OR_RAISE(auto entry,
                        deps_.registry->FindStatement(command.prepared_statement_handle, caller));
  int64_t bytes = 0;
  ARROW_ASSIGN_OR_RAISE(auto params, ReadParameters(reader, &bytes));
  ARROW_ASSIGN_OR_RAISE(auto lease, LeaseFor(*entry, UseOf("binding parameters of", entry->statement->sql())));
  // Whatever happens below, the previous binding is gone: a failed or empty bind must
  // never leave old values to run with.
  entry->parameters = nullptr;
  entry->parameters_charge = nullptr;
  ARROW_RETURN_NOT_OK(entry->statement->ClearBindings(lease));
  ARROW_RETURN_NOT_OK(entry->statement->CheckParameters(*params));
  if (params->num_rows() == 0) return arrow::Status::OK();
  ARROW_ASSIGN_OR_RAISE(auto charge,
                        deps_.registry->ChargeHeldBytes(bytes, entry->owner.user));
  // Bound now so a value DuckDB cannot take fails this call, not a later DoGet.
  ARROW_RETURN_NOT_OK(entry->statement->Bind(lease, *params, 0));
  entry->parameters = std::move(params);
  entry->parameters_charge = std::move(charge);
  return arrow::Status::OK();
}

arrow::Result<int64_t> FlightSqlService::DoPutPreparedStatementUpdate(
    const fl::ServerCallContext& context, const fsql::PreparedStatementUpdate& command,
    fl::FlightMessageReader* reader) {
  ARROW_ASSIGN_OR_RAISE(const Caller caller, CallerOf(context, false));
  ARROW_ASSIGN_OR_RAISE(auto entry,
                        deps_.registry->FindStatement(command.prepared_statement_handle, caller));
  ARROW_ASSIGN_OR_RAISE(auto lease,
                        LeaseFor(*entry, UseOf("running", entry->statement->sql())));
  query::PreparedWrite write;
  write.statement = entry->statement;
  // The rows as they arrive, each batch checked before any of its rows is bound.
  write.next_rows = [&]() -> arrow::Result<std::shared_ptr<arrow::RecordBatch>> {
    ARROW_ASSIGN_OR_RAISE(auto chunk, reader->Next());
    if (chunk.data == nullptr) {
      // gRPC ends the stream alike when the client finished and when it vanished: an
      // upload cut off must not count as complete.
      const auto& call_failed = CurrentCall::Get().call_failed;
      if (context.is_cancelled() || (call_failed && call_failed())) {
        return arrow::Status::Cancelled("the client went away before it finished sending "
                                        "parameter rows: none of them is kept");
      }
      return nullptr;
    }
    return CheckedParameters(std::move(chunk.data));
  };
  // Many rows (executemany) are all or nothing, unless the client's transaction decides.
  write.all_or_nothing = true;
  return deps_.query->ExecuteUpdate(lease, write, CurrentCall::Get());
}

}  // namespace arrowport::flight::sql
