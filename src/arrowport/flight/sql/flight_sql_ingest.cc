// FlightSqlService: bulk ingest (CommandStatementIngest, ADBC adbc_ingest).
#include <arrow/flight/api.h>

#include "arrow/record_batch.h"
#include "arrowport/auth/access_policy.h"
#include "arrowport/flight/sql/current_call.h"
#include "arrowport/flight/sql/flight_sql_service.h"
#include "arrowport/ingest/ingest_pipeline.h"
#include "arrowport/query/query_pipeline.h"
#include "arrowport/query/session_connection.h"

namespace arrowport::flight::sql {

namespace fl = arrow::flight;
namespace fsql = arrow::flight::sql;

namespace {

using NotExist = fsql::TableDefinitionOptionsTableNotExistOption;
using Exists = fsql::TableDefinitionOptionsTableExistsOption;

// The ingest stream of a DoPut. gRPC ends the read side the same way whether the client
// finished or vanished; only the call's cancelled flag tells them apart, and an
// unfinished request must never commit as if complete.
class IngestSource : public arrow::RecordBatchReader {
 public:
  IngestSource(fl::FlightMessageReader* reader, const fl::ServerCallContext* call,
               std::shared_ptr<arrow::Schema> schema)
      : reader_(reader), call_(call), schema_(std::move(schema)) {}
  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    while (true) {
      ARROW_ASSIGN_OR_RAISE(auto chunk, reader_->Next());
      *out = chunk.data;
      if (chunk.data != nullptr || chunk.app_metadata == nullptr) break;
    }
    if (*out == nullptr && call_->is_cancelled()) {
      return arrow::Status::Cancelled("the ingest was cancelled before the client finished "
                                      "sending (client gone, deadline or server shutdown)");
    }
    return arrow::Status::OK();
  }

 private:
  fl::FlightMessageReader* reader_;
  const fl::ServerCallContext* call_;
  std::shared_ptr<arrow::Schema> schema_;
};

arrow::Result<ingest::WriteMode> ModeOf(const fsql::TableDefinitionOptions& options,
                                        bool exists) {
  if (!exists) {
    if (options.if_not_exist == NotExist::kFail) {
      return arrow::Status::KeyError("the target table does not exist (ingest mode append "
                                     "needs an existing table; use create or create_append)");
    }
    return ingest::WriteMode::kCreate;
  }
  switch (options.if_exists) {
    case Exists::kReplace: return ingest::WriteMode::kReplace;
    case Exists::kAppend: return ingest::WriteMode::kAppend;
    case Exists::kFail:
    case Exists::kUnspecified:
      break;
  }
  return arrow::Status::AlreadyExists("the target table already exists (ingest mode create; "
                                      "use append, replace or create_append)");
}

}  // namespace

arrow::Result<int64_t> FlightSqlService::DoPutCommandStatementIngest(
    const fl::ServerCallContext& context, const fsql::StatementIngest& command,
    fl::FlightMessageReader* reader) {
  // Everything that can refuse the request by its names is checked before a session
  // connection is pinned for it.
  ingest::IngestRequest request;
  ARROW_ASSIGN_OR_RAISE(const std::string target,
                        deps_.ingest->SetClientTarget(&request, command.catalog.value_or(""),
                                                      command.schema.value_or(""),
                                                      command.table, command.temporary));
  request.protocol = "flight_sql";
  // The table's name is the stream: a writer limited to streams may ingest only those,
  // and a table outside schema main only when its qualified name is listed.
  request.stream = command.table;
  ARROW_RETURN_NOT_OK(auth::AccessPolicy::WriteStream(CurrentCall::Get().principal.get(),
                                                      request.stream, target));
  ARROW_ASSIGN_OR_RAISE(const Caller caller, CallerOf(context, false));
  ARROW_ASSIGN_OR_RAISE(auto session, IngestConnection(caller, command));
  // On a session's or transaction's connection the whole ingest holds its lease.
  query::SessionLease lease;
  if (session != nullptr) {
    ARROW_ASSIGN_OR_RAISE(lease, LeaseIn(session->connection,
                                         UseOf("an ingest into", command.table),
                                         command.transaction_id.value_or(""), session));
  }
  // Without a session's connection the pipeline writes on a connection of its own.
  ARROW_ASSIGN_OR_RAISE(const bool exists,
                        deps_.ingest->TargetExists(request, session ? &lease : nullptr));
  ARROW_ASSIGN_OR_RAISE(request.mode, ModeOf(command.table_definition_options, exists));
  ARROW_ASSIGN_OR_RAISE(auto run, deps_.ingest->Begin(std::move(request)));
  ARROW_ASSIGN_OR_RAISE(auto schema, reader->GetSchema());
  auto source = std::make_shared<IngestSource>(reader, &context, std::move(schema));
  ARROW_ASSIGN_OR_RAISE(auto result,
                        deps_.ingest->Ingest(std::move(run), source, {}, CurrentCall::Get(),
                                             session != nullptr ? &lease : nullptr));
  return result.rows;
}

arrow::Result<std::shared_ptr<TransactionEntry>> FlightSqlService::IngestConnection(
    const Caller& caller, const fsql::StatementIngest& command) {
  if (command.transaction_id && !command.transaction_id->empty()) {
    ARROW_ASSIGN_OR_RAISE(auto txn,
                          deps_.registry->FindTransaction(*command.transaction_id, caller));
    // A temporary table made in a transaction outlives it on its session's connection.
    if (command.temporary) ARROW_RETURN_NOT_OK(deps_.registry->PinTransaction(txn, caller));
    return txn;
  }
  if (!command.temporary) return deps_.registry->Pinned(caller);
  // A temporary table lives on one DuckDB connection: the session's, pinned from now on.
  // Cookie-keeping clients have a session from their first SqlInfo read.
  if (caller.session.empty()) {
    return arrow::Status::Invalid(
        "a temporary table lives on your Flight SQL session's DuckDB connection, and this "
        "call carries no session cookie: keep the server's cookies (ADBC: set "
        "adbc.flight.sql.rpc.with_cookie_middleware=true; the JDBC driver keeps them), or "
        "ingest inside a transaction (the table then lasts until it ends)");
  }
  return deps_.registry->Pin(caller, [this] { return deps_.query->OpenSession(); });
}

}  // namespace arrowport::flight::sql
