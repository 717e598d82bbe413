#include "arrowport/storage/database.h"

#include <duckdb.h>

#include <atomic>
#include <condition_variable>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <thread>

#include "arrow/scalar.h"
#include "arrow/table.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/storage/allocation_guard.h"
#include "arrowport/storage/connection_impl.h"
#include "arrowport/storage/duckdb_error.h"
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
// Besides twice its WAL (replayed into the database file, with DuckDB's recovery copy
// beside it), what opening a database may write: headers, metadata, a first block.
constexpr int64_t kOpenSlackBytes = int64_t{8} << 20;
// How long after a failed attempt to open an invalidated database again the next one is.
constexpr auto kReopenRetry = std::chrono::seconds(5);
// While an invalidated database waits for its last connections, how often that is said.
constexpr auto kReopenWaitReport = std::chrono::seconds(10);

std::string Directory(const std::string& path) {
  const auto parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

int64_t FileBytes(const std::string& path) {
  std::error_code error;
  const auto size = std::filesystem::file_size(path, error);
  return error ? 0 : static_cast<int64_t>(size);
}

// What opening the database may need free under its directory: DuckDB 2.0 replays the
// WAL into memory, but a checkpoint left unfinished (a full disk) makes it write a recovery
// copy of the WAL and the checkpoint again: about twice the WAL, plus headers and metadata.
int64_t SpaceToOpen(const std::string& path) {
  return 2 * FileBytes(path + ".wal") + kOpenSlackBytes;
}
}  // namespace

// One open DuckDB database. Every connection made on it holds it: DuckDB closes it once
// the database has let it go (an invalidation) and its last connection is gone.
struct Database::Instance {
  DatabaseHandle db;
  // DuckDB's own instance is alive (set where DuckDB's C++ API is usable): a handle of
  // it that outlived its connection keeps it open after this object is gone.
  std::function<bool()> duckdb_alive;
  // Where DuckDB's C++ API is usable, the disk watch: DuckDB's checkpoint at close is
  // skipped on a full disk (the WAL is replayed at the next start instead), as one that
  // fails for want of space would leave a recovery to finish before the next start.
  std::shared_ptr<DiskWatch> disk;
  ~Instance() {
    if (disk && db.get() && disk->Check().full) SkipCheckpointOnClose(db.get());
    // Closing checkpoints: never to meet a refusal.
    AllocationGuard::Suspension suspended;
    db.reset();
  }
};

struct Database::Impl {
  DatabaseOptions options;               // kept to open the database again
  std::string path;
  std::string catalog;                   // name of the main catalog (current_database())
  std::string memory_limit;              // effective, as DuckDB reports it
  std::atomic<uint64_t> next_stream{0};  // unique view names across connections
  bool direct_append = false;            // DuckDB's internals match the build
  int64_t max_query_memory = 0;          // effective limits.max_query_memory
  std::shared_ptr<MemoryBudget> request_memory;  // may be null
  // Keeps changes of a table's shape apart from writes to it (Connection::Hold).
  std::shared_ptr<TableGates> gates = std::make_shared<TableGates>();
  // Free space under the database, its WAL and temp directory (storage.min_free_mb).
  std::shared_ptr<DiskWatch> disk;
  // The checkpointer: checkpoints when the WAL passes checkpoint_wal_bytes.
  int64_t checkpoint_wal_bytes = 0;
  // DuckDB refuses a CHECKPOINT while another one's transaction is open: the action's and
  // the checkpointer's take turns.
  std::mutex checkpoint_mutex;
  mutable std::mutex instance_mutex;  // guards instance, closing*, health, next_reopen
  std::shared_ptr<Instance> instance;  // null while the database is being reopened
  std::weak_ptr<Instance> closing;     // an invalidated instance, until it is closed
  std::function<bool()> closing_duckdb_alive;
  StorageHealth health;  // its `disk` is read from `disk` when asked
  std::chrono::steady_clock::time_point next_reopen;
  std::chrono::steady_clock::time_point reopen_reported;
  // The upkeep thread's own (no lock): what it last said of the disk; when it may next
  // try a checkpoint after failures.
  bool disk_full_said = false;
  std::chrono::steady_clock::time_point next_checkpoint;
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
    instance.reset();  // closes DuckDB unless a connection still holds it
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
    database->impl_->instance = std::move(instance);
  }
  if (options.path != ":memory:") database->StartCheckpointer();
  return database;
}

