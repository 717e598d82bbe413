#pragma once

#include <chrono>
#include <cstdint>

namespace arrowport {

/// \brief A token bucket: `rate` tokens a second, at most `burst` saved up, one spent per
/// request. Starts full. Not thread-safe (the RequestLimiter guards its buckets); time is
/// passed in so tests need no clock.
class RateBucket {
 public:
  using Clock = std::chrono::steady_clock;

  RateBucket(double rate, double burst, Clock::time_point now)
      : rate_(rate), burst_(burst), tokens_(burst), updated_(now) {}

  /// Spends a token and returns 0 when one is there; otherwise spends nothing and returns
  /// how long (whole seconds, at least 1) until one will be.
  int64_t TryTake(Clock::time_point now);

  /// True when the bucket has refilled completely by `now` (it can be forgotten: a new
  /// one would start the same).
  bool Full(Clock::time_point now) const;

 private:
  void Refill(Clock::time_point now);

  const double rate_;
  const double burst_;
  double tokens_;
  Clock::time_point updated_;
};

}  // namespace arrowport
