#include "arrowport/common/call_watchdog.h"

#include <vector>

#include "arrowport/common/status_detail.h"

namespace arrowport {

CallWatchdog::Watch& CallWatchdog::Watch::operator=(Watch&& other) noexcept {
  if (this != &other) {
    Reset();
    owner_ = other.owner_;
    id_ = other.id_;
    other.owner_ = nullptr;
    other.id_ = 0;
  }
  return *this;
}

void CallWatchdog::Watch::Reset() {
  if (owner_) owner_->Remove(id_);
  owner_ = nullptr;
  id_ = 0;
}

CallWatchdog::CallWatchdog(std::chrono::milliseconds period)
    : period_(period), thread_([this] { Run(); }) {}

CallWatchdog::~CallWatchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

CallWatchdog::Watch CallWatchdog::Add(std::shared_ptr<CallCancellation> call,
                                      std::function<bool()> client_gone,
                                      std::optional<Clock::time_point> deadline) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!cancel_all_.ok()) call->Cancel(cancel_all_);
  const uint64_t id = next_id_++;
  entries_.emplace(id, Entry{std::move(call), std::move(client_gone), deadline});
  return Watch(this, id);
}

void CallWatchdog::Remove(uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  entries_.erase(id);
}

void CallWatchdog::CancelAll(const arrow::Status& reason) {
  std::vector<std::shared_ptr<CallCancellation>> calls;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    cancel_all_ = reason;
    for (auto& [id, entry] : entries_) calls.push_back(entry.call);
  }
  for (auto& call : calls) call->Cancel(reason);
}

size_t CallWatchdog::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

void CallWatchdog::Run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, period_, [this] { return stopping_; });
    if (stopping_) break;
    // Decide under the lock, act outside it: predicates and interrupts may take locks
    // of their own (gRPC, DuckDB).
    std::vector<std::pair<std::shared_ptr<CallCancellation>, std::function<bool()>>> polled;
    std::vector<std::shared_ptr<CallCancellation>> expired;
    const auto now = Clock::now();
    for (auto& [id, entry] : entries_) {
      if (entry.deadline && now >= *entry.deadline) {
        expired.push_back(entry.call);
      } else {
        polled.emplace_back(entry.call, entry.client_gone);
      }
    }
    lock.unlock();
    for (auto& call : expired) {
      call->Cancel(TimedOut("query timed out (limits.query_timeout_s)"));
      call->RepeatInterrupts();
    }
    for (auto& [call, client_gone] : polled) {
      if (call->cancelled()) {
        call->RepeatInterrupts();
      } else if (client_gone && client_gone()) {
        call->Cancel(arrow::Status::Cancelled("the client went away"));
      }
    }
    lock.lock();
  }
}

}  // namespace arrowport
