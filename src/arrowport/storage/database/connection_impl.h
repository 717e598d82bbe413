#pragma once

// Internal to storage: the state behind a Connection, shared by its source files.

#include <duckdb.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "arrow/c/abi.h"
#include "arrowport/common/memory_budget.h"
#include "arrowport/storage/database/connection.h"
#include "arrowport/storage/files/disk_space.h"
#include "arrowport/storage/core/duckdb_handle.h"
#include "arrowport/storage/core/duckdb_internals.h"
#include "arrowport/storage/database/table_read_plans.h"
#include "arrowport/storage/sandbox/parse_cache.h"

namespace arrowport::storage {

class ConnectionLender;

/// The in-memory catalog that holds views over Arrow streams (see RegisterArrowStream).
constexpr const char* kScratchCatalog = "arrowport_scratch";

struct Connection::Impl {
  // The DuckDB database the connection was made on (Database::Instance), kept open while
  // the connection lives: destroyed last, after `conn` is disconnected.
  std::shared_ptr<const void> instance;
  ConnectionHandle conn;
  // Free disk space against storage.min_free_mb: writes are refused below it (Hold).
  std::shared_ptr<DiskWatch> disk;
  std::string catalog;
  std::atomic<uint64_t>* next_stream = nullptr;
  bool direct_append = false;  // see Database::direct_append_enabled
  int64_t max_value_bytes = int64_t{256} << 20;  // see Database::max_query_memory
  std::shared_ptr<MemoryBudget> request_memory;  // DatabaseOptions::request_memory
  std::shared_ptr<ParseCache> parses;  // the database's parses of client SQL
  // Streams registered as views, by relation name; DuckDB reads them through raw
  // pointers, so each lives at a stable address until its view is dropped.
  std::map<std::string, std::unique_ptr<ArrowArrayStream>> streams;
  // Connection::OnCommit's hooks for the open transaction; cleared when it ends.
  std::vector<std::function<void()>> on_commit;
  // The open transaction is BeginReadSnapshot's (cleared when any other begins or ends).
  bool read_snapshot = false;
  // The database's table gates (Connection::Hold), and the holds taken inside the open
  // transaction, released when it ends (declared after the gates: released first; the
  // destructor closes `conn` before, so after DuckDB rolled the transaction back).
  std::shared_ptr<TableGates> gates;
  std::shared_ptr<const TableHolder> holder_name;  // NameHolder's (null: unnamed)
  std::vector<TablePass> transaction_holds;
  // Where the connection goes when it ends, if `reusable` (Database::ConnectForRead),
  // and whether what it ran leaves nothing behind (KeptConnections).
  std::shared_ptr<ConnectionLender> lender;
  bool reusable = false;
  // The plans of the whole-table reads it ran, for its next ones (let go before `conn`).
  TableReadPlans table_plans;

  /// Prepares `sql` into `out`; when `principal` is set (a client's SQL) through the
  /// SQL sandbox (StatementGuard), which refuses what that caller may not run.
  /// `transform`: the statement reads a transform's input (QueryOptions::input).
  /// `at_run`: see StatementGuard::Prepare (client SQL only).
  /// `held` (client SQL only; may be null): the tables to hold while it runs.
  /// `whole_table` (may be null): which table a kTableAtRun read reads.
  arrow::Status Prepare(const std::string& sql, const Principal* principal,
                        PreparedHandle* out, bool transform = false,
                        Planning* at_run = nullptr,
                        std::vector<HeldTable>* held = nullptr,
                        TableIdentity* whole_table = nullptr);

  /// StatementGuard::Rejudge of `sql`, prepared earlier for `principal`.
  arrow::Status Rejudge(const std::string& sql, const Principal& principal,
                        std::optional<TableIdentity>* whole_table,
                        PreparedHandle* unplanned = nullptr);

  /// Runs SQL whose outcome does not matter (clean-up on error paths).
  void Query(const std::string& sql) {
    ResultHandle result;
    (void)duckdb_query(conn.get(), sql.c_str(), result.out());
  }

  ~Impl() {
    if (conn.get()) {
      // Whatever transaction is open, asked first where DuckDB's C++ API can tell (it is
      // usable exactly when direct_append is): a ROLLBACK without one is an error DuckDB
      // throws and formats, a large part of a small request's cost. Like the rest of the
      // destructor, run by the connection's owner alone (InTransaction takes no lock).
      if (!direct_append || InTransaction(conn.get())) Query("ROLLBACK");
      for (const auto& entry : streams) Query("DROP VIEW IF EXISTS " + entry.first);
      table_plans.Clear();
      conn.reset();  // disconnect before the streams DuckDB scanned are released
    }
    for (auto& entry : streams) {
      if (entry.second->release) entry.second->release(entry.second.get());
    }
  }
};

/// \brief Where a connection lent for reads goes as it ends (KeptConnections: an
/// interface, so that a Connection knows nothing of what keeps it).
class ConnectionLender {
 public:
  virtual ~ConnectionLender() = default;
  /// Called by the connection's owner as the connection ends (Connection's destructor),
  /// on its thread: takes `*impl` (leaving it null) when the connection may serve another
  /// read, else leaves it to be closed. Thread-safe across connections.
  virtual void Keep(std::unique_ptr<Connection::Impl>* impl) = 0;
};

}  // namespace arrowport::storage
