#include "arrowport/storage/database.h"

#include <duckdb.h>

#include <atomic>
#include <map>
#include <mutex>
#include <utility>

#include "arrow/array.h"
#include "arrow/array/concatenate.h"
#include "arrow/scalar.h"
#include "arrow/c/bridge.h"
#include "arrow/record_batch.h"
#include "arrow/table.h"
#include "arrowport/common/identifier.h"
#include "arrowport/common/prefetching_reader.h"
#include "arrowport/storage/direct_append.h"
#include "arrowport/storage/duckdb_error.h"
#include "arrowport/storage/memory_limit.h"

namespace arrowport::storage {

namespace {

// ---- RAII wrappers for the DuckDB C handles used here ----

struct ResultHandle {
  duckdb_result result{};
  bool valid = false;
  ~ResultHandle() {
    if (valid) duckdb_destroy_result(&result);
  }
};

struct PreparedHandle {
  duckdb_prepared_statement stmt = nullptr;
  ~PreparedHandle() {
    if (stmt) duckdb_destroy_prepare(&stmt);
  }
};

struct PendingHandle {
  duckdb_pending_result pending = nullptr;
  ~PendingHandle() {
    if (pending) duckdb_destroy_pending(&pending);
  }
};

struct LogicalTypeHandle {
  duckdb_logical_type type = nullptr;
  LogicalTypeHandle() = default;
  explicit LogicalTypeHandle(duckdb_logical_type t) : type(t) {}
  LogicalTypeHandle(LogicalTypeHandle&& o) noexcept : type(std::exchange(o.type, nullptr)) {}
  ~LogicalTypeHandle() {
    if (type) duckdb_destroy_logical_type(&type);
  }
};

struct ArrowOptionsHandle {
  duckdb_arrow_options options = nullptr;
  ~ArrowOptionsHandle() {
    if (options) duckdb_destroy_arrow_options(&options);
  }
};

struct DataChunkHandle {
  duckdb_data_chunk chunk = nullptr;
  explicit DataChunkHandle(duckdb_data_chunk c) : chunk(c) {}
  ~DataChunkHandle() {
    if (chunk) duckdb_destroy_data_chunk(&chunk);
  }
};

// Takes ownership of DuckDB error data and turns it into a Status (OK when no error).
arrow::Status ConsumeErrorData(duckdb_error_data error) {
  if (error == nullptr) return arrow::Status::OK();
  arrow::Status st;
  if (duckdb_error_data_has_error(error)) {
    st = TranslateDuckDBError(duckdb_error_data_error_type(error),
                              duckdb_error_data_message(error));
  }
  duckdb_destroy_error_data(&error);
  return st;
}

arrow::Status ResultError(duckdb_result* result) {
  const char* message = duckdb_result_error(result);
  return TranslateDuckDBError(duckdb_result_error_type(result),
                              message ? message : "unknown DuckDB error");
}

// Wraps an exported ArrowArrayStream so that every schema handed out by get_schema stays
// owned by the stream: DuckDB's scan requests the schema several times and does not
// release every copy. Consumers get a copy whose release only marks it released; the
// originals are released with the stream.
struct SchemaOwningStream {
  ArrowArrayStream inner;
  std::vector<std::unique_ptr<ArrowSchema>> schemas;

  static int GetSchema(ArrowArrayStream* self, ArrowSchema* out) {
    auto* state = static_cast<SchemaOwningStream*>(self->private_data);
    auto schema = std::make_unique<ArrowSchema>();
    const int rc = state->inner.get_schema(&state->inner, schema.get());
    if (rc != 0) return rc;
    *out = *schema;
    out->release = [](ArrowSchema* s) { s->release = nullptr; };
    state->schemas.push_back(std::move(schema));
    return 0;
  }
  static int GetNext(ArrowArrayStream* self, ArrowArray* out) {
    auto* state = static_cast<SchemaOwningStream*>(self->private_data);
    return state->inner.get_next(&state->inner, out);
  }
  static const char* GetLastError(ArrowArrayStream* self) {
    auto* state = static_cast<SchemaOwningStream*>(self->private_data);
    return state->inner.get_last_error(&state->inner);
  }
  static void Release(ArrowArrayStream* self) {
    std::unique_ptr<SchemaOwningStream> state(static_cast<SchemaOwningStream*>(self->private_data));
    for (auto& schema : state->schemas) {
      if (schema->release) schema->release(schema.get());
    }
    if (state->inner.release) state->inner.release(&state->inner);
    self->release = nullptr;
  }

