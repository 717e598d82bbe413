#include "arrowport/auth/authenticator.h"

#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <thread>

#include "arrowport/auth/credential_cache.h"
#include "arrowport/auth/login_throttle.h"
#include "arrowport/common/caller_key.h"
#include "arrowport/auth/password_hasher.h"
#include "arrowport/auth/user_directory.h"
#include "arrowport/metrics/registry.h"
#include "arrowport/common/logger.h"
#include "arrowport/common/status_detail.h"

namespace arrowport::auth {

namespace {

constexpr auto kBasicCacheTtl = std::chrono::seconds(60);
constexpr size_t kBasicCacheEntries = 4096;
constexpr size_t kMaxHeaderBytes = 8192;

// "Basic xyz" -> ("basic", "xyz"); the scheme is case-insensitive (RFC 7235).
std::pair<std::string, std::string> SplitScheme(const std::string& header) {
  const auto space = header.find(' ');
  if (space == std::string::npos) return {"", ""};
  std::string scheme = header.substr(0, space);
  for (auto& ch : scheme)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  auto rest = header.find_first_not_of(' ', space);
  return {scheme, rest == std::string::npos ? "" : header.substr(rest)};
}

arrow::Result<std::string> DecodeBase64(const std::string& text) {
  std::string out(text.size(), '\0');
  size_t length = 0;
  for (int variant :
       {sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING}) {
    if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(),
                          text.data(), text.size(), nullptr, &length, nullptr,
                          variant) == 0) {
      out.resize(length);
      return out;
    }
  }
  return Unauthenticated("Basic credentials are not valid base64");
}

// Holds one of the semaphore's slots for its lifetime.
class KdfSlot {
 public:
  explicit KdfSlot(std::counting_semaphore<>& slots) : slots_(slots) { slots_.acquire(); }
  ~KdfSlot() { slots_.release(); }
  KdfSlot(const KdfSlot&) = delete;
  KdfSlot& operator=(const KdfSlot&) = delete;

 private:
  std::counting_semaphore<>& slots_;
};

std::shared_ptr<const Principal> PrincipalOf(const config::Config::User& user) {
  auto principal = std::make_shared<Principal>();
  principal->user = user.name;
  principal->role = user.role;
  principal->tables = user.tables;
  principal->streams = user.streams;
  return principal;
}

}  // namespace

namespace {

LoginThrottle::Options ThrottleOptions(const config::Config& config) {
  LoginThrottle::Options options;
  options.per_address = static_cast<int>(config.auth.max_failed_logins_per_address);
  options.per_account = static_cast<int>(config.auth.max_failed_logins_per_account);
  options.window = std::chrono::seconds(config.auth.failed_login_window_s);
  return options;
}

}  // namespace

Authenticator::Authenticator(const config::Config& config, Logger* logger,
                             AuthCounters counters, std::unique_ptr<TokenService> tokens)
    : enabled_(config::AuthEnabled(config)),
      logger_(logger),
      counters_(counters),
      tokens_(std::move(tokens)),
      users_(std::make_unique<UserDirectory>(config.auth.users)),
      cache_(std::make_unique<CredentialCache>(kBasicCacheTtl, kBasicCacheEntries)),
      throttle_(std::make_unique<LoginThrottle>(ThrottleOptions(config))),
      kdf_slots_(std::make_unique<std::counting_semaphore<>>(
          std::max<std::ptrdiff_t>(2, std::thread::hardware_concurrency()))) {
  auto anonymous = std::make_shared<Principal>();
  anonymous->user = "anonymous";
  anonymous->role = Role::kAdmin;
  anonymous->anonymous = true;
  anonymous_ = std::move(anonymous);
}

Authenticator::~Authenticator() = default;

arrow::Result<std::unique_ptr<Authenticator>> Authenticator::Make(
    const config::Config& config, Logger* logger, AuthCounters counters) {
  ARROW_RETURN_NOT_OK(PasswordHasher::Init());
  ARROW_ASSIGN_OR_RAISE(
      auto tokens, TokenService::Make(config.auth.token_secret, config.auth.token_ttl_s));
  std::unique_ptr<Authenticator> out(
      new Authenticator(config, logger, counters, std::move(tokens)));
  if (out->enabled_) {
    ARROW_ASSIGN_OR_RAISE(out->dummy_hash_,
                          PasswordHasher::Hash("arrowport-no-such-user"));
  }
  return out;
}

void Authenticator::Reload(const config::Config& config) {
  users_->Replace(config.auth.users);
}

namespace {

// The unkeyed 16-hex-digit fingerprint of the tokens issued before the keyed one.
constexpr size_t kUnkeyedFingerprintChars = 16;

}  // namespace

arrow::Result<IssuedToken> Authenticator::IssueToken(const Principal& principal) const {
  const auto entry = users_->Find(principal.user);
  const std::string credential =
      entry ? tokens_->CredentialFingerprint(entry->password_hash) : "";
  return tokens_->Issue(principal.user, principal.role, credential);
}

