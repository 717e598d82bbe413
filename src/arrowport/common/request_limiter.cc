#include "arrowport/common/request_limiter.h"

#include <algorithm>
#include <string>

#include "arrowport/common/status_detail.h"

namespace arrowport {

namespace {
// Buckets of callers who stopped calling are dropped once there are this many.
constexpr size_t kBucketsBeforeCleanup = 4096;

// "5" rather than "5.000000" for the whole numbers the configuration holds.
std::string Number(double value) {
  const auto whole = static_cast<int64_t>(value);
  return static_cast<double>(whole) == value ? std::to_string(whole) : std::to_string(value);
}
}  // namespace

void RequestLimiter::Permit::Release() {
  if (!state_) return;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    --state_->in_flight;
    auto it = state_->per_user.find(key_);
    if (it != state_->per_user.end() && --it->second <= 0) state_->per_user.erase(it);
  }
  state_.reset();
}

RequestLimiter::RequestLimiter(Options options)
    : options_(options), state_(std::make_shared<State>()) {}

void RequestLimiter::ForgetFullBuckets(RateBucket::Clock::time_point now) {
  for (auto it = state_->buckets.begin(); it != state_->buckets.end();) {
    it = it->second.Full(now) ? state_->buckets.erase(it) : std::next(it);
  }
}

arrow::Result<RequestLimiter::Permit> RequestLimiter::TryAcquire(
    const std::string& key, RateBucket::Clock::time_point now) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  if (state_->in_flight >= options_.max_concurrent) {
    return ServerBusy("server busy: ", options_.max_concurrent,
                      " calls already in flight (limits.max_concurrent_requests); retry later");
  }
  if (options_.max_concurrent_per_user > 0) {
    auto it = state_->per_user.find(key);
    if (it != state_->per_user.end() && it->second >= options_.max_concurrent_per_user) {
      return RateLimited(1, "too many concurrent calls from '", key, "': ",
                         options_.max_concurrent_per_user,
                         " already in flight (limits.max_concurrent_per_user); retry after "
                         "one of them ends (RESOURCE_EXHAUSTED)");
    }
  }
  if (options_.requests_per_second_per_user > 0) {
    const double rate = options_.requests_per_second_per_user;
    const double burst =
        options_.burst_per_user > 0 ? options_.burst_per_user : std::max(1.0, rate);
    auto it = state_->buckets.find(key);
    if (it == state_->buckets.end()) {
      if (state_->buckets.size() >= kBucketsBeforeCleanup) ForgetFullBuckets(now);
      it = state_->buckets.emplace(key, RateBucket(rate, burst, now)).first;
    }
    const int64_t wait = it->second.TryTake(now);
    if (wait > 0) {
      return RateLimited(wait, "rate limit: '", key, "' made more than ", Number(rate),
                         " requests per second (limits.requests_per_second_per_user, burst ",
                         Number(burst), "); retry after ", wait, " s (RESOURCE_EXHAUSTED)");
    }
  }
  ++state_->in_flight;
  ++state_->per_user[key];
  return Permit(state_, key);
}

int RequestLimiter::in_flight() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->in_flight;
}

int RequestLimiter::in_flight(const std::string& key) const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  auto it = state_->per_user.find(key);
  return it == state_->per_user.end() ? 0 : it->second;
}

}  // namespace arrowport
