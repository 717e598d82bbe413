#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace arrowport {

/// \brief Whether a call is waiting for its client to take what it sends, and since
/// when: a client that stops reading leaves the server's write waiting (gRPC's flow
/// control, a full socket) where no interrupt reaches it. The writer brackets each write
/// with a Scope; the CallWatchdog cancels a call whose write has waited longer than its
/// stall timeout (limits.write_stall_timeout_s). Thread-safe.
class WriteStall {
 public:
  using Clock = std::chrono::steady_clock;

  /// Marks one write to the client as waiting until destroyed.
  class Scope {
   public:
    explicit Scope(WriteStall* stall) : stall_(stall) {
      if (stall_) stall_->Begin();
    }
    ~Scope() {
      if (stall_) stall_->End();
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    WriteStall* stall_;
  };

  void Begin(Clock::time_point now = Clock::now()) {
    since_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
  }
  void End() { since_.store(0, std::memory_order_relaxed); }
  /// How long the current write has waited (zero when none is waiting).
  Clock::duration WaitingFor(Clock::time_point now = Clock::now()) const {
    const int64_t since = since_.load(std::memory_order_relaxed);
    if (since == 0) return Clock::duration::zero();
    return now - Clock::time_point(Clock::duration(since));
  }

 private:
  std::atomic<int64_t> since_{0};  // Clock ticks; 0 = no write waiting
};

}  // namespace arrowport
