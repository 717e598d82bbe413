#pragma once

// Internal to storage: connections a plain read ran on, kept open for the next read
// (Database::ConnectForRead).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "arrowport/storage/database/connection_impl.h"

namespace arrowport::storage {

/// \brief Opening and closing a DuckDB connection cost a 1,000-row read 4 % of its CPU
/// (duckdb_connect, the client context torn down). A connection whose read was a whole
/// table's (`SELECT * FROM t [LIMIT n] [OFFSET m]` of a base table: Planning::kTableAtRun)
/// calls no function and sets nothing, so once its read snapshot is rolled back it is as
/// new and may serve the next read. Anything else a connection ran (a client's other SQL,
/// a transform's view, a transaction it committed) closes it as before.
///
/// Shared by the database and the connections lent from it (Connection::Impl::lender):
/// a reader may outlive the database, and then keeps nothing. Thread-safe.
class KeptConnections : public ConnectionLender {
 public:
  /// Kept connections are those of `instance` from now on (null: none is kept). Returns
  /// those kept so far, for the caller to close outside its locks (a reopened database
  /// waits for them). `instance` is compared by address alone: a kept connection holds its
  /// instance, so no other instance can have that address while one is kept.
  std::vector<std::unique_ptr<Connection::Impl>> Serve(const void* instance);
  /// A kept connection, or null.
  std::unique_ptr<Connection::Impl> Take();
  /// Called as a connection lent for reads ends: keeps `*impl` (left null) when it ran
  /// only such reads, its snapshot rolls back and there is room; else leaves it.
  void Keep(std::unique_ptr<Connection::Impl>* impl) override;
  /// How many are kept now.
  size_t size() const;
  /// The plans their reads made (TableReadPlans::made), summed over those kept now.
  uint64_t plans_made() const;

  /// More than this many reads at once close their connections as they end.
  static constexpr size_t kMaxKept = 8;

 private:
  mutable std::mutex mutex_;
  const void* instance_ = nullptr;  // guarded by mutex_
  std::vector<std::unique_ptr<Connection::Impl>> kept_;  // guarded by mutex_
};

}  // namespace arrowport::storage
