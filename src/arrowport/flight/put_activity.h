#pragma once

#include <atomic>
#include <chrono>
#include <mutex>

namespace grpc {
class ServerContextBase;
}  // namespace grpc

namespace arrowport::flight {

/// \brief What one DoPut is doing, shared between its gRPC interceptor (which knows the
/// call's grpc::ServerContext, the only handle that can end a blocked read) and its
/// reader (which knows when the handler waits for the client). The reader brackets each
/// read with BeginWait/EndWait; the CallWatchdog asks IdleFor and, past
/// limits.idle_timeout_s, Cancel()s the call: gRPC ends it with CANCELLED and the blocked
/// read returns, so the handler commits nothing and frees its admission slot.
/// Thread-safe.
class PutActivity {
 public:
  using Clock = std::chrono::steady_clock;

  explicit PutActivity(grpc::ServerContextBase* context) : context_(context) {}

  void BeginWait(Clock::time_point now = Clock::now());
  void EndWait();
  /// How long the handler has been waiting for the client's next message (0 when it is
  /// not waiting: busy with a batch, or done reading).
  Clock::duration IdleFor(Clock::time_point now = Clock::now()) const;

  /// Cancels the gRPC call (once), unless it is already finishing. True when this call
  /// cancelled it.
  bool Cancel();
  bool cancelled() const;
  /// The call is finishing (status being sent, context going away): never touch the
  /// context again.
  void Detach();

 private:
  mutable std::mutex mutex_;  // guards context_ and cancelled_
  grpc::ServerContextBase* context_;
  bool cancelled_ = false;
  std::atomic<int64_t> waiting_since_{0};  // Clock ticks; 0 = not waiting
};

}  // namespace arrowport::flight
