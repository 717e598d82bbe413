#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "arrow/result.h"
#include "arrowport/common/rate_bucket.h"

namespace arrowport {

/// \brief Admission control for every protocol. A call is admitted when
///  - fewer than `max_concurrent` calls run in all (limits.max_concurrent_requests;
///    refused: ServerBusy, HTTP 503 / Flight UNAVAILABLE),
///  - its caller runs fewer than `max_concurrent_per_user` (limits.max_concurrent_per_user),
///  - and its caller's token bucket holds a token (limits.requests_per_second_per_user,
///    limits.request_burst_per_user);
/// the last two refuse with RateLimited (HTTP 429 / Flight RESOURCE_EXHAUSTED, both with
/// the seconds to wait). The caller is a plain string key the protocol adapter computes:
/// the authenticated user name, or the peer address when authentication is off. 0 turns
/// a per-user limit off. Thread-safe.
class RequestLimiter {
 public:
  struct Options {
    int max_concurrent = 64;
    int max_concurrent_per_user = 0;      ///< 0 = no per-user cap
    double requests_per_second_per_user = 0;  ///< 0 = no rate limit
    double burst_per_user = 0;            ///< bucket size; 0 = one second's worth (min 1)
  };

 private:
  struct State;

 public:
  /// Held for the duration of one call; releases its slots when destroyed.
  class Permit {
   public:
    Permit() = default;
    Permit(std::shared_ptr<State> state, std::string key)
        : state_(std::move(state)), key_(std::move(key)) {}
    Permit(Permit&& other) noexcept = default;
    Permit& operator=(Permit&& other) noexcept {
      if (this != &other) {
        Release();
        state_ = std::move(other.state_);
        key_ = std::move(other.key_);
      }
      return *this;
    }
    ~Permit() { Release(); }

   private:
    void Release();
    std::shared_ptr<State> state_;
    std::string key_;
  };

  explicit RequestLimiter(Options options);
  explicit RequestLimiter(int max_concurrent) : RequestLimiter(Options{max_concurrent}) {}

  /// Admits one call of caller `key` (see the class comment) or says why not.
  arrow::Result<Permit> TryAcquire(const std::string& key = "",
                                   RateBucket::Clock::time_point now = RateBucket::Clock::now());

  int in_flight() const;
  /// Calls of caller `key` running now.
  int in_flight(const std::string& key) const;

 private:
  struct State {
    mutable std::mutex mutex;  // guards everything below
    int in_flight = 0;
    std::map<std::string, int> per_user;  // only callers with calls running
    std::map<std::string, RateBucket> buckets;  // only callers whose bucket is not full
  };
  void ForgetFullBuckets(RateBucket::Clock::time_point now);

  const Options options_;
  std::shared_ptr<State> state_;
};

}  // namespace arrowport
