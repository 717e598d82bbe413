#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "arrow/result.h"

namespace arrowport {

class CallCancellation;

/// \brief The server-wide memory budget (limits.max_request_memory) that every call's
/// buffers draw from, whatever protocol carried it: request bodies read whole, decoded
/// Arrow batches waiting to be written, bound query parameters and prepared statements
/// held open, result batches queued for a client, the planning of client SQL, and the
/// lake tables' snapshots kept in memory (lake::LakeTable, without waiting). A call
/// that would take the total past the budget waits up to `wait` for others to give bytes
/// back, then fails with ResourceExhausted (HTTP 503, Flight RESOURCE_EXHAUSTED): the
/// server answers "busy" instead of being killed for memory. Thread-safe.
class MemoryBudget {
 public:
  using Clock = std::chrono::steady_clock;

  /// Bytes held until destroyed (or Release()d). Move-only.
  class Reservation {
   public:
    Reservation() = default;
    Reservation(Reservation&& other) noexcept;
    Reservation& operator=(Reservation&& other) noexcept;
    Reservation(const Reservation&) = delete;
    Reservation& operator=(const Reservation&) = delete;
    ~Reservation() { Release(); }

    int64_t bytes() const { return bytes_; }
    /// The budget it draws from (null for an empty Reservation()).
    MemoryBudget* budget() const { return budget_.get(); }
    /// Holds `more` bytes besides (same waiting and refusal as Reserve).
    arrow::Status Grow(int64_t more, const std::string& what);
    void Release();

   private:
    friend class MemoryBudget;
    Reservation(std::shared_ptr<MemoryBudget> budget, int64_t bytes)
        : budget_(std::move(budget)), bytes_(bytes) {}
    std::shared_ptr<MemoryBudget> budget_;
    int64_t bytes_ = 0;
  };

  /// `capacity` bytes in all; a call waits up to `wait` for room.
  static std::shared_ptr<MemoryBudget> Make(int64_t capacity,
                                            std::chrono::milliseconds wait =
                                                std::chrono::milliseconds(2000));

  /// \brief Reserves `bytes` for `what` ("a request body", ...), waiting while the budget
  /// is spent (until the wait passes or `cancellation` is cancelled). ResourceExhausted
  /// naming limits.max_request_memory when there is no room; a single reservation larger
  /// than the whole budget fails at once.
  arrow::Result<Reservation> Reserve(int64_t bytes, const std::string& what,
                                     const std::shared_ptr<CallCancellation>& cancellation =
                                         nullptr);
  /// The reservation when there is room now and `keep_free` bytes stay free after it,
  /// else ResourceExhausted (no waiting).
  arrow::Result<Reservation> TryReserve(int64_t bytes, const std::string& what,
                                        int64_t keep_free = 0);

  /// For accounting that is not one RAII object (a memory pool whose buffers are freed
  /// anywhere): takes `bytes`, waiting as Reserve does; Refund() gives them back.
  arrow::Status Charge(int64_t bytes, const std::string& what);
  void Refund(int64_t bytes);

  int64_t capacity() const { return capacity_; }
  int64_t used() const;
  /// The most bytes ever reserved at once.
  int64_t peak() const;

 private:
  MemoryBudget(int64_t capacity, std::chrono::milliseconds wait)
      : capacity_(capacity), wait_(wait) {}
  arrow::Status Take(int64_t bytes, const std::string& what, Clock::time_point deadline,
                     const std::shared_ptr<CallCancellation>& cancellation);
  void Give(int64_t bytes) { Refund(bytes); }

  std::weak_ptr<MemoryBudget> self_;
  const int64_t capacity_;
  const std::chrono::milliseconds wait_;
  mutable std::mutex mutex_;  // guards used_ and peak_
  std::condition_variable freed_;
  int64_t used_ = 0;
  int64_t peak_ = 0;
};

/// \brief Charges what a stream holds in flight: the last `window` items it produced or
/// received (a queue a few items deep between a producer and its consumer), each charged
/// when it arrives and given back when it leaves the window. Use from one thread.
class ChargeWindow {
 public:
  ChargeWindow(std::shared_ptr<MemoryBudget> budget, size_t window)
      : budget_(std::move(budget)), window_(window) {}

  bool charging() const { return budget_ != nullptr; }
  const std::shared_ptr<MemoryBudget>& budget() const { return budget_; }

  /// Charges `bytes` for the newest item (waiting as MemoryBudget::Reserve does).
  arrow::Status Add(int64_t bytes, const std::string& what,
                    const std::shared_ptr<CallCancellation>& cancellation = nullptr);
  /// Holds `reservation`, made earlier, as the newest item's charge.
  void Keep(MemoryBudget::Reservation reservation);

 private:
  // Makes room in the window for the newest item.
  void ReleaseOldest();

  std::shared_ptr<MemoryBudget> budget_;  // null: nothing is charged
  size_t window_;
  std::deque<MemoryBudget::Reservation> held_;
};

}  // namespace arrowport
