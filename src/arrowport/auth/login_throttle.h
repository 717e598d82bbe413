#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

#include "arrow/status.h"

namespace arrowport::auth {

/// \brief Limits password guessing: a client address with `max_failures` failed Basic
/// logins within `window` gets RateLimited (HTTP 429, Flight RESOURCE_EXHAUSTED) for its
/// next logins until the window ends, before any password hash is computed, so guessing
/// neither scales nor takes the CPU from real logins. Bearer tokens are not affected.
/// Thread-safe.
class LoginThrottle {
 public:
  using Clock = std::chrono::steady_clock;

  LoginThrottle(int max_failures, std::chrono::seconds window);

  /// OK, or RateLimited naming how long to wait. `key` identifies the client (CallerKey).
  arrow::Status Check(const std::string& key, Clock::time_point now = Clock::now()) const;
  void Failed(const std::string& key, Clock::time_point now = Clock::now());
  void Succeeded(const std::string& key);

 private:
  struct Window {
    int failures = 0;
    Clock::time_point start;
  };
  const int max_failures_;
  const std::chrono::seconds window_;
  mutable std::mutex mutex_;  // guards windows_
  std::unordered_map<std::string, Window> windows_;
};

}  // namespace arrowport::auth
