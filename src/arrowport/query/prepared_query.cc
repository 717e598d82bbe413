// PreparedQuery, and QueryPipeline::ExecutePrepared, which streams its results.
#include "arrowport/query/prepared_query.h"

#include "arrow/record_batch.h"
#include "arrowport/common/client_principal.h"
#include "arrowport/common/sized_batches.h"
#include "arrowport/query/query_pipeline.h"
#include "arrowport/query/session_connection.h"
#include "arrowport/storage/database/connection.h"
#include "arrowport/storage/database/database.h"
#include "arrowport/storage/database/prepared_statement.h"
#include "arrowport/storage/database/shared_connection.h"

namespace arrowport::query {

const int64_t kPreparedBytesPerSqlByte = storage::kPlanBytesPerSqlByte;

PreparedQuery::PreparedQuery(std::shared_ptr<SessionConnection> connection,
                             std::shared_ptr<storage::PreparedStatement> statement)
    : connection_(std::move(connection)), statement_(std::move(statement)) {}

PreparedQuery::~PreparedQuery() = default;

arrow::Result<std::shared_ptr<PreparedQuery>> PreparedQuery::Make(
    SessionLease& lease, const std::string& sql, const Principal* principal,
    const std::shared_ptr<CallCancellation>& cancellation) {
  ARROW_ASSIGN_OR_RAISE(
      auto statement,
      storage::PreparedStatement::Make(lease.storage_lease(StorageAccess{}), sql,
                                       principal, cancellation));
  return std::shared_ptr<PreparedQuery>(
      new PreparedQuery(lease.connection(), std::move(statement)));
}

const std::string& PreparedQuery::sql() const { return statement_->sql(); }
bool PreparedQuery::returns_rows() const { return statement_->returns_rows(); }
bool PreparedQuery::read_only() const { return statement_->read_only(); }
bool PreparedQuery::result_types_unresolved() const {
  return statement_->result_types_unresolved();
}
const std::shared_ptr<arrow::Schema>& PreparedQuery::dataset_schema() const {
  return statement_->dataset_schema();
}
int64_t PreparedQuery::held_plan_bytes() const { return statement_->held_plan_bytes(); }
const std::shared_ptr<arrow::Schema>& PreparedQuery::parameter_schema() const {
  return statement_->parameter_schema();
}
int PreparedQuery::num_parameters() const { return statement_->num_parameters(); }

arrow::Status PreparedQuery::Bind(SessionLease& lease,
                                  const arrow::RecordBatch& parameters, int64_t row) {
  return statement_->Bind(lease.storage_lease(StorageAccess{}), parameters, row);
}

arrow::Status PreparedQuery::ClearBindings(SessionLease& lease) {
  return statement_->ClearBindings(lease.storage_lease(StorageAccess{}));
}

arrow::Result<std::shared_ptr<arrow::Schema>> PreparedQuery::ResultSchemaWithBindings(
    SessionLease& lease) {
  return statement_->ResultSchemaWithBindings(lease.storage_lease(StorageAccess{}));
}

arrow::Result<int64_t> PreparedQuery::ExecuteUpdate(
    SessionLease& lease, const std::shared_ptr<CallCancellation>& cancel) {
  return statement_->ExecuteUpdate(lease.storage_lease(StorageAccess{}), cancel);
}

arrow::Status PreparedQuery::RequireBinding(const arrow::RecordBatch* params) const {
  if (num_parameters() == 0 || (params != nullptr && params->num_rows() > 0)) {
    return arrow::Status::OK();
  }
  return arrow::Status::Invalid(
      "the statement has ", num_parameters(),
      " parameter(s) but no parameter values are bound (the last parameter batch bound "
      "had no rows, or none was sent)");
}

arrow::Status PreparedQuery::CheckParameters(const arrow::RecordBatch& params) const {
  if (params.num_columns() != num_parameters()) {
    return arrow::Status::Invalid(
        "parameter batch has ", params.num_columns(), " column(s) (",
        params.schema()->ToString(), ") but the statement has ", num_parameters(),
        " parameter(s) (", parameter_schema()->ToString(), ")");
  }
  return arrow::Status::OK();
}

namespace {

// A prepared query run once per bound parameter row, results streamed one after the
// other (ADBC binds many rows for one query as executemany does for updates). Outside a
// client transaction, several rows run in one transaction of their own: a statement that
// writes (INSERT ... RETURNING) keeps all rows or none, committed when the stream ends.
// It owns the lease of the statement's connection until its last batch.
class ParameterRowsReader : public arrow::RecordBatchReader, public SizedBatches {
 public:
  static arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> Make(
      StorageAccess access, std::shared_ptr<PreparedQuery> statement,
      std::shared_ptr<arrow::RecordBatch> params, SessionLease lease,
      storage::QueryOptions options, std::shared_ptr<void> holder) {
    auto reader = std::shared_ptr<ParameterRowsReader>(
        new ParameterRowsReader(access, std::move(statement), std::move(params),
                                std::move(lease), std::move(options)));
    reader->holder_ = std::move(holder);
    ARROW_RETURN_NOT_OK(reader->statement_->RequireBinding(reader->params_.get()));
    if (!reader->storage().in_transaction() && reader->params_ &&
        reader->params_->num_rows() > 1) {
      ARROW_RETURN_NOT_OK(reader->storage().Begin());
      reader->own_transaction_ = true;
    }
    ARROW_RETURN_NOT_OK(reader->Fail(reader->StartRow()));
    reader->schema_ = reader->current_->schema();
    // Its rows flow: a commit may stop a read (between chunks), never a write.
    if (reader->statement_->read_only()) {
      reader->storage().MarkReadingResult();
    }
    return reader;
  }

