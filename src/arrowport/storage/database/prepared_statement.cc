#include "arrowport/storage/memory/allocation_guard.h"
#include "arrowport/storage/database/prepared_statement.h"

#include <duckdb.h>

#include <optional>

#include "arrow/record_batch.h"
#include "arrow/type.h"
#include "arrowport/storage/core/arrow_params.h"
#include "arrowport/storage/database/connection_impl.h"
#include "arrowport/storage/core/duckdb_error.h"
#include "arrowport/storage/core/duckdb_handle.h"
#include "arrowport/storage/results/result_batch_reader.h"
#include "arrowport/storage/results/result_sources.h"
#include "arrowport/storage/results/statement_binding.h"
#include "arrowport/storage/core/duckdb_internals.h"
#include "arrowport/storage/sandbox/statement_guard.h"

namespace arrowport::storage {

struct PreparedStatement::Impl {
  duckdb_connection conn = nullptr;
  PreparedHandle prepared;
  std::vector<HeldTable> held;  // what it writes, held while it runs (Connection::Hold)
  // Whose SQL it is (a client's): judged again at each run. Empty: the server's own.
  std::optional<Principal> principal;
  // A client's SELECT that changes nothing: each run is judged, bound and run in one
  // read snapshot (PreparedStatement::Query).
  bool client_read = false;
  // Such a read without parameters: each run is a new statement of its text, held
  // unplanned.
  bool runs_as_text = false;
};

namespace {

// DuckDB reports the statement type; DDL and DML return no rows to a client even though
// DuckDB answers them with a "Count" column. DML with RETURNING does return rows. While a
// parameter's type is unknown (`INSERT INTO t SELECT ?`) DuckDB reports one untyped
// column whatever the statement returns: its parse tells whether it has RETURNING.
bool ReturnsRows(duckdb_connection conn, duckdb_prepared_statement prepared,
                 const std::string& sql) {
  const idx_t columns = duckdb_prepared_statement_column_count(prepared);
  if (columns == 0) return false;
  switch (duckdb_prepared_statement_type(prepared)) {
    case DUCKDB_STATEMENT_TYPE_SELECT:
    case DUCKDB_STATEMENT_TYPE_EXPLAIN:
    case DUCKDB_STATEMENT_TYPE_PRAGMA:
    case DUCKDB_STATEMENT_TYPE_CALL:
    case DUCKDB_STATEMENT_TYPE_RELATION:
    case DUCKDB_STATEMENT_TYPE_EXECUTE:
    case DUCKDB_STATEMENT_TYPE_EXTENSION:
    case DUCKDB_STATEMENT_TYPE_LOGICAL_PLAN:
      return true;
    case DUCKDB_STATEMENT_TYPE_INSERT:
    case DUCKDB_STATEMENT_TYPE_UPDATE:
    case DUCKDB_STATEMENT_TYPE_DELETE:
    case DUCKDB_STATEMENT_TYPE_MERGE_INTO: {
      LogicalTypeHandle type(duckdb_prepared_statement_column_logical_type(prepared, 0));
      if (type.get() == nullptr || duckdb_get_type_id(type.get()) == DUCKDB_TYPE_INVALID) {
        return HasReturning(conn, sql).ValueOr(true);
      }
      const char* name = duckdb_prepared_statement_column_name(prepared, 0);
      const bool returning = name != nullptr && std::string(name) != "Count";
      if (name) duckdb_free(const_cast<char*>(name));
      return returning;
    }
    default:
      return false;
  }
}

arrow::Result<std::shared_ptr<arrow::Schema>> ResultSchema(duckdb_connection conn,
                                                           duckdb_prepared_statement p,
                                                           bool* unresolved) {
  const idx_t n = duckdb_prepared_statement_column_count(p);
  std::vector<LogicalTypeHandle> types;
  std::vector<std::string> names;
  for (idx_t i = 0; i < n; ++i) {
    types.emplace_back(duckdb_prepared_statement_column_logical_type(p, i));
    const char* name = duckdb_prepared_statement_column_name(p, i);
    names.emplace_back(name ? name : "");
    if (name) duckdb_free(const_cast<char*>(name));
  }
  ArrowOptionsHandle options;
  duckdb_connection_get_arrow_options(conn, options.out());
  auto schema = ArrowSchemaOf(options.get(), types, names);
  if (schema.ok()) return schema;
  // A column whose type depends on a parameter (`SELECT $1`) has none until it runs:
  // declared utf8 here; the result stream carries the real type.
  *unresolved = true;
  arrow::FieldVector fields;
  for (size_t i = 0; i < types.size(); ++i) {
    std::vector<LogicalTypeHandle> one;
    one.push_back(std::move(types[i]));
    auto single = ArrowSchemaOf(options.get(), one, {names[i]});
    fields.push_back(single.ok() && (*single)->num_fields() == 1
                         ? (*single)->field(0)
                         : arrow::field(names[i], arrow::utf8()));
  }
  return arrow::schema(std::move(fields));
}

// Parameter types as DuckDB inferred them; a parameter whose type DuckDB leaves open
// (`SELECT $1`) is declared utf8, which every client can bind and DuckDB casts.
arrow::Result<std::shared_ptr<arrow::Schema>> ParameterSchema(duckdb_connection conn,
                                                              duckdb_prepared_statement p) {
  const idx_t n = duckdb_nparams(p);
  ArrowOptionsHandle options;
  duckdb_connection_get_arrow_options(conn, options.out());
  arrow::FieldVector fields;
  for (idx_t i = 1; i <= n; ++i) {
    const char* raw_name = duckdb_parameter_name(p, i);
    std::string name = raw_name ? std::string("$") + raw_name : "$" + std::to_string(i);
    if (raw_name) duckdb_free(const_cast<char*>(raw_name));
    std::shared_ptr<arrow::DataType> type = arrow::utf8();
    LogicalTypeHandle logical(duckdb_param_logical_type(p, i));
    if (logical.get() != nullptr) {
      const auto id = duckdb_get_type_id(logical.get());
      if (id != DUCKDB_TYPE_INVALID && id != DUCKDB_TYPE_ANY && id != DUCKDB_TYPE_SQLNULL) {
        std::vector<LogicalTypeHandle> one;
        one.push_back(std::move(logical));
        auto schema = ArrowSchemaOf(options.get(), one, {name});
        if (schema.ok() && (*schema)->num_fields() == 1) type = (*schema)->field(0)->type();
      }
    }
    fields.push_back(arrow::field(name, type));
  }
  return arrow::schema(std::move(fields));
}

// Same names and types, in order (nullability and metadata aside).
bool SameColumns(const arrow::Schema& a, const arrow::Schema& b) {
  if (a.num_fields() != b.num_fields()) return false;
  for (int i = 0; i < a.num_fields(); ++i) {
    if (a.field(i)->name() != b.field(i)->name() ||
        !a.field(i)->type()->Equals(*b.field(i)->type())) {
      return false;
    }
  }
  return true;
}

// "name type, ..." for an error message, the first 8 columns.
std::string ColumnList(const arrow::Schema& schema) {
  std::string out;
  for (int i = 0; i < schema.num_fields() && i < 8; ++i) {
    if (i > 0) out += ", ";
    out += schema.field(i)->name() + " " + schema.field(i)->type()->ToString();
  }
  if (schema.num_fields() > 8) {
    out += ", ... " + std::to_string(schema.num_fields()) + " columns";
  }
  return out;
}

// `reader`, when its columns are those Flight SQL announced at prepare (`announced`;
// null: none were). DuckDB runs a statement through what its names mean now: an
// altered table's other columns reached clients that had been told the old ones.
arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> AsAnnounced(
    const std::shared_ptr<arrow::Schema>& announced,
    std::shared_ptr<arrow::RecordBatchReader> reader) {
  if (announced == nullptr || SameColumns(*announced, *reader->schema())) {
    return reader;
  }
  return arrow::Status::Invalid(
      "the statement's result columns changed since it was prepared (a table it reads "
      "was altered or replaced): prepared as (", ColumnList(*announced), "), now (",
      ColumnList(*reader->schema()), "); prepare it again");
}

}  // namespace

// A read snapshot of a lease's connection (Connection::BeginReadSnapshot), rolled back
// when the last holder lets it go: the call that judges the statement, then its result.
class PreparedStatement::ReadSnapshot {
 public:
  static arrow::Result<std::shared_ptr<ReadSnapshot>> Begin(Connection* connection) {
    ARROW_RETURN_NOT_OK(connection->BeginReadSnapshot());
    return std::shared_ptr<ReadSnapshot>(new ReadSnapshot(connection));
  }
  ~ReadSnapshot() {
    if (connection_->impl_->read_snapshot && connection_->in_transaction()) {
      (void)connection_->Rollback();
    }
  }

