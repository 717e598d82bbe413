#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "arrow/result.h"

namespace arrowport::auth {

/// \brief Limits password guessing, per client address and per target account, before
/// any password hash is computed (so guessing neither scales nor takes the CPU from real
/// logins). Bearer tokens are not affected.
///
/// A Basic login first reserves an attempt (Begin): it is refused (RateLimited: HTTP 429,
/// Flight RESOURCE_EXHAUSTED, with the seconds to wait) when its address made
/// `per_address` failed logins within the last `window`, or when its account had
/// `per_account` failed logins within the window from addresses that have not logged in
/// as it. Attempts in flight count too: while failures plus attempts in flight fill a
/// limit, a new attempt waits (at most `max_wait`) for those in flight to end, so N
/// concurrent wrong logins from one address run at most `per_address` hash checks.
///
/// A success forgives only what it proves: the failures of that address against that
/// account, in both counts (a login as one account never clears guesses at another), and
/// it exempts that address from the account's count for `proven_for` (a user is not
/// locked out by strangers guessing their password; the address count still applies).
/// Memory is bounded: at most `max_entries` addresses and as many accounts are
/// remembered (the least recently used are forgotten first); each holds at most its
/// limit of failures. Thread-safe.
class LoginThrottle {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    int per_address = 20;  ///< failed logins per address and window; 0 = not limited
    int per_account = 20;  ///< failed logins per account and window; 0 = not limited
    std::chrono::seconds window{60};
    /// How long an attempt waits for those in flight before it is refused.
    std::chrono::milliseconds max_wait{10000};
    size_t max_entries = 16384;  ///< addresses remembered, and accounts remembered
    std::chrono::seconds proven_for{24 * 3600};
    std::function<Clock::time_point()> clock;  ///< null: Clock::now (tests move time)
  };

  /// A reserved login attempt: end it with Failed() or Succeeded(); dropped without
  /// either (the check could not be made), its reservation is given back uncounted.
  class Attempt {
   public:
    Attempt(Attempt&& other) noexcept;
    Attempt& operator=(Attempt&& other) noexcept;
    Attempt(const Attempt&) = delete;
    Attempt& operator=(const Attempt&) = delete;
    ~Attempt();

    /// The credentials were wrong: one failure for the address and for the account.
    void Failed();
    /// The credentials were right.
    void Succeeded();

   private:
    friend class LoginThrottle;
    enum class Outcome { kAbandoned, kFailed, kSucceeded };
    Attempt(LoginThrottle* throttle, uint64_t address, uint64_t account, bool has_account,
            bool account_counted);
    void End(Outcome outcome);

    LoginThrottle* throttle_ = nullptr;  // null once ended (or moved from)
    uint64_t address_ = 0;
    uint64_t account_ = 0;
    bool has_account_ = false;
    bool account_counted_ = false;  // reserved in the account's count
  };

  explicit LoginThrottle(Options options);
  ~LoginThrottle();

  /// Reserves an attempt for `address` (the client's IP) against `account` (null: the
  /// credentials name none, e.g. they are not base64), or RateLimited naming the limit
  /// and how long to wait. May block up to max_wait while attempts are in flight.
  arrow::Result<Attempt> Begin(const std::string& address, const std::string* account);

  /// Addresses and accounts remembered now (for tests).
  size_t remembered_addresses() const;
  size_t remembered_accounts() const;

 private:
  struct Tables;
  void End(const Attempt& attempt, Attempt::Outcome outcome);
  Clock::time_point Now() const;

  const Options options_;
  mutable std::mutex mutex_;  // guards tables_
  std::condition_variable ended_;  // an attempt ended: waiting ones look again
  std::unique_ptr<Tables> tables_;
};

}  // namespace arrowport::auth
