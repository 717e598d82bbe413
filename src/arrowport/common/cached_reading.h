#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <utility>

namespace arrowport {

/// \brief A value read afresh at most once per `fresh` period, by one caller at a time:
/// while one caller reads, the others take the last value instead of waiting (a slow
/// reading never queues the callers of a status page or a scrape). The first caller waits
/// for the first reading. Thread-safe.
template <typename T>
class CachedReading {
 public:
  using Clock = std::chrono::steady_clock;

  CachedReading(Clock::duration fresh, std::function<T()> read)
      : fresh_(fresh), read_(std::move(read)) {}

  T Get() {
    {
      std::lock_guard<std::mutex> lock(value_mutex_);
      if (has_value_ && Clock::now() - read_at_ < fresh_) return value_;
    }
    std::unique_lock<std::mutex> reading(read_mutex_, std::try_to_lock);
    if (!reading.owns_lock()) {
      std::lock_guard<std::mutex> lock(value_mutex_);
      if (has_value_) return value_;  // another caller is reading: its last value
    }
    if (!reading.owns_lock()) {
      reading.lock();  // nothing read yet: wait for the first reading, then take it
      std::lock_guard<std::mutex> lock(value_mutex_);
      if (has_value_ && Clock::now() - read_at_ < fresh_) return value_;
    }
    T fresh = read_();
    std::lock_guard<std::mutex> lock(value_mutex_);
    value_ = fresh;
    has_value_ = true;
    read_at_ = Clock::now();
    return fresh;
  }

 private:
  const Clock::duration fresh_;
  const std::function<T()> read_;
  std::mutex read_mutex_;   // held by the one caller reading
  std::mutex value_mutex_;  // guards value_, has_value_, read_at_
  T value_{};
  bool has_value_ = false;
  Clock::time_point read_at_{};
};

}  // namespace arrowport
