#include "arrowport/common/call_cancellation.h"

#include <vector>

#include "arrowport/common/status_detail.h"

namespace arrowport {

CallCancellation::Subscription& CallCancellation::Subscription::operator=(
    Subscription&& other) noexcept {
  if (this != &other) {
    Reset();
    owner_ = std::move(other.owner_);
    id_ = other.id_;
    other.id_ = 0;
  }
  return *this;
}

void CallCancellation::Subscription::Reset() {
  if (owner_) {
    std::lock_guard<std::mutex> lock(owner_->mutex_);
    owner_->interrupts_.erase(id_);
  }
  owner_.reset();
  id_ = 0;
}

void CallCancellation::Cancel(arrow::Status reason) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cancelled_) return;
    cancelled_ = true;
    cancelled_at_ = std::chrono::steady_clock::now();
    reason_ = reason.ok() ? arrow::Status::Cancelled("call cancelled") : std::move(reason);
  }
  RepeatInterrupts();
}

void CallCancellation::RepeatInterrupts() {
  // Interrupts run under the lock so that a subscription cannot be destroyed (and its
  // DuckDB connection closed) while its interrupt runs; they must be quick and not
  // subscribe or unsubscribe themselves.
  std::lock_guard<std::mutex> lock(mutex_);
  if (!cancelled_) return;
  const bool stuck = std::chrono::steady_clock::now() - cancelled_at_ >= kStuckAfter;
  for (auto& [id, interrupt] : interrupts_) {
    if (!interrupt.last_resort) {
      interrupt.run();
    } else if (stuck && !interrupt.ran) {
      interrupt.ran = true;
      interrupt.run();
    }
  }
}

void CallCancellation::Cut() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!cancelled_) return;
  for (auto& [id, interrupt] : interrupts_) {
    if (interrupt.last_resort && !interrupt.ran) {
      interrupt.ran = true;
      interrupt.run();
    }
  }
}

bool CallCancellation::cancelled() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return cancelled_;
}

arrow::Status CallCancellation::reason() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return reason_;
}

arrow::Status CallCancellation::Explain(const arrow::Status& failure) const {
  const arrow::Status why = reason();
  if (failure.ok() || why.ok()) return failure;
  if (HasErrorKind(failure, ErrorKind::kOutcomeUnknown)) {
    return failure.WithMessage(why.message(), ": ", failure.message());
  }
  // A full disk the call met itself, then the reopen of the database it invalidated
  // (kServerBusy) cancelled it: a checkpoint's client was told only to retry, which fails
  // the same way until space is freed (a loaded run). (A call that met the database
  // already invalidated is kServerBusy itself: TranslateDuckDBError.)
  if (HasErrorKind(failure, ErrorKind::kDiskFull) && HasErrorKind(why, ErrorKind::kServerBusy)) {
    return failure;
  }
  if (failure.message().find(why.message()) != std::string::npos) {
    return why.WithMessage(failure.message());
  }
  return why;
}

CallCancellation::Subscription CallCancellation::OnCancel(
    const std::shared_ptr<CallCancellation>& self, std::function<void()> interrupt) {
  std::lock_guard<std::mutex> lock(self->mutex_);
  if (self->cancelled_) interrupt();
  const uint64_t id = self->next_id_++;
  self->interrupts_.emplace(id, Interrupt{std::move(interrupt)});
  return Subscription(self, id);
}

CallCancellation::Subscription CallCancellation::OnStuck(
    const std::shared_ptr<CallCancellation>& self, std::function<void()> last_resort) {
  std::lock_guard<std::mutex> lock(self->mutex_);
  const uint64_t id = self->next_id_++;
  self->interrupts_.emplace(id, Interrupt{std::move(last_resort), /*last_resort=*/true});
  return Subscription(self, id);
}

}  // namespace arrowport
