#include "arrowport/common/memory_budget.h"

#include <algorithm>
#include <utility>

#include "arrowport/common/call_cancellation.h"
#include "arrowport/common/status_detail.h"

namespace arrowport {

MemoryBudget::Reservation::Reservation(Reservation&& other) noexcept
    : budget_(std::move(other.budget_)), bytes_(std::exchange(other.bytes_, 0)) {}

MemoryBudget::Reservation& MemoryBudget::Reservation::operator=(Reservation&& other) noexcept {
  if (this != &other) {
    Release();
    budget_ = std::move(other.budget_);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

arrow::Status MemoryBudget::Reservation::Grow(int64_t more, const std::string& what) {
  if (more <= 0 || budget_ == nullptr) return arrow::Status::OK();
  ARROW_RETURN_NOT_OK(budget_->Take(more, what, Clock::now() + budget_->wait_, nullptr));
  bytes_ += more;
  return arrow::Status::OK();
}

void MemoryBudget::Reservation::Release() {
  if (budget_ && bytes_ > 0) budget_->Give(bytes_);
  bytes_ = 0;
  budget_.reset();
}

std::shared_ptr<MemoryBudget> MemoryBudget::Make(int64_t capacity,
                                                 std::chrono::milliseconds wait) {
  std::shared_ptr<MemoryBudget> budget(new MemoryBudget(capacity, wait));
  budget->self_ = budget;
  return budget;
}

arrow::Status MemoryBudget::Take(int64_t bytes, const std::string& what,
                                 Clock::time_point deadline,
                                 const std::shared_ptr<CallCancellation>& cancellation) {
  if (bytes > capacity_) {
    return ResourceExhausted(what, " needs ", bytes >> 20, " MiB, more than the server's whole "
                             "memory budget (limits.max_request_memory: ", capacity_ >> 20,
                             " MiB)");
  }
  std::unique_lock<std::mutex> lock(mutex_);
  constexpr auto kSlice = std::chrono::milliseconds(50);
  while (used_ + bytes > capacity_) {
    if (cancellation && cancellation->cancelled()) return cancellation->reason();
    const auto now = Clock::now();
    if (now >= deadline) {
      return ResourceExhausted(
          "the server is busy: its memory budget (limits.max_request_memory: ",
          capacity_ >> 20, " MiB) is spent by other calls (", used_ >> 20, " MiB held); ",
          what, " needs ", bytes >> 20, " MiB more. Retry shortly");
    }
    freed_.wait_for(lock, std::min<Clock::duration>(kSlice, deadline - now));
  }
  used_ += bytes;
  if (used_ > peak_) peak_ = used_;
  return arrow::Status::OK();
}

arrow::Status MemoryBudget::Charge(int64_t bytes, const std::string& what) {
  if (bytes <= 0) return arrow::Status::OK();
  return Take(bytes, what, Clock::now() + wait_, nullptr);
}

void MemoryBudget::Refund(int64_t bytes) {
  if (bytes <= 0) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    used_ -= bytes;
  }
  freed_.notify_all();
}

arrow::Result<MemoryBudget::Reservation> MemoryBudget::Reserve(
    int64_t bytes, const std::string& what,
    const std::shared_ptr<CallCancellation>& cancellation) {
  if (bytes <= 0) return Reservation(self_.lock(), 0);  // bound: it may Grow
  ARROW_RETURN_NOT_OK(Take(bytes, what, Clock::now() + wait_, cancellation));
  return Reservation(self_.lock(), bytes);
}

arrow::Result<MemoryBudget::Reservation> MemoryBudget::TryReserve(int64_t bytes,
                                                                  const std::string& what,
                                                                  int64_t keep_free) {
  if (bytes <= 0) return Reservation();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (used_ + bytes + std::max<int64_t>(keep_free, 0) > capacity_) {
      return ResourceExhausted(
          "the server is busy: its memory budget (limits.max_request_memory: ",
          capacity_ >> 20, " MiB) is spent by other calls (", used_ >> 20, " MiB held); ",
          what, " needs ", bytes >> 20, " MiB more. Retry shortly");
    }
    used_ += bytes;
    if (used_ > peak_) peak_ = used_;
  }
  return Reservation(self_.lock(), bytes);
}

int64_t MemoryBudget::used() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return used_;
}

int64_t MemoryBudget::peak() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return peak_;
}

arrow::Status ChargeWindow::Add(int64_t bytes, const std::string& what,
                                const std::shared_ptr<CallCancellation>& cancellation) {
  if (budget_ == nullptr) return arrow::Status::OK();
  ReleaseOldest();  // first: its bytes may be what the new item waits for
  ARROW_ASSIGN_OR_RAISE(auto reservation, budget_->Reserve(bytes, what, cancellation));
  held_.push_back(std::move(reservation));
  return arrow::Status::OK();
}

void ChargeWindow::Keep(MemoryBudget::Reservation reservation) {
  if (budget_ == nullptr) return;
  ReleaseOldest();
  held_.push_back(std::move(reservation));
}

void ChargeWindow::ReleaseOldest() {
  // The oldest item has left the window (consumed): its bytes go back.
  while (!held_.empty() && held_.size() >= window_) held_.pop_front();
}

}  // namespace arrowport
