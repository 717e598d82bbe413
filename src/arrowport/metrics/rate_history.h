#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <vector>

namespace arrowport::metrics {

/// \brief Counts per second over the last kSeconds seconds (rows a stream received), for
/// the status page's live rate. Seconds are whole seconds of a monotonic clock, passed in
/// by the caller. Thread-safe: one mutex, held for a few instructions per Add.
class RateHistory {
 public:
  static constexpr int kSeconds = 300;

  /// Adds `count` to second `second`. A second older than the window is dropped.
  void Add(int64_t count, int64_t second);

  /// The counts of the `seconds` seconds ending with `now` (oldest first; at most
  /// kSeconds), 0 for seconds with nothing.
  std::vector<int64_t> Last(int seconds, int64_t now) const;

 private:
  struct Slot {
    int64_t second = -1;
    int64_t count = 0;
  };
  mutable std::mutex mutex_;  // guards slots_
  std::array<Slot, kSeconds> slots_{};
};

}  // namespace arrowport::metrics
