#include "arrowport/storage/database/connection.h"

#include <duckdb.h>

#include <mutex>
#include <optional>
#include <utility>

#include "arrow/record_batch.h"
#include "arrow/table.h"
#include "arrowport/common/identifier.h"
#include "arrowport/common/schema_owning_stream.h"
#include "arrowport/storage/memory/allocation_guard.h"
#include "arrowport/storage/results/arrow_stream_view.h"
#include "arrowport/storage/database/connection_impl.h"
#include "arrowport/storage/core/duckdb_error.h"
#include "arrowport/storage/core/duckdb_handle.h"
#include "arrowport/storage/core/quiet_execution.h"
#include "arrowport/storage/results/result_batch_reader.h"
#include "arrowport/storage/results/result_sources.h"
#include "arrowport/storage/results/statement_binding.h"
#include "arrowport/storage/sandbox/statement_guard.h"
#include "arrowport/storage/core/duckdb_internals.h"

namespace arrowport::storage {

namespace {

// A transform's input as DuckDB reads it: DuckDB may scan from several threads, the
// client's stream is read by one at a time (a second scan fails: CreateSingleScanView).
class SerialInput : public arrow::RecordBatchReader {
 public:
  explicit SerialInput(std::shared_ptr<arrow::RecordBatchReader> inner)
      : inner_(std::move(inner)) {}
  std::shared_ptr<arrow::Schema> schema() const override { return inner_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    std::lock_guard<std::mutex> lock(mutex_);
    return inner_->ReadNext(out);
  }
  arrow::Status Close() override { return inner_->Close(); }