 private:
  explicit ReadSnapshot(Connection* connection) : connection_(connection) {}
  Connection* connection_;
};

PreparedStatement::PreparedStatement(std::shared_ptr<SharedConnection> connection,
                                     std::string sql, std::unique_ptr<Impl> impl)
    : connection_(std::move(connection)), sql_(std::move(sql)), impl_(std::move(impl)) {}

PreparedStatement::~PreparedStatement() {
  impl_.reset();  // the statement goes before the connection it was prepared on
}

arrow::Status PreparedStatement::CheckLease(const ConnectionLease& lease) const {
  if (lease.shared() != connection_) {
    return arrow::Status::Invalid("internal: a prepared statement used under another "
                                  "connection's lease");
  }
  return arrow::Status::OK();
}

arrow::Result<std::shared_ptr<PreparedStatement>> PreparedStatement::Make(
    ConnectionLease& lease, const std::string& sql, const Principal* principal,
    const std::shared_ptr<CallCancellation>& cancellation) {
  auto impl = std::make_unique<Impl>();
  Connection& connection = lease.connection();
  auto interrupt = connection.InterruptOn(cancellation);
  impl->conn = connection.impl_->conn.get();
  ARROW_RETURN_NOT_OK(connection.impl_->Prepare(sql, principal, &impl->prepared, false,
                                                nullptr, &impl->held));
  // Its plan keeps the tables it was bound to while temporary tables come and go (DuckDB
  // rebinds it only when those tables change): a table is left unheld only when its name
  // resolves to a temporary one both now and when it runs (HeldTable).
  for (auto& table : impl->held) {
    table.temporary_when_prepared =
        NamesTemporaryTable(impl->conn, table.catalog, table.schema, table.name);
  }
  if (principal != nullptr) impl->principal = *principal;
  auto p = impl->prepared.get();
  if (ColumnsKnownOnlyAtRun(p, sql)) {
    // Flight SQL announces a result's columns before it runs; without them such a query
    // answered no endpoint and no rows, as if it had returned nothing.
    return arrow::Status::Invalid(
        "this query's columns are known only once it runs (DuckDB runs it as several "
        "statements: a PIVOT without an IN list), and Flight SQL announces them before: "
        "list the values (PIVOT t ON k IN ('a', 'b') ...), or run it as a DoGet ticket "
        "({\"sql\": ...}) or through HTTP POST /query");
  }
  impl->client_read = principal != nullptr &&
                      duckdb_prepared_statement_type(p) == DUCKDB_STATEMENT_TYPE_SELECT &&
                      !ChangesData(p);
  impl->runs_as_text = impl->client_read && connection.impl_->direct_append &&
                       duckdb_nparams(p) == 0 && StreamsArrowUnits(p);
  const bool rows = ReturnsRows(impl->conn, p, sql);
  std::shared_ptr<arrow::Schema> dataset = arrow::schema({});
  bool unresolved = false;
  if (rows) {
    ARROW_ASSIGN_OR_RAISE(dataset, ResultSchema(impl->conn, p, &unresolved));
  }
  ARROW_ASSIGN_OR_RAISE(auto params, ParameterSchema(impl->conn, p));
  std::shared_ptr<PreparedStatement> out(
      new PreparedStatement(lease.shared(), sql, std::move(impl)));
  out->returns_rows_ = rows;
  out->read_only_ = duckdb_prepared_statement_type(p) == DUCKDB_STATEMENT_TYPE_SELECT;
  out->result_types_unresolved_ = unresolved;
  out->held_plan_bytes_ = AllocationGuard::PlanBytes(p);
  if (out->impl_->runs_as_text &&
      StatementGuard::ReadsOneTableWhole(out->impl_->conn, sql).ValueOr(true)) {
    out->held_plan_bytes_ *= 2;
  }
  out->dataset_schema_ = std::move(dataset);
  out->parameter_schema_ = std::move(params);
  return out;
}

int PreparedStatement::num_parameters() const { return parameter_schema_->num_fields(); }

arrow::Status PreparedStatement::Bind(ConnectionLease& lease,
                                      const arrow::RecordBatch& parameters, int64_t row) {
  ARROW_RETURN_NOT_OK(CheckLease(lease));
  if (parameters.num_columns() != num_parameters()) {
    return arrow::Status::Invalid("the statement has ", num_parameters(),
                                  " parameter(s) but the parameter batch has ",
                                  parameters.num_columns(), " column(s)");
  }
  if (row < 0 || row >= parameters.num_rows()) {
    return arrow::Status::IndexError("parameter row ", row, " out of range");
  }
  for (int i = 0; i < parameters.num_columns(); ++i) {
    auto st = BindArrowValue(impl_->prepared.get(), i + 1, *parameters.column(i), row);
    if (!st.ok()) {
      return st.WithMessage("parameter ", i + 1, " ('", parameters.schema()->field(i)->name(),
                            "'): ", st.message(), " (the statement expects ",
                            parameter_schema_->field(i)->type()->ToString(), ")");
    }
  }
  return arrow::Status::OK();
}

arrow::Status PreparedStatement::ClearBindings(ConnectionLease& lease) {
  ARROW_RETURN_NOT_OK(CheckLease(lease));
  duckdb_clear_bindings(impl_->prepared.get());
  return arrow::Status::OK();
}

arrow::Result<std::shared_ptr<arrow::Schema>> PreparedStatement::ResultSchemaWithBindings(
    ConnectionLease& lease) {
  ARROW_RETURN_NOT_OK(CheckLease(lease));
  std::vector<LogicalTypeHandle> types;
  std::vector<std::string> names;
  ARROW_RETURN_NOT_OK(
      BoundResultColumns(impl_->conn, impl_->prepared.get(), sql_, &types, &names));
  ArrowOptionsHandle options;
  duckdb_connection_get_arrow_options(impl_->conn, options.out());
  return ArrowSchemaOf(options.get(), types, names);
}

arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> PreparedStatement::Query(
    std::shared_ptr<PreparedStatement> self, ConnectionLease& lease,
    const QueryOptions& query_options) {
  ARROW_RETURN_NOT_OK(self->CheckLease(lease));
  QueryOptions options = query_options;
  options.result_memory = lease->impl_->request_memory;
  options.in_open_transaction = lease->in_transaction();
  options.parallel_conversion = lease->impl_->direct_append;
  // DuckDB 2.0 binds and plans it again at each run, through what its names mean now: a
  // client's statement is judged again (a table an admin replaced with a view over
  // another table), and planned without the optimizer while it is a SELECT * of a table
  // (a view that replaced it may join or filter, which wants the optimizer).
  // A client's read is judged, bound and run in one snapshot of the catalog, as
  // Connection::Query runs one: an admin swapping a table for a view between the judging
  // and the binding had a reader limited to some tables read another. Ours, read-only,
  // rolled back once the result has ended; a client's open transaction is the snapshot.
  std::shared_ptr<ReadSnapshot> snapshot;
  if (self->impl_->client_read && !options.in_open_transaction) {
    ARROW_ASSIGN_OR_RAISE(snapshot, ReadSnapshot::Begin(&lease.connection()));
  }
  // A SELECT without parameters runs as a new statement of its text, planned once as it
  // starts: DuckDB 2.0 runs a prepared statement as an EXECUTE that binds and plans, then
  // plans the statement again (a tenth of a 1,000-row query's CPU).
  PreparedHandle unplanned;
  std::optional<TableIdentity> whole;
  duckdb_connection conn = self->impl_->conn;
  TableReadPlans::Plan plan;
  {
    auto planning = lease->InterruptOn(options.cancellation);  // as Connection::Query
    arrow::Status judged;
    if (self->impl_->principal) {
      judged = lease->impl_->Rejudge(self->sql_, *self->impl_->principal, &whole,
                                     self->impl_->runs_as_text ? &unplanned : nullptr);
    }
    // A whole table's read in our snapshot: the connection's plan of it runs.
    if (judged.ok() && unplanned.get() != nullptr && whole && snapshot) {
      auto planned = lease->impl_->table_plans.PlanFor(conn, self->sql_, *whole);
      judged = planned.status();
      if (planned.ok()) plan = std::move(*planned);
    }
    if (!judged.ok()) {
      return options.cancellation ? options.cancellation->Explain(judged) : judged;
    }
  }
  options.unoptimized = whole.has_value();
  duckdb_prepared_statement prepared = self->impl_->prepared.get();
  Planning planning = Planning::kPrepared;
  if (plan) {
    unplanned.reset();
    prepared = plan->get();
    planning = Planning::kKeptTablePlan;
  } else if (unplanned.get() != nullptr) {
    prepared = unplanned.get();
    planning = whole ? Planning::kTableAtRun : Planning::kSelectAtRun;
  }
  // The reader keeps the statement, then the tables it writes held until it has ended
  // (outside a transaction; inside one the transaction keeps them).
  struct Owned {
    std::shared_ptr<ReadSnapshot> snapshot;  // ended last
    std::vector<TablePass> passes;
    std::shared_ptr<PreparedStatement> statement;
    PreparedHandle unplanned;  // what runs, when the text runs (freed first)
    TableReadPlans::Plan plan;  // or the connection's plan of it
  };
  auto owned = std::make_shared<Owned>();
  owned->snapshot = std::move(snapshot);
  ARROW_ASSIGN_OR_RAISE(owned->passes,
                        lease->HoldAll(self->impl_->held, options.cancellation,
                                       planning == Planning::kPrepared &&
                                           ChangesStoredData(prepared)));
  const bool typed = self->returns_rows_ && !self->result_types_unresolved_;
  std::shared_ptr<arrow::Schema> announced = typed ? self->dataset_schema_ : nullptr;
  owned->statement = std::move(self);
  owned->unplanned = std::move(unplanned);
  owned->plan = std::move(plan);
  ARROW_ASSIGN_OR_RAISE(auto reader, StartPrepared(conn, prepared, std::move(owned),
                                                   options, planning));
  return AsAnnounced(announced, std::move(reader));
}

arrow::Result<int64_t> PreparedStatement::ExecuteUpdate(
    ConnectionLease& lease, const std::shared_ptr<CallCancellation>& cancel) {
  ARROW_RETURN_NOT_OK(CheckLease(lease));
  CallCancellation::Subscription interrupt = lease->InterruptOn(cancel);
  if (cancel && cancel->cancelled()) return cancel->reason();
  if (impl_->principal) {  // bound again as it runs: judged again (see Query)
    ARROW_RETURN_NOT_OK(lease->impl_->Rejudge(sql_, *impl_->principal, nullptr));
  }
  ARROW_ASSIGN_OR_RAISE(auto passes,
                        lease->HoldAll(impl_->held, cancel,
                                       ChangesStoredData(impl_->prepared.get())));
  ResultHandle result;
  // Outside a transaction a data-changing statement commits as it ends; inside one its
  // allocations may be refused like any other (the transaction then rolls back).
  std::optional<AllocationGuard::CommitScope> committing;
  if (!lease.in_transaction()) committing.emplace();
  if (duckdb_execute_prepared(impl_->prepared.get(), result.out()) == DuckDBError) {
    auto error = ResultError(result.ptr());  // a client's SQL: its text proves nothing
    if (!error.ok()) {
      if (cancel && cancel->cancelled()) return cancel->reason();
      return error;
    }
  }
  return static_cast<int64_t>(duckdb_rows_changed(result.ptr()));
}

}  // namespace arrowport::storage