arrow::Result<std::shared_ptr<Database::Instance>> Database::OpenInstance() {
  const DatabaseOptions& options = impl_->options;
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
  // budget is set once the memory limit is known; opened again, it stays as it is).
  if (impl_->catalog.empty()) AllocationGuard::Install(AllocationGuard::budget_bytes());
  AllocationGuard::GuardDatabase(config);
  auto instance = std::make_shared<Instance>();
  char* error = nullptr;
  const char* path = options.path == ":memory:" ? nullptr : options.path.c_str();
  if (duckdb_open_ext(path, instance->db.out(), config, &error) == DuckDBError) {
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
  ARROW_ASSIGN_OR_RAISE(auto conn, ConnectTo(instance));
  ARROW_RETURN_NOT_OK(conn->Execute(std::string("ATTACH ':memory:' AS ") + kScratchCatalog));
  // Streams are scanned whole (see DisableArrowScanPushdown); without DuckDB's C++ API
  // (another library version) client SQL, transforms included, is refused anyway.
  if (impl_->direct_append) {
    instance->duckdb_alive = DuckDBInstanceAlive(conn->impl_->conn.get());
    ARROW_RETURN_NOT_OK(DisableArrowScanPushdown(conn->impl_->conn.get()));
    RegisterLakeFileSystem(instance->db.get(), options.lake_stores);
    ARROW_RETURN_NOT_OK(RegisterLakeFunctions(conn->impl_->conn.get(), options.lake_stores));
  }
  // The first opening learns the database's name and limits; opening it again after an
  // invalidation keeps them (others read them meanwhile).
  if (impl_->catalog.empty()) {
    ARROW_ASSIGN_OR_RAISE(auto name, conn->QueryTable("SELECT current_database()"));
    ARROW_ASSIGN_OR_RAISE(auto scalar, name->column(0)->GetScalar(0));
    impl_->catalog = scalar->ToString();
    ARROW_ASSIGN_OR_RAISE(auto limit,
                          conn->QueryTable("SELECT current_setting('memory_limit')::VARCHAR"));
    ARROW_ASSIGN_OR_RAISE(auto limit_scalar, limit->column(0)->GetScalar(0));
    impl_->memory_limit = limit_scalar->ToString();
    impl_->max_query_memory =
        options.max_query_memory > 0
            ? options.max_query_memory
            : DefaultQueryMemoryBytes(MemoryLimitBytes(instance->db.get()));
    AllocationGuard::Install(MemoryLimitBytes(instance->db.get()) + impl_->max_query_memory,
                             impl_->max_query_memory);
  }
  ARROW_ASSIGN_OR_RAISE(conn, ConnectTo(instance));  // now knows the catalog name
  for (const auto& sql : options.init_sql) {
    auto st = conn->Execute(sql);
    if (!st.ok()) return st.WithMessage("duckdb.init_sql '", sql, "': ", st.message());
  }
  if (!options.late_materialization) ARROW_RETURN_NOT_OK(KeepLateMaterializationOff(conn.get()));
  if (!impl_->disk) {
    // The filesystems the database writes: its file and WAL, and where DuckDB spills
    // (temp_directory, as duckdb.init_sql may have moved it; "" = no spilling).
    std::vector<std::string> directories;
    if (options.path != ":memory:") directories.push_back(Directory(options.path));
    ARROW_ASSIGN_OR_RAISE(
        auto temp, conn->QueryTable("SELECT current_setting('temp_directory')::VARCHAR"));
    ARROW_ASSIGN_OR_RAISE(auto temp_scalar, temp->column(0)->GetScalar(0));
    if (temp_scalar->is_valid && !temp_scalar->ToString().empty()) {
      directories.push_back(temp_scalar->ToString());
    }
    impl_->disk = std::make_shared<DiskWatch>(
        std::move(directories), options.path == ":memory:" ? 0 : options.min_free_bytes);
    // Later connections check writes against it (made before this one did not write).
    conn->impl_->disk = impl_->disk;
  }
  if (impl_->direct_append) instance->disk = impl_->disk;
  // The views read their files through the view file system, which opens the files
  // their globs match and nothing else; DuckDB's C++ API is needed for it (without it
  // client SQL is refused anyway, and DuckDB allows the globs' folders).
  const bool gated = impl_->direct_append;
  if (gated) {
    std::vector<std::string> locations;
    for (const auto& view : options.file_views) locations.push_back(view.second);
    RegisterViewFileSystem(instance->db.get(), locations);
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

arrow::Status Database::Checkpoint() {
  // A checkpoint DuckDB cannot finish for want of space invalidates the database.
  ARROW_RETURN_NOT_OK(CheckpointRoom());
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
  return FileBytes(impl_->path + ".wal");
}

arrow::Status Database::CheckWrite() {
  return impl_->disk ? impl_->disk->CheckWrite() : arrow::Status::OK();
}

arrow::Status Database::CheckpointRoom() {
  if (!impl_->disk || impl_->disk->min_free_bytes() <= 0) return arrow::Status::OK();
  const DiskSpace space = impl_->disk->Check();
  const int64_t wal = WalBytes();
  const int64_t needed = space.needed_bytes + wal;
  if (space.free_bytes < 0 || space.free_bytes >= needed) return arrow::Status::OK();
  return DiskFull("checkpoint deferred: disk full: ", space.free_bytes >> 20,
                  " MiB free under ", space.path, ", a checkpoint of the ", wal >> 20,
                  " MiB write-ahead log needs ", needed >> 20,
                  " MiB (the log's size plus storage.min_free_mb); it runs by itself once "
                  "space is freed");
}

StorageHealth Database::Health() const {
  StorageHealth health;
  {
    std::lock_guard<std::mutex> lock(impl_->instance_mutex);
    health = impl_->health;
  }
  if (impl_->disk) health.disk = impl_->disk->Check();
  return health;
}

void Database::Event(const std::string& event, const std::string& detail) const {
  if (impl_->options.on_event) impl_->options.on_event(event, detail);
}

void Database::StartCheckpointer() {
  impl_->checkpointer = std::thread([this] { RunCheckpointer(); });
}

void Database::RunCheckpointer() {
  constexpr auto kPeriod = std::chrono::milliseconds(250);
  std::unique_lock<std::mutex> lock(impl_->checkpointer_mutex);
  while (!impl_->stopping) {
    impl_->checkpointer_wake.wait_for(lock, kPeriod, [this] { return impl_->stopping; });
    if (impl_->stopping) break;
    lock.unlock();
    WatchDisk();
    std::shared_ptr<Instance> instance;
    {
      std::lock_guard<std::mutex> guard(impl_->instance_mutex);
      instance = impl_->instance;
    }
    std::string reason;
    if (instance == nullptr) {
      (void)TryReopen();
    } else if (Invalidated(instance, &reason)) {
      instance.reset();  // the upkeep thread holds no connection of it
      BeginReopen(reason);
    } else {
      instance.reset();
      CheckpointIfDue();
    }
    lock.lock();
  }
}

void Database::WatchDisk() {
  if (!impl_->disk) return;
  const DiskSpace space = impl_->disk->Check();
  if (space.full && !impl_->disk_full_said) {
    Event("disk full: writes refused and checkpoints deferred until space is freed",
          DiskFullMessage(space));
  } else if (!space.full && impl_->disk_full_said) {
    Event("disk space back: writes resume",
          std::to_string(space.free_bytes >> 20) + " MiB free under " + space.path);
  }
  impl_->disk_full_said = space.full;
}

void Database::CheckpointIfDue() {
  const auto now = std::chrono::steady_clock::now();
  const bool due = WalBytes() >= impl_->checkpoint_wal_bytes;
  const bool no_room = due && !CheckpointRoom().ok();
  {
    std::lock_guard<std::mutex> lock(impl_->instance_mutex);
    impl_->health.checkpoint_deferred = no_room;
  }
  if (!due || no_room || now < impl_->next_checkpoint) return;
  auto st = Checkpoint();
  std::lock_guard<std::mutex> lock(impl_->checkpointer_mutex);
  if (st.ok()) {
    impl_->state.failures_in_a_row = 0;
    return;
  }
  ++impl_->state.failures_in_a_row;
  impl_->state.last_error = st.message();
  // After failures (a transaction in DuckDB's way), each attempt waits twice as long, up
  // to 30 s.
  const int64_t failures = std::min<int64_t>(impl_->state.failures_in_a_row, 7);
  impl_->next_checkpoint =
      now + std::min<std::chrono::milliseconds>(
                std::chrono::milliseconds(250) * (int64_t{1} << failures),
                std::chrono::seconds(30));
}

bool Database::Invalidated(const std::shared_ptr<Instance>& instance, std::string* reason) {
  // Every statement fails on an invalidated database, SELECT 1 included, with DuckDB's
  // words and the error that invalidated it.
  auto conn = ConnectTo(instance);
  arrow::Status st = conn.ok() ? (*conn)->Execute("SELECT 1") : conn.status();
  if (st.ok() || st.message().find("invalidated") == std::string::npos) return false;
  *reason = st.message();
  return true;
}

void Database::BeginReopen(const std::string& reason) {
  {
    std::lock_guard<std::mutex> lock(impl_->instance_mutex);
    if (impl_->instance == nullptr) return;
    impl_->closing = impl_->instance;
    impl_->closing_duckdb_alive = impl_->instance->duckdb_alive;
    impl_->instance.reset();
    impl_->health.reopening = true;
    impl_->health.invalidated_by = reason;
    impl_->health.reopen_error.clear();
    impl_->next_reopen = std::chrono::steady_clock::now();
    impl_->reopen_reported = impl_->next_reopen;
  }
  Event("database invalidated by DuckDB: reopening it once its connections are closed "
        "(calls are refused meanwhile)",
        reason);
}

bool Database::TryReopen() {
  const auto now = std::chrono::steady_clock::now();
  std::function<bool()> duckdb_alive;
  {
    std::lock_guard<std::mutex> lock(impl_->instance_mutex);
    if (now < impl_->next_reopen) return false;
    const long users = impl_->closing.use_count();
    duckdb_alive = impl_->closing_duckdb_alive;
    if (users > 0 || (duckdb_alive && duckdb_alive())) {
      if (now - impl_->reopen_reported >= kReopenWaitReport) {
        impl_->reopen_reported = now;
        Event("database reopen waits for connections of the invalidated database",
              std::to_string(users) + " still open");
      }
      return false;
    }
  }
  auto opened = OpenInstance();
  std::lock_guard<std::mutex> lock(impl_->instance_mutex);
  if (!opened.ok()) {
    impl_->health.reopen_error = opened.status().message();
    impl_->next_reopen = now + kReopenRetry;
    Event("database reopen failed; trying again", opened.status().message());
    return false;
  }
  impl_->instance = std::move(*opened);
  impl_->closing_duckdb_alive = nullptr;
  impl_->health.reopening = false;
  ++impl_->health.reopens;
  impl_->health.last_reopen_unix = static_cast<int64_t>(std::time(nullptr));
  impl_->health.last_reopen_after = std::move(impl_->health.invalidated_by);
  impl_->health.invalidated_by.clear();
  impl_->health.reopen_error.clear();
  Event("database reopened", "after: " + impl_->health.last_reopen_after);
  return true;
}

arrow::Result<std::unique_ptr<Connection>> Database::Connect() {
  std::shared_ptr<Instance> instance;
  {
    std::lock_guard<std::mutex> lock(impl_->instance_mutex);
    instance = impl_->instance;
    if (instance == nullptr) {
      return ServerBusy("the database is being reopened: DuckDB invalidated it (",
                        impl_->health.invalidated_by,
                        "); committed data is kept, retry in a few seconds");
    }
  }
  return ConnectTo(instance);
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
  return std::unique_ptr<Connection>(new Connection(std::move(impl)));
}

}  // namespace arrowport::storage
