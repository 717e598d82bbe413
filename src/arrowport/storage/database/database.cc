#include "arrowport/storage/database/database.h"

#include <duckdb.h>

#include <atomic>
#include <condition_variable>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <thread>

#include "arrow/scalar.h"
#include "arrow/table.h"
#include "arrow/util/string.h"
#include "arrowport/common/secret_text.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/storage/memory/allocation_guard.h"
#include "arrowport/storage/database/connection_impl.h"
#include "arrowport/storage/database/database_impl.h"
#include "arrowport/storage/core/duckdb_error.h"
#include "arrowport/storage/core/duckdb_handle.h"
#include "arrowport/storage/core/duckdb_internals.h"
#include "arrowport/storage/memory/memory_limit.h"
#include "arrowport/storage/database/database_sql.h"
#include "arrowport/storage/sandbox/sql_sandbox_settings.h"
#include "arrowport/storage/files/view_file_system.h"

namespace arrowport::storage {

namespace {
// DuckDB's own default checkpoint_threshold.
constexpr int64_t kDefaultCheckpointWalBytes = int64_t{16} << 20;
// Besides twice its WAL (replayed into the database file, with DuckDB's recovery copy
// beside it), what opening a database may write: headers, metadata, a first block.
constexpr int64_t kOpenSlackBytes = int64_t{8} << 20;

std::string Directory(const std::string& path) {
  const auto parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

// What opening the database may need free under its directory: DuckDB 2.0 replays the
// WAL into memory, but a checkpoint left unfinished (a full disk) makes it write a recovery
// copy of the WAL and the checkpoint again: about twice the WAL, plus headers and metadata.
int64_t SpaceToOpen(const std::string& path) {
  return 2 * FileBytes(path + ".wal") + kOpenSlackBytes;
}
}  // namespace

Database::Database(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Database::~Database() = default;
const std::string& Database::path() const { return impl_->path; }
bool Database::direct_append_enabled() const { return impl_->direct_append; }
std::string Database::LibraryVersion() { return duckdb_library_version(); }
const std::string& Database::memory_limit() const { return impl_->memory_limit; }
const std::string& Database::catalog() const { return impl_->catalog; }
int64_t Database::max_query_memory() const { return impl_->max_query_memory; }
int64_t Database::allocated_bytes() { return AllocationGuard::live_bytes(); }
int64_t Database::allocation_budget_bytes() { return AllocationGuard::budget_bytes(); }
bool Database::operator_new_guarded() { return AllocationGuard::NewOverrideActive(); }

namespace {

// A SET disabled_optimizers in duckdb.init_sql replaces the whole list: what it names stays
// disabled, and late materialization with it unless duckdb.late_materialization asks for it.
arrow::Status KeepLateMaterializationOff(Connection* conn) {
  ARROW_ASSIGN_OR_RAISE(
      auto table, conn->QueryTable("SELECT current_setting('disabled_optimizers')::VARCHAR"));
  ARROW_ASSIGN_OR_RAISE(auto value, table->column(0)->GetScalar(0));
  const std::string disabled = value->is_valid ? value->ToString() : "";
  if (disabled.find("late_materialization") != std::string::npos) return arrow::Status::OK();
  const std::string list = disabled.empty() ? "late_materialization"
                                            : disabled + ",late_materialization";
  auto st = conn->Execute("SET disabled_optimizers = '" + list + "'");
  if (st.ok()) return st;
  return st.WithMessage("duckdb.late_materialization: cannot add it to the optimizers '",
                        disabled, "' duckdb.init_sql disabled: ", st.message());
}

}  // namespace

arrow::Result<std::unique_ptr<Database>> Database::Open(const DatabaseOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->path = options.path;
  impl->request_memory = options.request_memory;
  const std::string expected = options.expected_duckdb_version.empty()
                                   ? std::string(ARROWPORT_DUCKDB_BUILT_VERSION)
                                   : options.expected_duckdb_version;
  impl->direct_append = !expected.empty() && expected == duckdb_library_version();
  impl->checkpoint_wal_bytes =
      options.checkpoint_wal_bytes > 0 ? options.checkpoint_wal_bytes : kDefaultCheckpointWalBytes;
  auto database = std::unique_ptr<Database>(new Database(std::move(impl)));
  ARROW_ASSIGN_OR_RAISE(auto instance, database->OpenInstance());
  {
    std::lock_guard<std::mutex> lock(database->impl_->instance_mutex);
    (void)database->impl_->kept_reads->Serve(instance.get());
    database->impl_->instance = std::move(instance);
  }
  if (options.path != ":memory:") database->StartCheckpointer();
  return database;
}

namespace {

// DuckDB's configuration from the operator's options.
arrow::Result<ConfigHandle> MakeConfig(const DatabaseOptions& options) {
  ConfigHandle config_handle;
  if (duckdb_create_config(config_handle.out()) == DuckDBError) {
    return arrow::Status::OutOfMemory("cannot allocate DuckDB config");
  }
  duckdb_config config = config_handle.get();
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
  // No checkpoint at commit (on a client's call, where the allocation guard could refuse
  // part of it, which DuckDB takes as fatal): the checkpointer thread takes them.
  ARROW_RETURN_NOT_OK(set("checkpoint_threshold", "1000000GB"));
  // A lake view is bound again at every commit the server sees (its own and other
  // nodes'), reading every data file's footer: cached (lake files never change; DuckDB's
  // object cache is a bounded LRU), a commit reads only the new files' footers.
  ARROW_RETURN_NOT_OK(set("parquet_metadata_cache", "true"));
  if (!options.late_materialization) {
    auto off = set("disabled_optimizers", "late_materialization");
    if (!off.ok()) return off.WithMessage("duckdb.late_materialization: ", off.message());
  }
  return config_handle;
}

// Opens the database file (or memory) into `db`; a disk too full to replay the WAL is
// told as such, with the space it needs.
arrow::Status OpenDuckDB(const DatabaseOptions& options, duckdb_config config,
                         DatabaseHandle* db) {
  // A write-ahead log without its database (the file deleted after a crash): DuckDB
  // started an empty database and deleted the log, every row it held with it (an attack
  // run). An empty log holds nothing.
  std::error_code no_file;
  if (options.path != ":memory:" && !std::filesystem::exists(options.path, no_file) &&
      FileBytes(options.path + ".wal") > 0) {
    return arrow::Status::IOError(
        "the database file '", options.path, "' is missing but its write-ahead log '",
        options.path, ".wal' is there, with rows it would lose: restore the database file, "
        "or move the log aside to start with an empty database");
  }
  char* error = nullptr;
  const char* path = options.path == ":memory:" ? nullptr : options.path.c_str();
  if (duckdb_open_ext(path, db->out(), config, &error) != DuckDBError) {
    return arrow::Status::OK();
  }
  std::string message = error ? error : "unknown error";
  if (error) duckdb_free(error);
  auto st = TranslateDuckDBError(-1, message);
  if (HasErrorKind(st, ErrorKind::kDiskFull)) {
    auto free = FreeBytesUnder(Directory(options.path));
    return DiskFull("disk full: ", free.ok() ? *free >> 20 : 0, " MiB free under ",
                    Directory(options.path), ", opening the database '", options.path,
                    "' needs about ", SpaceToOpen(options.path) >> 20,
                    " MiB (its write-ahead log is replayed); free space there and start "
                    "again (", message, ")");
  }
  return arrow::Status::IOError("cannot open database '", options.path, "': ", message);
}

// The first value of a one-row query, as text.
arrow::Result<std::string> QueryText(Connection* conn, const std::string& sql) {
  ARROW_ASSIGN_OR_RAISE(auto table, conn->QueryTable(sql));
  ARROW_ASSIGN_OR_RAISE(auto scalar, table->column(0)->GetScalar(0));
  return scalar->ToString();
}

// duckdb.init_sql, in order; then late materialization kept off if it re-enabled it.
arrow::Status RunInitSql(Connection* conn, const DatabaseOptions& options) {
  for (size_t i = 0; i < options.init_sql.size(); ++i) {
    const std::string& sql = options.init_sql[i];
    auto st = conn->Execute(sql);
    if (st.ok()) continue;
    // Printed and logged: a statement holding a secret (an ATTACH with a password, a
    // CREATE SECRET) is named by its place, and so is an error that echoes one.
    if (!HoldsSecret(sql)) {
      return st.WithMessage("duckdb.init_sql '", sql, "': ", st.message());
    }
    return st.WithMessage("duckdb.init_sql[", i, "] (not shown: it holds a secret): ",
                          HoldsSecret(st.message()) ? "DuckDB refused it (its words are not "
                                                      "shown: they may repeat the secret)"
                                                    : st.message());
  }
  if (!options.late_materialization) {
    ARROW_RETURN_NOT_OK(KeepLateMaterializationOff(conn));
  }
  return arrow::Status::OK();
}

// The filesystems the database writes: its file and WAL, and where DuckDB spills
// (temp_directory, as duckdb.init_sql may have moved it; "" = no spilling).
arrow::Result<std::shared_ptr<DiskWatch>> MakeDiskWatch(Connection* conn,
                                                        const DatabaseOptions& options) {
  std::vector<std::string> directories;
  if (options.path != ":memory:") directories.push_back(Directory(options.path));
  ARROW_ASSIGN_OR_RAISE(
      auto temp, conn->QueryTable("SELECT current_setting('temp_directory')::VARCHAR"));
  ARROW_ASSIGN_OR_RAISE(auto temp_scalar, temp->column(0)->GetScalar(0));
  if (temp_scalar->is_valid && !temp_scalar->ToString().empty()) {
    directories.push_back(temp_scalar->ToString());
  }
  const bool memory = options.path == ":memory:";
  return std::make_shared<DiskWatch>(std::move(directories),
                                     memory ? 0 : options.min_free_bytes,
                                     memory ? "" : options.path);
}

// The views read their files through the view file system, which opens the files their
// globs match and nothing else; DuckDB's C++ API is needed for it (`gated`; without it
// client SQL is refused anyway, and DuckDB allows the globs' folders). Last, once the
// server's own setup is done: no file or network access from SQL (beyond the configured
// views' files), and the operator's settings (memory_limit, threads, temp directory,
// external access, ...) final, so SQL from clients cannot undo either, raise limits for
// everyone (SET GLOBAL threads=3000) or starve every other request (SET GLOBAL
// memory_limit='1MB').
arrow::Status ServeViewsAndLockDown(Connection* conn, duckdb_database db,
                                    const DatabaseOptions& options, bool gated) {
  if (gated) {
    RegisterViewFileSystem(db, options.file_views);
  }
  ARROW_RETURN_NOT_OK(CreateFileViews(conn, options.file_views, gated));
  // A view whose entry left the config stays in the database file, listed, and failed
  // every read with a sandbox refusal of a path the user never wrote.
  auto dropped = DropUnconfiguredFileViews(conn, options.file_views);
  if (options.on_event) {
    if (!dropped.ok()) {
      options.on_event("views of an earlier config not dropped",
                       dropped.status().message());
    } else {
      for (const auto& name : *dropped) {
        options.on_event("view dropped: no longer in the config's views:", name);
      }
    }
  }
  auto sandbox =
      gated ? SqlSandboxSettings() : SqlSandboxSettings::ForViews(options.file_views);
  if (gated) sandbox.AllowDirectory(kViewPathPrefix);
  sandbox.AllowDirectory(kLakePathPrefix);
  for (const auto& statement : sandbox.Statements()) {
    ARROW_RETURN_NOT_OK(conn->Execute(statement));
  }
  return arrow::Status::OK();
}

}  // namespace

arrow::Result<std::shared_ptr<Database::Instance>> Database::OpenInstance() {
  const DatabaseOptions& options = impl_->options;
  ARROW_ASSIGN_OR_RAISE(ConfigHandle config_handle, MakeConfig(options));
  duckdb_config config = config_handle.get();
  // Before DuckDB allocates anything: what it allocates is counted from the start (the
  // budget is set once the memory limit is known; opened again, it stays as it is).
  if (impl_->catalog.empty()) AllocationGuard::Install(AllocationGuard::budget_bytes());
  AllocationGuard::GuardDatabase(config);
  auto instance = std::make_shared<Instance>();
  {
    // Opening replays the write-ahead log (and may checkpoint it), which, like a commit,
    // must never meet a refusal: the first opening runs before the budget is set, a
    // reopen after an invalidation under it, and a log of large values the first opening
    // replayed failed to reopen, for ever.
    AllocationGuard::CommitScope replaying;
    AllocationGuard::Suspension checkpointing;
    ARROW_RETURN_NOT_OK(OpenDuckDB(options, config, &instance->db));
  }
  ARROW_ASSIGN_OR_RAISE(auto conn, ConnectTo(instance));
  if (auto attached = conn->Execute(std::string("ATTACH ':memory:' AS ") + kScratchCatalog);
      !attached.ok()) {
    // DuckDB names the database after its file: one named as the server's own catalog
    // failed to start with DuckDB's words only (an attack run).
    auto name = QueryText(conn.get(), "SELECT current_database()");
    if (name.ok() && arrow::internal::AsciiToLower(*name) == kScratchCatalog) {
      return arrow::Status::Invalid("the database file '", options.path, "' is named as the ",
                                    "server's own scratch catalog (", kScratchCatalog,
                                    "): give the file another name");
    }
    return attached;
  }
  // Streams are scanned whole (see DisableArrowScanPushdown); without DuckDB's C++ API
  // (another library version) client SQL, transforms included, is refused anyway.
  if (impl_->direct_append) {
    instance->duckdb_alive = DuckDBInstanceAlive(conn->impl_->conn.get());
    ARROW_RETURN_NOT_OK(DisableArrowScanPushdown(conn->impl_->conn.get()));
    ARROW_RETURN_NOT_OK(HardenDuckDBFunctions(conn->impl_->conn.get()));
    RegisterLakeFileSystem(instance->db.get(), options.lake_stores);
    ARROW_RETURN_NOT_OK(RegisterLakeFunctions(conn->impl_->conn.get(), options.lake_stores));
  }
  // The first opening learns the database's name and limits; opening it again after an
  // invalidation keeps them (others read them meanwhile).
  if (impl_->catalog.empty()) {
    ARROW_ASSIGN_OR_RAISE(impl_->catalog,
                          QueryText(conn.get(), "SELECT current_database()"));
    ARROW_ASSIGN_OR_RAISE(
        impl_->memory_limit,
        QueryText(conn.get(), "SELECT current_setting('memory_limit')::VARCHAR"));
    impl_->max_query_memory =
        options.max_query_memory > 0
            ? options.max_query_memory
            : DefaultQueryMemoryBytes(MemoryLimitBytes(instance->db.get()));
    AllocationGuard::Install(MemoryLimitBytes(instance->db.get()) + impl_->max_query_memory,
                             impl_->max_query_memory);
  }
  ARROW_ASSIGN_OR_RAISE(conn, ConnectTo(instance));  // now knows the catalog name
  if (impl_->direct_append) {
    instance->invalidation = InvalidationWatch(conn->impl_->conn.get(), impl_->catalog);
  }
  ARROW_RETURN_NOT_OK(RunInitSql(conn.get(), options));
  if (!impl_->disk) {
    ARROW_ASSIGN_OR_RAISE(impl_->disk, MakeDiskWatch(conn.get(), options));
    // Later connections check writes against it (made before this one did not write).
    conn->impl_->disk = impl_->disk;
  }
  if (impl_->direct_append) instance->disk = impl_->disk;
  ARROW_RETURN_NOT_OK(ServeViewsAndLockDown(conn.get(), instance->db.get(), options,
                                            impl_->direct_append));
  return instance;
}

arrow::Result<Database::SettingsInForce> Database::Settings() {
  ARROW_ASSIGN_OR_RAISE(auto conn, Connect());
  ARROW_ASSIGN_OR_RAISE(auto table,
                        conn->QueryTable("SELECT current_setting('threads')::VARCHAR, "
                                         "current_setting('memory_limit')::VARCHAR, "
                                         "current_setting('enable_external_access')::VARCHAR"));
  SettingsInForce settings;
  ARROW_ASSIGN_OR_RAISE(auto threads, table->column(0)->GetScalar(0));
  ARROW_ASSIGN_OR_RAISE(auto memory, table->column(1)->GetScalar(0));
  ARROW_ASSIGN_OR_RAISE(auto access, table->column(2)->GetScalar(0));
  settings.threads = threads->ToString();
  settings.memory_limit = memory->ToString();
  settings.external_access = access->ToString() == "true";
  return settings;
}

arrow::Result<std::unique_ptr<Connection>> Database::Connect() {
  std::shared_ptr<Instance> instance;
  std::string invalidated_by;
  {
    std::lock_guard<std::mutex> lock(impl_->instance_mutex);
    instance = impl_->instance;
    if (instance == nullptr) invalidated_by = impl_->health.invalidated_by;
  }
  // Invalidated an instant ago, not yet seen by the upkeep thread (at most a tick): the
  // same answer, rather than a connection every statement of which fails.
  if (instance != nullptr) invalidated_by = instance->InvalidatedBy();
  if (instance == nullptr || !invalidated_by.empty()) {
    return ServerBusy("the database is being reopened: DuckDB invalidated it (",
                      invalidated_by, "); committed data is kept, retry in a few seconds");
  }
  return ConnectTo(instance);
}

arrow::Result<std::unique_ptr<Connection>> Database::ConnectForRead() {
  std::unique_ptr<Connection> connection;
  if (auto kept = impl_->kept_reads->Take()) {
    connection.reset(new Connection(std::move(kept)));
  } else {
    ARROW_ASSIGN_OR_RAISE(connection, Connect());
  }
  connection->impl_->lender = impl_->kept_reads;
  return connection;
}

size_t Database::kept_read_connections() const { return impl_->kept_reads->size(); }
uint64_t Database::kept_read_plans_made() const { return impl_->kept_reads->plans_made(); }

arrow::Result<Database::CatalogLease> Database::LeaseCatalogConnection() {
  std::shared_ptr<Instance> instance;
  {
    std::lock_guard<std::mutex> lock(impl_->instance_mutex);
    if (impl_->idle_catalog != nullptr) {
      return CatalogLease(this, std::move(impl_->idle_catalog));
    }
    instance = impl_->instance;
  }
  // Refused while the database is reopened, as Connect refuses it.
  ARROW_ASSIGN_OR_RAISE(auto connection, instance ? ConnectTo(instance) : Connect());
  return CatalogLease(this, std::move(connection));
}

Database::CatalogLease& Database::CatalogLease::operator=(CatalogLease&& other) noexcept {
  if (this != &other) {
    GiveBack();
    owner_ = other.owner_;
    connection_ = std::move(other.connection_);
  }
  return *this;
}

Database::CatalogLease::~CatalogLease() { GiveBack(); }

void Database::CatalogLease::GiveBack() {
  if (connection_ == nullptr || owner_ == nullptr) return;
  std::unique_ptr<Connection> closing = std::move(connection_);
  // A transaction left open would hold the next lease's reads in its snapshot (asked
  // through DuckDB's internals: only with the library it was built against).
  if (closing->impl_->direct_append && !closing->in_transaction()) {
    Impl& db = *owner_->impl_;
    std::lock_guard<std::mutex> lock(db.instance_mutex);
    if (db.idle_catalog == nullptr && db.instance != nullptr &&
        closing->impl_->instance == db.instance) {
      db.idle_catalog = std::move(closing);
    }
  }
  // Otherwise closed here, outside the lock.
}

arrow::Result<std::unique_ptr<Connection>> Database::ConnectTo(
    const std::shared_ptr<Instance>& instance) {
  auto impl = std::make_unique<Connection::Impl>();
  if (duckdb_connect(instance->db.get(), impl->conn.out()) == DuckDBError) {
    return arrow::Status::IOError("cannot connect to database '", impl_->path, "'");
  }
  impl->instance = instance;
  impl->disk = impl_->disk;
  impl->catalog = impl_->catalog;
  impl->next_stream = &impl_->next_stream;
  impl->direct_append = impl_->direct_append;
  impl->max_value_bytes = impl_->max_query_memory;
  impl->request_memory = impl_->request_memory;
  impl->gates = impl_->gates;
  impl->parses = impl_->parses;
  return std::unique_ptr<Connection>(new Connection(std::move(impl)));
}

}  // namespace arrowport::storage