 private:
  std::shared_ptr<arrow::RecordBatchReader> inner_;
  std::mutex mutex_;
};

}  // namespace

Connection::Connection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Connection::~Connection() {
  if (impl_ && impl_->lender) {
    const auto lender = impl_->lender;  // alive while it decides
    lender->Keep(&impl_);
  }
  // The connection first (DuckDB rolls back its open transaction), then the holds that
  // transaction took: a reshape waiting on them must not start beside it.
  if (impl_) impl_->conn.reset();
}

arrow::Status Connection::Execute(const std::string& sql) {
  return ExecuteUpdate(sql).status();
}

arrow::Result<int64_t> Connection::ExecuteUpdate(const std::string& sql) {
  AllocationGuard::CommitScope committing;  // the server's own SQL
  ResultHandle result;
  if (duckdb_query(impl_->conn.get(), sql.c_str(), result.out()) == DuckDBError) {
    ARROW_RETURN_NOT_OK(UnlessCommitted(ResultError(result.ptr())));
  }
  return static_cast<int64_t>(duckdb_rows_changed(result.ptr()));
}

arrow::Result<int64_t> Connection::ExecuteBulkUpdate(const std::string& sql) {
  AllocationGuard::CommitScope committing;  // the server's own SQL
  PreparedHandle prepared;
  PendingHandle pending;
  if (duckdb_prepare(impl_->conn.get(), sql.c_str(), prepared.out()) == DuckDBError ||
      duckdb_pending_prepared(prepared.get(), pending.out()) == DuckDBError) {
    // DuckDB's own words and error type, as for any statement.
    return ExecuteUpdate(sql);
  }
  ResultHandle result;
  if (ExecutePendingQuietly(pending.get(), result.out()) == DuckDBError) {
    ARROW_RETURN_NOT_OK(UnlessCommitted(ResultError(result.ptr())));
  }
  return static_cast<int64_t>(duckdb_rows_changed(result.ptr()));
}

arrow::Status Connection::Impl::Rejudge(const std::string& sql, const Principal& principal,
                                         std::optional<TableIdentity>* whole_table,
                                         PreparedHandle* unplanned) {
  return StatementGuard(principal, catalog, direct_append, max_value_bytes, false,
                        parses.get())
      .Rejudge(conn.get(), sql, whole_table, unplanned);
}

arrow::Status Connection::Impl::Prepare(const std::string& sql, const Principal* principal,
                                         PreparedHandle* out, bool transform,
                                         Planning* at_run,
                                         std::vector<HeldTable>* held,
                                         TableIdentity* whole_table) {
  if (principal != nullptr) {
    // DuckDB's parse tree and plan of a client's SQL cost about kPlanBytesPerSqlByte per
    // byte of text: charged to the server's budget while it is made.
    MemoryBudget::Reservation planning;
    if (request_memory) {
      ARROW_ASSIGN_OR_RAISE(planning, request_memory->Reserve(
                                          kPlanBytesPerSqlByte * static_cast<int64_t>(sql.size()),
                                          "planning the statement"));
    }
    return StatementGuard(*principal, catalog, direct_append, max_value_bytes, transform,
                          parses.get())
        .Prepare(conn.get(), sql, out, at_run, held, whole_table);
  }
  if (duckdb_prepare(conn.get(), sql.c_str(), out->out()) == DuckDBError) {
    const char* error = duckdb_prepare_error(out->get());
    return TranslateDuckDBError(-1, error ? error : "cannot prepare statement");
  }
  return arrow::Status::OK();
}

arrow::Result<int64_t> Connection::ExecuteUpdate(
    const std::string& sql, const Principal& principal,
    const std::shared_ptr<CallCancellation>& cancellation) {
  PreparedHandle prepared;
  std::vector<HeldTable> held;
  ARROW_RETURN_NOT_OK(impl_->Prepare(sql, &principal, &prepared, false, nullptr, &held));
  // Held for the statement, or for the transaction it runs in.
  ARROW_ASSIGN_OR_RAISE(auto passes,
                        HoldAll(held, cancellation, ChangesStoredData(prepared.get())));
  ResultHandle result;
  // Outside a transaction an admin's DML commits as it ends; inside one its allocations
  // may be refused like any other (the transaction then rolls back).
  std::optional<AllocationGuard::CommitScope> committing;
  if (!in_transaction()) committing.emplace();
  if (duckdb_execute_prepared(prepared.get(), result.out()) == DuckDBError) {
    // Not UnlessCommitted: a client's SQL can raise any text (error('...')).
    return ResultError(result.ptr());
  }
  return static_cast<int64_t>(duckdb_rows_changed(result.ptr()));
}

const std::string& Connection::catalog() const { return impl_->catalog; }

arrow::Status Connection::Begin() {
  impl_->on_commit.clear();
  impl_->transaction_holds.clear();  // of a transaction DuckDB ended by itself
  impl_->read_snapshot = false;
  return RunStep(TransactionStep::kBegin);
}

arrow::Status Connection::BeginReadSnapshot() {
  ARROW_RETURN_NOT_OK(Begin());
  impl_->read_snapshot = true;
  return arrow::Status::OK();
}

arrow::Status Connection::Commit() {
  const bool read_snapshot = std::exchange(impl_->read_snapshot, false);
  // A transaction's writes were let in before the database's file went: its commit would
  // be acknowledged and lost at the next start (an attack run). Rolled back instead.
  std::string gone = impl_->disk && !read_snapshot ? impl_->disk->Check().file_gone : "";
  auto st = gone.empty() ? RunStep(TransactionStep::kCommit)
                         : arrow::Status::IOError("nothing of the transaction was committed: ",
                                                  gone);
  // DuckDB ends the transaction when COMMIT fails for a reason of its own (a conflict);
  // one it refused to start (an open result) would still be open: end that one too.
  if (!st.ok() && in_transaction()) (void)Rollback();
  auto hooks = std::move(impl_->on_commit);
  impl_->on_commit.clear();
  if (!in_transaction()) impl_->transaction_holds.clear();  // other writers may go on
  if (st.ok()) {
    for (const auto& hook : hooks) hook();
  }
  return st;
}

arrow::Status Connection::RunStep(TransactionStep step) {
  if (!impl_->direct_append) {
    return Execute(step == TransactionStep::kBegin    ? "BEGIN TRANSACTION"
                   : step == TransactionStep::kCommit ? "COMMIT"
                                                      : "ROLLBACK");
  }
  // A commit or rollback is never refused memory midway.
  AllocationGuard::CommitScope committing;
  auto st = RunTransactionStep(impl_->conn.get(), step);
  // Committed, and only the automatic checkpoint after it failed: the rows are in.
  return step == TransactionStep::kCommit ? UnlessCommitted(st) : st;
}

void Connection::OnCommit(std::function<void()> hook) {
  impl_->on_commit.push_back(std::move(hook));
}

bool Connection::in_transaction() const { return ExplicitTransactionOpen(impl_->conn.get()); }

std::string Connection::Qualified(const TableName& table) const {
  return table.Sql(impl_->catalog);
}

void Connection::AbortTransaction() {
  impl_->on_commit.clear();  // an aborted transaction never commits
  if (!in_transaction()) return;
  impl_->Query("SELECT error('arrowport: a failed ingest aborted this transaction')");
  ResultHandle probe;
  if (duckdb_query(impl_->conn.get(), "SELECT 1", probe.out()) == DuckDBSuccess) {
    (void)Rollback();
  }
}

arrow::Status Connection::Rollback() {
  impl_->read_snapshot = false;
  if (!in_transaction()) {
    impl_->on_commit.clear();  // it ended without a commit (DuckDB rolled it back)
    impl_->transaction_holds.clear();
    return arrow::Status::OK();
  }
  auto st = RunStep(TransactionStep::kRollback);
  if (!st.ok()) return st.WithMessage("rollback refused: ", st.message());
  impl_->on_commit.clear();
  impl_->transaction_holds.clear();
  return arrow::Status::OK();
}

void Connection::Interrupt() { duckdb_interrupt(impl_->conn.get()); }

CallCancellation::Subscription Connection::InterruptOn(
    const std::shared_ptr<CallCancellation>& cancellation) {
  return InterruptOnCancel(impl_->conn.get(), cancellation);
}

arrow::Result<std::string> Connection::RegisterArrowStream(
    std::shared_ptr<arrow::RecordBatchReader> source, std::vector<ColumnInfo>* columns,
    const std::string& second_scan_error) {
  if (in_transaction()) {
    return arrow::Status::Invalid("RegisterArrowStream must run outside a transaction");
  }
  const std::string name = "arrowport_in_" + std::to_string((*impl_->next_stream)++);
  const std::string relation =
      std::string(kScratchCatalog) + ".main." + QuoteIdentifier(name);
  auto stream = std::make_unique<ArrowArrayStream>();
  ARROW_RETURN_NOT_OK(ExportSchemaOwningStream(std::move(source), stream.get()));
  auto* raw = stream.get();
  impl_->streams.emplace(relation, std::move(stream));
  ARROW_RETURN_NOT_OK(Execute(std::string("USE ") + kScratchCatalog));
  arrow::Status made;
  if (impl_->direct_append) {
    // A second scan fails its query rather than read the drained stream as empty.
    made = CreateSingleScanView(
        impl_->conn.get(), name, raw,
        second_scan_error.empty()
            ? "the Arrow stream " + relation + " is read once; a second scan was started"
            : second_scan_error);
  } else if (duckdb_arrow_scan(impl_->conn.get(), name.c_str(),
                               reinterpret_cast<duckdb_arrow_stream>(raw)) ==
             DuckDBError) {
    made = arrow::Status::Invalid("DuckDB cannot scan this Arrow schema");
  }
  ARROW_RETURN_NOT_OK(Execute("USE " + QuoteIdentifier(impl_->catalog)));
  if (!made.ok()) {
    DropArrowStream(relation);
    // DuckDB's C API gives no reason: a database that cannot run anything (out of memory,
    // invalidated) is that reason, otherwise the one given (the schema).
    ARROW_RETURN_NOT_OK(Execute("SELECT 1"));
    return made;
  }
  if (columns != nullptr) {
    ARROW_ASSIGN_OR_RAISE(auto table, QueryTable("DESCRIBE " + relation));
    ARROW_RETURN_NOT_OK(ColumnsFromDescribe(*table, columns));
    ARROW_RETURN_NOT_OK(TypesFromScan(relation, columns));
  }
  return relation;
}

void Connection::DropArrowStream(const std::string& relation) {
  auto it = impl_->streams.find(relation);
  if (it == impl_->streams.end()) return;
  impl_->Query("DROP VIEW IF EXISTS " + relation);
  if (it->second->release) it->second->release(it->second.get());
  impl_->streams.erase(it);
}

arrow::Status Connection::CheckTransformText(const std::string& sql) {
  if (!impl_->direct_append) return arrow::Status::OK();  // refused when it runs instead
  return StatementGuard::CheckTransformText(impl_->conn.get(), sql);
}

arrow::Status Connection::ReadTransformInput(QueryOptions* options) {
  if (!options->principal) return arrow::Status::Invalid("a transform needs a principal");
  auto serial = std::make_shared<SerialInput>(options->input);
  ARROW_ASSIGN_OR_RAISE(auto relation, RegisterArrowStream(serial, nullptr, kInputReadTwice));
  // A temporary view shadows any table of that name for this connection only, and the
  // sandbox knows it (StatementGuard's `transform`).
  ARROW_RETURN_NOT_OK(Execute(std::string("CREATE TEMP VIEW ") + kTransformInput +
                              " AS SELECT * FROM " + relation));
  options->input = nullptr;  // the connection holds it now
  if (options->interactive && impl_->direct_append) {
    // DuckDB's thread reading the input runs the pipeline until its result buffer is full
    // (or 50 chunks), blocked on the client in between: with no buffer ahead, each chunk
    // is handed over as it is made. (direct_append: DuckDB's C++ API may be used.)
    SetStreamingBufferBytes(impl_->conn.get(), 0);
  }
  return arrow::Status::OK();
}

arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> Connection::Query(
    std::unique_ptr<Connection> connection, const std::string& sql,
    const QueryOptions& query_options) {
  QueryOptions options = query_options;
  options.result_memory = connection->impl_->request_memory;
  options.in_open_transaction =
      connection->in_transaction() && !connection->impl_->read_snapshot;
  options.parallel_conversion = connection->impl_->direct_append;
  duckdb_connection conn = connection->impl_->conn.get();
  const bool transform = options.input != nullptr;
  if (transform) ARROW_RETURN_NOT_OK(connection->ReadTransformInput(&options));
  if (!options.principal) return StartQuery(conn, std::move(connection), sql, options);
  PreparedHandle prepared;
  // A query that converts on DuckDB's workers outside a client's transaction, without
  // parameters, is planned once, as it runs (StatementGuard::Prepare).
  const bool run_once = options.parameters.empty() && options.parallel_conversion &&
                        !options.interactive && !options.in_open_transaction && !transform;
  Planning at_run = Planning::kPrepared;
  // Judged, bound and run in one snapshot of the catalog: a view an admin replaces
  // meanwhile cannot be judged in one definition and read in the other (a table-limited
  // reader read a forbidden table so). Ours, read-only, gone with the connection; only a
  // SELECT that changes nothing runs in it (PlanAtRun checks), anything else leaves it.
  const bool snapshot = run_once && !connection->in_transaction();
  if (snapshot) ARROW_RETURN_NOT_OK(connection->BeginReadSnapshot());
  std::vector<HeldTable> held;
  TableIdentity whole;
  TableReadPlans::Plan plan;
  {
    // Planning binds lake views, whose files' footers DuckDB's threads read from the
    // store. (Ended before the connection can be let go.)
    auto planning = connection->InterruptOn(options.cancellation);
    ARROW_RETURN_NOT_OK(connection->impl_->Prepare(sql, options.principal.get(), &prepared,
                                                   transform, run_once ? &at_run : nullptr,
                                                   &held, &whole));
    if (at_run == Planning::kTableAtRun) {
      // A whole table's read runs the connection's plan of it, and leaves the connection
      // as it found it (KeptConnections).
      auto planned = connection->impl_->table_plans.PlanFor(conn, sql, whole);
      if (!planned.ok()) {
        return options.cancellation ? options.cancellation->Explain(planned.status())
                                    : planned.status();
      }
      plan = std::move(*planned);
      if (plan) at_run = Planning::kKeptTablePlan;
      connection->impl_->reusable = true;
    }
  }
  const bool planned_at_run = at_run != Planning::kPrepared;
  if (snapshot && !planned_at_run) ARROW_RETURN_NOT_OK(connection->Rollback());
  if (!planned_at_run) ARROW_RETURN_NOT_OK(BindVarchars(prepared.get(), options.parameters));
  // The reader keeps the statement, then the connection it runs on, alive, then the
  // tables the statement writes held until it has ended (declared first: released last).
  struct Owned {
    std::vector<TablePass> passes;
    std::unique_ptr<Connection> connection;
    PreparedHandle prepared;
    TableReadPlans::Plan plan;
    ~Owned() {
      plan.reset();
      prepared.reset();
    }
  };
  auto owned = std::make_shared<Owned>();
  ARROW_ASSIGN_OR_RAISE(owned->passes,
                        connection->HoldAll(held, options.cancellation,
                                            !planned_at_run &&
                                                ChangesStoredData(prepared.get())));
  owned->connection = std::move(connection);
  if (plan) {
    prepared.reset();  // the plan runs instead
    owned->plan = std::move(plan);
  } else {
    owned->prepared = std::move(prepared);
  }
  duckdb_prepared_statement statement =
      owned->plan ? owned->plan->get() : owned->prepared.get();
  return StartPrepared(conn, statement, std::move(owned), options, at_run);
}

arrow::Result<std::shared_ptr<arrow::Table>> Connection::QueryTable(
    const std::string& sql, const std::vector<std::string>& parameters) {
  QueryOptions options;
  options.parameters = parameters;
  options.parallel_conversion = impl_->direct_append;
  ARROW_ASSIGN_OR_RAISE(auto reader, StartQuery(impl_->conn.get(), nullptr, sql, options));
  return reader->ToTable();
}

}  // namespace arrowport::storage
