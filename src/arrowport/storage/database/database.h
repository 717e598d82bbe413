#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "arrow/result.h"
#include "arrowport/storage/database/connection.h"
#include "arrowport/storage/files/disk_space.h"
#include "arrowport/storage/files/lake_file_system.h"

namespace arrowport {
class MemoryBudget;
}

namespace arrowport::storage {

struct DatabaseOptions {
  std::string path = "arrowport.duckdb";  ///< file path or ":memory:"
  int threads = 0;                         ///< 0 = DuckDB default
  /// e.g. "4GB". Empty: DefaultMemoryLimitBytes() (memory_limit.h) for a file database;
  /// DuckDB's default (80% of RAM) for ":memory:", whose tables live in that memory and
  /// would otherwise spill to ./.tmp.
  std::string memory_limit;
  /// DuckDB's late-materialization optimizer, off unless asked for. When on, DuckDB 2.0
  /// plans `LIMIT n` (n <= 1M; for n <= 50 only with an OFFSET) straight over a scan with no
  /// filter pushed into it as a semi join of the limited row ids against the table, sorted
  /// back, instead of reading the first n rows (docs/benchmark-history.md has the measurements, on
  /// native tables). It pays for deep OFFSETs and `ORDER BY ... LIMIT <= 50` over wide rows
  /// (Parquet views and lake tables included). Kept off even when duckdb.init_sql sets
  /// disabled_optimizers (added to its list).
  bool late_materialization = false;
  /// The server-wide budget of every call's buffers (limits.max_request_memory): planning
  /// a client's SQL and the result batches queued for a client draw from it. May be null.
  std::shared_ptr<MemoryBudget> request_memory;
  /// Bytes DuckDB may allocate outside its buffer pool, for all queries together
  /// (limits.max_query_memory); 0 = derived from the memory limit (see Database::Open).
  int64_t max_query_memory = 0;
  /// WAL size that triggers a checkpoint (0 = DuckDB's default checkpoint_threshold).
  int64_t checkpoint_wal_bytes = 0;
  std::vector<std::string> init_sql;       ///< run once after opening
  /// Views over files (config `views:`), as (name, file or glob) pairs, made after
  /// init_sql; a name given several times is one view over all its files. SQL
  /// may read these files and no others: the database then turns DuckDB's external
  /// access off, allowing only them, and locks its configuration.
  std::vector<std::pair<std::string, std::string>> file_views;
  /// The DuckDB version the direct append (DuckDB C++ internals) was built against; empty
  /// = the build's. On any other library version small appends use the public appender.
  std::string expected_duckdb_version;
  /// The object stores of lake tables: SQL reads their files under kLakePathPrefix (and
  /// no other object-store path).
  LakeStores lake_stores;
  /// storage.min_free_mb in bytes: below this much free space under the database, its WAL
  /// or DuckDB's temp directory, writes are refused and checkpoints wait (0: not watched).
  int64_t min_free_bytes = 0;
  /// Told what the database's upkeep thread saw ("disk full", "disk space back",
  /// "database invalidated", "database reopened", ...) with details, for the log. Called
  /// on that thread; may be empty.
  std::function<void(const std::string& event, const std::string& detail)> on_event;
  /// Told (from the upkeep thread) when DuckDB has invalidated the database and the
  /// reopen begins: it waits for every connection of the old one to close.
  std::function<void()> on_invalidated;
};

/// \brief The state of the database's storage, for health checks and the status page.
struct StorageHealth {
  DiskSpace disk;  ///< the last reading of the free space (DiskWatch)
  /// DuckDB invalidated the database (a fatal error, such as a full disk in a checkpoint):
  /// it is being closed and opened again; calls are refused meanwhile (retry later).
  bool reopening = false;
  std::string invalidated_by;  ///< DuckDB's error that invalidated it (while reopening)
  std::string reopen_error;    ///< the last attempt to open it again that failed
  int64_t reopens = 0;         ///< times the database was opened again since start
  int64_t last_reopen_unix = 0;
  std::string last_reopen_after;  ///< the error the last reopening followed
  bool checkpoint_deferred = false;  ///< a checkpoint is due but waits for disk space
};

/// \brief An open DuckDB database (file or in-memory). Thread-safe: any number of
/// threads may Connect() concurrently; each connection is then used by one thread.
///
/// An upkeep thread (file databases) watches the free disk space (DiskWatch), checkpoints
/// the WAL, and notices when DuckDB has invalidated the database after a fatal error:
/// then the DuckDB instance is given up (new connections are refused as busy), closed once
/// the last connection made on it is gone, and opened again from the same options (its
/// WAL replayed: every committed transaction is kept).
class Database {
 public:
  static arrow::Result<std::unique_ptr<Database>> Open(const DatabaseOptions& options);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  arrow::Result<std::unique_ptr<Connection>> Connect();

