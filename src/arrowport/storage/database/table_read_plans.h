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
#include "arrowport/storage/sandbox/whole_table_read.h"

namespace arrowport::storage {

/// \brief A connection's plans of the whole-table reads it ran (WholeTableRead: `SELECT *
/// FROM t` with at most a LIMIT and an OFFSET written as numbers), by their text. Binding
/// and planning such a read was 0.09 ms of a 1,000-row read's 0.55 ms of server CPU, and
/// its plan stays right while the table's definition does.
///
/// A plan is DuckDB's prepared statement of the text, made without DuckDB's optimizer: an
/// optimized plan may carry the data's state, so DuckDB plans it again at every run
/// (always_require_rebind). This one is stale only once a catalog it reads changed
/// (PreparedStatementData::RequireRebind compares catalog versions); DuckDB would then
/// plan it again at every run, keeping the stale one, so it is made again here. A plan
/// serves only reads of the table it was made for (TableIdentity). The SQL sandbox still
/// judges every read; a plan only spares DuckDB's binding and planning. A plan made stale
/// stays counted until its text is read again on the connection or it is pushed out.
///
/// Owned by its connection, and used only by whoever owns the connection or holds its
/// lease (one thread at a time): that ownership is what makes a plan the read's alone.
class TableReadPlans {
 public:
  /// A plan as a read runs it: kept alive by the read until it ends, whatever the
  /// connection's plans do meanwhile.
  using Plan = std::shared_ptr<PreparedHandle>;

  /// At most this many plans per connection, of at most this many bytes together (a
  /// plan takes about 220 bytes per column of its table): the least recently used goes
  /// first, and a plan larger than all of that serves its read and is not kept.
  static constexpr size_t kMaxPlans = 16;
  static constexpr int64_t kMaxPlanBytes = int64_t{4} << 20;

  explicit TableReadPlans(int64_t max_bytes = kMaxPlanBytes) : max_bytes_(max_bytes) {}

  /// The current plan of `sql`, a whole-table read of `table` on `conn`, judged in the
  /// connection's open transaction (the read's snapshot, which the plan is run in): the
  /// one kept, else one made now and kept. Its memory counts against the server's budget
  /// while it lives, as a prepared statement's does (AllocationGuard::PlanningScope).
  /// Null when the read is better planned as it runs: a text longer than a parse the
  /// server keeps (ParseCache::kMaxTextBytes), or a plan DuckDB would plan again even
  /// new (a catalog without versions). DuckDB's error when it cannot be made (the open
  /// transaction is then aborted, as by any failed statement).
  arrow::Result<Plan> PlanFor(duckdb_connection conn, const std::string& sql,
                              const TableIdentity& table);
  /// Lets every plan go (before the connection closes).
  void Clear() {
    plans_.clear();
    bytes_ = 0;
  }
  /// How many are kept now, and how many were made since the connection was opened.
  size_t size() const { return plans_.size(); }
  uint64_t made() const { return made_; }
  /// What the kept plans took as they were made, text included: at most `max_bytes`
  /// (kMaxPlanBytes). Only the text in a sanitizer build, which counts no allocations.
  int64_t bytes() const { return bytes_; }

 private:
  struct Kept {
    TableIdentity table;
    Plan plan;
    int64_t bytes = 0;
    uint64_t last_used = 0;
  };
  void Forget(std::unordered_map<std::string, Kept>::iterator kept);

  const int64_t max_bytes_;
  std::unordered_map<std::string, Kept> plans_;
  int64_t bytes_ = 0;
  uint64_t uses_ = 0;
  uint64_t made_ = 0;
};

}  // namespace arrowport::storage
