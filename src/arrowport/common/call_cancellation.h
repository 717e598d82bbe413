#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "arrow/status.h"

namespace arrowport {

/// \brief Cancellation of one client call. The protocol adapter (or the CallWatchdog on
/// its behalf) cancels it when the client leaves, its deadline passes or the server
/// stops; the storage layer subscribes an interrupt that stops DuckDB. Thread-safe.
class CallCancellation {
 public:
  /// Keeps an interrupt subscribed until destroyed. Movable, not copyable.
  class Subscription {
   public:
    Subscription() = default;
    Subscription(std::shared_ptr<CallCancellation> owner, uint64_t id)
        : owner_(std::move(owner)), id_(id) {}
    Subscription(Subscription&& other) noexcept { *this = std::move(other); }
    Subscription& operator=(Subscription&& other) noexcept;
    ~Subscription() { Reset(); }
    void Reset();

   private:
    std::shared_ptr<CallCancellation> owner_;
    uint64_t id_ = 0;
  };

  static std::shared_ptr<CallCancellation> Make() { return std::make_shared<CallCancellation>(); }

  /// Cancels the call (the first reason wins) and runs every subscribed interrupt.
  void Cancel(arrow::Status reason);
  /// Runs the interrupts again: DuckDB forgets an interrupt that arrives just before a
  /// statement starts, so the watchdog repeats them while a cancelled call is running.
  void RepeatInterrupts();
  /// Runs the last resorts (OnStuck) now, not kStuckAfter after the cancellation, of a
  /// call already cancelled: for whoever needs what the call holds back at once (a
  /// client's rollback of the transaction whose result the call still streams).
  void Cut();
  bool cancelled() const;
  /// Why the call was cancelled (OK when it was not).
  arrow::Status reason() const;
  /// What a call that failed with `failure` reports: `failure` while not cancelled;
  /// once cancelled, the reason, unless `failure` says a commit's outcome is unknown
  /// (ErrorKind::kOutcomeUnknown: the client must still learn to retry with its request
  /// id), which is kept with the reason in front, or is a full disk the call met itself
  /// when the reason is the server's (kServerBusy: the reopen of the database that disk
  /// invalidated), which is kept as it is, or `failure` already tells the reason
  /// (with what the handler adds: its stream, the rows a per_batch write keeps), which is
  /// kept in the reason's code.
  arrow::Status Explain(const arrow::Status& failure) const;

  /// Subscribes `interrupt` (run at once if already cancelled) until the returned
  /// subscription is destroyed. `self` must be the shared_ptr owning this object.
  static Subscription OnCancel(const std::shared_ptr<CallCancellation>& self,
                               std::function<void()> interrupt);

  /// How long a cancelled call may go on before its last resort runs. Long enough for a
  /// machine twice as slow as a loaded 2-core one to end an interrupted write (at 2 s a
  /// transformed write stopped by its deadline answered CANCELLED, its reason lost).
  static constexpr std::chrono::seconds kStuckAfter{5};
  /// Subscribes `last_resort`, run once (from RepeatInterrupts) when the call is still
  /// running kStuckAfter after it was cancelled: a call blocked where no interrupt
  /// reaches (a result waiting for a client that does not read) is ended by its
  /// transport (gRPC's TryCancel), which costs the client the cancellation's reason.
  static Subscription OnStuck(const std::shared_ptr<CallCancellation>& self,
                              std::function<void()> last_resort);

 private:
  struct Interrupt {
    std::function<void()> run;
    bool last_resort = false;
    bool ran = false;
  };
  mutable std::mutex mutex_;  // guards everything below
  arrow::Status reason_;
  bool cancelled_ = false;
  std::chrono::steady_clock::time_point cancelled_at_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, Interrupt> interrupts_;
};

}  // namespace arrowport
