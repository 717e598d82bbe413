#include "arrowport/common/rate_bucket.h"

#include <algorithm>
#include <cmath>

namespace arrowport {

void RateBucket::Refill(Clock::time_point now) {
  if (now <= updated_) return;
  const double elapsed = std::chrono::duration<double>(now - updated_).count();
  tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
  updated_ = now;
}

int64_t RateBucket::TryTake(Clock::time_point now) {
  Refill(now);
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return 0;
  }
  const double wait = (1.0 - tokens_) / rate_;
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(wait)));
}

bool RateBucket::Full(Clock::time_point now) const {
  if (now <= updated_) return tokens_ >= burst_;
  const double elapsed = std::chrono::duration<double>(now - updated_).count();
  return tokens_ + elapsed * rate_ >= burst_;
}

}  // namespace arrowport
