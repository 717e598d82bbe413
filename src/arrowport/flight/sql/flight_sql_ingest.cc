// FlightSqlService: bulk ingest (CommandStatementIngest, ADBC adbc_ingest).
#include <arrow/flight/api.h>

#include "arrow/record_batch.h"
#include "arrowport/auth/access_policy.h"
#include "arrowport/flight/sql/current_call.h"
#include "arrowport/flight/sql/flight_sql_service.h"
#include "arrowport/ingest/ingest_pipeline.h"
#include "arrowport/storage/connection.h"
#include "arrowport/storage/database.h"

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
  if (command.temporary) {
    // A DuckDB temporary table lives on the connection that made it. The ingest pipeline
    // writes on its own connections (it must: streaming, table locks, per_request
    // atomicity), and a Flight SQL session has no connection of its own either (each
    // statement outside a transaction runs on a fresh one), so the client's next statement
    // could never see the table: refused rather than silently lost.
    return arrow::Status::NotImplemented(
        "temporary ingest tables are not supported: a DuckDB temporary table exists only "
        "on the connection that created it, and Arrowport's ingest pipeline and each of "
        "your later statements run on other connections, so you could never read it; "
        "ingest into a regular table (and drop it when done)");
  }
  if (command.transaction_id && !command.transaction_id->empty()) {
    return arrow::Status::NotImplemented(
        "ingest inside a transaction is not supported: the ingest pipeline commits on its "
        "own connection; ingest with autocommit on");
  }
  if (command.schema && !command.schema->empty() && *command.schema != "main") {
    return arrow::Status::NotImplemented(
        "ingest into DuckDB schema '", *command.schema, "' is not supported: the ingest "
        "pipeline (Flight DoPut, HTTP, Flight SQL) writes tables of schema main only; "
        "leave db_schema_name unset or 'main'");
  }
  // The target table is the stream: a writer limited to streams may ingest only those.
  ARROW_RETURN_NOT_OK(auth::AccessPolicy::WriteStream(CurrentCall::Get().principal.get(),
                                                      command.table, command.table));
  ingest::IngestRequest request;
  request.stream = command.table;
  request.table = command.table;
  request.protocol = "flight_sql";
  {
    ARROW_ASSIGN_OR_RAISE(auto conn, deps_.database->Connect());
    if (command.catalog && !command.catalog->empty() && *command.catalog != conn->catalog()) {
      return arrow::Status::NotImplemented("ingest targets catalog '", conn->catalog(),
                                           "'; got catalog '", *command.catalog, "'");
    }
    ARROW_ASSIGN_OR_RAISE(auto columns, conn->DescribeRelation(command.table));
    ARROW_ASSIGN_OR_RAISE(request.mode,
                          ModeOf(command.table_definition_options, columns.has_value()));
  }
  ARROW_ASSIGN_OR_RAISE(auto schema, reader->GetSchema());
  auto source = std::make_shared<IngestSource>(reader, &context, std::move(schema));
  ARROW_ASSIGN_OR_RAISE(auto result,
                        deps_.ingest->Ingest(request, source, {}, CurrentCall::Get()));
  return result.rows;
}

}  // namespace arrowport::flight::sql
