#pragma once

#include <memory>
#include <semaphore>
#include <string>

#include "arrow/result.h"
#include "arrowport/auth/token_service.h"
#include "arrowport/common/principal.h"
#include "arrowport/config/config.h"

namespace arrowport {
class Logger;
namespace metrics {
class Counter;
template <typename T>
class Family;
}  // namespace metrics
}  // namespace arrowport

namespace arrowport::auth {

class CredentialCache;
class LoginThrottle;
class UserDirectory;

/// Where a credential came from, for the audit line.
struct AuthSource {
  std::string protocol;  ///< "flight", "http"
  std::string peer;      ///< the client's address as the transport reports it
  std::string address;   ///< the client's IP alone, when the transport knows it ("" = from peer)
};

/// What Authenticate established: who, and how (a Basic login is answered with a token).
struct Authenticated {
  std::shared_ptr<const Principal> principal;
  bool basic = false;  ///< credentials were user:password (not a bearer token)
};

/// What an Authenticator counts; each may be null (not counted).
struct AuthCounters {
  /// Decisions, labels protocol, method (basic, bearer, none) and outcome.
  metrics::Family<metrics::Counter>* decisions = nullptr;
  metrics::Counter* password_checks = nullptr;  ///< argon2id verifications run
  metrics::Counter* throttled = nullptr;        ///< Basic logins refused by LoginThrottle
};

/// \brief The one authentication check every protocol calls (design section 7).
///
/// `Authorization: Basic base64(user:password)` is verified against the user's argon2id
/// hash (successes cached briefly, see CredentialCache); `Authorization: Bearer <jwt>` is
/// verified by TokenService and the user re-read from the directory, so a token of a user
/// removed or whose role changed by a reload stops working at once. Each decision is
/// logged (user, protocol, peer, outcome, reason). Basic logins are throttled per client
/// address and per account before anything is checked (LoginThrottle, auth.max_failed_*
/// keys). When authentication is off
/// (config::AuthEnabled), every call is an anonymous admin. Errors are Unauthenticated
/// statuses. Thread-safe.
class Authenticator {
 public:
  /// `logger` and the counters outlive the authenticator.
  static arrow::Result<std::unique_ptr<Authenticator>> Make(const config::Config& config,
                                                            Logger* logger,
                                                            AuthCounters counters = {});
  ~Authenticator();

  bool enabled() const { return enabled_; }
  /// True when tokens are signed with a key made at start (they end with the process).
  bool generated_secret() const { return tokens_->generated_secret(); }

  /// The caller named by `authorization` (the header's value; "" when absent).
  arrow::Result<Authenticated> Authenticate(const std::string& authorization,
                                            const AuthSource& source) const;

  /// A bearer token for `principal` (after a Basic login).
  arrow::Result<IssuedToken> IssueToken(const Principal& principal) const;

  /// Swaps the user list (config hot reload). Whether authentication is on is decided
  /// at start and stays; tokens keep their signing key.
  void Reload(const config::Config& config);

 private:
  Authenticator(const config::Config& config, Logger* logger, AuthCounters counters,
                std::unique_ptr<TokenService> tokens);
  /// `client` is the caller's address, whose failed logins are counted.
  arrow::Result<std::shared_ptr<const Principal>> Basic(const std::string& credentials,
                                                        const std::string& client,
                                                        std::string* user) const;
  arrow::Result<std::shared_ptr<const Principal>> Bearer(const std::string& token,
                                                         std::string* user) const;
  void Audit(const AuthSource& source, const std::string& user, const char* method,
             const arrow::Status& outcome) const;

  const bool enabled_;
  Logger* logger_;
  const AuthCounters counters_;
  std::unique_ptr<TokenService> tokens_;
  std::unique_ptr<UserDirectory> users_;
  std::unique_ptr<CredentialCache> cache_;
  std::unique_ptr<LoginThrottle> throttle_;  // failed Basic logins per address, account
  std::string dummy_hash_;  // verified against for unknown users: same cost, no oracle
  // Bounds the argon2id runs at once (each takes PasswordHasher::kMemLimit of memory): a
  // flood of Basic logins queues here instead of exhausting memory.
  std::unique_ptr<std::counting_semaphore<>> kdf_slots_;
  std::shared_ptr<const Principal> anonymous_;
};

}  // namespace arrowport::auth
