#include "arrowport/flight/put_activity.h"

#include <grpcpp/server_context.h>

namespace arrowport::flight {

void PutActivity::BeginWait(Clock::time_point now) {
  // A tick count of 0 means "not waiting": never store it for a real time.
  const int64_t ticks = now.time_since_epoch().count();
  waiting_since_.store(ticks == 0 ? 1 : ticks);
}

void PutActivity::EndWait() { waiting_since_.store(0); }

PutActivity::Clock::duration PutActivity::IdleFor(Clock::time_point now) const {
  const int64_t since = waiting_since_.load();
  if (since == 0) return Clock::duration::zero();
  const auto waited = now - Clock::time_point(Clock::duration(since));
  return waited > Clock::duration::zero() ? waited : Clock::duration::zero();
}

bool PutActivity::Cancel() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (cancelled_ || context_ == nullptr) return false;
  cancelled_ = true;
  context_->TryCancel();
  return true;
}

bool PutActivity::cancelled() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return cancelled_;
}

void PutActivity::Detach() {
  std::lock_guard<std::mutex> lock(mutex_);
  context_ = nullptr;
}

}  // namespace arrowport::flight
