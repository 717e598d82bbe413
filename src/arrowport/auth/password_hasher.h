#pragma once

#include <cstdint>
#include <string>

#include "arrow/result.h"

namespace arrowport::auth {

/// \brief argon2id password hashes through libsodium (crypto_pwhash_str): salted,
/// self-describing strings ("$argon2id$v=19$m=...,t=...,p=...$salt$hash") that carry
/// their own cost parameters, so hashes made with other costs still verify.
///
/// The costs are libsodium's "interactive" level lowered in memory (opslimit 2, 32 MiB):
/// one verification takes tens of milliseconds, which bounds what a flood of Basic
/// logins costs the server while staying far beyond what offline guessing can afford.
/// Thread-safe (stateless).
class PasswordHasher {
 public:
  static constexpr uint64_t kOpsLimit = 2;
  static constexpr size_t kMemLimit = size_t{32} << 20;

  /// A new hash string of `password` with a random salt.
  static arrow::Result<std::string> Hash(const std::string& password);

  /// True when `password` matches `hash`; false when it does not. An error when `hash`
  /// is not an argon2id string or the KDF cannot run (out of memory).
  static arrow::Result<bool> Verify(const std::string& hash, const std::string& password);

  /// Initialises libsodium (idempotent, thread-safe); an error if it cannot.
  static arrow::Status Init();
};

}  // namespace arrowport::auth
