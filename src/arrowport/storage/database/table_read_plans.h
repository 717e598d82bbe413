#pragma once

// Internal to storage: the plans of whole-table reads a connection keeps for its next
// reads (Connection::Impl::table_plans).

#include <duckdb.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "arrow/result.h"
#include "arrowport/storage/core/duckdb_handle.h"
#include "arrowport/storage/core/query_options.h"

namespace arrowport::storage {

/// \brief A connection's plans of the whole-table reads it ran (Planning::kTableAtRun:
/// `SELECT * FROM t` with at most a LIMIT and an OFFSET written as numbers), by their
/// text. Binding and planning such a read was 0.09 ms of a 1,000-row read's 0.55 ms of
/// server CPU, and its plan stays right while the table's definition does.
///
/// A plan is DuckDB's prepared statement of the text, made without DuckDB's optimizer:
/// an optimized plan may carry the data's state, so DuckDB plans it again at every run
/// (always_require_rebind); this one is stale only when a catalog it reads changed since
/// (PreparedStatementData::RequireRebind compares catalog versions), and is then made
/// again here (DuckDB would plan it again at every run, keeping the stale one). A name
/// can come to mean another table with no change to that table's catalog (a temporary
/// table of the same name made since): a plan serves only reads of the table it was made
/// for (WholeTable), else it is made again. The SQL sandbox still judges every read; a
/// plan only spares DuckDB's binding.
///
/// Owned by its connection and used as the connection is, by one thread at a time.
class TableReadPlans {
 public:
  /// A plan in use: a read keeps it alive until it ends, whatever the connection does.
  using Plan = std::shared_ptr<PreparedHandle>;

  /// At most this many plans per connection, of at most this many bytes together (a
  /// plan takes about 220 bytes per column of its table): the least recently used goes
  /// first, and a plan larger than all of that serves its read and is not kept.
  static constexpr size_t kMaxPlans = 16;
  static constexpr int64_t kMaxPlanBytes = int64_t{4} << 20;

  explicit TableReadPlans(int64_t max_bytes = kMaxPlanBytes) : max_bytes_(max_bytes) {}

  /// The plan of `sql`, a whole-table read of `table` on `conn`: the one kept, else one
  /// made now, in the connection's open transaction (the read's snapshot), and kept. Its
  /// memory counts against the server's budget while it is kept, as a prepared
  /// statement's does (AllocationGuard::PlanningScope). DuckDB's error when it cannot be
  /// made (its transaction, if open, is then aborted, as by any failed statement).
  arrow::Result<Plan> Lease(duckdb_connection conn, const std::string& sql,
                            const WholeTable& table);
  /// Lets every plan go (before the connection closes).
  void Clear() {
    plans_.clear();
    bytes_ = 0;
  }
  size_t size() const { return plans_.size(); }
  /// What the kept plans took as they were made (0 in a sanitizer build, which counts
  /// no allocations): at most `max_bytes` (kMaxPlanBytes).
  int64_t bytes() const { return bytes_; }

 private:
  struct Kept {
    WholeTable table;
    Plan plan;
    int64_t bytes = 0;
    uint64_t last_used = 0;
  };
  void Forget(std::unordered_map<std::string, Kept>::iterator kept);

  const int64_t max_bytes_;
  std::unordered_map<std::string, Kept> plans_;
  int64_t bytes_ = 0;
  uint64_t uses_ = 0;
};

}  // namespace arrowport::storage
