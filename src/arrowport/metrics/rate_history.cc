#include "arrowport/metrics/rate_history.h"

#include <algorithm>

namespace arrowport::metrics {

void RateHistory::Add(int64_t count, int64_t second) {
  if (second < 0) return;
  std::lock_guard<std::mutex> lock(mutex_);
  Slot& slot = slots_[second % kSeconds];
  if (slot.second > second) return;  // older than the window
  if (slot.second != second) slot = {second, 0};
  slot.count += count;
}

std::vector<int64_t> RateHistory::Last(int seconds, int64_t now) const {
  seconds = std::clamp(seconds, 0, kSeconds);
  std::vector<int64_t> out(seconds, 0);
  std::lock_guard<std::mutex> lock(mutex_);
  for (int i = 0; i < seconds; ++i) {
    const int64_t second = now - (seconds - 1 - i);
    if (second < 0) continue;
    const Slot& slot = slots_[second % kSeconds];
    if (slot.second == second) out[i] = slot.count;
  }
  return out;
}

}  // namespace arrowport::metrics