  ~ParameterRowsReader() override {
    current_ = nullptr;
    // Not read to its end: nothing of our own transaction is kept, and the client's
    // must not commit some of the parameter rows.
    if (own_transaction_) (void)storage().RollbackOrDiscard();
    if (lease_) AbortIfHalfDone();
  }

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  // The row's result that returned the last batch measured it (the metering reader
  // above takes the figure instead of measuring again).
  int64_t last_batch_bytes() const override {
    const auto* sized = dynamic_cast<const SizedBatches*>(current_.get());
    return sized != nullptr ? sized->last_batch_bytes() : -1;
  }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    *out = nullptr;
    if (!lease_) return arrow::Status::OK();  // finished
    while (true) {
      if (current_ == nullptr) return Finish();
      ARROW_RETURN_NOT_OK(Fail(current_->ReadNext(out)));
      if (*out != nullptr) return arrow::Status::OK();
      ARROW_RETURN_NOT_OK(Fail(current_->Close()));
      current_ = nullptr;
      if (params_ && row_ < params_->num_rows()) ARROW_RETURN_NOT_OK(Fail(StartRow()));
    }
  }

  arrow::Status Close() override {
    if (current_) ARROW_RETURN_NOT_OK(current_->Close());
    current_ = nullptr;
    return arrow::Status::OK();
  }

 private:
  ParameterRowsReader(StorageAccess access, std::shared_ptr<PreparedQuery> statement,
                      std::shared_ptr<arrow::RecordBatch> params, SessionLease lease,
                      storage::QueryOptions options)
      : access_(access),
        lease_(std::move(lease)),
        statement_(std::move(statement)),
        options_(std::move(options)),
        params_(std::move(params)) {}

  storage::ConnectionLease& storage() { return lease_.storage_lease(access_); }

  // A failed row rolls back the rows before it (when they run in our transaction), and
  // the connection is free again.
  arrow::Status Fail(arrow::Status st) {
    if (st.ok()) return st;
    current_ = nullptr;
    AbortIfHalfDone();
    if (own_transaction_) {
      own_transaction_ = false;
      auto rolled_back = storage().RollbackOrDiscard();
      if (!rolled_back.ok()) {
        st = st.WithMessage(st.message(), "; ", rolled_back.message());
      }
    }
    lease_.Release();
    return st;
  }

  // Some of many parameter rows of a write ran in the client's transaction (cancelled,
  // closed or failed before the rest): the transaction must not commit half of them. A
  // read stopped half way changed nothing.
  void AbortIfHalfDone() {
    if (!own_transaction_ && params_ && params_->num_rows() > 1 && row_ > 0 &&
        !statement_->read_only()) {
      storage().AbortTransaction();
    }
  }

  // The last batch is out: our own transaction commits, the connection is free again.
  arrow::Status Finish() {
    arrow::Status st;
    if (own_transaction_) {
      own_transaction_ = false;
      st = storage().Commit();
    }
    lease_.Release();
    return st;
  }

  arrow::Status StartRow() {
    if (params_ && params_->num_rows() > 0) {
      ARROW_RETURN_NOT_OK(statement_->Bind(lease_, *params_, row_));
    }
    ++row_;
    ARROW_ASSIGN_OR_RAISE(current_, storage::PreparedStatement::Query(
                                        statement_->storage_statement(access_),
                                        storage(), options_));
    return arrow::Status::OK();
  }

  StorageAccess access_;  // given by the pipeline that made this reader
  SessionLease lease_;  // declared before the results: outlives every result read under it
  std::shared_ptr<void> holder_;
  std::shared_ptr<PreparedQuery> statement_;
  storage::QueryOptions options_;
  std::shared_ptr<arrow::RecordBatch> params_;
  int64_t row_ = 0;
  bool own_transaction_ = false;
  std::shared_ptr<arrow::RecordBatchReader> current_;
  std::shared_ptr<arrow::Schema> schema_;
};

}  // namespace

arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> QueryPipeline::ExecutePrepared(
    std::shared_ptr<PreparedQuery> statement, std::shared_ptr<arrow::RecordBatch> params,
    SessionLease lease, const CallContext& call, int64_t batch_rows,
    std::shared_ptr<void> holder) {
  if (!lease) return arrow::Status::Invalid("internal: a query on an empty session lease");
  if (statement) ARROW_RETURN_NOT_OK(RefreshLakesNamedIn(statement->sql(), call));
  storage::QueryOptions options;
  options.batch_rows = batch_rows;
  options.cancellation = call.cancellation;
  options.progress = WatchedProgress(call);
  ARROW_ASSIGN_OR_RAISE(auto reader,
                        ParameterRowsReader::Make(StorageAccess{}, std::move(statement),
                                                  std::move(params), std::move(lease),
                                                  std::move(options), std::move(holder)));
  return Metered(std::move(reader), call);
}

}  // namespace arrowport::query
