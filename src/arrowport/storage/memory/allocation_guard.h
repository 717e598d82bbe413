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
/// resource error is in duckdb_error.cc).
///
/// What is never refused: allocations below kGuardedAllocationBytes, which is above
/// DuckDB's block size. A table append (and its commit) allocates blocks and smaller
/// pieces only, and DuckDB does not undo an append that fails part-way cleanly (the next
/// checkpoint finds the table's columns misaligned and invalidates the database), so
/// appends must never meet a refusal: the guard refuses only the large single
/// allocations that runaway values make.
///
/// DuckDB also allocates with plain C++ `new` (a padded string's buffer in lpad/rpad,
/// validity masks, sort keys): the server replaces the global operator new so that a
/// large allocation whose caller is code in the DuckDB library is counted and refused the
/// same way (std::bad_alloc, which DuckDB reports as the query's error), and so is one
/// that libstdc++ makes for DuckDB's code (a std::string growing: RE2 builds
/// regexp_replace's result in one; a stack walk finds whose it is). Allocations by any
/// other library are neither counted nor refused. While a client's statement is planned
/// (PlanningScope) every allocation of the planning thread counts, however small.
///
/// Memory freed but still held by the allocators (DuckDB's jemalloc keeps freed pages
/// for its decay time, glibc's malloc its heap) counts too: a large allocation that would
/// take live plus released memory past the budget first has both allocators give it back.
/// Sanitizer builds keep their own operator new (ARROWPORT_NO_NEW_GUARD). Not counted:
/// DuckDB's plain malloc (the Arrow conversion's buffers, which a query's result charges
/// to the request budget instead: two units of at most 8 MiB per DuckDB worker, see
/// result_batch_reader.cc).
///
/// The database's buffer pool is DuckDB's with one change (GuardDatabase): a request larger
/// than the whole memory limit fails at once. DuckDB otherwise claims the requested size
/// while it tries to evict, so one query asking for 2 GiB under a 512 MiB limit made every
/// other query's allocations in that moment fail, appends included.
///
/// Process-wide, like the allocator it wraps (DuckDB's default allocator is a global):
/// the one piece of mutable global state besides the metrics registry. Install() before
/// the first database opens; later calls only change the budget. Thread-safe.
class AllocationGuard {
 public:
  /// Allocations smaller than this are counted but never refused: four times DuckDB's
  /// block size (256 KiB), the largest piece a table append allocates.
  static constexpr int64_t kGuardedAllocationBytes = int64_t{1} << 20;

  /// Installs the guard on DuckDB's default allocator (once per process) and sets the
  /// budget: what DuckDB may hold in all (memory limit + limits.max_query_memory), and the
  /// largest one value a query may build (limits.max_query_memory; 0: no such cap).
  static void Install(int64_t budget_bytes, int64_t largest_value_bytes = 0);
  /// Makes the database opened with `config` allocate through the guard, with a buffer
  /// pool that refuses at once what can never fit. Call after memory_limit is set on it.
  static void GuardDatabase(duckdb_config config);
  /// Bytes DuckDB holds now as the guard counts them (its allocators, its large `new`s,
  /// statements being planned and the plans kept).
  static int64_t live_bytes();
  /// The budget in force (0 before Install).
  static int64_t budget_bytes();
  /// Allocations refused since the process started.
  static int64_t refusals();
  /// \brief True when the guard's global operator new (allocation_guard_new.cc, the
  /// object library arrowport_memory_guard each executable links) is the one this process
  /// runs: probed by one allocation in a PlanningScope, which only that operator new
  /// counts. False in a sanitizer build (ARROWPORT_NO_NEW_GUARD: the sanitizer's own
  /// runs) or in a binary that does not link it; then only DuckDB's allocators are capped.
  static bool NewOverrideActive();

  /// \brief While one exists, the database allocator's allocations may pass the budget by
  /// limits.max_query_memory more (still counted): held around checkpoints and closing
  /// the database, whose work DuckDB spreads over its worker threads (the checkpointing
  /// thread itself holds a CommitScope), so that a checkpoint finds room while queries
  /// hold the budget. Queries meanwhile get that much more at most: a checkpoint is no
  /// open window. DuckDB takes a checkpoint that fails
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

  /// \brief While one exists on a thread, that thread's allocations are never refused
  /// (still counted): held around statements that commit (the server's COMMIT, appends,
  /// and clients' data-changing statements, which commit as they end). DuckDB merges a
  /// transaction's rows into the table on the committing thread and does not undo a merge
  /// that fails part-way cleanly, and rows over 1 MiB (a large string's block) or the WAL
  /// entry's growing buffer are allocations the guard could otherwise refuse.
  class CommitScope {
   public:
    CommitScope();
    ~CommitScope();
    CommitScope(const CommitScope&) = delete;
    CommitScope& operator=(const CommitScope&) = delete;
  };

  /// \brief While one exists on a thread, everything the thread allocates with operator
  /// new counts against the budget, however small, and DuckDB's own allocations that
  /// would pass it, or take the statement's planning past limits.max_query_memory, are
  /// refused. Held where DuckDB plans a client's statement (binding, optimising: prepare,
  /// and the start of an execution, where DuckDB 2.0 plans again): its constant folding
  /// made string_split(repeat('...,', 12000000), ',') a list of 12 million Values, small
  /// allocations no other check saw (2.0 GiB resident against a 1.5 GiB budget). Never
  /// held where DuckDB may append or commit, which must never meet a refusal. Nested
  /// scopes count once. What planning leaves allocated (the plan) counts on after
  /// KeepFor, until the statement is destroyed (PreparedHandle's DestroyPrepared).
  class PlanningScope {
   public:
    PlanningScope();
    ~PlanningScope();
    PlanningScope(const PlanningScope&) = delete;
    PlanningScope& operator=(const PlanningScope&) = delete;
    /// Ends the scope; what it left allocated counts as `statement`'s plan from now on
    /// (the larger of its plans when it is planned again). Returns what it left (0 where
    /// the guard's operator new is not the one running: NewOverrideActive).
    int64_t KeepFor(duckdb_prepared_statement statement);

   private:
    int64_t End();  // what the scope left allocated (outermost scope only)
    bool outermost_ = false;
    bool open_ = true;
  };
  /// \brief While one exists on a thread, a PlanningScope open there counts nothing: for
  /// what the planning thread makes or frees that is not the statement's (a parse kept
  /// for later calls, ParseCache), bounded where it is kept.
  class PlanningPause {
   public:
    PlanningPause();
    ~PlanningPause();
    PlanningPause(const PlanningPause&) = delete;
    PlanningPause& operator=(const PlanningPause&) = delete;

   private:
    int depth_;
  };
  /// Stops counting `statement`'s plan (it is destroyed).
  static void ForgetPlan(duckdb_prepared_statement statement);
  /// What `statement`'s plan counts now (PlanningScope::KeepFor; 0 when not counted).
  static int64_t PlanBytes(duckdb_prepared_statement statement);
};

/// Destroys a prepared statement and stops counting its plan (PreparedHandle's deleter).
void DestroyPrepared(duckdb_prepared_statement* statement);

}  // namespace arrowport::storage