  /// Exports `reader` into `out` behind the shim.
  static arrow::Status Export(std::shared_ptr<arrow::RecordBatchReader> reader,
                              ArrowArrayStream* out) {
    auto state = std::make_unique<SchemaOwningStream>();
    ARROW_RETURN_NOT_OK(arrow::ExportRecordBatchReader(std::move(reader), &state->inner));
    out->get_schema = &GetSchema;
    out->get_next = &GetNext;
    out->get_last_error = &GetLastError;
    out->release = &Release;
    out->private_data = state.release();  // owned by the C stream until Release()
    return arrow::Status::OK();
  }
};

}  // namespace

// ======================= Database =======================

// The in-memory catalog that holds views over Arrow streams (see RegisterArrowStream).
constexpr const char* kScratchCatalog = "arrowport_scratch";

struct Database::Impl {
  duckdb_database db = nullptr;
  std::string path;
  std::string catalog;                   // name of the main catalog (current_database())
  std::string memory_limit;              // effective, as DuckDB reports it
  std::atomic<uint64_t> next_stream{0};  // unique view names across connections
  ~Impl() {
    if (db) duckdb_close(&db);
  }
};

Database::Database(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Database::~Database() = default;
const std::string& Database::path() const { return impl_->path; }
const std::string& Database::memory_limit() const { return impl_->memory_limit; }

arrow::Result<std::unique_ptr<Database>> Database::Open(const DatabaseOptions& options) {
  duckdb_config config = nullptr;
  if (duckdb_create_config(&config) == DuckDBError) {
    return arrow::Status::OutOfMemory("cannot allocate DuckDB config");
  }
  struct ConfigGuard {
    duckdb_config* c;
    ~ConfigGuard() { duckdb_destroy_config(c); }
  } guard{&config};
  auto set = [&](const char* key, const std::string& value) -> arrow::Status {
    if (duckdb_set_config(config, key, value.c_str()) == DuckDBError) {
      return arrow::Status::Invalid("invalid DuckDB setting ", key, "='", value, "'");
    }
    return arrow::Status::OK();
  };
  // Timestamps with time zone are exported in the session zone; UTC keeps them portable
  // whatever the host's /etc/localtime says.
  (void)duckdb_set_config(config, "TimeZone", "UTC");
  if (options.threads > 0) ARROW_RETURN_NOT_OK(set("threads", std::to_string(options.threads)));
  std::string memory_limit = options.memory_limit;
  if (memory_limit.empty() && options.path != ":memory:") {
    memory_limit = MemoryLimitSetting(DefaultMemoryLimitBytes());
  }
  if (!memory_limit.empty()) ARROW_RETURN_NOT_OK(set("memory_limit", memory_limit));

  auto impl = std::make_unique<Impl>();
  impl->path = options.path;
  char* error = nullptr;
  const char* path = options.path == ":memory:" ? nullptr : options.path.c_str();
  if (duckdb_open_ext(path, &impl->db, config, &error) == DuckDBError) {
    std::string message = error ? error : "unknown error";
    if (error) duckdb_free(error);
    return arrow::Status::IOError("cannot open database '", options.path, "': ", message);
  }
  auto database = std::unique_ptr<Database>(new Database(std::move(impl)));
  ARROW_ASSIGN_OR_RAISE(auto conn, database->Connect());
  ARROW_RETURN_NOT_OK(conn->Execute(std::string("ATTACH ':memory:' AS ") + kScratchCatalog));
  ARROW_ASSIGN_OR_RAISE(auto name, conn->QueryTable("SELECT current_database()"));
  ARROW_ASSIGN_OR_RAISE(auto scalar, name->column(0)->GetScalar(0));
  database->impl_->catalog = scalar->ToString();
  ARROW_ASSIGN_OR_RAISE(auto limit,
                        conn->QueryTable("SELECT current_setting('memory_limit')::VARCHAR"));
  ARROW_ASSIGN_OR_RAISE(auto limit_scalar, limit->column(0)->GetScalar(0));
  database->impl_->memory_limit = limit_scalar->ToString();
  ARROW_ASSIGN_OR_RAISE(conn, database->Connect());  // now knows the catalog name
  for (const auto& sql : options.init_sql) {
    auto st = conn->Execute(sql);
    if (!st.ok()) return st.WithMessage("duckdb.init_sql '", sql, "': ", st.message());
  }
  return database;
}

// ======================= Connection =======================

struct Connection::Impl {
  duckdb_connection conn = nullptr;
  std::string catalog;
  std::atomic<uint64_t>* next_stream = nullptr;
  // Streams registered as views, by relation name; DuckDB reads them through raw
  // pointers, so each lives at a stable address until its view is dropped.
  std::map<std::string, std::unique_ptr<ArrowArrayStream>> streams;
  bool in_transaction = false;

  void Query(const std::string& sql) {
    duckdb_result result;
    duckdb_query(conn, sql.c_str(), &result);
    duckdb_destroy_result(&result);
  }

  ~Impl() {
    if (conn) {
      if (in_transaction) Query("ROLLBACK");
      for (const auto& entry : streams) Query("DROP VIEW IF EXISTS " + entry.first);
      duckdb_disconnect(&conn);
    }
    for (auto& entry : streams) {
      if (entry.second->release) entry.second->release(entry.second.get());
    }
  }
};

Connection::Connection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Connection::~Connection() = default;

arrow::Status Database::Checkpoint() {
  ARROW_ASSIGN_OR_RAISE(auto conn, Connect());
  return conn->Execute("CHECKPOINT");
}

arrow::Result<std::unique_ptr<Connection>> Database::Connect() {
  auto impl = std::make_unique<Connection::Impl>();
  if (duckdb_connect(impl_->db, &impl->conn) == DuckDBError) {
    return arrow::Status::IOError("cannot connect to database '", impl_->path, "'");
  }
  impl->catalog = impl_->catalog;
  impl->next_stream = &impl_->next_stream;
  return std::unique_ptr<Connection>(new Connection(std::move(impl)));
}

arrow::Status Connection::Execute(const std::string& sql) {
  return ExecuteUpdate(sql).status();
}

arrow::Result<int64_t> Connection::ExecuteUpdate(const std::string& sql) {
  ResultHandle r;
  auto state = duckdb_query(impl_->conn, sql.c_str(), &r.result);
  r.valid = true;
  if (state == DuckDBError) return ResultError(&r.result);
  return static_cast<int64_t>(duckdb_rows_changed(&r.result));
}

const std::string& Connection::catalog() const { return impl_->catalog; }

arrow::Status Connection::Begin() {
  ARROW_RETURN_NOT_OK(Execute("BEGIN TRANSACTION"));
  impl_->in_transaction = true;
  return arrow::Status::OK();
}

arrow::Status Connection::Commit() {
  impl_->in_transaction = false;
  return Execute("COMMIT");
}

void Connection::Rollback() {
  if (!impl_->in_transaction) return;
  impl_->in_transaction = false;
  (void)Execute("ROLLBACK");
}

void Connection::Interrupt() { duckdb_interrupt(impl_->conn); }

arrow::Result<std::string> Connection::RegisterArrowStream(
    std::shared_ptr<arrow::RecordBatchReader> source, std::vector<ColumnInfo>* columns) {
  if (impl_->in_transaction) {
    return arrow::Status::Invalid("RegisterArrowStream must run outside a transaction");
  }
  const std::string name = "arrowport_in_" + std::to_string((*impl_->next_stream)++);
  const std::string relation =
      std::string(kScratchCatalog) + ".main." + QuoteIdentifier(name);
  auto stream = std::make_unique<ArrowArrayStream>();
  ARROW_RETURN_NOT_OK(SchemaOwningStream::Export(std::move(source), stream.get()));
  auto* raw = stream.get();
  impl_->streams.emplace(relation, std::move(stream));
  ARROW_RETURN_NOT_OK(Execute(std::string("USE ") + kScratchCatalog));
  const auto state = duckdb_arrow_scan(impl_->conn, name.c_str(),
                                       reinterpret_cast<duckdb_arrow_stream>(raw));
  ARROW_RETURN_NOT_OK(Execute("USE " + QuoteIdentifier(impl_->catalog)));
  if (state == DuckDBError) {
    DropArrowStream(relation);
    return arrow::Status::Invalid("DuckDB cannot scan this Arrow schema");
  }
  if (columns != nullptr) {
    ARROW_ASSIGN_OR_RAISE(auto table, QueryTable("DESCRIBE " + relation));
    ARROW_RETURN_NOT_OK(ColumnsFromDescribe(*table, columns));
  }
  return relation;
}

namespace {

struct AppenderHandle {
  duckdb_appender appender = nullptr;
  ~AppenderHandle() {
    if (appender) duckdb_appender_destroy(&appender);
  }
  arrow::Status Error(const char* what) {
    auto st = ConsumeErrorData(duckdb_appender_error_data(appender));
    if (st.ok()) st = arrow::Status::IOError(what);
    return st;
  }
};

struct ConvertedSchemaHandle {
  duckdb_arrow_converted_schema schema = nullptr;
  ~ConvertedSchemaHandle() {
    if (schema) duckdb_destroy_arrow_converted_schema(&schema);
  }
};

}  // namespace

arrow::Result<int64_t> Connection::AppendBatches(
    const std::string& table, const std::vector<std::string>& columns,
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches) {
  TableAppend append;
  append.table = table;
  append.columns = columns;
  append.batches = batches;
  ARROW_RETURN_NOT_OK(AppendAtomically({append}));
  int64_t rows = 0;
  for (const auto& batch : batches) rows += batch->num_rows();
  return rows;
}

arrow::Status Connection::AppendAtomically(const std::vector<TableAppend>& appends) {
  // DuckDB's own Arrow conversion, one vector (2048 rows) per chunk.
  std::vector<std::unique_ptr<DataChunkHandle>> owned;
  std::vector<DirectTarget> targets;
  constexpr int64_t kChunkRows = 2048;
  for (const auto& append : appends) {
    DirectTarget& target = targets.emplace_back();
    target.schema = append.schema;
    target.table = append.table;
    target.columns = append.columns;
    if (append.batches.empty()) continue;
    ArrowSchema c_schema;
    ARROW_RETURN_NOT_OK(arrow::ExportSchema(*append.batches.front()->schema(), &c_schema));
    ConvertedSchemaHandle converted;
    auto st = ConsumeErrorData(duckdb_schema_from_arrow(impl_->conn, &c_schema, &converted.schema));
    if (c_schema.release) c_schema.release(&c_schema);
    ARROW_RETURN_NOT_OK(st);
    for (const auto& batch : append.batches) {
      for (int64_t offset = 0; offset < batch->num_rows(); offset += kChunkRows) {
        auto slice = batch->Slice(offset, kChunkRows);
        ArrowArray c_array;
        ARROW_RETURN_NOT_OK(arrow::ExportRecordBatch(*slice, &c_array));
        duckdb_data_chunk chunk = nullptr;
        auto converted_st = ConsumeErrorData(
            duckdb_data_chunk_from_arrow(impl_->conn, &c_array, converted.schema, &chunk));
        if (c_array.release) c_array.release(&c_array);  // DuckDB took what it needs
        owned.push_back(std::make_unique<DataChunkHandle>(chunk));
        ARROW_RETURN_NOT_OK(converted_st);
        target.chunks.push_back(chunk);
      }
    }
  }
  if (!impl_->in_transaction) {
    auto direct = DirectAppend(impl_->conn, impl_->catalog, targets);
    if (!direct.IsNotImplemented()) return direct;
  }
  // DuckDB's SQL appender: fills DEFAULTs and generated columns, casts where types differ.
  // It commits each flush on its own outside a transaction, hence ours.
  const bool own_transaction = !impl_->in_transaction;
  if (own_transaction) ARROW_RETURN_NOT_OK(Begin());
  auto st = [&]() -> arrow::Status {
    for (const auto& target : targets) {
      AppenderHandle appender;
      if (duckdb_appender_create_ext(impl_->conn, impl_->catalog.c_str(), target.schema.c_str(),
                                     target.table.c_str(), &appender.appender) == DuckDBError) {
        return appender.Error("cannot create appender");
      }
      for (const auto& column : target.columns) {
        if (duckdb_appender_add_column(appender.appender, column.c_str()) == DuckDBError) {
          return appender.Error("cannot select appender column");
        }
      }
      for (auto chunk : target.chunks) {
        if (duckdb_append_data_chunk(appender.appender, chunk) == DuckDBError) {
          return appender.Error("cannot append rows");
        }
      }
      // Close flushes (and, outside a transaction, commits); its result must be checked.
      if (duckdb_appender_close(appender.appender) == DuckDBError) {
        return appender.Error("cannot commit appended rows");
      }
    }
    return own_transaction ? Commit() : arrow::Status::OK();
  }();
  if (!st.ok() && own_transaction) Rollback();
  return st;
}

void Connection::DropArrowStream(const std::string& relation) {
  auto it = impl_->streams.find(relation);
  if (it == impl_->streams.end()) return;
  impl_->Query("DROP VIEW IF EXISTS " + relation);
  if (it->second->release) it->second->release(it->second.get());
  impl_->streams.erase(it);
}

namespace {

// Streams a DuckDB result as Arrow record batches of about `batch_rows` rows, gluing
// DuckDB's small (2048-row) chunks together so network writers see sensible batches.
class ResultBatchReader : public arrow::RecordBatchReader {
 public:
  ResultBatchReader(std::unique_ptr<Connection> owner, std::shared_ptr<arrow::Schema> schema,
                    std::unique_ptr<ResultHandle> result,
                    std::unique_ptr<ArrowOptionsHandle> options, int64_t batch_rows)
      : owner_(std::move(owner)),
        schema_(std::move(schema)),
        result_(std::move(result)),
        options_(std::move(options)),
        batch_rows_(batch_rows) {}

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  /// Stops a running query from another thread (used when a consumer goes away).
  void Interrupt() {
    if (owner_) owner_->Interrupt();
  }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    *out = nullptr;
    if (done_) return arrow::Status::OK();
    std::vector<std::shared_ptr<arrow::RecordBatch>> pieces;
    int64_t rows = 0;
    while (rows < batch_rows_) {
      DataChunkHandle chunk(duckdb_fetch_chunk(result_->result));
      if (chunk.chunk == nullptr) {
        done_ = true;
        const char* error = duckdb_result_error(&result_->result);
        if (error != nullptr) {
          return TranslateDuckDBError(duckdb_result_error_type(&result_->result), error);
        }
        break;
      }
      if (duckdb_data_chunk_get_size(chunk.chunk) == 0) continue;
      ArrowArray array;
      ARROW_RETURN_NOT_OK(
          ConsumeErrorData(duckdb_data_chunk_to_arrow(options_->options, chunk.chunk, &array)));
      ARROW_ASSIGN_OR_RAISE(auto batch, arrow::ImportRecordBatch(&array, schema_));
      rows += batch->num_rows();
      pieces.push_back(std::move(batch));
    }
    if (pieces.empty()) return arrow::Status::OK();
    if (pieces.size() == 1) {
      *out = std::move(pieces[0]);
      return arrow::Status::OK();
    }
    std::vector<std::shared_ptr<arrow::Array>> columns;
    columns.reserve(schema_->num_fields());
    for (int i = 0; i < schema_->num_fields(); ++i) {
      arrow::ArrayVector parts;
      parts.reserve(pieces.size());
      for (const auto& piece : pieces) parts.push_back(piece->column(i));
      ARROW_ASSIGN_OR_RAISE(auto column, arrow::Concatenate(parts));
      columns.push_back(std::move(column));
    }
    *out = arrow::RecordBatch::Make(schema_, rows, std::move(columns));
    return arrow::Status::OK();
  }

  arrow::Status Close() override {
    done_ = true;
    return arrow::Status::OK();
  }

 private:
  std::unique_ptr<Connection> owner_;  // may be null when the caller keeps the connection
  std::shared_ptr<arrow::Schema> schema_;
  std::unique_ptr<ResultHandle> result_;
  std::unique_ptr<ArrowOptionsHandle> options_;
  const int64_t batch_rows_;
  bool done_ = false;
};

arrow::Result<std::shared_ptr<arrow::Schema>> ArrowSchemaOf(
    duckdb_arrow_options options, std::vector<LogicalTypeHandle>& types,
    const std::vector<std::string>& names) {
  std::vector<duckdb_logical_type> raw_types;
  std::vector<const char*> raw_names;
  for (auto& t : types) raw_types.push_back(t.type);
  for (auto& n : names) raw_names.push_back(n.c_str());
  ArrowSchema c_schema;
  ARROW_RETURN_NOT_OK(ConsumeErrorData(duckdb_to_arrow_schema(
      options, raw_types.data(), raw_names.data(), raw_types.size(), &c_schema)));
  return arrow::ImportSchema(&c_schema);
}

arrow::Status Prepare(duckdb_connection conn, const std::string& sql,
                      const std::vector<std::string>& parameters, PreparedHandle* out) {
  if (duckdb_prepare(conn, sql.c_str(), &out->stmt) == DuckDBError) {
    const char* error = duckdb_prepare_error(out->stmt);
    return TranslateDuckDBError(-1, error ? error : "cannot prepare statement");
  }
  const auto expected = duckdb_nparams(out->stmt);
  if (expected != parameters.size()) {
    return arrow::Status::Invalid("query has ", expected, " parameter(s) but ",
                                  parameters.size(), " were given");
  }
  for (size_t i = 0; i < parameters.size(); ++i) {
    if (duckdb_bind_varchar_length(out->stmt, i + 1, parameters[i].data(),
                                   parameters[i].size()) == DuckDBError) {
      return arrow::Status::Invalid("cannot bind parameter ", i + 1);
    }
  }
  return arrow::Status::OK();
}

arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> StartQuery(
    duckdb_connection conn, std::unique_ptr<Connection> owner, const std::string& sql,
    const QueryOptions& options) {
  PreparedHandle prepared;
  ARROW_RETURN_NOT_OK(Prepare(conn, sql, options.parameters, &prepared));
  PendingHandle pending;
  if (duckdb_pending_prepared_streaming(prepared.stmt, &pending.pending) == DuckDBError) {
    const char* error = duckdb_pending_error(pending.pending);
    return TranslateDuckDBError(-1, error ? error : "cannot start query");
  }
  auto result = std::make_unique<ResultHandle>();
  auto state = duckdb_execute_pending(pending.pending, &result->result);
  result->valid = true;
  if (state == DuckDBError) return ResultError(&result->result);

  const idx_t n = duckdb_column_count(&result->result);
  std::vector<LogicalTypeHandle> types;
  std::vector<std::string> names;
  for (idx_t i = 0; i < n; ++i) {
    types.emplace_back(duckdb_column_logical_type(&result->result, i));
    names.emplace_back(duckdb_column_name(&result->result, i));
  }
  auto arrow_options = std::make_unique<ArrowOptionsHandle>();
  arrow_options->options = duckdb_result_get_arrow_options(&result->result);
  ARROW_ASSIGN_OR_RAISE(auto schema, ArrowSchemaOf(arrow_options->options, types, names));
  const bool prefetch = options.prefetch && owner != nullptr;
  auto reader = std::make_shared<ResultBatchReader>(
      std::move(owner), std::move(schema), std::move(result), std::move(arrow_options),
      std::max<int64_t>(options.batch_rows, 1));
  if (!prefetch) return reader;
  // DuckDB fetches and converts the next batches while the consumer sends this one.
  ResultBatchReader* raw = reader.get();
  return MakePrefetchingReader(reader, /*depth=*/2, [raw] { raw->Interrupt(); });
}

}  // namespace

arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> Connection::Query(
    std::unique_ptr<Connection> connection, const std::string& sql,
    const QueryOptions& options) {
  duckdb_connection conn = connection->impl_->conn;
  return StartQuery(conn, std::move(connection), sql, options);
}

arrow::Result<std::shared_ptr<arrow::Table>> Connection::QueryTable(
    const std::string& sql, const std::vector<std::string>& parameters) {
  QueryOptions options;
  options.parameters = parameters;
  ARROW_ASSIGN_OR_RAISE(auto reader, StartQuery(impl_->conn, nullptr, sql, options));
  return reader->ToTable();
}

arrow::Result<std::shared_ptr<arrow::Schema>> Connection::DescribeQuery(
    const std::string& sql) {
  PreparedHandle prepared;
  if (duckdb_prepare(impl_->conn, sql.c_str(), &prepared.stmt) == DuckDBError) {
    const char* error = duckdb_prepare_error(prepared.stmt);
    return TranslateDuckDBError(-1, error ? error : "cannot prepare statement");
  }
  const idx_t n = duckdb_prepared_statement_column_count(prepared.stmt);
  std::vector<LogicalTypeHandle> types;
  std::vector<std::string> names;
  for (idx_t i = 0; i < n; ++i) {
    types.emplace_back(duckdb_prepared_statement_column_logical_type(prepared.stmt, i));
    // The C API hands over a copy of the name; it must be freed here.
    const char* name = duckdb_prepared_statement_column_name(prepared.stmt, i);
    names.emplace_back(name ? name : "");
    if (name) duckdb_free(const_cast<char*>(name));
  }
  ArrowOptionsHandle options;
  duckdb_connection_get_arrow_options(impl_->conn, &options.options);
  return ArrowSchemaOf(options.options, types, names);
}

arrow::Status Connection::ColumnsFromDescribe(const arrow::Table& table,
                                              std::vector<ColumnInfo>* columns) {
  ARROW_ASSIGN_OR_RAISE(auto flat, table.CombineChunksToBatch());
  auto names = flat->GetColumnByName("column_name");
  auto types = flat->GetColumnByName("column_type");
  auto nulls = flat->GetColumnByName("null");
  if (!names || !types || !nulls) return arrow::Status::IOError("unexpected DESCRIBE output");
  columns->clear();
  for (int64_t i = 0; i < flat->num_rows(); ++i) {
    ARROW_ASSIGN_OR_RAISE(auto n, names->GetScalar(i));
    ARROW_ASSIGN_OR_RAISE(auto t, types->GetScalar(i));
    ARROW_ASSIGN_OR_RAISE(auto z, nulls->GetScalar(i));
    columns->push_back({n->ToString(), t->ToString(), z->ToString() != "NO"});
  }
  return arrow::Status::OK();
}

arrow::Result<std::optional<std::vector<ColumnInfo>>> Connection::DescribeRelation(
    const std::string& name) {
  // DESCRIBE of a missing relation would fail and abort the caller's transaction, and
  // duckdb_columns() enumerates the whole catalog (milliseconds); so existence is checked
  // first through the C API's table description (or duckdb_views() for views).
  duckdb_table_description description = nullptr;
  const bool is_table = duckdb_table_description_create_ext(impl_->conn, impl_->catalog.c_str(),
                                                            "main", name.c_str(),
                                                            &description) == DuckDBSuccess;
  duckdb_table_description_destroy(&description);
  if (!is_table) {
    ARROW_ASSIGN_OR_RAISE(
        auto views, QueryTable("SELECT 1 FROM duckdb_views() WHERE database_name = $1 AND "
                               "schema_name = 'main' AND view_name = $2",
                               {impl_->catalog, name}));
    if (views->num_rows() == 0) return std::nullopt;
  }
  ARROW_ASSIGN_OR_RAISE(auto table, QueryTable("DESCRIBE " + QuoteIdentifier(impl_->catalog) +
                                               ".main." + QuoteIdentifier(name)));
  std::vector<ColumnInfo> columns;
  ARROW_RETURN_NOT_OK(ColumnsFromDescribe(*table, &columns));
  return columns;
}

arrow::Result<std::vector<TableInfo>> Connection::ListRelations() {
  ARROW_ASSIGN_OR_RAISE(
      auto table,
      QueryTable("SELECT table_name AS name, 'table' AS kind, estimated_size::BIGINT AS rows "
                 "FROM duckdb_tables() WHERE NOT temporary AND schema_name = 'main' "
                 "AND database_name = current_database() "
                 "UNION ALL SELECT view_name, 'view', -1::BIGINT FROM duckdb_views() "
                 "WHERE NOT internal AND NOT temporary AND schema_name = 'main' "
                 "AND database_name = current_database() ORDER BY name"));
  ARROW_ASSIGN_OR_RAISE(auto flat, table->CombineChunksToBatch());
  std::vector<TableInfo> out;
  for (int64_t i = 0; i < flat->num_rows(); ++i) {
    ARROW_ASSIGN_OR_RAISE(auto n, flat->column(0)->GetScalar(i));
    ARROW_ASSIGN_OR_RAISE(auto k, flat->column(1)->GetScalar(i));
    ARROW_ASSIGN_OR_RAISE(auto r, flat->column(2)->GetScalar(i));
    out.push_back({n->ToString(), k->ToString(), std::stoll(r->ToString())});
  }
  return out;
}

}  // namespace arrowport::storage
