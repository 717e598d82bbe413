#include "arrowport/common/capped_memory_pool.h"

#include "arrowport/common/status_detail.h"

namespace arrowport {

CappedMemoryPool::CappedMemoryPool(arrow::MemoryPool* inner, int64_t cap, std::string what,
                                   std::shared_ptr<MemoryBudget> server)
    : inner_(inner), server_(std::move(server)), cap_(cap), what_(std::move(what)) {}

arrow::Status CappedMemoryPool::Reserve(int64_t bytes) {
  int64_t live = live_.load();
  do {
    if (bytes > cap_ - live) {
      refused_ = true;
      return TooLarge("request needs more than ", cap_, " bytes of decoded Arrow data in "
                      "memory (an allocation of ", bytes, " bytes with ", live,
                      " in use); send smaller record batches or raise ", what_);
    }
  } while (!live_.compare_exchange_weak(live, live + bytes));
  if (server_) {
    auto st = server_->Charge(bytes, "decoding the request's Arrow data");
    if (!st.ok()) {
      live_ -= bytes;
      refused_ = true;
      // Busy only when it could fit once others give memory back: one allocation larger
      // than the whole budget is the request's size (413), however long it retried.
      std::lock_guard<std::mutex> lock(refusal_mutex_);
      if (budget_refusal_.ok() && bytes <= server_->capacity()) budget_refusal_ = st;
      return st;
    }
  }
  int64_t peak = peak_.load();
  while (live + bytes > peak && !peak_.compare_exchange_weak(peak, live + bytes)) {
  }
  return arrow::Status::OK();
}

arrow::Status CappedMemoryPool::budget_refusal() const {
  std::lock_guard<std::mutex> lock(refusal_mutex_);
  return budget_refusal_;
}

arrow::Status CappedMemoryPool::Allocate(int64_t size, int64_t alignment, uint8_t** out) {
  if (size < 0) return arrow::Status::Invalid("negative allocation size");
  ARROW_RETURN_NOT_OK(Reserve(size));
  auto st = inner_->Allocate(size, alignment, out);
  if (!st.ok()) {
    Unreserve(size);
    return st;
  }
  total_ += size;
  ++allocations_;
  return st;
}

arrow::Status CappedMemoryPool::Reallocate(int64_t old_size, int64_t new_size,
                                           int64_t alignment, uint8_t** ptr) {
  if (new_size < 0) return arrow::Status::Invalid("negative allocation size");
  const int64_t growth = new_size - old_size;
  if (growth > 0) ARROW_RETURN_NOT_OK(Reserve(growth));
  auto st = inner_->Reallocate(old_size, new_size, alignment, ptr);
  if (!st.ok()) {
    if (growth > 0) Unreserve(growth);
    return st;
  }
  if (growth < 0) Unreserve(-growth);
  if (growth > 0) total_ += growth;
  ++allocations_;
  return st;
}

void CappedMemoryPool::Free(uint8_t* buffer, int64_t size, int64_t alignment) {
  inner_->Free(buffer, size, alignment);
  Unreserve(size);
}

void CappedMemoryPool::Unreserve(int64_t bytes) {
  live_ -= bytes;
  if (server_) server_->Refund(bytes);
}

}  // namespace arrowport