  /// \brief A connection for one read of a client's: one kept from an earlier read when
  /// there is one (KeptConnections: only a whole table's read leaves its connection to
  /// the next), else Connect()'s (refused the same way while the database is reopened:
  /// none is kept then). Used and ended as Connect()'s.
  arrow::Result<std::unique_ptr<Connection>> ConnectForRead();
  /// How many connections are kept for reads now (KeptConnections), and how many plans
  /// of whole-table reads those connections made (TableReadPlans; for tests).
  size_t kept_read_connections() const;
  uint64_t kept_read_plans_made() const;

  /// \brief A connection for the server's own catalog reads (a table's size and extent),
  /// kept open between calls: opening and closing one cost a small call 3-4 % of its
  /// CPU. Only lookups and counts the server words itself run on it, never a client's
  /// SQL: nothing a statement sets can carry over to the next lease. Back to the database
  /// when the lease ends, unless another is kept already, a transaction is left open, or
  /// the database was reopened meanwhile. A lease must end before its Database does.
  class CatalogLease {
   public:
    CatalogLease(CatalogLease&& other) noexcept = default;
    CatalogLease& operator=(CatalogLease&& other) noexcept;
    CatalogLease(const CatalogLease&) = delete;
    CatalogLease& operator=(const CatalogLease&) = delete;
    ~CatalogLease();
    Connection* get() const { return connection_.get(); }
    Connection* operator->() const { return connection_.get(); }

   private:
    friend class Database;
    CatalogLease(Database* owner, std::unique_ptr<Connection> connection)
        : owner_(owner), connection_(std::move(connection)) {}
    void GiveBack();
    Database* owner_ = nullptr;
    std::unique_ptr<Connection> connection_;
  };
  arrow::Result<CatalogLease> LeaseCatalogConnection();

  const std::string& path() const;
  /// The memory limit in force, as DuckDB reports it (e.g. "1.0 GiB").
  const std::string& memory_limit() const;
  /// DuckDB's name of the database's own catalog (after the file name).
  const std::string& catalog() const;
  /// The budget of allocations outside DuckDB's buffer pool in force (bytes).
  int64_t max_query_memory() const;
  /// What DuckDB holds now through its allocators, and what it may hold in all (the
  /// allocation guard's count and budget, process-wide).
  static int64_t allocated_bytes();
  static int64_t allocation_budget_bytes();
  /// True when the allocation guard's global operator new runs in this binary (a
  /// sanitizer build keeps its own): AllocationGuard::NewOverrideActive.
  static bool operator_new_guarded();

  /// True when small appends may use DuckDB's internals (library version as built);
  /// false means the public appender, which is slower but version-proof.
  bool direct_append_enabled() const;
  /// The write-ahead log's size on disk (0 when there is none, or in memory).
  int64_t WalBytes() const;
  /// OK while the disk has room for writes (storage.min_free_mb), else DiskFull naming the
  /// directory and the free and needed space. Cheap (DiskWatch reads at most every 20 ms
  /// while there is room, at each check while full): writers ask before they begin and
  /// per batch.
  arrow::Status CheckWrite();
  /// Disk space now; reopenings and deferred checkpoints as the upkeep thread last saw
  /// them.
  StorageHealth Health() const;
  /// The DuckDB library version in use.
  static std::string LibraryVersion();

