#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "arrow/status.h"
#include "arrowport/common/call_cancellation.h"
#include "arrowport/common/write_stall.h"

namespace arrowport {

/// \brief One background thread that cancels the calls it watches when their client has
/// gone (a predicate the protocol supplies: a closed socket, a cancelled gRPC call) or
/// their deadline has passed, and cancels all of them at shutdown. Thread-safe.
class CallWatchdog {
 public:
  using Clock = std::chrono::steady_clock;

  /// Keeps a call watched until destroyed.
  class Watch {
   public:
    Watch() = default;
    Watch(CallWatchdog* owner, uint64_t id) : owner_(owner), id_(id) {}
    Watch(Watch&& other) noexcept { *this = std::move(other); }
    Watch& operator=(Watch&& other) noexcept;
    ~Watch() { Reset(); }
    void Reset();

   private:
    CallWatchdog* owner_ = nullptr;
    uint64_t id_ = 0;
  };

  explicit CallWatchdog(std::chrono::milliseconds period = std::chrono::milliseconds(100));
  ~CallWatchdog();
  CallWatchdog(const CallWatchdog&) = delete;
  CallWatchdog& operator=(const CallWatchdog&) = delete;

  /// What a watch checks besides the server's shutdown.
  struct Checks {
    /// Polled from the watchdog thread (may be empty); must be cheap and thread-safe; it
    /// is never called once the Watch's destruction has returned (so it may point into
    /// the call).
    std::function<bool()> client_gone;
    std::optional<Clock::time_point> deadline;
    /// Why the call ends at its deadline (OK: "query timed out (limits.query_timeout_s)").
    arrow::Status deadline_reason;
    /// The call's writes to its client (may be null), and how long one may wait.
    std::shared_ptr<const WriteStall> stall;
    Clock::duration stall_timeout = Clock::duration::zero();  ///< zero: never cut
  };

  /// Watches `call` until the returned Watch is destroyed.
  [[nodiscard]] Watch Add(std::shared_ptr<CallCancellation> call, Checks checks);
  /// The same with a client check and a deadline only.
  [[nodiscard]] Watch Add(std::shared_ptr<CallCancellation> call,
                          std::function<bool()> client_gone,
                          std::optional<Clock::time_point> deadline = std::nullopt) {
    Checks checks;
    checks.client_gone = std::move(client_gone);
    checks.deadline = deadline;
    return Add(std::move(call), std::move(checks));
  }

  /// Cancels every watched call (server shutdown after its grace period), and every
  /// call added from now on.
  void CancelAll(const arrow::Status& reason);
  /// Cancels the calls watched right now; later ones run.
  void CancelWatched(const arrow::Status& reason);

  /// Calls watched right now.
  size_t size() const;

 private:
  // A call's client_gone predicate, polled outside mutex_. Its own mutex makes Remove()
  // wait for a poll in progress: the predicate usually points into the call (a gRPC
  // ServerCallContext, a socket), which is gone once the Watch is destroyed.
  struct Predicate {
    std::mutex mutex;
    std::function<bool()> client_gone;  // emptied by Remove()
  };
  struct Entry {
    std::shared_ptr<CallCancellation> call;
    std::shared_ptr<Predicate> predicate;
    std::optional<Clock::time_point> deadline;
    arrow::Status deadline_reason;
    std::shared_ptr<const WriteStall> stall;
    Clock::duration stall_timeout;
  };
  void Run();
  void Remove(uint64_t id);
  static arrow::Status StalledReason(Clock::duration waited);

  const std::chrono::milliseconds period_;
  mutable std::mutex mutex_;  // guards everything below
  std::condition_variable wake_;
  std::map<uint64_t, Entry> entries_;
  uint64_t next_id_ = 1;
  bool stopping_ = false;
  arrow::Status cancel_all_;  // set by CancelAll: later calls are cancelled on arrival
  std::thread thread_;
};

}  // namespace arrowport
