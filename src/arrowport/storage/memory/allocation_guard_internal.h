#pragma once

// Internal to the allocation guard: its counters and checks, shared by
// allocation_guard.cc (DuckDB's allocators, the scopes, the plans kept counted) and
// allocation_guard_new.cc (the global operator new).

#include <atomic>
#include <cstdint>

namespace arrowport::storage::guard {

// The guard's counters: process-wide, as the allocators they watch.
extern std::atomic<int64_t> g_live;
extern std::atomic<int64_t> g_budget;
extern std::atomic<int64_t> g_value_cap;
extern std::atomic<int64_t> g_refusals;

// What an allocation is for: a value a query computes (DuckDB's default allocator, its
// `new`), which may be no larger than limits.max_query_memory, or a buffer-pool block
// (the database's allocator), which DuckDB's memory limit governs.
enum class Kind { kValue, kBlock };

/// Reserves `bytes` more of the budget for one allocation of `size` bytes (a reallocation
/// grows by `bytes` to `size`); false when it is refused.
bool Reserve(int64_t bytes, int64_t size, Kind kind);
/// A block of `size` bytes was freed: the allocator may hold it a while yet.
void Released(int64_t size);
/// CommitScopes open on this thread.
extern constinit thread_local int t_commit_scopes;
/// This thread commits (a CommitScope is open): it is never refused.
inline bool Exempt() { return t_commit_scopes > 0; }

/// A thread's planning (AllocationGuard::PlanningScope): everything it allocated with
/// operator new, less what it freed, since the outermost scope began; `published` is the
/// part of it already added to the process-wide planning total.
struct PlanningState {
  int depth = 0;
  int64_t net = 0;
  int64_t published = 0;
  int64_t peak = 0;  // the most `net` was: what it freed of that, malloc may hold yet
};
extern constinit thread_local PlanningState t_planning;

/// What planning threads hold now, published in steps of kPlanningStep per thread.
extern std::atomic<int64_t> g_planning;
constexpr int64_t kPlanningStep = int64_t{256} << 10;

// The next two run at every allocation a planning thread makes (a 1,000-row query's plan
// takes about 2,000): inline, with no call of their own.

/// Counts `delta` bytes (negative: freed) for this thread's planning.
inline void CountPlanning(int64_t delta) {
  auto& planning = t_planning;
  planning.net += delta;
  if (planning.net > planning.peak) planning.peak = planning.net;
  const int64_t unpublished = planning.net - planning.published;
  if (unpublished >= kPlanningStep || unpublished <= -kPlanningStep) {
    g_planning.fetch_add(unpublished, std::memory_order_relaxed);
    planning.published = planning.net;
  }
}

/// True when this thread's planning may take `size` bytes more: within
/// limits.max_query_memory for the statement, and within the budget with everything else.
inline bool PlanningFits(int64_t size) {
  const auto& planning = t_planning;
  const int64_t cap = g_value_cap.load(std::memory_order_relaxed);
  if (cap > 0 && planning.net + size > cap) return false;
  const int64_t budget = g_budget.load(std::memory_order_relaxed);
  return budget <= 0 || g_live.load(std::memory_order_relaxed) +
                                g_planning.load(std::memory_order_relaxed) +
                                (planning.net - planning.published) + size <=
                            budget;
}

}  // namespace arrowport::storage::guard
