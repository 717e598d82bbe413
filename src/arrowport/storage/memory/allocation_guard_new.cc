// The global operator new: large allocations made by DuckDB's code are counted and capped
// like those of its allocators (AllocationGuard), and everything a planning thread
// allocates (AllocationGuard::PlanningScope). Which code asked is told by the return
// address: a template DuckDB instantiates (its vector<char>) calls operator new from
// DuckDB's text, a std::string member libstdc++ instantiates from libstdc++'s, on behalf
// of the code above it.

#include "arrowport/storage/memory/allocation_guard.h"

#ifndef ARROWPORT_NO_NEW_GUARD

#include <execinfo.h>
#include <link.h>
#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>

#include "arrowport/storage/memory/allocation_guard_internal.h"

namespace arrowport::storage {
namespace {

using guard::g_budget;
using guard::g_live;
using guard::g_refusals;

// A library's executable code, [begin, end): found once, the first time it matters.
struct CodeRange {
  const char* library;
  uintptr_t begin = 0;
  uintptr_t end = 0;
  bool Holds(const void* address) const {
    const auto at = reinterpret_cast<uintptr_t>(address);
    return at >= begin && at < end;
  }
};
// DuckDB's code, and libstdc++'s: std::string members libstdc++ instantiates itself
// (extern templates) call operator new from there on behalf of DuckDB's code: RE2's
// growing result in regexp_replace, a copy into a std::string.
struct Libraries {
  CodeRange duckdb{"libduckdb"};
  CodeRange stdcxx{"libstdc++"};
};

int FindCode(dl_phdr_info* info, size_t, void* range_p) {
  auto* range = static_cast<CodeRange*>(range_p);
  if (info->dlpi_name == nullptr ||
      std::strstr(info->dlpi_name, range->library) == nullptr) {
    return 0;
  }
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const auto& segment = info->dlpi_phdr[i];
    if (segment.p_type != PT_LOAD || (segment.p_flags & PF_X) == 0) continue;
    range->begin = info->dlpi_addr + segment.p_vaddr;
    range->end = range->begin + segment.p_memsz;
    return 1;
  }
  return 0;
}

// Frames looked at above a libstdc++ member: its own calls, then the code that called it.
constexpr int kFramesAboveStdcxx = 16;

// Found the first time it matters. A function's static: every later call costs a load of
// its guard, where std::call_once went through pthread_once (and libstdc++'s TLS) at each
// of a planning thread's allocations.
const Libraries& Code() {
  static const Libraries libraries = [] {
    Libraries found;
    dl_iterate_phdr(FindCode, &found.duckdb);
    dl_iterate_phdr(FindCode, &found.stdcxx);
    void* warm[1];
    backtrace(warm, 1);  // its first call loads the unwinder: not inside an allocation
    return found;
  }();
  return libraries;
}

bool CalledFromDuckDB(const void* caller) {
  const Libraries& code = Code();
  if (code.duckdb.Holds(caller)) return true;
  if (!code.stdcxx.Holds(caller)) return false;
  // Whose is the libstdc++ member: the first frame above the library's own decides.
  void* frames[kFramesAboveStdcxx];
  const int n = backtrace(frames, kFramesAboveStdcxx);
  int i = 0;
  while (i < n && !code.stdcxx.Holds(frames[i])) ++i;  // this file's own frames
  while (i < n && code.stdcxx.Holds(frames[i])) ++i;
  return i < n && code.duckdb.Holds(frames[i]);
}

// The large blocks DuckDB got from operator new, by address: few (each is at least
// kGuardedAllocationBytes), so one mutex is no contention.
struct LargeBlocks {
  std::mutex mutex;
  std::unordered_map<void*, int64_t> sizes;
};
// How many blocks the map holds: a delete off a planning thread looks a block up (and
// asks malloc its size) only while there is one. A block is counted before its pointer
// leaves operator new, so whoever frees it sees the count.
constinit std::atomic<int64_t> g_counted_blocks{0};
LargeBlocks& Blocks() {
  static auto* blocks = new LargeBlocks();  // never destroyed: delete may run at exit
  return *blocks;
}

void* Allocate(std::size_t size, std::size_t alignment) {
  void* pointer = nullptr;
  if (alignment <= alignof(std::max_align_t)) {
    pointer = std::malloc(size == 0 ? 1 : size);
  } else if (posix_memalign(&pointer, alignment, size == 0 ? 1 : size) != 0) {
    pointer = nullptr;
  }
  return pointer;
}

// On a planning thread every block counts, however small; DuckDB's own are refused past
// the planning's limits (small ones too: planning appends nothing). Whose a small block
// is, is told by its caller alone (a stack walk for each would cost too much).
void* PlanningNew(std::size_t size, std::size_t alignment, const void* caller) {
  const bool large =
      static_cast<int64_t>(size) >= AllocationGuard::kGuardedAllocationBytes;
  if (g_budget.load(std::memory_order_relaxed) > 0 && !guard::Exempt() &&
      (large ? CalledFromDuckDB(caller) : Code().duckdb.Holds(caller)) &&
      !guard::PlanningFits(static_cast<int64_t>(size))) {
    g_refusals.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  void* pointer = Allocate(size, alignment);
  if (pointer != nullptr) {
    guard::CountPlanning(static_cast<int64_t>(malloc_usable_size(pointer)));
  }
  return pointer;
}

void* GuardedNew(std::size_t size, std::size_t alignment, const void* caller) {
  if (guard::t_planning.depth > 0) return PlanningNew(size, alignment, caller);
  const bool large =
      static_cast<int64_t>(size) >= AllocationGuard::kGuardedAllocationBytes;
  const bool counted = large && g_budget.load(std::memory_order_relaxed) > 0 &&
                       CalledFromDuckDB(caller);
  if (counted && !guard::Reserve(static_cast<int64_t>(size), static_cast<int64_t>(size),
                                 guard::Kind::kValue)) {
    return nullptr;
  }
  void* pointer = Allocate(size, alignment);
  if (!counted) return pointer;
  if (pointer == nullptr) {
    g_live.fetch_sub(static_cast<int64_t>(size), std::memory_order_relaxed);
    return nullptr;
  }
  auto& blocks = Blocks();
  std::lock_guard<std::mutex> lock(blocks.mutex);
  blocks.sizes[pointer] = static_cast<int64_t>(size);
  g_counted_blocks.fetch_add(1, std::memory_order_relaxed);
  return pointer;
}

void GuardedDelete(void* pointer) {
  if (pointer == nullptr) return;
  if (guard::t_planning.depth == 0 && g_counted_blocks.load(std::memory_order_relaxed) == 0) {
    std::free(pointer);
    return;
  }
  const auto usable = static_cast<int64_t>(malloc_usable_size(pointer));
  if (usable >= AllocationGuard::kGuardedAllocationBytes) {
    auto& blocks = Blocks();
    std::unique_lock<std::mutex> lock(blocks.mutex);
    auto found = blocks.sizes.find(pointer);
    if (found != blocks.sizes.end()) {
      g_live.fetch_sub(found->second, std::memory_order_relaxed);
      guard::Released(found->second);
      blocks.sizes.erase(found);
      g_counted_blocks.fetch_sub(1, std::memory_order_relaxed);
      lock.unlock();
      std::free(pointer);
      return;
    }
  }
  if (guard::t_planning.depth > 0) guard::CountPlanning(-usable);
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
  return NewOrThrow(size, static_cast<std::size_t>(alignment),
                    __builtin_return_address(0));
}
void* operator new[](std::size_t size, std::align_val_t alignment) {
  return NewOrThrow(size, static_cast<std::size_t>(alignment),
                    __builtin_return_address(0));
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
void operator delete[](void* pointer, std::align_val_t) noexcept {
  GuardedDelete(pointer);
}
void operator delete(void* pointer, std::size_t, std::align_val_t) noexcept {
  GuardedDelete(pointer);
}
void operator delete[](void* pointer, std::size_t, std::align_val_t) noexcept {
  GuardedDelete(pointer);
}
void operator delete(void* pointer, const std::nothrow_t&) noexcept {
  GuardedDelete(pointer);
}
void operator delete[](void* pointer, const std::nothrow_t&) noexcept {
  GuardedDelete(pointer);
}

#endif  // ARROWPORT_NO_NEW_GUARD