  /// The operator's settings DuckDB has in force (the server's own view: clients cannot
  /// read settings through SQL): threads, memory limit, external access.
  struct SettingsInForce {
    std::string threads;
    std::string memory_limit;
    bool external_access = false;
  };
  arrow::Result<SettingsInForce> Settings();

  /// \brief Writes the WAL into the database file (DuckDB CHECKPOINT) on a connection of
  /// its own, with the allocation guard suspended (a checkpoint DuckDB cannot finish
  /// invalidates the database). DuckDB's own checkpoints at commit are off: the database
  /// checkpoints from a thread of its own once the WAL passes checkpoint_wal_bytes, and
  /// when it closes. Refused (DiskFull) unless it leaves storage.min_free_mb free (see
  /// CheckpointRoom): a checkpoint DuckDB cannot finish invalidates the database.
  arrow::Status Checkpoint();
  /// \brief Copies the database file, as of one checkpoint, to `target` (a new file, its
  /// directory existing): CHECKPOINT on a connection of its own (retried while DuckDB
  /// refuses it for other write transactions, at most `checkpoint_wait`), then the file's
  /// bytes while no other checkpoint may run. Writers go on meanwhile: their commits go to
  /// the WAL, which the copy leaves out, and DuckDB never writes over the blocks of the
  /// last checkpoint before the next one (its crash safety rests on that), so the copy is
  /// the database as of that checkpoint. `target` is removed when the copy fails or
  /// `cancellation` ends it. Invalid for an in-memory database. `checkpointed` (may be
  /// empty) runs once the checkpoint is done, before the copy: the copy's instant. Returns
  /// the bytes copied.
  arrow::Result<int64_t> CopyCheckpointed(
      const std::string& target, const std::shared_ptr<CallCancellation>& cancellation,
      const std::function<void()>& checkpointed = {},
      std::chrono::milliseconds checkpoint_wait = std::chrono::seconds(60));
  /// OK when the disk has room for a checkpoint: the WAL's size (what a checkpoint writes
  /// into the database file, at most) plus storage.min_free_mb; else DiskFull saying so.
  arrow::Status CheckpointRoom();
  // Whether a backup's copy of the database file fits beside it, leaving
  // storage.min_free_mb (DiskFull if not).
  arrow::Status CopyRoom();

  /// What the checkpointer thread last saw: failed attempts in a row (it waits longer
  /// after each, up to 30 s) and the last failure's message.
  struct CheckpointerState {
    int64_t failures_in_a_row = 0;
    std::string last_error;
  };
  CheckpointerState checkpointer_state() const;
  /// True while a checkpoint is due (the WAL past checkpoint_wal_bytes), has room on
  /// disk, and its last attempt failed: what open transactions do to it (DuckDB refuses
  /// a checkpoint while others are open).
  bool CheckpointWaits() const;
  /// The checkpointer's next attempt at its next tick, not after its back-off: what held
  /// the checkpoint back has just ended (an idle transaction rolled back).
  void CheckpointSoon();

 private:
  struct Impl;
  struct Instance;
  explicit Database(std::unique_ptr<Impl> impl);
  // Opens DuckDB from impl_->options and sets it up (scratch catalog, file systems,
  // init_sql, views, sandbox): at start and after an invalidation.
  arrow::Result<std::shared_ptr<Instance>> OpenInstance();
  arrow::Result<std::unique_ptr<Connection>> ConnectTo(const std::shared_ptr<Instance>& instance);
  // The upkeep thread's loop and its steps.
  void RunCheckpointer();
  void WatchDisk();
  void CheckpointIfDue();
  // True when DuckDB has invalidated `instance` (its error in *reason).
  bool Invalidated(const std::shared_ptr<Instance>& instance, std::string* reason);
  void BeginReopen(const std::string& reason);
  // Opens the instance again once the old one is closed; false while it cannot yet.
  bool TryReopen();
  void Event(const std::string& event, const std::string& detail) const;
  // Out of line: its frame tells the checkpointer's start from DuckDB's workers', which
  // start inside Database::Open (fuzz/tsan_triage.py).
  [[gnu::noinline]] void StartCheckpointer();
  std::unique_ptr<Impl> impl_;
};

}  // namespace arrowport::storage
