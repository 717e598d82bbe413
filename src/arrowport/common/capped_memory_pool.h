#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "arrow/memory_pool.h"
#include "arrowport/common/memory_budget.h"

namespace arrowport {

/// \brief An arrow::MemoryPool for one request: forwards to `inner` (the default pool)
/// but refuses, with a TooLarge status, any allocation that would take the request's live
/// bytes past `cap`. Decoding untrusted Arrow IPC allocates what the sender declares (a
/// 30 KiB ZSTD-compressed batch can ask for a gigabyte), so the decoder of one request
/// must not draw on the process's memory without a bound. Thread-safe; must outlive every
/// buffer allocated from it.
class CappedMemoryPool : public arrow::MemoryPool {
 public:
  /// `what` names the limit in refusals, e.g. "limits.max_batch_bytes". With `server`,
  /// every allocation also draws from the server-wide budget (waiting briefly, then
  /// ResourceExhausted when it is spent).
  CappedMemoryPool(arrow::MemoryPool* inner, int64_t cap, std::string what,
                   std::shared_ptr<MemoryBudget> server = nullptr);

  using arrow::MemoryPool::Allocate;
  using arrow::MemoryPool::Free;
  using arrow::MemoryPool::Reallocate;
  arrow::Status Allocate(int64_t size, int64_t alignment, uint8_t** out) override;
  arrow::Status Reallocate(int64_t old_size, int64_t new_size, int64_t alignment,
                           uint8_t** ptr) override;
  void Free(uint8_t* buffer, int64_t size, int64_t alignment) override;

  int64_t bytes_allocated() const override { return live_.load(); }
  int64_t max_memory() const override { return peak_.load(); }
  int64_t total_bytes_allocated() const override { return total_.load(); }
  int64_t num_allocations() const override { return allocations_.load(); }
  std::string backend_name() const override { return inner_->backend_name(); }

  int64_t cap() const { return cap_; }
  /// True once an allocation was refused: the request is over its memory budget.
  bool refused() const { return refused_.load(); }
  /// Why the server-wide budget refused an allocation (OK when it never did): the
  /// server is busy (503), not the request too large (413).
  arrow::Status budget_refusal() const;

 private:
  /// Reserves `bytes` more live bytes, or returns TooLarge (ResourceExhausted when the
  /// server-wide budget is spent).
  arrow::Status Reserve(int64_t bytes);
  void Unreserve(int64_t bytes);

  arrow::MemoryPool* inner_;
  std::shared_ptr<MemoryBudget> server_;  // may be null
  const int64_t cap_;
  const std::string what_;
  std::atomic<int64_t> live_{0};
  std::atomic<int64_t> peak_{0};
  std::atomic<int64_t> total_{0};
  std::atomic<int64_t> allocations_{0};
  std::atomic<bool> refused_{false};
  mutable std::mutex refusal_mutex_;  // guards budget_refusal_
  arrow::Status budget_refusal_;
};

}  // namespace arrowport
