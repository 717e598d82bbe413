#pragma once

// Internal to Database (database.cc, database_upkeep.cc): the open instance and the
// state its background upkeep shares with the calls.

#include <duckdb.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "arrowport/storage/memory/allocation_guard.h"
#include "arrowport/storage/database/database.h"
#include "arrowport/storage/database/kept_connections.h"
#include "arrowport/storage/core/duckdb_handle.h"
#include "arrowport/storage/core/duckdb_internals.h"
#include "arrowport/storage/sandbox/parse_cache.h"

namespace arrowport::storage {

/// A file's size, 0 when it is missing or cannot be read.
inline int64_t FileBytes(const std::string& path) {
  std::error_code error;
  const auto size = std::filesystem::file_size(path, error);
  return error ? 0 : static_cast<int64_t>(size);
}

// One open DuckDB database. Every connection made on it holds it: DuckDB closes it once
// the database has let it go (an invalidation) and its last connection is gone.
struct Database::Instance {
  DatabaseHandle db;
  // DuckDB's own instance is alive (set where DuckDB's C++ API is usable): a handle of
  // it that outlived its connection keeps it open after this object is gone.
  std::function<bool()> duckdb_alive;
  // Where DuckDB's C++ API is usable: DuckDB's words once it has invalidated this
  // instance or its catalog (empty till then).
  std::function<std::string()> invalidation;
  // DuckDB's words once it has invalidated this instance or its catalog, as its flags say
  // (empty while neither is, or without the watch).
  std::string InvalidatedBy() const { return invalidation ? invalidation() : std::string(); }
  // Where DuckDB's C++ API is usable, the disk watch: DuckDB's checkpoint at close is
  // skipped on a full disk (the WAL is replayed at the next start instead), as one that
  // fails for want of space would leave a recovery to finish before the next start.
  std::shared_ptr<DiskWatch> disk;
  ~Instance() {
    // Nor where the file is gone: it would remove the WAL at the path, another file's.
    if (disk && db.get()) {
      const DiskSpace space = disk->Check();
      if (space.full || !space.file_gone.empty()) SkipCheckpointOnClose(db.get());
    }
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
  // Client SQL parsed once for every connection (StatementGuard).
  std::shared_ptr<ParseCache> parses = std::make_shared<ParseCache>();
  // Free space under the database, its WAL and temp directory (storage.min_free_mb).
  std::shared_ptr<DiskWatch> disk;
  // The checkpointer: checkpoints when the WAL passes checkpoint_wal_bytes.
  int64_t checkpoint_wal_bytes = 0;
  // DuckDB refuses a CHECKPOINT while another one's transaction is open: the action's and
  // the checkpointer's take turns.
  std::mutex checkpoint_mutex;
  // Backups copying the file (CopyCheckpointed): the checkpointer skips its turn meanwhile
  // rather than wait for checkpoint_mutex, so its disk watch goes on.
  std::atomic<int> copies_running{0};
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
  bool file_gone_said = false;
  std::chrono::steady_clock::time_point next_checkpoint;
  mutable std::mutex checkpointer_mutex;  // guards stopping and state
  std::condition_variable checkpointer_wake;
  bool stopping = false;
  CheckpointerState state;
  std::thread checkpointer;
  // Connections whole-table reads ran on, kept for the next (Database::ConnectForRead):
  // of `instance` alone, none while it is reopened.
  std::shared_ptr<KeptConnections> kept_reads = std::make_shared<KeptConnections>();
  // The connection Database::CatalogLease keeps between leases (guarded by
  // instance_mutex): one made on `instance`, or none. Declared last: closed first.
  std::unique_ptr<Connection> idle_catalog;

  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(checkpointer_mutex);
      stopping = true;
    }
    checkpointer_wake.notify_all();
    if (checkpointer.joinable()) checkpointer.join();
    // Closed here; a reader still open closes its connection as it ends.
    (void)kept_reads->Serve(nullptr);
    instance.reset();  // closes DuckDB unless a connection still holds it
  }
};

}  // namespace arrowport::storage
