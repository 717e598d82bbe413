#include "arrowport/storage/allocation_guard.h"

#include <duckdb/common/allocator.hpp>
#include <duckdb/main/config.hpp>
#include <duckdb/storage/block_allocator.hpp>
#include <duckdb/storage/buffer/buffer_pool.hpp>
#include <duckdb/storage/storage_info.hpp>

#include <atomic>
#include <mutex>

namespace arrowport::storage {

namespace {

// The guard's counters: process-wide, as the allocator they watch.
std::atomic<int64_t> g_live{0};
std::atomic<int64_t> g_budget{0};
std::atomic<int64_t> g_value_cap{0};
std::atomic<int64_t> g_refusals{0};
std::atomic<int64_t> g_suspensions{0};
// CommitScopes open on this thread.
thread_local int t_commit_scopes = 0;

// What an allocation is for: a value a query computes (DuckDB's default allocator, its
// `new`), which may be no larger than limits.max_query_memory, or a buffer-pool block (the
// database's allocator), which DuckDB's memory limit governs.
enum class Kind { kValue, kBlock };

// Reserves `bytes` more of the budget for one allocation of `size` bytes (a reallocation
// grows by `bytes` to `size`); false when it is refused. A refused request never shows in
// the live total, not even for a moment: a concurrent allocation must not be refused for
// memory nobody got.
bool Reserve(int64_t bytes, int64_t size, Kind kind) {
  if (size < AllocationGuard::kGuardedAllocationBytes) {
    g_live.fetch_add(bytes, std::memory_order_relaxed);
    return true;
  }
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
    if (!exempt && budget > 0 && before + bytes > budget + headroom) {
      g_refusals.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    if (g_live.compare_exchange_weak(before, before + bytes, std::memory_order_relaxed)) {
      return true;
    }
  }
}

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
  return moved;
}

}  // namespace

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
AllocationGuard::CommitScope::CommitScope() { ++t_commit_scopes; }
AllocationGuard::CommitScope::~CommitScope() { --t_commit_scopes; }

int64_t AllocationGuard::live_bytes() { return g_live.load(std::memory_order_relaxed); }
int64_t AllocationGuard::budget_bytes() { return g_budget.load(std::memory_order_relaxed); }
int64_t AllocationGuard::refusals() { return g_refusals.load(std::memory_order_relaxed); }

}  // namespace arrowport::storage

// ---------------------------------------------------------------------------------------
// The global operator new: large allocations made by DuckDB's code are counted and capped
// like those of its allocators. Which code asked is told by the return address: a
// template DuckDB instantiates (its vector<char>) calls operator new from DuckDB's text.

#ifndef ARROWPORT_NO_NEW_GUARD

#include <link.h>
#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <unordered_map>

