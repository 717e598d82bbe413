#pragma once

#include <duckdb.h>

#include <cstdint>

namespace arrowport::storage {

/// \brief Caps what DuckDB allocates in all. DuckDB's memory_limit governs its buffer pool
/// (tables, hash tables, sorts, spilling), but the vectors a query evaluates in (a list
/// `range(1000000000)` builds, a string `lpad` pads out) are allocated beside it and are
/// not counted there: one query could take the machine. The guard puts an accounting
/// allocator in front of both of DuckDB's allocators (the database's, which also backs the
/// buffer pool, and the process default; the same jemalloc underneath): every allocation
/// is counted, and one of at least kGuardedAllocationBytes that would take the live total
/// past the budget (duckdb.memory_limit + limits.max_query_memory) fails, which DuckDB
/// turns into an out-of-memory error for the query that asked (the translation to a
/// resource error is in duckdb_error.cc). Small allocations always succeed, so a commit or
/// a rollback never fails for memory another query took.
///
/// DuckDB also allocates with plain C++ `new` (a padded string's buffer in lpad/rpad,
/// validity masks, sort keys): the server replaces the global operator new so that a
/// large allocation whose caller is code in the DuckDB library is counted and refused the
/// same way (std::bad_alloc, which DuckDB reports as the query's error); allocations by
/// any other library are neither counted nor refused. Sanitizer builds keep their own
/// operator new (ARROWPORT_NO_NEW_GUARD). Not counted: DuckDB's plain malloc (the Arrow
/// conversion's buffers), bounded by the vectors they copy.
///
/// Process-wide, like the allocator it wraps (DuckDB's default allocator is a global):
/// the one piece of mutable global state besides the metrics registry. Install() before
/// the first database opens; later calls only change the budget. Thread-safe.
class AllocationGuard {
 public:
  /// Allocations smaller than this are counted but never refused.
  static constexpr int64_t kGuardedAllocationBytes = int64_t{256} << 10;

  /// Installs the guard on DuckDB's default allocator (once per process) and sets the
  /// budget: what DuckDB may hold in all (memory limit + limits.max_query_memory).
  static void Install(int64_t budget_bytes);
  /// Makes the database opened with `config` allocate through the guard.
  static void GuardDatabase(duckdb_config config);
  /// Bytes DuckDB's default allocator holds now.
  static int64_t live_bytes();
  /// The budget in force (0 before Install).
  static int64_t budget_bytes();
  /// Allocations refused since the process started.
  static int64_t refusals();

  /// \brief While one exists, nothing is refused (allocations are still counted): held
  /// around checkpoints and closing the database. DuckDB takes a checkpoint that fails
  /// part-way as fatal and invalidates the database, so a checkpoint must never meet a
  /// refusal; it runs only from the server's own checkpointer (automatic checkpoints at
  /// commit are off, see Database), briefly.
  class Suspension {
   public:
    Suspension();
    ~Suspension();
    Suspension(const Suspension&) = delete;
    Suspension& operator=(const Suspension&) = delete;
  };
};

}  // namespace arrowport::storage
