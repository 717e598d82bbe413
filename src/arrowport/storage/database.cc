#include "arrowport/storage/database.h"

#include <duckdb.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "arrow/scalar.h"
#include "arrow/table.h"
#include "arrowport/storage/allocation_guard.h"
#include "arrowport/storage/connection_impl.h"
#include "arrowport/storage/duckdb_handle.h"
#include "arrowport/storage/duckdb_internals.h"
#include "arrowport/storage/memory_limit.h"
#include "arrowport/storage/relation_sql.h"
#include "arrowport/storage/sql_sandbox_settings.h"
#include "arrowport/storage/view_file_system.h"

namespace arrowport::storage {

namespace {
// DuckDB's own default checkpoint_threshold.
constexpr int64_t kDefaultCheckpointWalBytes = int64_t{16} << 20;
}  // namespace

struct Database::Impl {
  DatabaseHandle db;
  std::string path;
  std::string catalog;                   // name of the main catalog (current_database())
  std::string memory_limit;              // effective, as DuckDB reports it
  std::atomic<uint64_t> next_stream{0};  // unique view names across connections
  bool direct_append = false;            // DuckDB's internals match the build
  int64_t max_query_memory = 0;          // effective limits.max_query_memory
  std::shared_ptr<MemoryBudget> request_memory;  // may be null
  // Keeps changes of a table's shape apart from writes to it (Connection::Hold).
  std::shared_ptr<TableGates> gates = std::make_shared<TableGates>();
  // The checkpointer: checkpoints when the WAL passes checkpoint_wal_bytes.
  int64_t checkpoint_wal_bytes = 0;
  // DuckDB refuses a CHECKPOINT while another one's transaction is open: the action's and
  // the checkpointer's take turns.
  std::mutex checkpoint_mutex;
  mutable std::mutex checkpointer_mutex;  // guards stopping and state
  std::condition_variable checkpointer_wake;
  bool stopping = false;
  CheckpointerState state;
  std::thread checkpointer;

  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(checkpointer_mutex);
      stopping = true;
    }
    checkpointer_wake.notify_all();
    if (checkpointer.joinable()) checkpointer.join();
    // Closing checkpoints: never to meet a refusal.
    AllocationGuard::Suspension suspended;
    db.reset();
  }
};

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
  if (!options.late_materialization) {
    auto off = set("disabled_optimizers", "late_materialization");
    if (!off.ok()) return off.WithMessage("duckdb.late_materialization: ", off.message());
  }

  // Before DuckDB allocates anything: what it allocates is counted from the start (the
  // budget is set once the memory limit is known).
  AllocationGuard::Install(AllocationGuard::budget_bytes());
  AllocationGuard::GuardDatabase(config);
  auto impl = std::make_unique<Impl>();
  impl->path = options.path;
  impl->request_memory = options.request_memory;
  const std::string expected = options.expected_duckdb_version.empty()
                                   ? std::string(ARROWPORT_DUCKDB_BUILT_VERSION)
                                   : options.expected_duckdb_version;
  impl->direct_append = !expected.empty() && expected == duckdb_library_version();
  char* error = nullptr;
  const char* path = options.path == ":memory:" ? nullptr : options.path.c_str();
  if (duckdb_open_ext(path, impl->db.out(), config, &error) == DuckDBError) {
    std::string message = error ? error : "unknown error";
    if (error) duckdb_free(error);
    return arrow::Status::IOError("cannot open database '", options.path, "': ", message);
  }
  auto database = std::unique_ptr<Database>(new Database(std::move(impl)));
  ARROW_ASSIGN_OR_RAISE(auto conn, database->Connect());
  ARROW_RETURN_NOT_OK(conn->Execute(std::string("ATTACH ':memory:' AS ") + kScratchCatalog));
  // Streams are scanned whole (see DisableArrowScanPushdown); without DuckDB's C++ API
  // (another library version) client SQL, transforms included, is refused anyway.
  if (database->impl_->direct_append) {
    ARROW_RETURN_NOT_OK(DisableArrowScanPushdown(conn->impl_->conn.get()));
    RegisterLakeFileSystem(database->impl_->db.get(), options.lake_stores);
    ARROW_RETURN_NOT_OK(RegisterLakeFunctions(conn->impl_->conn.get(), options.lake_stores));
  }
  ARROW_ASSIGN_OR_RAISE(auto name, conn->QueryTable("SELECT current_database()"));
  ARROW_ASSIGN_OR_RAISE(auto scalar, name->column(0)->GetScalar(0));
  database->impl_->catalog = scalar->ToString();
  ARROW_ASSIGN_OR_RAISE(auto limit,
                        conn->QueryTable("SELECT current_setting('memory_limit')::VARCHAR"));
  ARROW_ASSIGN_OR_RAISE(auto limit_scalar, limit->column(0)->GetScalar(0));
  database->impl_->memory_limit = limit_scalar->ToString();
  database->impl_->max_query_memory =
      options.max_query_memory > 0
          ? options.max_query_memory
          : DefaultQueryMemoryBytes(MemoryLimitBytes(database->impl_->db.get()));
  AllocationGuard::Install(
      MemoryLimitBytes(database->impl_->db.get()) + database->impl_->max_query_memory,
      database->impl_->max_query_memory);
  database->impl_->checkpoint_wal_bytes =
      options.checkpoint_wal_bytes > 0 ? options.checkpoint_wal_bytes : kDefaultCheckpointWalBytes;
  if (options.path != ":memory:") database->StartCheckpointer();
  ARROW_ASSIGN_OR_RAISE(conn, database->Connect());  // now knows the catalog name
  for (const auto& sql : options.init_sql) {
    auto st = conn->Execute(sql);
    if (!st.ok()) return st.WithMessage("duckdb.init_sql '", sql, "': ", st.message());
  }
  if (!options.late_materialization) ARROW_RETURN_NOT_OK(KeepLateMaterializationOff(conn.get()));
  // The views read their files through the view file system, which opens the files
  // their globs match and nothing else; DuckDB's C++ API is needed for it (without it
  // client SQL is refused anyway, and DuckDB allows the globs' folders).
  const bool gated = database->impl_->direct_append;
  if (gated) {
    std::vector<std::string> locations;
    for (const auto& view : options.file_views) locations.push_back(view.second);
    RegisterViewFileSystem(database->impl_->db.get(), locations);
  }
  ARROW_RETURN_NOT_OK(CreateFileViews(conn.get(), options.file_views, gated));
  // Last, once the server's own setup is done: no file or network access from SQL
  // (beyond the configured views' files), and the operator's settings (memory_limit,
  // threads, temp directory, external access, ...) final, so SQL from clients cannot
  // undo either, raise limits for everyone (SET GLOBAL threads=3000) or starve every
  // other request (SET GLOBAL memory_limit='1MB').
  auto sandbox =
      gated ? SqlSandboxSettings() : SqlSandboxSettings::ForViews(options.file_views);
  if (gated) sandbox.AllowDirectory(kViewPathPrefix);
  sandbox.AllowDirectory(kLakePathPrefix);
  ARROW_RETURN_NOT_OK(sandbox.Apply(conn.get()));
  return database;
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