namespace arrowport::storage {
namespace {

// DuckDB's executable code, [begin, end): found once, the first time it matters.
std::atomic<uintptr_t> g_duckdb_begin{0};
std::atomic<uintptr_t> g_duckdb_end{0};
std::once_flag g_duckdb_found;

int FindDuckDB(dl_phdr_info* info, size_t, void*) {
  if (info->dlpi_name == nullptr || std::strstr(info->dlpi_name, "libduckdb") == nullptr) {
    return 0;
  }
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const auto& segment = info->dlpi_phdr[i];
    if (segment.p_type != PT_LOAD || (segment.p_flags & PF_X) == 0) continue;
    const uintptr_t begin = info->dlpi_addr + segment.p_vaddr;
    g_duckdb_begin.store(begin);
    g_duckdb_end.store(begin + segment.p_memsz);
    return 1;
  }
  return 0;
}

bool CalledFromDuckDB(const void* caller) {
  std::call_once(g_duckdb_found, [] { dl_iterate_phdr(FindDuckDB, nullptr); });
  const auto address = reinterpret_cast<uintptr_t>(caller);
  return address >= g_duckdb_begin.load(std::memory_order_relaxed) &&
         address < g_duckdb_end.load(std::memory_order_relaxed);
}

// The large blocks DuckDB got from operator new, by address: few (each is at least
// kGuardedAllocationBytes), so one mutex is no contention.
struct LargeBlocks {
  std::mutex mutex;
  std::unordered_map<void*, int64_t> sizes;
};
LargeBlocks& Blocks() {
  static auto* blocks = new LargeBlocks();  // never destroyed: delete may run at exit
  return *blocks;
}

void* GuardedNew(std::size_t size, std::size_t alignment, const void* caller) {
  const bool large = static_cast<int64_t>(size) >= AllocationGuard::kGuardedAllocationBytes;
  const bool counted = large && g_budget.load(std::memory_order_relaxed) > 0 &&
                       CalledFromDuckDB(caller);
  if (counted &&
      !Reserve(static_cast<int64_t>(size), static_cast<int64_t>(size), Kind::kValue)) {
    return nullptr;
  }
  void* pointer = nullptr;
  if (alignment <= alignof(std::max_align_t)) {
    pointer = std::malloc(size == 0 ? 1 : size);
  } else if (posix_memalign(&pointer, alignment, size == 0 ? 1 : size) != 0) {
    pointer = nullptr;
  }
  if (!counted) return pointer;
  if (pointer == nullptr) {
    g_live.fetch_sub(static_cast<int64_t>(size), std::memory_order_relaxed);
    return nullptr;
  }
  auto& blocks = Blocks();
  std::lock_guard<std::mutex> lock(blocks.mutex);
  blocks.sizes[pointer] = static_cast<int64_t>(size);
  return pointer;
}

void GuardedDelete(void* pointer) {
  if (pointer == nullptr) return;
  if (static_cast<int64_t>(malloc_usable_size(pointer)) >=
      AllocationGuard::kGuardedAllocationBytes) {
    auto& blocks = Blocks();
    std::lock_guard<std::mutex> lock(blocks.mutex);
    auto found = blocks.sizes.find(pointer);
    if (found != blocks.sizes.end()) {
      g_live.fetch_sub(found->second, std::memory_order_relaxed);
      blocks.sizes.erase(found);
    }
  }
  std::free(pointer);
}

void* NewOrThrow(std::size_t size, std::size_t alignment, const void* caller) {
  void* pointer = GuardedNew(size, alignment, caller);
  if (pointer == nullptr) throw std::bad_alloc();
  return pointer;
}

}  // namespace
}  // namespace arrowport::storage

using arrowport::storage::GuardedDelete;
using arrowport::storage::GuardedNew;
using arrowport::storage::NewOrThrow;

void* operator new(std::size_t size) {
  return NewOrThrow(size, 0, __builtin_return_address(0));
}
void* operator new[](std::size_t size) {
  return NewOrThrow(size, 0, __builtin_return_address(0));
}
void* operator new(std::size_t size, std::align_val_t alignment) {
  return NewOrThrow(size, static_cast<std::size_t>(alignment), __builtin_return_address(0));
}
void* operator new[](std::size_t size, std::align_val_t alignment) {
  return NewOrThrow(size, static_cast<std::size_t>(alignment), __builtin_return_address(0));
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return GuardedNew(size, 0, __builtin_return_address(0));
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return GuardedNew(size, 0, __builtin_return_address(0));
}
void operator delete(void* pointer) noexcept { GuardedDelete(pointer); }
void operator delete[](void* pointer) noexcept { GuardedDelete(pointer); }
void operator delete(void* pointer, std::size_t) noexcept { GuardedDelete(pointer); }
void operator delete[](void* pointer, std::size_t) noexcept { GuardedDelete(pointer); }
void operator delete(void* pointer, std::align_val_t) noexcept { GuardedDelete(pointer); }
void operator delete[](void* pointer, std::align_val_t) noexcept { GuardedDelete(pointer); }
void operator delete(void* pointer, std::size_t, std::align_val_t) noexcept {
  GuardedDelete(pointer);
}
void operator delete[](void* pointer, std::size_t, std::align_val_t) noexcept {
  GuardedDelete(pointer);
}
void operator delete(void* pointer, const std::nothrow_t&) noexcept { GuardedDelete(pointer); }
void operator delete[](void* pointer, const std::nothrow_t&) noexcept { GuardedDelete(pointer); }

#endif  // ARROWPORT_NO_NEW_GUARD