arrow::Result<Authenticated> Authenticator::Authenticate(const std::string& authorization,
                                                         const AuthSource& source) const {
  if (!enabled_) return Authenticated{anonymous_, false};
  std::string user;
  const char* method = "none";
  arrow::Result<std::shared_ptr<const Principal>> result;
  const auto [scheme, value] = SplitScheme(authorization);
  if (authorization.empty()) {
    result = Unauthenticated(
        "authentication required: send Authorization: Basic "
        "(user:password) or Bearer <token>");
  } else if (authorization.size() > kMaxHeaderBytes) {
    result = Unauthenticated("Authorization header too long");
  } else if (scheme == "basic") {
    method = "basic";
    // Failed logins count per client machine (the address without its port).
    result = Basic(value, CallerKey(nullptr, source.address.empty() ? source.peer
                                                                   : source.address),
                   &user);
  } else if (scheme == "bearer") {
    method = "bearer";
    result = Bearer(value, &user);
  } else {
    result = Unauthenticated("unsupported Authorization scheme (use Basic or Bearer)");
  }
  Audit(source, user, method, result.status());
  if (!result.ok()) return result.status();
  return Authenticated{*result, std::string_view(method) == "basic"};
}

arrow::Result<std::shared_ptr<const Principal>> Authenticator::Basic(
    const std::string& credentials, const std::string& client, std::string* user) const {
  const auto decoded = DecodeBase64(credentials);
  const auto colon = decoded.ok() ? decoded->find(':') : std::string::npos;
  if (colon != std::string::npos) *user = decoded->substr(0, colon);
  // Reserved before anything is checked, the cache included (a throttled guess must not
  // learn that it matched a cached password): attempts in flight count against the
  // limits, so concurrent guesses cannot all reach the hash.
  ARROW_ASSIGN_OR_RAISE(auto attempt, throttle_->Begin(client, colon != std::string::npos
                                                                   ? user
                                                                   : nullptr));
  if (!decoded.ok()) {
    attempt.Failed();
    return decoded.status();
  }
  if (colon == std::string::npos) {
    attempt.Failed();
    return Unauthenticated("Basic credentials must be base64(user:password)");
  }
  const std::string password = decoded->substr(colon + 1);
  const auto entry = users_->Find(*user);
  const std::string& hash = entry ? entry->password_hash : dummy_hash_;
  if (entry && cache_->Contains(*user, password, hash)) {
    attempt.Succeeded();
    return PrincipalOf(*entry);
  }
  // Unknown users cost the same KDF run: response time does not say who exists.
  arrow::Result<bool> matches;
  {
    KdfSlot slot(*kdf_slots_);
    if (counters_.password_checks != nullptr) counters_.password_checks->Add();
    matches = PasswordHasher::Verify(hash, password);
  }
  if (!matches.ok() || !entry || !*matches) {
    attempt.Failed();
    if (!matches.ok()) {
      return Unauthenticated("cannot verify the password: ", matches.status().message());
    }
    return Unauthenticated("invalid user name or password");
  }
  cache_->Add(*user, password, hash);
  attempt.Succeeded();
  return PrincipalOf(*entry);
}

arrow::Result<std::shared_ptr<const Principal>> Authenticator::Bearer(
    const std::string& token, std::string* user) const {
  ARROW_ASSIGN_OR_RAISE(const auto claims, tokens_->Verify(token));
  *user = claims.user;
  // The token's rights are the user's rights now: a reload that removed the user or
  // changed their role ends the token.
  const auto entry = users_->Find(claims.user);
  if (!entry) return Unauthenticated("user '", claims.user, "' no longer exists");
  if (entry->role != claims.role) {
    return Unauthenticated("the role of user '", claims.user,
                           "' changed since the token was issued; authenticate again");
  }
  if (claims.credential.size() == kUnkeyedFingerprintChars) {
    return Unauthenticated("the token of user '", claims.user,
                           "' was issued by an older Arrowport (before its credential "
                           "fingerprint was keyed); sign in again");
  }
  // Compared in constant time: the fingerprint is keyed so that it cannot be guessed.
  const std::string expected = tokens_->CredentialFingerprint(entry->password_hash);
  if (claims.credential.size() != expected.size() ||
      sodium_memcmp(claims.credential.data(), expected.data(), expected.size()) != 0) {
    return Unauthenticated("the password of user '", claims.user,
                           "' changed since the token was issued; authenticate again");
  }
  return PrincipalOf(*entry);
}

void Authenticator::Audit(const AuthSource& source, const std::string& user,
                          const char* method, const arrow::Status& outcome) const {
  const char* decision = outcome.ok() ? "allowed" : "denied";
  if (counters_.decisions != nullptr) {
    counters_.decisions->With({source.protocol, method, decision}).Add();
  }
  if (counters_.throttled != nullptr && HasErrorKind(outcome, ErrorKind::kRateLimited)) {
    counters_.throttled->Add();
  }
  if (logger_ == nullptr) return;
  Logger::Fields fields = {{"user", user.empty() ? "-" : user},
                           {"protocol", source.protocol},
                           {"peer", source.peer},
                           {"method", method},
                           {"outcome", decision}};
  if (!outcome.ok()) {
    fields.push_back({"reason", outcome.message()});
    logger_->Warn("auth", fields);
  } else {
    logger_->Info("auth", fields);
  }
}

}  // namespace arrowport::auth
