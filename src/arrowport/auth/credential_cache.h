#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>

namespace arrowport::auth {

/// \brief Remembers Basic credentials that verified recently, so a client sending
/// `Authorization: Basic` on every call pays the argon2id cost once per `ttl`, not per
/// call. Entries are keyed by a keyed BLAKE2b hash of (user, password) under a random
/// per-process key (no password is stored) and bound to the password hash they were
/// verified against: a reload that changes a user's password makes them miss.
/// Bounded (`capacity`; when full, expired entries go, then the oldest). Thread-safe.
class CredentialCache {
 public:
  using Clock = std::chrono::steady_clock;
  CredentialCache(std::chrono::seconds ttl, size_t capacity);

  /// True when (user, password) verified against `password_hash` within the ttl.
  bool Contains(const std::string& user, const std::string& password,
                const std::string& password_hash) const;
  /// Records a successful verification.
  void Add(const std::string& user, const std::string& password,
           const std::string& password_hash);

 private:
  using Key = std::array<unsigned char, 32>;
  struct Entry {
    Key verified_against;  // hash of the stored password_hash
    Clock::time_point expires;
  };
  Key Digest(const std::string& a, const std::string& b) const;

  const std::chrono::seconds ttl_;
  const size_t capacity_;
  std::array<unsigned char, 32> key_{};  // random, set once in the constructor
  mutable std::mutex mutex_;             // guards entries_
  std::map<Key, Entry> entries_;
};

}  // namespace arrowport::auth
