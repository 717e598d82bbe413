#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "arrow/result.h"
#include "arrowport/common/principal.h"

namespace arrowport::auth {

/// What a valid token says.
struct TokenClaims {
  std::string user;  ///< sub
  Role role = Role::kReader;
  int64_t issued_at = 0;   ///< iat, seconds since the epoch
  int64_t expires_at = 0;  ///< exp, seconds since the epoch
  std::string credential;  ///< cred: which password the token was issued for ("" = none)
};

/// A token as handed to a client.
struct IssuedToken {
  std::string token;
  int64_t expires_at = 0;  ///< seconds since the epoch
};

/// \brief Signed, expiring bearer tokens: JWT HS256 through libjwt, claims sub, role,
/// iat and exp (iat + auth.token_ttl_s). The key is auth.token_secret (or
/// ARROWPORT_AUTH_TOKEN_SECRET); without one, 32 random bytes made at start, so tokens
/// end with the process. Only HS256 tokens signed with this key are accepted ("none"
/// and other algorithms are refused), and only for as long as this server would issue
/// them: exp - iat at most ttl_s, whoever signed them. Thread-safe (immutable after
/// Make).
class TokenService {
 public:
  /// `secret` empty: a random key. `ttl_s` > 0.
  static arrow::Result<std::unique_ptr<TokenService>> Make(const std::string& secret,
                                                           int64_t ttl_s);

  /// `credential`: CredentialFingerprint of the user's password hash, so that a password
  /// change ends the tokens issued for the old one.
  arrow::Result<IssuedToken> Issue(const std::string& user, Role role,
                                   const std::string& credential = "") const;
  /// Issue at a given time (tests).
  arrow::Result<IssuedToken> IssueAt(const std::string& user, Role role, int64_t now,
                                     const std::string& credential = "") const;

  /// The claims of `token` when its signature is ours and it has not expired; an
  /// Unauthenticated status saying why otherwise.
  arrow::Result<TokenClaims> Verify(const std::string& token) const;
  arrow::Result<TokenClaims> VerifyAt(const std::string& token, int64_t now) const;

  /// Which password a token is issued for: 32 hex digits of BLAKE2b over the stored hash,
  /// keyed with a key derived from the signing key, so that a reader of the hash alone
  /// (the config file) cannot compute it.
  std::string CredentialFingerprint(const std::string& password_hash) const;

  bool generated_secret() const { return generated_; }
  int64_t ttl_s() const { return ttl_s_; }

 private:
  TokenService(std::string key, int64_t ttl_s, bool generated);
  const std::string key_;
  std::string fingerprint_key_;  // derived from key_ (crypto_kdf), never the key itself
  const int64_t ttl_s_;
  const bool generated_;
};

}  // namespace arrowport::auth
