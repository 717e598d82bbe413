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
                                      Checks checks) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!cancel_all_.ok()) call->Cancel(cancel_all_);
  const uint64_t id = next_id_++;
  auto predicate = std::make_shared<Predicate>();
  predicate->client_gone = std::move(checks.client_gone);
  entries_.emplace(id, Entry{std::move(call), std::move(predicate), checks.deadline,
                             std::move(checks.deadline_reason), std::move(checks.stall),
                             checks.stall_timeout});
  return Watch(this, id);
}

void CallWatchdog::Remove(uint64_t id) {
  std::shared_ptr<Predicate> predicate;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    predicate = std::move(it->second.predicate);
    entries_.erase(it);
  }
  // Waits for a poll in progress; no poll starts after this.
  std::lock_guard<std::mutex> lock(predicate->mutex);
  predicate->client_gone = nullptr;
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

void CallWatchdog::CancelWatched(const arrow::Status& reason) {
  std::vector<std::shared_ptr<CallCancellation>> calls;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [id, entry] : entries_) calls.push_back(entry.call);
  }
  for (auto& call : calls) call->Cancel(reason);
}

size_t CallWatchdog::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

arrow::Status CallWatchdog::StalledReason(Clock::duration waited) {
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(waited).count();
  return TimedOut("the client stopped reading the server's answer: a write waited more "
                  "than ", seconds, " s (limits.write_stall_timeout_s)");
}

void CallWatchdog::Run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, period_, [this] { return stopping_; });
    if (stopping_) break;
    // Decide under the lock, act outside it: predicates and interrupts may take locks
    // of their own (gRPC, DuckDB).
    std::vector<std::pair<std::shared_ptr<CallCancellation>, std::shared_ptr<Predicate>>> polled;
    std::vector<std::pair<std::shared_ptr<CallCancellation>, arrow::Status>> expired;
    const auto now = Clock::now();
    for (auto& [id, entry] : entries_) {
      if (entry.deadline && now >= *entry.deadline) {
        // Worded when it expires, not for every call (a status with a detail allocates).
        expired.emplace_back(entry.call,
                             entry.deadline_reason.ok()
                                 ? TimedOut("query timed out (limits.query_timeout_s)")
                                 : entry.deadline_reason);
      } else if (entry.stall && entry.stall_timeout > Clock::duration::zero() &&
                 entry.stall->WaitingFor(now) > entry.stall_timeout) {
        expired.emplace_back(entry.call, StalledReason(entry.stall_timeout));
      } else {
        polled.emplace_back(entry.call, entry.predicate);
      }
    }
    lock.unlock();
    for (auto& [call, reason] : expired) {
      call->Cancel(reason);
      call->RepeatInterrupts();
    }
    for (auto& [call, predicate] : polled) {
      if (call->cancelled()) {
        call->RepeatInterrupts();
        continue;
      }
      bool gone = false;
      {
        std::lock_guard<std::mutex> poll(predicate->mutex);
        gone = predicate->client_gone && predicate->client_gone();
      }
      if (gone) {
        // Not ClientGone: a client that only half-closed (an upload cut short) still reads
        // the answer, a 400.
        call->Cancel(arrow::Status::Cancelled("the client went away or its deadline passed"));
      }
    }
    lock.lock();
  }
}

}  // namespace arrowport
