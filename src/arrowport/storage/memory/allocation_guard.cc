#include "arrowport/storage/memory/allocation_guard.h"

#include <duckdb/common/allocator.hpp>
#include <duckdb/main/config.hpp>
#include <duckdb/storage/block_allocator.hpp>
#include <duckdb/storage/buffer/buffer_pool.hpp>
#include <duckdb/storage/storage_info.hpp>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <unordered_map>

#include "arrowport/storage/memory/allocation_guard_internal.h"

namespace arrowport::storage {

namespace guard {

std::atomic<int64_t> g_live{0};
std::atomic<int64_t> g_budget{0};
std::atomic<int64_t> g_value_cap{0};
std::atomic<int64_t> g_refusals{0};
constinit thread_local PlanningState t_planning;
std::atomic<int64_t> g_planning{0};
constinit thread_local int t_commit_scopes = 0;

namespace {

std::atomic<int64_t> g_suspensions{0};
// Bytes of large blocks freed since the allocators last gave their free memory back:
// DuckDB's jemalloc keeps freed pages for a second or more (its decay), glibc's malloc
// the chunks below its mmap threshold, and both are resident all that time.
std::atomic<int64_t> g_released{0};
std::atomic<bool> g_returning{false};

// Memory the allocators hold beside what is live counts against the budget too: when a
// large allocation would take live and freed-but-held memory past it, the allocators give
// what they hold back first (DuckDB purges its jemalloc arenas and trims glibc's heap). A
// list that doubles frees every smaller copy, a regexp_replace's string every shorter
// one: the process grew 800 MiB past the budget with the live total below it.
void ReturnFreedMemory(int64_t live, int64_t bytes) {
  const int64_t budget = g_budget.load(std::memory_order_relaxed);
  if (budget <= 0 ||
      live + g_released.load(std::memory_order_relaxed) + bytes <= budget ||
      g_returning.exchange(true, std::memory_order_acquire)) {
    return;  // room enough, or another thread is giving it back now
  }
  g_released.store(0, std::memory_order_relaxed);
  duckdb::Allocator::FlushAll();
  g_returning.store(false, std::memory_order_release);
}

}  // namespace

void Released(int64_t size) {
  if (size >= AllocationGuard::kGuardedAllocationBytes) {
    g_released.fetch_add(size, std::memory_order_relaxed);
  }
}

// A refused request never shows in the live total, not even for a moment: a concurrent
// allocation must not be refused for memory nobody got. Planning threads' memory counts.
bool Reserve(int64_t bytes, int64_t size, Kind kind) {
  if (size < AllocationGuard::kGuardedAllocationBytes) {
    g_live.fetch_add(bytes, std::memory_order_relaxed);
    return true;
  }
  ReturnFreedMemory(
      g_live.load(std::memory_order_relaxed) + g_planning.load(std::memory_order_relaxed),
      bytes);
  const bool exempt = t_commit_scopes > 0;
  const int64_t value_cap = g_value_cap.load(std::memory_order_relaxed);
  if (!exempt && kind == Kind::kValue && value_cap > 0 && size > value_cap) {
    g_refusals.fetch_add(1, std::memory_order_relaxed);
    return false;  // one value larger than all queries together may hold
  }
  // While a checkpoint runs (on DuckDB's worker threads too; its own thread is exempt),
  // the database allocator, which a checkpoint writes through, may pass the budget by
  // one more query's share: room for the checkpoint, bounded for the queries meanwhile.
  const int64_t headroom =
      kind == Kind::kBlock && g_suspensions.load(std::memory_order_relaxed) > 0 ? value_cap
                                                                                 : 0;
  int64_t before = g_live.load(std::memory_order_relaxed);
  while (true) {
    const int64_t budget = g_budget.load(std::memory_order_relaxed);
    const int64_t planning = g_planning.load(std::memory_order_relaxed);
    if (!exempt && budget > 0 && before + planning + bytes > budget + headroom) {
      g_refusals.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    if (g_live.compare_exchange_weak(before, before + bytes, std::memory_order_relaxed)) {
      return true;
    }
  }
}

namespace {

// DuckDB's buffer pool, except that a request larger than the whole limit fails before
// DuckDB claims it for the time it spends evicting (see AllocationGuard).
class FailFastBufferPool final : public duckdb::BufferPool {
 public:
  using duckdb::BufferPool::BufferPool;

 protected:
  EvictionResult EvictBlocks(duckdb::QueryContext context, duckdb::MemoryTag tag,
                             duckdb::idx_t extra_memory, duckdb::idx_t memory_limit,
                             duckdb::unique_ptr<duckdb::FileBuffer>* buffer) override {
    if (extra_memory > memory_limit) {
      return {false, duckdb::TempBufferPoolReservation(tag, *this, 0)};
    }
    return duckdb::BufferPool::EvictBlocks(context, tag, extra_memory, memory_limit, buffer);
  }
};

template <Kind kind>
duckdb::data_ptr_t GuardedAllocate(duckdb::PrivateAllocatorData* data, duckdb::idx_t size) {
  const auto bytes = static_cast<int64_t>(size);
  if (!Reserve(bytes, bytes, kind)) return nullptr;  // DuckDB throws its out-of-memory error
  auto* pointer = duckdb::Allocator::DefaultAllocate(data, size);
  if (pointer == nullptr) g_live.fetch_sub(bytes, std::memory_order_relaxed);
  return pointer;
}

void GuardedFree(duckdb::PrivateAllocatorData* data, duckdb::data_ptr_t pointer,
                 duckdb::idx_t size) {
  duckdb::Allocator::DefaultFree(data, pointer, size);
  g_live.fetch_sub(static_cast<int64_t>(size), std::memory_order_relaxed);
  Released(static_cast<int64_t>(size));
}

template <Kind kind>
duckdb::data_ptr_t GuardedReallocate(duckdb::PrivateAllocatorData* data,
                                     duckdb::data_ptr_t pointer, duckdb::idx_t old_size,
                                     duckdb::idx_t size) {
  const auto grown = static_cast<int64_t>(size) - static_cast<int64_t>(old_size);
  if (grown > 0 && !Reserve(grown, static_cast<int64_t>(size), kind)) return nullptr;
  auto* moved = duckdb::Allocator::DefaultReallocate(data, pointer, old_size, size);
  if (moved == nullptr) {
    if (grown > 0) g_live.fetch_sub(grown, std::memory_order_relaxed);
    return nullptr;
  }
  if (grown < 0) g_live.fetch_add(grown, std::memory_order_relaxed);
  if (moved != pointer) Released(static_cast<int64_t>(old_size));
  return moved;
}

// The plans kept counted (PlanningScope::KeepFor), by statement.
struct KeptPlans {
  std::mutex mutex;
  std::unordered_map<const void*, int64_t> bytes;
};
KeptPlans& Plans() {
  static auto* plans = new KeptPlans();  // never destroyed: statements may close at exit
  return *plans;
}

}  // namespace
}  // namespace guard

using guard::FailFastBufferPool;
using guard::g_budget;
using guard::g_live;
using guard::g_refusals;
using guard::g_suspensions;
using guard::g_value_cap;
using guard::GuardedAllocate;
using guard::GuardedFree;
using guard::GuardedReallocate;
using guard::Kind;

void AllocationGuard::Install(int64_t budget_bytes, int64_t largest_value_bytes) {
  g_budget.store(budget_bytes, std::memory_order_relaxed);
  g_value_cap.store(largest_value_bytes, std::memory_order_relaxed);
  static std::once_flag installed;
  std::call_once(installed, [] {
    auto& reference = duckdb::Allocator::DefaultAllocatorReference();
    // The allocator it replaces stays alive: code may hold a reference to it.
    static auto* replaced = new duckdb::shared_ptr<duckdb::Allocator>(reference);
    (void)replaced;
    reference = duckdb::make_shared_ptr<duckdb::Allocator>(
        GuardedAllocate<Kind::kValue>, GuardedFree, GuardedReallocate<Kind::kValue>, nullptr);
  });
}

void AllocationGuard::GuardDatabase(duckdb_config config) {
  // The C API's config handle is DuckDB's DBConfig; an allocator set on it before the
  // database opens is the one the database uses.
  auto* db_config = reinterpret_cast<duckdb::DBConfig*>(config);
  db_config->allocator = duckdb::make_uniq<duckdb::Allocator>(
      GuardedAllocate<Kind::kBlock>, GuardedFree, GuardedReallocate<Kind::kBlock>, nullptr);
  // The pool DuckDB would make (DatabaseInstance::Configure), over the block allocator it
  // would make, both given to it instead: it keeps them for the database's life.
  // (The config's file system is made only then: a local one reads the machine's memory.)
  auto& options = db_config->options;
  const auto local = duckdb::FileSystem::CreateLocal();
  const duckdb::idx_t most = duckdb::DBConfig::GetSystemAvailableMemory(*local) * 8 / 10;
  if (options.maximum_memory == duckdb::DConstants::INVALID_INDEX) {
    options.maximum_memory = most;  // DuckDB's default limit
  }
  db_config->block_allocator = duckdb::make_uniq<duckdb::BlockAllocator>(
      *db_config->allocator, DEFAULT_BLOCK_ALLOC_SIZE, most, options.block_allocator_size);
  db_config->buffer_pool = duckdb::make_shared_ptr<FailFastBufferPool>(
      *db_config->block_allocator, options.maximum_memory,
      options.buffer_manager_track_eviction_timestamps,
      options.allocator_bulk_deallocation_flush_threshold);
}

AllocationGuard::Suspension::Suspension() { g_suspensions.fetch_add(1); }
AllocationGuard::Suspension::~Suspension() { g_suspensions.fetch_sub(1); }
AllocationGuard::CommitScope::CommitScope() { ++guard::t_commit_scopes; }
AllocationGuard::CommitScope::~CommitScope() { --guard::t_commit_scopes; }

AllocationGuard::PlanningScope::PlanningScope() {
  auto& planning = guard::t_planning;
  outermost_ = planning.depth++ == 0;
  if (outermost_) planning.net = planning.published = planning.peak = 0;
}

AllocationGuard::PlanningScope::~PlanningScope() { End(); }

AllocationGuard::PlanningPause::PlanningPause() : depth_(guard::t_planning.depth) {
  guard::t_planning.depth = 0;
}

AllocationGuard::PlanningPause::~PlanningPause() { guard::t_planning.depth = depth_; }

int64_t AllocationGuard::PlanningScope::End() {
  if (!open_) return 0;
  open_ = false;
  auto& planning = guard::t_planning;
  --planning.depth;
  if (!outermost_) return 0;
  guard::g_planning.fetch_sub(planning.published, std::memory_order_relaxed);
  const int64_t left = std::max<int64_t>(planning.net, 0);
  // A plan abandoned half way (DuckDB folds no constant it cannot make) freed many small
  // blocks that malloc keeps: counted as released, given back before the budget is used.
  guard::Released(planning.peak - left);
  planning.net = planning.published = planning.peak = 0;
  return left;
}

int64_t AllocationGuard::PlanningScope::KeepFor(duckdb_prepared_statement statement) {
  const int64_t left = End();
  if (statement == nullptr || left == 0) return left;
  auto& plans = guard::Plans();
  std::lock_guard<std::mutex> lock(plans.mutex);
  // A statement planned again replaces its plan: the larger of the two is kept.
  auto& held = plans.bytes[statement];
  if (left > held) {
    g_live.fetch_add(left - held, std::memory_order_relaxed);
    held = left;
  }
  return left;
}

void AllocationGuard::ForgetPlan(duckdb_prepared_statement statement) {
  if (statement == nullptr) return;
  auto& plans = guard::Plans();
  std::lock_guard<std::mutex> lock(plans.mutex);
  auto found = plans.bytes.find(statement);
  if (found == plans.bytes.end()) return;
  g_live.fetch_sub(found->second, std::memory_order_relaxed);
  plans.bytes.erase(found);
}

int64_t AllocationGuard::PlanBytes(duckdb_prepared_statement statement) {
  auto& plans = guard::Plans();
  std::lock_guard<std::mutex> lock(plans.mutex);
  auto found = plans.bytes.find(statement);
  return found == plans.bytes.end() ? 0 : found->second;
}

void DestroyPrepared(duckdb_prepared_statement* statement) {
  AllocationGuard::ForgetPlan(*statement);
  duckdb_destroy_prepare(statement);
}

int64_t AllocationGuard::live_bytes() {
  return g_live.load(std::memory_order_relaxed) +
         guard::g_planning.load(std::memory_order_relaxed);
}
int64_t AllocationGuard::budget_bytes() { return g_budget.load(std::memory_order_relaxed); }
int64_t AllocationGuard::refusals() { return g_refusals.load(std::memory_order_relaxed); }

bool AllocationGuard::NewOverrideActive() {
  PlanningScope scope;  // the override counts everything this thread allocates meanwhile
  const int64_t before = guard::t_planning.net;
  // Called, not a new-expression: the compiler may not leave the pair out.
  void* probe = ::operator new(64);
  const bool counted = guard::t_planning.net > before;
  ::operator delete(probe);
  return counted;
}

}  // namespace arrowport::storage