arrow::Status Database::Checkpoint() {
  ARROW_ASSIGN_OR_RAISE(auto conn, Connect());
  std::lock_guard<std::mutex> one_at_a_time(impl_->checkpoint_mutex);
  AllocationGuard::Suspension suspended;
  AllocationGuard::CommitScope checkpointing;  // nothing of this thread's is refused
  return conn->Execute("CHECKPOINT");
}

Database::CheckpointerState Database::checkpointer_state() const {
  std::lock_guard<std::mutex> lock(impl_->checkpointer_mutex);
  return impl_->state;
}

int64_t Database::WalBytes() const {
  if (impl_->path == ":memory:") return 0;
  std::error_code error;
  const auto size = std::filesystem::file_size(impl_->path + ".wal", error);
  return error ? 0 : static_cast<int64_t>(size);
}

void Database::StartCheckpointer() {
  impl_->checkpointer = std::thread([this] { RunCheckpointer(); });
}

void Database::RunCheckpointer() {
  constexpr auto kPeriod = std::chrono::milliseconds(250);
  constexpr auto kLongestWait = std::chrono::seconds(30);
  std::unique_lock<std::mutex> lock(impl_->checkpointer_mutex);
  while (!impl_->stopping) {
    // After failures (a transaction in DuckDB's way), each attempt waits twice as long.
    const int64_t failures = std::min<int64_t>(impl_->state.failures_in_a_row, 7);
    const auto wait = std::min<std::chrono::milliseconds>(kPeriod * (int64_t{1} << failures),
                                                          kLongestWait);
    impl_->checkpointer_wake.wait_for(lock, wait, [this] { return impl_->stopping; });
    if (impl_->stopping) break;
    if (WalBytes() < impl_->checkpoint_wal_bytes) continue;
    lock.unlock();
    auto st = Checkpoint();
    lock.lock();
    if (st.ok()) {
      impl_->state.failures_in_a_row = 0;
    } else {
      ++impl_->state.failures_in_a_row;
      impl_->state.last_error = st.message();
    }
  }
}

arrow::Result<std::unique_ptr<Connection>> Database::Connect() {
  auto impl = std::make_unique<Connection::Impl>();
  if (duckdb_connect(impl_->db.get(), impl->conn.out()) == DuckDBError) {
    return arrow::Status::IOError("cannot connect to database '", impl_->path, "'");
  }
  impl->catalog = impl_->catalog;
  impl->next_stream = &impl_->next_stream;
  impl->direct_append = impl_->direct_append;
  impl->max_value_bytes = impl_->max_query_memory;
  impl->request_memory = impl_->request_memory;
  impl->gates = impl_->gates;
  return std::unique_ptr<Connection>(new Connection(std::move(impl)));
}

}  // namespace arrowport::storage
